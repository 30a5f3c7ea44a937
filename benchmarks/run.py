"""Benchmark npylstm against PyTorch and Keras 3 on the CPU: ``python benchmarks/run.py``.

Every framework runs in its own subprocess (``worker.py``) with the same thread settings;
peers that are not installed are listed as skipped. Results go to ``benchmarks/results/``
(``--quick``: ``benchmarks/results/quick/``): ``results.json``, ``results.md``,
``times.png`` and ``scaling.png``, each stamped with date, CPU, core count and versions.

Examples::

    python benchmarks/run.py                    # full run (~6 min on an idle 2-core machine)
    python benchmarks/run.py --quick            # every part, few repeats (a few minutes)
    python benchmarks/run.py --quick --frameworks npylstm-numba --configs tiny --parts timing
    python benchmarks/run.py --tf-python /path/to/tf-venv/bin/python   # Keras on TensorFlow
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from configs import CONFIGS, DEFAULT_CONFIGS, SWEEP_BASE, SWEEP_BASE_QUICK  # noqa: E402
from frameworks import FRAMEWORKS  # noqa: E402
from report import analyse, markdown, plot, print_tables, write_json  # noqa: E402

PARTS = ["timing", "peak", "compile", "memory", "sweep"]
THREAD_VARS = [
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
]


def child_env(framework: str, threads: int, extra: dict[str, str] | None = None) -> dict:
    """The environment of a worker: the same thread count for every library.

    XLA (Keras on JAX) has no flag for its CPU thread-pool size; it uses one thread per
    core, which equals ``threads`` when ``threads`` is the core count (the default on the
    2-core development machine). With ``--threads 1`` its multi-threaded Eigen is switched
    off.
    """
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if threads == 1:
        flags = env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        env["XLA_FLAGS"] = flags.strip()
    if framework.startswith("keras-"):
        env["KERAS_BACKEND"] = framework.split("-", 1)[1]
    env.update(extra or {})
    return env


def python_for(framework: str, args) -> str:
    if framework == "keras-tensorflow" and args.tf_python:
        return args.tf_python
    return sys.executable


def run_worker(task: str, framework: str, args, configs: list[str] = (),
               extra_env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    """Run one worker and return its JSON (or an ``error`` entry with the stderr tail)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [python_for(framework, args), str(HERE / "worker.py"), task,
               "--framework", framework, "--configs", ",".join(configs),
               "--threads", str(args.threads), "--out", str(out)]
        if args.quick:
            cmd.append("--quick")
        label = f"{task} {framework}" + (f" [{','.join(configs)}]" if configs else "")
        print(f"· {label} ...", end=" ", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=child_env(framework, args.threads, extra_env),
                                  capture_output=True, text=True,
                                  timeout=timeout or (600 if args.quick else 3600))
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        except OSError as exc:  # e.g. --tf-python does not exist
            return {"skipped": f"cannot start {cmd[0]}: {exc}"}
        print(f"{time.perf_counter() - started:.0f} s", flush=True)
        if out.exists():
            result = json.loads(out.read_text())
        else:
            result = {"error": f"worker exited with {proc.returncode}: "
                               f"{proc.stderr.strip()[-1500:]}"}
        if "skipped" in result and framework == "keras-tensorflow":
            result["skipped"] += (f" (interpreter {cmd[0]}; install tensorflow-cpu there or "
                                  "pass --tf-python)")
        return result


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "npylstm"], cwd=HERE,
                               text=True, capture_output=True).stdout.strip()
        return sha + (" + uncommitted changes in npylstm/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few repeats and a small sweep: checks the harness, not speed")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for every framework (default 2)")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help=f"comma-separated, from {sorted(CONFIGS)}")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help=f"comma-separated, from {FRAMEWORKS}")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {PARTS}")
    parser.add_argument("--tf-python", default=os.environ.get("NPYLSTM_BENCH_TF_PYTHON"),
                        help="Python interpreter with tensorflow-cpu for the keras-tensorflow "
                             "worker (default: this one; env NPYLSTM_BENCH_TF_PYTHON)")
    parser.add_argument("--memory-config", default=None,
                        help="configuration for the memory part (default large-512; "
                             "--quick: the first selected configuration)")
    parser.add_argument("--out", default=None,
                        help="output directory (default benchmarks/results, --quick: "
                             "benchmarks/results/quick)")
    args = parser.parse_args(argv)

    configs = [c for c in args.configs.split(",") if c]
    frameworks = [f for f in args.frameworks.split(",") if f]
    parts = [p for p in args.parts.split(",") if p]
    for name, given, known in (("configuration", configs, CONFIGS), ("framework", frameworks,
                               FRAMEWORKS), ("part", parts, PARTS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}: expected some of {sorted(known)}")
    outdir = Path(args.out) if args.out else HERE / "results" / ("quick" if args.quick else "")
    outdir.mkdir(parents=True, exist_ok=True)

    results: dict = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "threads": args.threads,
        "load_before": round(os.getloadavg()[0], 2),
        "quick": args.quick,
        "git_commit": git_commit(),
        "command": " ".join(["run.py", *(argv if argv is not None else sys.argv[1:])]),
        "configs": configs,
        "config_details": {c: CONFIGS[c].to_dict() for c in configs},
        "frameworks": frameworks,
        "timing": {},
        "skipped": {},
        "errors": {},
        "versions": {},
    }

    def record(framework: str, result: dict) -> bool:
        if "versions" in result:
            results["versions"][framework] = result["versions"]
        if "skipped" in result:
            results["skipped"][framework] = result["skipped"]
            return False
        if "error" in result:
            results["errors"][framework] = result["error"]
            return False
        for config, entry in result.get("configs", {}).items():
            if "error" in entry:
                results["errors"][f"{framework} {config}"] = entry["error"]
        return True

    available = []
    if "timing" in parts:
        for framework in frameworks:
            result = run_worker("timing", framework, args, configs)
            if record(framework, result):
                results["timing"][framework] = result
                available.append(framework)
    else:
        available = list(frameworks)

    if "peak" in parts:
        results["peak"] = run_worker("peak", "npylstm-numba", args)

    if "compile" in parts and "npylstm-numba" in frameworks:
        config = configs[0]
        with tempfile.TemporaryDirectory() as cache_dir:
            extra = {"NUMBA_CACHE_DIR": cache_dir}
            first = run_worker("compile", "npylstm-numba", args, [config], extra)
            second = run_worker("compile", "npylstm-numba", args, [config], extra)
        results["compile"] = {"first": first, "second": second}
        if "calls" in first and "calls" in second:
            results["compile"]["cache_reused"] = (
                second["numba_cache_hits"] > 0 and second["numba_cache_misses"] == 0
            )
            results["compile"]["compile_s"] = {
                kind: first["calls"][kind]["first_s"] - first["calls"][kind]["second_s"]
                for kind in ("infer", "train")
            }

    if "memory" in parts:
        mconfig = args.memory_config or (configs[0] if args.quick else "large-512")
        results["memory"] = {}
        for framework in [f for f in available if not CONFIGS[mconfig].stream]:
            if framework == "npylstm-reference":
                continue  # same arrays as numba's cache; not a target
            mem = run_worker("memory", framework, args, [mconfig])
            if "skipped" not in mem:
                results["memory"][framework] = mem
        results["memory_method"] = (
            "RSS from /proc/self/status in one subprocess per framework: model built, one "
            "warm-up training step, VmHWM reset via /proc/self/clear_refs, one training step; "
            "peak over imports = VmHWM - RSS right after importing the framework (model, data, "
            "optimizer state, compiled code, step peak); step delta = VmHWM - RSS before the step"
        )

    if "sweep" in parts:
        results["sweep"] = {}
        results["sweep_base"] = (SWEEP_BASE_QUICK if args.quick else SWEEP_BASE).describe()
        for framework in ("npylstm-numba", "torch"):
            if framework in available:
                sweep = run_worker("sweep", framework, args)
                if "points" in sweep:
                    results["sweep"][framework] = sweep
                else:
                    results["errors"][f"sweep {framework}"] = sweep.get("error") or sweep.get(
                        "skipped")

    results["load_after"] = round(os.getloadavg()[0], 2)
    analyse(results)
    plots = plot(results, outdir)
    results["plots"] = [Path(p).name for p in plots]
    write_json(results, outdir / "results.json")
    (outdir / "results.md").write_text(markdown(results, plots))
    print_tables(results)
    print(f"written: {outdir / 'results.json'}, {outdir / 'results.md'}"
          + "".join(f", {p}" for p in plots))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
