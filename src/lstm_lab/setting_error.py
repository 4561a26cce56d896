"""The one base of every refusal of a bad setting, whatever layer finds it: the config checks
(ConfigError), the network builder (BuildError), the CSV reader (SeriesFileError), the data
modules while a run starts. Each carries the config key at fault and a message saying what would
be valid; str() is `key: message`, the line the entry points print after `prog: error: `.

Imports nothing, so the core (data, models) can raise it without importing the config layer;
the entry layer (user_errors.py) turns every subclass into its one line, exit status 2."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting the code cannot work with: `key` the dotted config key (or, for a section's
    own function such as the CSV reader, its argument), `message` what would be valid."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

    def within(self, section: str) -> SettingError:
        """The same refusal with its key placed under `section` (`path` -> `data.series.path`),
        for a function that knows only its own argument names."""
        return type(self)(f"{section}.{self.key}", self.message)
