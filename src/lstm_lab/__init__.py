"""lstm-lab: LSTM sequence regression experiments (Lightning + Hydra).

Kept import-light on purpose: nothing here pulls in torch or Lightning.
"""

from pathlib import Path

__version__ = "0.1.0"

# configs/ lives at the top of the checkout (the package is installed editable from it).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
