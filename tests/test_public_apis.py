"""src/ uses Lightning, torch, TensorBoard and Hydra through their public APIs only.

Flagged, anywhere under src/lstm_lab:
- an import of a private module or name (`from x._y import z`, `from x import _z`);
- a private attribute (`obj._name`, `getattr(obj, "_name")`) of anything but `self`;
- a private attribute of `self` that a Lightning or torch base class defines (`self._trainer`
  in a LightningModule is Lightning's, not ours).
Our own `self._x` attributes and Hydra's `_target_` config keys are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lightning as L
import torch

SRC = Path(__file__).resolve().parents[1] / "src" / "lstm_lab"
CONFIG_KEYS = {"_target_", "_partial_", "_self_", "_recursive_", "_convert_", "_args_"}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in CONFIG_KEYS


def library_private_names() -> set[str]:
    """Private attributes of the bases our classes extend (instances and classes)."""
    bases = [
        L.LightningModule(),
        L.LightningDataModule(),
        L.Callback(),
        torch.nn.Module(),
    ]
    names = set()
    for obj in bases:
        names |= {n for n in dir(obj) if private(n)}
        names |= {n for n in vars(obj) if private(n)}
    return names


def findings(source: str, name: str, theirs: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, name)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            module_parts = (node.module or "").split(".")
            names = [a.name for a in node.names]
            if any(private(p) for p in module_parts) or any(private(n) for n in names):
                found.append(f"{where}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(private(p) for p in alias.name.split(".")):
                    found.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.Attribute) and private(node.attr):
            owner = ast.unparse(node.value)
            if owner not in ("self", "cls") or node.attr in theirs:
                found.append(f"{where}: {owner}.{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append(f"{where}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_src_uses_only_public_apis():
    theirs = library_private_names()
    found = [
        f
        for path in sorted(SRC.rglob("*.py"))
        for f in findings(path.read_text(), str(path.relative_to(SRC.parent)), theirs)
    ]
    assert not found, "private API use in src/:\n" + "\n".join(found)


def test_the_scan_catches_what_it_is_for():
    """The checks above find each kind of private use (so a pass means something)."""
    code = (
        "from lightning.pytorch.strategies.launchers.multiprocessing import _Launcher\n"
        "from torch._C import thing\n"
        "import torch._dynamo\n"
        "x = optimizer._on_before_step()\n"
        "y = getattr(writer, '_get_file_writer')\n"
        "class M:\n"
        "    def f(self):\n"
        "        self._trainer = None\n"
        "        self._ours = cfg['_target_']\n"
    )
    found = findings(code, "sample.py", library_private_names())
    assert sorted(f.split(": ", 1)[1] for f in found) == sorted(
        [
            "from lightning.pytorch.strategies.launchers.multiprocessing import _Launcher",
            "from torch._C import thing",
            "import torch._dynamo",
            "optimizer._on_before_step",
            "getattr(..., '_get_file_writer')",
            "self._trainer",
        ]
    )
