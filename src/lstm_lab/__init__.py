"""lstm-lab: LSTM sequence regression experiments (Lightning + Hydra).

Kept import-light on purpose: nothing here pulls in torch or Lightning.

From Python, each command is a function taking a composed config or the command line's
overrides (see api.py):

    import lstm_lab
    result = lstm_lab.train(["model.hidden_size=64"])   # result.metrics, result.run_dir
    cfg = lstm_lab.compose("train", ["model=gru"])      # Hydra's compose API, hydra node too
    lstm_lab.train(cfg)
    lstm_lab.evaluate([f"run_dir={result.run_dir}"])
    lstm_lab.predict([f"run_dir={result.run_dir}", "steps=20"])
"""

from importlib import import_module
from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def _resource_root() -> Path:
    """Where configs/ and data/ are: inside the installed package (the wheel puts them there),
    or, running from a source checkout, at its top."""
    package = Path(str(files(__name__)))
    return package if (package / "configs").is_dir() else package.parents[1]


RESOURCE_ROOT = _resource_root()
CONFIG_DIR = RESOURCE_ROOT / "configs"

# The commands as functions (api.py), imported on first use: `import lstm_lab` stays light.
# The command-line entry points running the same apps are the modules of lstm_lab/cli/.
_COMMANDS = ("train", "evaluate", "predict")


def __getattr__(name: str):
    if name in _COMMANDS:
        return getattr(import_module(f"{__name__}.api"), name)
    if name == "compose":
        return import_module(f"{__name__}.hydra_job").compose_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
