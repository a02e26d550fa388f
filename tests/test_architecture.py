"""Rules of the layers: core never imports streamlit; every issue-named name is exported."""

import ast
import importlib
import inspect
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent


def test_core_never_imports_streamlit():
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_export_resolves_and_public_functions_are_documented():
    missing, undocumented = [], []
    for name, module in core._EXPORTS.items():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            missing.append(f"{module}.{name}")
            continue
        obj = getattr(core, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and not inspect.getdoc(obj):
            undocumented.append(name)
    assert missing == [] and undocumented == []


def test_pages_do_not_import_core_internals_that_do_not_exist():
    for page in (ROOT / "pages").glob("*.py"):
        ast.parse(page.read_text())  # every page at least parses
