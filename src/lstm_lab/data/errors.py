"""The core's own refusal of a setting it meets while training runs (e.g. a DDP layout the
streams cannot be split into). It names the config key but imports nothing of the config
layer; the entry points (cli/errors.py) report it as they report a config error: one line,
exit status 2, no run directory left behind."""


class SettingError(ValueError):
    """A setting the core cannot work with: `key` is the dotted config key, str() the line the
    entry points print ('key: what would be valid')."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
