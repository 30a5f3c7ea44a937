"""Numba's on-disk cache must never run stale machine code after a helper changes.

Numba reuses a cached function while *its own source file* keeps its modification time and
size; it does not look at the files of the jitted helpers compiled into it, the constants
it reads from other modules, or the decorator options. So every ``npylstm`` module that
defines jitted functions declares ``HELPERS_SOURCE_SHA256``: the SHA-256 of each other
``npylstm`` file it imports from. These tests check that every such list is complete and
current (updating a digest changes the importing file, which makes Numba recompile it),
and demonstrate, in fresh interpreters on a copy of the package, the stale cache the rule
prevents.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest

import npylstm
from npylstm.ops import _numba_util

PACKAGE = Path(npylstm.__file__).parent
CONSTANT = "HELPERS_SOURCE_SHA256"
#: Decorators whose functions Numba compiles (and compiles into their callers).
JIT_DECORATORS = {"jit_kernel", "njit", "jit", "overload", "overload_method", "register_jitable",
                  "intrinsic", "vectorize", "guvectorize", "cfunc", "stencil"}


# -- the check ------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    """SHA-256 with line endings normalised (a CRLF checkout hashes the same)."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def source_sha256(path: Path) -> str:
    """SHA-256 of a whole source file."""
    return _sha256(path.read_bytes())


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _is_jit_decorator(node: ast.expr) -> bool:
    """``@jit_kernel``, ``@jit_kernel(...)``, ``@numba.njit``, ``@overload(f)`` and the like."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    return name in JIT_DECORATORS


def defines_jitted(path: Path) -> bool:
    """Whether ``path`` defines at least one compiled function."""
    return any(
        isinstance(node, ast.FunctionDef) and any(map(_is_jit_decorator, node.decorator_list))
        for node in ast.walk(_tree(path))
    )


def jitted_modules(root: Path) -> list[Path]:
    """The source files below ``root`` that define at least one compiled function."""
    return [path for path in sorted(root.rglob("*.py"))
            if "__pycache__" not in path.parts and defines_jitted(path)]


def uses_numba(path: Path) -> bool:
    """Whether ``path`` imports Numba or defines compiled functions: then anything in it may
    shape compiled code (jitted helpers and their own ``HELPERS_SOURCE_SHA256``, overloads,
    decorator options), so a dependent declares its whole file. (A file of jitted helpers
    that imports only ``jit_kernel`` counts: its digest constant is what carries a change
    in the helpers it inlines on to the kernels that inline it.)"""
    if defines_jitted(path):
        return True
    for node in ast.walk(_tree(path)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(name == "numba" or name.startswith("numba.") for name in names):
            return True
    return False


def _source_of(root: Path, parts: tuple[str, ...]) -> Path | None:
    """The file of module ``parts`` (relative to the package ``root``), if it exists."""
    if not parts:
        return root / "__init__.py"
    module = root.joinpath(*parts)
    if module.with_suffix(".py").is_file():
        return module.with_suffix(".py")
    if (module / "__init__.py").is_file():
        return module / "__init__.py"
    return None


WHOLE = "*"  # "the whole module is used" (a module imported as such)


def imported_names(path: Path, root: Path) -> dict[str, set[str]]:
    """The files of the package ``root`` that ``path`` imports from (relative to ``root``),
    each with the names imported from it (:data:`WHOLE` for a module imported as such)."""
    package = path.relative_to(root).parent.parts  # (), ("ops",), ("ops", "numba"), ...
    found: dict[Path, set[str]] = {}
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            module = tuple(node.module.split(".")) if node.module else ()
            if node.level:
                base = package[: len(package) - (node.level - 1)] + module
            elif module[:1] == (root.name,):
                base = module[1:]
            else:
                continue  # numpy, numba, ...: not ours
            for alias in node.names:  # a submodule (from .. import x) or a name in base
                if submodule := _source_of(root, (*base, alias.name)):
                    found.setdefault(submodule, set()).add(WHOLE)
                elif source := _source_of(root, base):
                    found.setdefault(source, set()).add(alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = tuple(alias.name.split("."))
                if parts[0] == root.name and (source := _source_of(root, parts[1:])):
                    found.setdefault(source, set()).add(WHOLE)
    found.pop(path, None)
    return {source.relative_to(root).as_posix(): names for source, names in found.items()}


def definitions_source(path: Path, names: set[str]) -> str:
    """The source of the top-level statements of ``path`` that define ``names``, and of
    those defining the module's names they refer to (``B = 2 * A`` brings ``A = ...``)."""
    tree = _tree(path)
    statements = {}  # name -> the statement defining it, the last one as at run time
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
        defined = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined = [node.name]
        for name in defined:
            statements[name] = node
    missing = sorted(names - set(statements))
    assert not missing, f"{path}: no top-level definition of {missing}"
    wanted: set[int] = set()  # ids of the statements to hash
    todo = sorted(names)
    while todo:
        node = statements[todo.pop()]
        if id(node) not in wanted:
            wanted.add(id(node))
            todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                     and isinstance(n.ctx, ast.Load) and n.id in statements]
    text = path.read_text(encoding="utf-8")
    return "\n".join(ast.get_source_segment(text, node) for node in tree.body
                     if id(node) in wanted)  # in file order


def expected_digests(path: Path, root: Path) -> dict[str, str]:
    """The ``HELPERS_SOURCE_SHA256`` that the module ``path`` must declare: for each
    ``npylstm`` file it imports from, the SHA-256 of the whole file when that file uses
    Numba (or is imported as a module), else of the definitions of the names imported
    from it, keyed ``"file: NAME, NAME"`` (Numba freezes such globals' values at compile
    time; edits elsewhere in that file cannot reach the compiled code)."""
    digests = {}
    for dependency, names in sorted(imported_names(path, root).items()):
        source = root / dependency
        if WHOLE in names or uses_numba(source):
            digests[dependency] = source_sha256(source)
        else:
            key = f"{dependency}: {', '.join(sorted(names))}"
            digests[key] = _sha256(definitions_source(source, names).encode())
    return digests


def declared_digests(path: Path) -> dict[str, str] | None:
    """The literal value of the module's ``HELPERS_SOURCE_SHA256``, None when it has none
    (read from the source, not imported, so the check also runs on a copied tree)."""
    for node in _tree(path).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == CONSTANT:
            return ast.literal_eval(node.value)
    return None


def cache_problems(root: Path) -> list[str]:
    """What is stale or missing in the ``HELPERS_SOURCE_SHA256`` of the jitted modules of the
    package ``root``, one message each (empty when every cached kernel is safe to reuse)."""
    problems = []
    for path in jitted_modules(root):
        name = path.relative_to(root).as_posix()
        expected = expected_digests(path, root)
        declared = declared_digests(path)
        if declared is None:
            if expected:
                problems.append(
                    f"{name} defines compiled functions but no {CONSTANT}: add "
                    f"{CONSTANT}: dict[str, str] = {expected!r} so a change in the files it "
                    "imports from makes Numba recompile its kernels"
                )
            continue
        for key in sorted(expected.keys() - declared.keys()):
            problems.append(
                f"{name} imports {key}, which its {CONSTANT} does not list: add "
                f'"{key}": "{expected[key]}" so a change there makes Numba recompile its kernels'
            )
        for key in sorted(declared.keys() - expected.keys()):
            problems.append(
                f"{name} lists {key!r} in {CONSTANT}, but imports no such thing: remove it"
            )
        for key in sorted(expected.keys() & declared.keys()):
            if declared[key] != expected[key]:
                what = key if ": " not in key else (
                    "the definitions of {1} in {0}".format(*key.split(": ")))
                problems.append(
                    f'{what} changed: update {CONSTANT}["{key}"] in {name} to '
                    f'"{expected[key]}" so Numba recompiles the kernels that inline it (its '
                    f"cache checks only {name} itself)"
                )
    return problems


# -- the rule holds in this checkout ------------------------------------------------------------


def test_the_jitted_modules_are_found():
    found = {path.relative_to(PACKAGE).as_posix() for path in jitted_modules(PACKAGE)}
    assert {"ops/numba/activations.py", "ops/numba/lstm_cells.py", "ops/numba/lstm_kernels.py",
            "ops/numba/gru_kernels.py", "ops/optim_numba.py"} <= found
    # pure Python: nothing compiled there
    assert not {"ops/numba/lstm.py", "ops/numba/gru.py"} & found


def test_the_kernels_depend_on_the_shared_helpers():
    # whole files for Numba-using modules; only the compiled-in SELU constants of the
    # NumPy activations (edits elsewhere in npylstm/activations.py recompile nothing)
    assert set(expected_digests(PACKAGE / "ops/numba/lstm_cells.py", PACKAGE)) == {
        "ops/numba/_jit.py", "ops/numba/activations.py", "ops/numba/products.py",
        "ops/numba/simd.py"}
    # the sequence kernels inline the one-step functions and the products (files of jitted
    # functions: their whole files, so their own digest constants chain on)
    assert set(expected_digests(PACKAGE / "ops/numba/lstm_kernels.py", PACKAGE)) == {
        "ops/numba/_jit.py", "ops/numba/lstm_cells.py", "ops/numba/products.py"}
    # the products' micro-kernels compile in the vector type and intrinsics of simd.py
    assert set(expected_digests(PACKAGE / "ops/numba/products.py", PACKAGE)) == {
        "ops/numba/_jit.py", "ops/numba/simd.py"}
    assert set(expected_digests(PACKAGE / "ops/numba/activations.py", PACKAGE)) == {
        "activations.py: SELU_ALPHA, SELU_SCALE", "ops/numba/_jit.py"}
    assert set(expected_digests(PACKAGE / "ops/optim_numba.py", PACKAGE)) == {
        "ops/numba/_jit.py"}
    # the GRU kernels inline the shared activation helpers and products
    assert {"ops/numba/_jit.py", "ops/numba/activations.py", "ops/numba/products.py"} <= set(
        expected_digests(PACKAGE / "ops/numba/gru_kernels.py", PACKAGE))


def test_every_jitted_module_declares_current_digests_of_what_it_inlines():
    problems = cache_problems(PACKAGE)
    assert not problems, "\n".join(problems)


# -- the check catches each kind of change --------------------------------------------------


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A copy of the npylstm sources (no caches), importable from ``tmp_path / "src"``."""
    copy = tmp_path / "src" / "npylstm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _update_digest(module: Path, key: str, root: Path) -> None:
    """Paste the digest the check asks for: ``module``'s ``HELPERS_SOURCE_SHA256[key]``."""
    _edit(module, declared_digests(module)[key], expected_digests(module, root)[key])


def test_the_check_flags_an_edited_helper_until_its_digest_is_updated(package_copy):
    assert cache_problems(package_copy) == []
    helpers = package_copy / "ops/numba/activations.py"
    _edit(helpers, "    if code == LINEAR:\n        return v\n",
          "    if code == LINEAR:\n        return v + one\n")
    problems = cache_problems(package_copy)
    assert len(problems) == 2  # the GRU kernels and the LSTM one-step functions inline them
    for problem, kernel_file in zip(problems, ["gru_kernels.py", "lstm_cells.py"],
                                    strict=True):
        assert problem.startswith(
            f'ops/numba/activations.py changed: update {CONSTANT}["ops/numba/activations.py"] '
            f"in ops/numba/{kernel_file} to"
        )
        assert source_sha256(helpers) in problem
    cells = package_copy / "ops/numba/lstm_cells.py"
    _update_digest(cells, "ops/numba/activations.py", package_copy)
    # that update changed lstm_cells.py, which the LSTM sequence kernels inline
    problems = cache_problems(package_copy)
    assert len(problems) == 2
    assert problems[1].startswith(
        f'ops/numba/lstm_cells.py changed: update {CONSTANT}["ops/numba/lstm_cells.py"] in '
        "ops/numba/lstm_kernels.py to")
    kernels = package_copy / "ops/numba/lstm_kernels.py"
    _update_digest(kernels, "ops/numba/lstm_cells.py", package_copy)
    # what is left is the GRU kernels' (they inline the helpers, and whatever else of ours
    # they import: each stale key of theirs is named)
    problems = cache_problems(package_copy)
    assert problems and all("in ops/numba/gru_kernels.py" in p for p in problems)
    gru_kernels = package_copy / "ops/numba/gru_kernels.py"
    expected = expected_digests(gru_kernels, package_copy)
    for key, digest in declared_digests(gru_kernels).items():
        if digest != expected[key]:
            _update_digest(gru_kernels, key, package_copy)
    assert cache_problems(package_copy) == []


def test_the_check_follows_the_chain_and_missing_imports(package_copy):
    numpy_activations = package_copy / "activations.py"
    # edits elsewhere in the NumPy activations cannot reach compiled code: nothing to do
    _edit(numpy_activations, "from __future__ import annotations\n",
          "from __future__ import annotations\n\nUNRELATED = 1\n")
    assert cache_problems(package_copy) == []
    # a compiled-in constant (npylstm/activations.py) -> numba/activations.py, whose own
    # update then changes it -> lstm_kernels.py and gru_kernels.py
    _edit(numpy_activations, "SELU_ALPHA = ", "SELU_ALPHA = 0 + ")
    (problem,) = cache_problems(package_copy)
    assert problem.startswith(
        "the definitions of SELU_ALPHA, SELU_SCALE in activations.py changed: update "
        f'{CONSTANT}["activations.py: SELU_ALPHA, SELU_SCALE"] in ops/numba/activations.py')
    helpers = package_copy / "ops/numba/activations.py"
    key = "activations.py: SELU_ALPHA, SELU_SCALE"
    _edit(helpers, declared_digests(helpers)[key], expected_digests(helpers, package_copy)[key])
    problems = cache_problems(package_copy)
    assert len(problems) == 2
    assert all(p.startswith("ops/numba/activations.py changed: update") for p in problems)
    assert "in ops/numba/gru_kernels.py" in problems[0]
    assert "in ops/numba/lstm_cells.py" in problems[1]
    # a jitted module that starts importing another of our files must list it
    _edit(package_copy / "ops/optim_numba.py", "from .numba._jit import jit_kernel\n",
          "from .numba._jit import jit_kernel\nfrom .numba.activations import _like\n")
    assert any(p.startswith("ops/optim_numba.py imports ops/numba/activations.py, which its")
               for p in cache_problems(package_copy))


# -- the hazard itself, in fresh interpreters ------------------------------------------------

# A float64 one-row forward with φ = linear (one row: the serial kernel _forward_rows only),
# and linear applied by the helper directly; prints what ran and whether it was cached.
PROBE = """
    import json
    import numpy as np
    import npylstm
    from npylstm.ops import lstm_numba
    from npylstm.ops.numba import activations
    rng = np.random.default_rng(0)
    args = [rng.normal(size=s) for s in [(1, 3, 2), (1, 4), (1, 4), (2, 16), (4, 16), (16,)]]
    h_seq = lstm_numba.lstm_forward(*args, "linear", "hard_sigmoid")[0]
    helper = np.empty(1)
    activations._activate_block(activations.ACTIVATION_CODES["linear"], np.zeros(1), helper)
    stats = lstm_numba._forward_rows.stats
    print(json.dumps({
        "file": npylstm.__file__, "h_seq": h_seq.tolist(), "linear(0)": float(helper[0]),
        "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values()),
    }))
"""


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing is cached")
@pytest.mark.skipif(not _numba_util.CACHE_STATUS["enabled"], reason="no writable cache here")
def test_a_stale_kernel_cache_is_real_and_the_digest_update_clears_it(package_copy, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error", "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(package_copy.parent)}

    def probe() -> dict:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["file"] == str(package_copy / "__init__.py")  # the copy, not /work
        return result

    first = probe()  # compiles the kernels and writes the cache
    assert first["misses"] == 1 and first["hits"] == 0 and first["linear(0)"] == 0.0

    # edit a shared helper only: linear(v) = v + 1
    helpers = package_copy / "ops/numba/activations.py"
    _edit(helpers, "    if code == LINEAR:\n        return v\n",
          "    if code == LINEAR:\n        return v + one\n")
    stale = probe()
    assert stale["linear(0)"] == 1.0  # the helper's own file changed: recompiled
    # ... but the kernel in the unchanged lstm_kernels.py came from the cache, with the old
    # linear compiled in (if Numba ever tracks dependencies itself, this is where it shows)
    assert stale["hits"] == 1 and stale["misses"] == 0
    assert stale["h_seq"] == first["h_seq"]
    # the check names the file to update and the digest to write there: the one-step
    # functions' file, whose update then names the sequence kernels' file
    problem = next(p for p in cache_problems(package_copy) if "lstm_cells.py to" in p)
    assert "in ops/numba/lstm_cells.py" in problem and source_sha256(helpers) in problem
    cells = package_copy / "ops/numba/lstm_cells.py"
    _update_digest(cells, "ops/numba/activations.py", package_copy)
    problem = next(p for p in cache_problems(package_copy) if "lstm_kernels.py to" in p)
    assert problem.startswith("ops/numba/lstm_cells.py changed") and source_sha256(cells) in problem
    kernels = package_copy / "ops/numba/lstm_kernels.py"
    _update_digest(kernels, "ops/numba/lstm_cells.py", package_copy)
    gru_kernels = package_copy / "ops/numba/gru_kernels.py"  # inlines the helpers too
    expected = expected_digests(gru_kernels, package_copy)
    for key, digest in declared_digests(gru_kernels).items():
        if digest != expected[key]:
            _update_digest(gru_kernels, key, package_copy)
    assert cache_problems(package_copy) == []
    fresh = probe()
    assert fresh["misses"] == 1 and fresh["hits"] == 0  # recompiled with the new helper
    assert fresh["h_seq"] != first["h_seq"]
