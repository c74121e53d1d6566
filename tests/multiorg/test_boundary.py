"""multiorg is production code: it never imports the harness and never knows it is simulated."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "multiorg"
FILES = sorted(PACKAGE.rglob("*.py"))

#: what design.md lets multiorg import (plus pydantic and PyYAML for config values)
ALLOWED = {"multiorg", "httpx", "redis", "pydantic", "pydantic_core", "yaml", "typing_extensions"}
FORBIDDEN = {
    "sim",
    "faults",
    "reports",
    "simpy",
    "respx",
    "fakeredis",
    "greenlet",
    "numpy",
    "matplotlib",
    "pytest",
    "hypothesis",
}


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_there_is_something_to_check() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in FILES}
    assert {"router.py", "outcomes.py", "breakers/registry.py", "stores/redis.py"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_imports_stay_inside_the_boundary(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    stdlib = set(sys.stdlib_module_names)
    for line, module in _imports(tree):
        root = module.split(".")[0]
        where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        assert root not in FORBIDDEN, where
        assert root in ALLOWED or root in stdlib, where


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_code_never_mentions_simulation(path: Path) -> None:
    """Names and (non-docstring) strings: no ``if simulated``, no sim-only code paths."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        words: list[str] = []
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words.append(node.name)
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            words.append(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words.append(node.value)
        for w in words:
            low = w.lower()
            assert "simul" not in low and "simpy" not in low and low not in ("sim", "is_sim"), (
                f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')} mentions {w!r}"
            )


def test_importing_multiorg_loads_no_harness_module() -> None:
    code = (
        "import sys, multiorg, multiorg.stores, multiorg.breakers.registry, multiorg.transport\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == ""
