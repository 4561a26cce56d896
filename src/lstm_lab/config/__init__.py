"""The config: every key once (schema.py, keyspec.py) and the checks run on a composed config before
anything heavy is imported (checks.py).

`from lstm_lab.config import validate` etc.: checks.py's public names, from here."""

from lstm_lab.config.checks import (
    check_evaluation,
    check_target,
    check_targets,
    validate,
    validate_tool,
)
from lstm_lab.config.keyspec import ConfigError, unknown_key_message

__all__ = [
    "ConfigError",
    "check_evaluation",
    "check_target",
    "check_targets",
    "unknown_key_message",
    "validate",
    "validate_tool",
]
