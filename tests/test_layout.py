"""The tree shows the architecture: the core (data/, models/, evaluation/) imports nothing
from the layers above it, the wheel packages every folder, and README's layout names them all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lstm_lab"
CORE = ("data", "models", "evaluation")
ABOVE_THE_CORE = (
    *("config", "cli", "api", "training", "records", "train", "evaluate", "predict"),
    *("commands", "pipeline", "hydra_job", "user_errors", "warm"),
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports included), as dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("folder", CORE)
def test_the_core_imports_nothing_from_the_layers_above(folder):
    above = tuple(f"lstm_lab.{name}" for name in ABOVE_THE_CORE)
    wrong = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in (PACKAGE / folder).rglob("*.py")
        for module in imported_modules(path)
        if module in above or module.startswith(tuple(f"{a}." for a in above))
    }
    assert not wrong, sorted(wrong)


def test_the_wheel_lists_every_package_folder_and_only_those():
    tomllib = pytest.importorskip("tomllib")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    if not isinstance(setuptools.get("packages"), list):
        pytest.skip("pyproject.toml finds its packages itself")
    mapped = {p: f for p, f in setuptools.get("package-dir", {}).items() if p}
    packages = set(setuptools["packages"])
    outside = {p for p in packages if not any(p.startswith(m) for m in mapped)}
    folders = {
        ".".join(p.parent.relative_to(PACKAGE.parent).parts)
        for p in PACKAGE.parent.rglob("__init__.py")
    }
    assert outside == folders
    for package, folder in mapped.items():
        assert (ROOT / folder).is_dir(), f"{package}: {folder} is missing"
        # and each of its subfolders (a config group), or setuptools warns at every install
        # that a folder it would package is not listed
        inside = {
            ".".join((package, *d.relative_to(ROOT / folder).parts))
            for d in (ROOT / folder).rglob("*")
            if d.is_dir() and d.name != "__pycache__"
        }
        assert inside <= packages, sorted(inside - packages)


def test_readme_layout_names_every_folder_and_every_module_outside_the_core():
    readme = (ROOT / "README.md").read_text()
    layout = re.search(r"^## Layout\n\n```\n(.*?)^```", readme, flags=re.M | re.S).group(1)
    named = set(re.findall(r"[\w/]+/|\w+\.py", layout))
    missing = [
        f"{p.name}/" if p.is_dir() else str(p.relative_to(PACKAGE))
        for p in sorted(PACKAGE.iterdir())
        if p.name != "__pycache__" and (f"{p.name}/" if p.is_dir() else p.name) not in named
    ]
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and p.name not in CORE):
        missing += [
            str(m.relative_to(PACKAGE))
            for m in sorted(folder.glob("*.py"))
            if m.name != "__init__.py" and m.name not in named
        ]
    assert not missing, missing


def test_no_module_imports_itself_back_through_others():
    """No import cycle under src/ (lazy imports included): each module reads as a layer on
    those it imports."""
    modules = {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }
    graph = {m: (imported_modules(p) & modules.keys()) - {m} for m, p in modules.items()}

    def reaches(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph[module]
        return seen

    cycles = sorted(m for m in graph if m in reaches(m))
    assert not cycles, cycles
