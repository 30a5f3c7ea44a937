"""``npylstm bench``: run the benchmark harness ``benchmarks/run.py`` of the source checkout
(options pass through to it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ._common import CLIError, out

__all__ = ["cmd_bench", "find_benchmarks"]


def find_benchmarks() -> Path | None:
    """``benchmarks/run.py`` of the source checkout (it is not part of the installed package)."""
    package = Path(__file__).resolve().parent.parent  # npylstm/cli/bench.py -> npylstm/
    candidates = [package.parent / "benchmarks" / "run.py",
                  Path.cwd() / "benchmarks" / "run.py"]
    return next((c for c in candidates if c.is_file()), None)


def cmd_bench(args) -> int:
    script = find_benchmarks()
    if script is None:
        raise CLIError(
            "benchmarks/run.py not found: the benchmark harness lives in the source checkout, "
            "not in the installed package; run from a clone (pip install -e . there)"
        )
    command = [sys.executable, str(script), *args.rest]
    out("+ " + " ".join(command[1:]))
    return subprocess.call(command, cwd=script.parent.parent)
