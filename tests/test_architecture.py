"""The package's shape: dependencies point down, no import cycle, modules stay readable.

The layers of the package (``CONTRIBUTING.md``), lowest first: the basics (activations,
initializers, ...) and ``registry``; ``cells``; ``ops``; ``layers``; ``models`` and ``io``
(models reach io only inside their save/load methods; io builds models through the
registry and never imports them); ``trace``/``explain``/``plots``; ``cli``.
These tests read the sources (``ast``), so they hold for imports inside functions too
where it says so.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "npylstm"
# A module may be longer than this only if listed (the Numba LSTM kernels are one file, so
# that Numba's cache sees them together).
MAX_LINES = 600
LONG_MODULES: set[str] = set()


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """The npylstm modules ``path`` imports (``npylstm.x.y`` form)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])  # what "." means, for a module and an __init__ alike
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also what sits in top-level if/try blocks and class bodies
        nodes = [n for top in tree.body for n in ast.walk(top)
                 if not isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef)]
        nodes = [n for n in nodes if not _inside_function(tree, n)]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("npylstm")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("npylstm"):
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _inside_function(tree, target) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and target in ast.walk(node):
            return True
    return False


def _importers(prefix: str, forbidden: tuple[str, ...], top_level_only: bool):
    bad = []
    for path in _modules():
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if not (name == prefix or name.startswith(prefix + ".")):
            continue
        for module in _imports(path, top_level_only):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    return bad


@pytest.mark.parametrize(
    ("package", "forbidden", "top_level_only"),
    [
        # io builds models through the registry: it never imports them, nor the cli
        ("npylstm.io", ("npylstm.models", "npylstm.model", "npylstm.cli", "npylstm.ops",
                        "npylstm.trace"), False),
        # models reach io only lazily, inside their file methods
        ("npylstm.models", ("npylstm.io", "npylstm.keras_io", "npylstm.torch_io",
                            "npylstm.cli"), True),
        # layers know nothing of models, files or the command line
        ("npylstm.layers", ("npylstm.models", "npylstm.model", "npylstm.io",
                            "npylstm.keras_io", "npylstm.cli", "npylstm.trace"), False),
        # kernels and cells know nothing of layers
        ("npylstm.ops", ("npylstm.layers", "npylstm.models", "npylstm.io", "npylstm.cli"),
         False),
        ("npylstm.cells", ("npylstm.layers", "npylstm.ops", "npylstm.models", "npylstm.io"),
         False),
    ],
)
def test_dependencies_point_down(package, forbidden, top_level_only):
    assert _importers(package, forbidden, top_level_only) == []


def test_no_module_is_too_long_to_read():
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert set(long) <= LONG_MODULES, long


@pytest.mark.parametrize("module", ["npylstm.io", "npylstm.models", "npylstm.layers",
                                    "npylstm.cli", "npylstm.registry", "npylstm.cells"])
def test_each_package_imports_first_in_a_fresh_interpreter(module):
    """An import cycle shows as an ImportError when a package is the first one imported."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
