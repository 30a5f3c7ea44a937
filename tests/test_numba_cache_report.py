"""``npylstm.ops.numba.cache_status()`` names the directory Numba really writes to.

The independent witness is Numba itself: with ``NUMBA_DEBUG_CACHE=1`` it prints the path of
every cache file it saves (``[cache] data saved to '...'``); each test runs a fresh
interpreter (Numba reads ``NUMBA_CACHE_DIR`` once, at import), takes the report, compiles
something, and checks that every file Numba says it saved lies in a directory the report
named, and that the report's file counts grew to match. Where a test expects a particular
directory, it derives it from Numba's documented rule written out here
(``<root>/<folder name>_<sha1 of the folder path>``), not from the code under test.

A read-only install is simulated by a copy of the package whose ``__pycache__`` folders are
regular files: no one, root included, can create a cache directory there, which is what
Numba's ``InTreeCacheLocator`` checks (a ``chmod`` would not stop root).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest

import npylstm
from npylstm.ops.numba import CacheStatus, cache_status

PACKAGE = Path(npylstm.__file__).parent

NO_JIT = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing is compiled or cached"
)

_SAVED = re.compile(r"^\[cache\] (?:data|index) saved to '(.+)'$")


def run_python(code: str, cwd: Path | None = None, drop=(), **env: str) -> tuple[dict, list[str]]:
    """Run ``code`` in a fresh interpreter (``drop``: environment variables to unset).
    Returns the JSON object it prints last and the cache files Numba reported saving."""
    full_env = {k: v for k, v in os.environ.items() if k not in drop}
    full_env.update({"PYTHONWARNINGS": "error", "NUMBA_DEBUG_CACHE": "1", **env})
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    saved = {m.group(1) for m in map(_SAVED.match, lines) if m}  # (an index is saved again
    return json.loads(lines[-1]), sorted(saved)  # for each new signature)


def numba_subdir(root: Path, folder: Path) -> Path:
    """Numba's ``_CacheLocator.get_suitable_cache_subpath``: ``root/<name>_<sha1(path)>``."""
    folder = os.path.abspath(folder)
    return root / f"{os.path.basename(folder)}_{hashlib.sha1(folder.encode()).hexdigest()}"


REPORT_PREDICT_REPORT = """
    import json
    import numpy as np
    from npylstm.layers import LSTM
    from npylstm.ops.numba import cache_status
    before = cache_status().as_dict()
    LSTM(3)(np.ones((1, 2, 2)))  # one float64 row: the serial kernel, compiled here
    print(json.dumps({"before": before, "after": cache_status().as_dict()}))
"""


@NO_JIT
def test_numba_cache_dir_is_reported_and_the_files_go_there(tmp_path):
    root = tmp_path / "numba-cache"
    result, saved = run_python(REPORT_PREDICT_REPORT, NUMBA_CACHE_DIR=str(root))
    before, after = result["before"], result["after"]
    assert before["enabled"] and before["numba_cache_dir"] == str(root)
    assert before["index_files"] == before["data_files"] == 0  # a new, empty directory
    expected = {str(numba_subdir(root, PACKAGE / "ops/numba")),
                str(numba_subdir(root, PACKAGE / "ops"))}
    assert set(before["directories"]) == expected
    assert {loc["locator"] for loc in before["locations"]} == {"UserProvidedCacheLocator"}
    # Numba's own log: every file it saved is in a reported directory ...
    assert saved and {os.path.dirname(path) for path in saved} <= expected
    # ... and the report counts exactly those files afterwards
    assert after["index_files"] == sum(path.endswith(".nbi") for path in saved)
    assert after["data_files"] == sum(path.endswith(".nbc") for path in saved)
    assert after["data_files"] == len(list(root.rglob("*.nbc")))
    kernels = {loc["source"]: loc for loc in after["locations"]}
    lstm = kernels[str(PACKAGE / "ops/numba/lstm_kernels.py")]
    assert 1 <= lstm["cached_kernels"] <= lstm["kernels"] and lstm["cached_signatures"] >= 1
    assert sum(loc["cached_kernels"] for loc in before["locations"]) == 0


@pytest.fixture
def read_only_copy(tmp_path) -> Path:
    """A copy of the npylstm sources whose kernel folders cannot get a ``__pycache__``."""
    copy = tmp_path / "src" / "npylstm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in (copy / "ops", copy / "ops/numba"):
        (folder / "__pycache__").write_text("not a directory")
    return copy


REPORT_ADAM_REPORT = """
    import json
    import numpy as np
    import npylstm
    from npylstm.ops import optim_numba
    from npylstm.ops.numba import cache_status
    before = cache_status().as_dict()
    w, g, m, v = (np.full(4, 0.5) for _ in range(4))
    optim_numba.adam_update(w, g, m, v, 0.1, 0.1, 0.001, 1e-7)  # one small kernel
    print(json.dumps({"file": npylstm.__file__, "before": before,
                      "after": cache_status().as_dict()}))
"""


@NO_JIT
def test_a_read_only_install_falls_back_to_the_user_wide_cache(read_only_copy, tmp_path):
    xdg = tmp_path / "xdg-cache"
    result, saved = run_python(
        REPORT_ADAM_REPORT, cwd=tmp_path, drop=("NUMBA_CACHE_DIR", "NUMBA_CACHE_LOCATOR_CLASSES"),
        PYTHONPATH=str(read_only_copy.parent), XDG_CACHE_HOME=str(xdg),
    )
    assert result["file"] == str(read_only_copy / "__init__.py")  # the copy ran
    before, after = result["before"], result["after"]
    assert before["enabled"] and before["numba_cache_dir"] is None
    # Numba's user cache dir on Linux is $XDG_CACHE_HOME/numba
    expected = {str(numba_subdir(xdg / "numba", read_only_copy / "ops/numba")),
                str(numba_subdir(xdg / "numba", read_only_copy / "ops"))}
    assert set(before["directories"]) == expected
    assert {loc["locator"] for loc in before["locations"]} == {"UserWideCacheLocator"}
    assert saved and {os.path.dirname(path) for path in saved} == {
        str(numba_subdir(xdg / "numba", read_only_copy / "ops"))}
    adam = next(loc for loc in after["locations"] if loc["source"].endswith("optim_numba.py"))
    assert adam["cached_kernels"] == 1 and adam["index_files"] == 1
    assert adam["data_files"] == sum(path.endswith(".nbc") for path in saved)


@NO_JIT
def test_no_writable_directory_reports_where_numba_looked(read_only_copy, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result, saved = run_python(
        """
        import json
        from npylstm.ops.numba import CACHE_STATUS, cache_status
        status = cache_status()
        print(json.dumps({"status": status.as_dict(), "text": str(status),
                          "reason": CACHE_STATUS["reason"]}))
        """,
        cwd=tmp_path, drop=("NUMBA_CACHE_LOCATOR_CLASSES",),
        PYTHONPATH=str(read_only_copy.parent), NUMBA_CACHE_DIR=str(blocker / "numba"),
        XDG_CACHE_HOME=str(blocker / "xdg"),
    )
    status = result["status"]
    assert not status["enabled"] and "no locator available" in status["reason"]
    assert status["reason"] == result["reason"] and status["directories"] == []
    assert saved == []
    first = status["locations"][0]  # the first kernel file: what Numba tried, in its order
    assert [t[0] for t in first["tried"]] == [
        "UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"]
    folder = Path(first["source"]).parent
    assert [t[1] for t in first["tried"]] == [
        str(numba_subdir(blocker / "numba", folder)), str(folder / "__pycache__"),
        str(numba_subdir(blocker / "xdg" / "numba", folder))]
    assert {t[2] for t in first["tried"]} == {"cannot create or write it"}
    assert "disabled: RuntimeError: cannot cache function" in result["text"]
    assert "tried InTreeCacheLocator" in result["text"]


def test_disable_jit_is_reported():
    result, _ = run_python("""
        import json
        from npylstm.ops.numba import cache_status
        print(json.dumps(cache_status().as_dict()))
    """, NUMBA_DISABLE_JIT="1")
    assert result["enabled"] is False and result["locations"] == []
    assert result["reason"].startswith("NUMBA_DISABLE_JIT=1")


@NO_JIT
def test_this_process_report_is_consistent():
    status = cache_status()
    assert isinstance(status, CacheStatus)
    sources = {loc.source for loc in status.locations}
    assert str(PACKAGE / "ops/numba/lstm_kernels.py") in sources
    assert str(PACKAGE / "ops/numba/gru_kernels.py") in sources
    for loc in status.locations:
        assert 0 <= loc.cached_kernels <= loc.kernels <= 1000
        assert loc.cached_kernels <= loc.cached_signatures or loc.cached_kernels == 0
        assert loc.cached_kernels <= loc.index_files
        if loc.directory:
            assert loc.directory in str(status)
    assert json.loads(json.dumps(status.as_dict()))["enabled"] == status.enabled


def test_info_command_prints_the_cache_report(capsys):
    from npylstm.cli.info import cmd_info

    assert cmd_info(argparse.Namespace(json=True)) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["numba"] == numba.__version__ and info["npylstm"] == npylstm.__version__
    assert info["cache"]["directories"] == list(cache_status().directories)
    assert cmd_info(argparse.Namespace(json=False)) == 0
    text = capsys.readouterr().out
    assert "Numba kernel cache: " in text and f"Numba {numba.__version__}" in text


def test_info_command_through_main(capsys):
    from npylstm.cli.main import main
    from npylstm.cli.parser import build_parser

    if "info" not in build_parser()._subparsers._group_actions[0].choices:
        pytest.skip("npylstm info is not registered in cli/parser.py yet")
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {lib["num_threads"] for lib in info["blas"]} <= {1}  # the CLI's --threads 1
