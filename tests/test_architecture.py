"""Rules of the layers: core never imports streamlit; every issue-named name is exported."""

import ast
import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


# --------------------------------------------------------------------------------------------
# issue 13: small modules, short functions, low complexity


def _python_files(*roots: str):
    for root in roots:
        path = ROOT / root
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def test_every_module_of_core_ui_and_pages_is_under_600_lines():
    big = {
        str(p.relative_to(ROOT)): n
        for p in _python_files("core", "ui", "pages", "app.py")
        if (n := p.read_text().count("\n")) >= 600
    }
    assert big == {}


def test_no_function_is_over_80_lines_outside_the_funnel_kernel():
    long = []
    for p in _python_files("core", "ui", "pages", "app.py", "bench"):
        if p == ROOT / "core" / "funnels" / "kernel.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_ruff_complexity_check_passes():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    out = subprocess.run(
        [ruff, "check", "--select", "C901", "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout
