"""Development-only generators (core/dev/) stay out of the app: nothing the app runs imports them.

The app is app.py, pages/, ui/ and core/ outside core/dev/. The scan reads the source (AST), so
it also catches an import inside a function that no test happens to execute.
"""

import ast
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parent.parent
DEV = "core.dev"


def _is_dev(module: str) -> bool:
    return module == DEV or module.startswith(DEV + ".")


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def dev_imports(source: str, package: str) -> list[str]:
    """Every import of ``core.dev`` in ``source`` (a module of ``package``), as text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_dev(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            found += [f"{module}.{a.name}" for a in node.names
                      if _is_dev(module) or _is_dev(f"{module}.{a.name}")]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and _is_dev(node.args[0].value)):
            found.append(node.args[0].value)  # importlib.import_module("core.dev...")
    return found


def _app_modules() -> list[Path]:
    files = [ROOT / "app.py"]
    for folder in ("pages", "ui", "core"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if (ROOT / "core" / "dev") not in f.parents]


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts if rel.name == "__init__" else rel.parts[:-1]
    return ".".join(p for p in parts if p != "__init__")


@pytest.mark.parametrize("source, package", [
    ("import core.dev.synth", "ui"),
    ("import core.dev", "ui"),
    ("from core.dev.synth import generate_shop", "pages"),
    ("from core.dev import synth", "core"),
    ("from core import dev", "core.funnels"),
    ("from . import dev", "core"),
    ("from .dev.synth import PERSONAS", "core"),
    ("from ..dev import cart_toy", "core.cart"),
    ("def f():\n    from core.dev.cart_toy import toy_sessions\n", "core.cart"),
    ("import importlib\nimportlib.import_module('core.dev.synth')", "ui"),
])
def test_the_scan_sees_every_spelling_of_a_dev_import(source, package):
    assert dev_imports(source, package) != []


@pytest.mark.parametrize("source, package", [
    ("import core.devices", "ui"),
    ("from core import overview, funnels", "ui"),
    ("from . import params", "core"),
    ("from ..stats import holm", "core.cart"),
    ("x = 'core.dev is development-only'", "core"),
])
def test_the_scan_leaves_other_imports_alone(source, package):
    assert dev_imports(source, package) == []


def test_no_app_module_imports_the_development_generators():
    offenders = {
        str(path.relative_to(ROOT)): hits
        for path in _app_modules()
        if (hits := dev_imports(path.read_text(), _package(path)))
    }
    assert offenders == {}


def test_core_exports_of_dev_names_are_only_the_documented_lazy_one():
    # `from core import generate_shop` keeps working for notebooks; it is resolved lazily
    # (core.__getattr__), so `import core` and the app never load core.dev.
    assert {n for n, m in core._EXPORTS.items() if _is_dev(m)} <= {"generate_shop"}
