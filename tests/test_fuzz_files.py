"""Mutation fuzzing of every file format npylstm reads (issue #13, item 5).

Small valid files of each format (``.keras``, ``.weights.h5``, legacy ``.h5``, a ``.json``
model config, ``.npz`` / ``.pt`` state dicts, ``.npy`` / ``.csv`` inputs) are mutated by a
seeded generator: bit flips, truncations at random offsets, chunk swaps, duplications and
overwrites, and for the formats holding JSON (``config.json`` of a ``.keras``, the legacy
``model_config`` attribute, the ``.json`` file) random edits of the parsed config (huge
sizes, negative and wrong-typed values, deep nesting, unicode, NaN). Each mutated file must

* load, and then predict (finite or not: a flipped weight bit may give NaN; where an
  edited config changed the input shape, predict's own ValueError refusing the original
  input counts as "loaded, predict refused x"), or
* raise the format's documented error type:

  ==========================================  ===============================================
  format                                      documented errors
  ==========================================  ===============================================
  ``.keras``, ``.weights.h5``, ``.h5``,       :class:`npylstm.io.KerasFileError` (its
  ``.json``                                   subclasses: ``LimitExceededError``,
                                              ``ConfigFileError``)
  ``.npz``, ``.pt`` state dicts               ``ValueError`` (``KerasFileError`` is one)
  ``.npy``, ``.csv`` inputs (the CLI)         :class:`npylstm.cli._common.CLIError`
  ==========================================  ===============================================

never another exception, within a per-case time bound and with the whole run's peak RSS
growth under a memory bound (the cases run in one child process, started with
``subprocess`` from a fresh interpreter, its address space capped with ``RLIMIT_AS``).

Cases per format: ``NPYLSTM_FUZZ_CASES`` (default 40); the counts per format and outcome
and the peak memory are printed (``pytest -s``). An undocumented exception raised from a
file another part of the package owns (the model builders, the config readers) is counted
as ``foreign`` (a MemoryError as ``memory``) and checked by the last test below.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

CASES = int(os.environ.get("NPYLSTM_FUZZ_CASES", "40"))
SEED = int(os.environ.get("NPYLSTM_FUZZ_SEED", "13"))
CASE_SECONDS = 20.0  # a case slower than this is a hang
MEMORY_BOUND_MIB = 1024  # peak RSS growth of the whole run
FORMATS = ("keras", "weights.h5", "legacy_h5", "json", "npz", "pt", "npy", "csv")
# Files whose undocumented exceptions are this suite's own failures (the readers); others
# are "foreign" (xfail below, fixes in /tmp/lead/requests-readers.md).
OWN = ("npylstm/io/_safe.py", "npylstm/io/arrays.py", "npylstm/io/limits.py",
       "npylstm/io/files.py", "npylstm/io/torch.py", "npylstm/cli/_common.py")


# -- mutations ------------------------------------------------------------------------------


def _byte_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    data = bytearray(data)
    n = len(data)
    how = rng.choice(["flip", "flip", "truncate", "swap", "duplicate", "overwrite", "zero"])
    if how == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif how == "truncate":
        data = data[: rng.randrange(n)]
    elif how in ("swap", "duplicate", "overwrite", "zero"):
        size = rng.randint(1, min(256, n // 2))
        a, b = rng.randrange(n - size), rng.randrange(n - size)
        chunk = bytes(data[a: a + size])
        if how == "swap":
            data[a: a + size], data[b: b + size] = data[b: b + size], chunk
        elif how == "duplicate":
            data[b:b] = chunk
        elif how == "overwrite":
            data[a: a + size] = bytes(rng.randrange(256) for _ in range(size))
        else:
            data[a: a + size] = (b"\xff" if rng.random() < 0.5 else b"\x00") * size
    return how, bytes(data)


_ODD_VALUES = [10**9, 10**12, -1, 0, 2**63, -(2**63), 1e308, float("nan"), True, None, "x",
               "\u00e9\u4e2d\U0001f600", "\udcff", [], {}, [1, 2], {"a": 1}, 3.5]


def _deep(depth: int) -> str:
    return f"__DEEP_{depth}__"  # _dumps writes it as `depth` nested lists


def _json_edit(config, rng: random.Random) -> tuple[str, object]:
    """One random edit somewhere in a parsed JSON config."""
    config = json.loads(json.dumps(config))
    slots = []  # (container, key)

    def walk(node):
        if isinstance(node, dict):
            for key in list(node):
                slots.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                slots.append((node, index))
                walk(node[index])

    walk(config)
    container, key = rng.choice(slots)
    how = rng.choice(["value", "value", "value", "deep", "delete", "rename"])
    if how == "value":
        container[key] = rng.choice(_ODD_VALUES)
    elif how == "deep":
        container[key] = _deep(rng.choice([50, 300, 5000]))
    elif how == "delete":
        del container[key]
    elif isinstance(container, dict):
        container[key + rng.choice(["_", "\u00e9", "/.."])] = container.pop(key)
    else:
        container[key] = str(container[key])
    return f"json-{how}", config


def _dumps(config) -> str:
    text = json.dumps(config)
    for depth in (50, 300, 5000):
        text = text.replace(f'"__DEEP_{depth}__"', "[" * depth + "]" * depth)
    return text


# -- the child: builds the files, runs the cases ----------------------------------------------


def _build(folder: Path):
    import numpy as np
    import torch

    import npylstm
    from npylstm import io

    model = npylstm.Sequential([npylstm.Input((4, 3)), npylstm.layers.LSTM(5, name="lstm"),
                                npylstm.layers.Dense(1, name="head")])
    rng = np.random.default_rng(0)  # fixed weights: the same files, the same mutants
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in model.get_weights()])
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    model.save(folder / "m.keras")
    model.save_weights(folder / "m.weights.h5")
    model.save(folder / "m.h5")
    import zipfile

    with zipfile.ZipFile(folder / "m.keras") as zf:
        (folder / "m.json").write_bytes(zf.read("config.json"))
    sd = io.to_torch_state_dict(model)
    np.savez(folder / "m.npz", **sd)
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, folder / "m.pt")
    np.save(folder / "x.npy", x)
    np.savetxt(folder / "x.csv", x.reshape(2, -1), delimiter=",")
    return model, x


def _loaders(model, x):
    import numpy as np

    from npylstm import io, load_model
    from npylstm.cli._common import read_array

    weights = model.get_weights()

    def predict(built):
        """Predictions of a loaded model, or "refused" when an edited config changed its
        input shape and predict refuses ``x`` with its documented ValueError."""
        try:
            return built.predict(x, verbose=0)
        except ValueError as exc:
            if "the model expects" in str(exc) or "expected" in str(exc):
                return "refused"
            raise

    def keras_model(path):
        return predict(load_model(path))

    def weights_h5(path):
        model.set_weights(weights)
        model.load_weights(path)
        return model.predict(x, verbose=0)

    def json_config(path):
        built, _ = io.model_from_config(path)
        return predict(built) if built.built else None

    def state_dict(kind):
        def load(path):
            model.set_weights(weights)
            state = io.read_state_dict(path, kind)
            io.load_torch_state_dict(model, io.split_state_dict(state, path))
            return model.predict(x, verbose=0)
        return load

    def array(path):
        from npylstm.cli._common import fit_input

        values = read_array(path)
        return model.predict(fit_input(values, model, "x"), verbose=0)

    return {"keras": keras_model, "weights.h5": weights_h5, "legacy_h5": keras_model,
            "json": json_config, "npz": state_dict("npz"), "pt": state_dict("pt"),
            "npy": array, "csv": array}, np


def _mutant(fmt: str, original: bytes, rng: random.Random, folder: Path):
    """(how, bytes) of one mutated file of format ``fmt``."""
    import zipfile

    if fmt == "json" or (fmt == "keras" and rng.random() < 0.5):
        if fmt == "json":
            how, config = _json_edit(json.loads(original), rng)
            return how, _dumps(config).encode("utf8", "surrogatepass")
        src = folder / "m.keras"
        out = folder / "edit.keras"
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "config.json":
                    how, config = _json_edit(json.loads(data), rng)
                    data = _dumps(config).encode("utf8", "surrogatepass")
                zout.writestr(info, data)
        return how, out.read_bytes()
    if fmt == "legacy_h5" and rng.random() < 0.4:
        import shutil

        import h5py

        out = folder / "edit.h5"
        shutil.copy(folder / "m.h5", out)
        with h5py.File(out, "r+") as f:
            if rng.random() < 0.6:
                how, config = _json_edit(json.loads(f.attrs["model_config"]), rng)
                f.attrs["model_config"] = _dumps(config).encode("utf8", "surrogatepass")
            else:
                group = f["model_weights"]
                key = rng.choice(["layer_names", "backend", "keras_version"])
                how = f"attr-{key}"
                group.attrs[key] = rng.choice([b"\xff\xfe", 7, [b"lstm", b"../x"], b"nope",
                                               [b"head", b"head"], b""])
        return how, out.read_bytes()
    return _byte_mutation(original, rng)


def _classify(exc: BaseException, fmt: str) -> str:
    from npylstm.cli._common import CLIError
    from npylstm.io import KerasFileError

    documented = {"npz": ValueError, "pt": ValueError, "npy": CLIError, "csv": CLIError}.get(
        fmt, KerasFileError)
    if isinstance(exc, documented):
        return "documented error"
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f.filename for f in frames if "/npylstm/" in f.filename]
    last = inside[-1].split("/npylstm/", 1)[-1] if inside else ""
    return "undocumented" if any(last == own.split("/", 1)[1] for own in OWN) else "foreign"


class _Hang(BaseException):
    """Raised in a case that runs over CASE_SECONDS (SIGALRM)."""


def _alarm(signum, frame):
    raise _Hang(f"over {CASE_SECONDS} s")


def run_child(folder: str, cases: int, seed: int) -> dict:
    import resource
    import signal
    import warnings

    signal.signal(signal.SIGALRM, _alarm)
    warnings.simplefilter("ignore")  # the verdicts below are about exceptions, not warnings
    folder = Path(folder)
    model, x = _build(folder)
    loaders, np = _loaders(model, x)
    files = {"keras": "m.keras", "weights.h5": "m.weights.h5", "legacy_h5": "m.h5",
             "json": "m.json", "npz": "m.npz", "pt": "m.pt", "npy": "x.npy", "csv": "x.csv"}
    expected = model.predict(x, verbose=0)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = {"formats": {}, "failures": [], "slowest": 0.0}
    for fmt in FORMATS:
        original = (folder / files[fmt]).read_bytes()
        counts: dict[str, int] = {}
        rng = random.Random(f"{seed}-{fmt}")
        for case in range(cases):
            how, data = _mutant(fmt, original, rng, folder)
            path = folder / f"case{Path(files[fmt]).name[1:]}"
            path.write_bytes(data)
            (folder / "progress.txt").write_text(f"{fmt} {case} {how}\n")  # where a kill was
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
            try:
                y = loaders[fmt](path)
                outcome = ("loaded, predict refused x" if isinstance(y, str)
                           else "loaded, same predictions" if y is not None and np.array_equal(
                               y, expected, equal_nan=True) else "loaded, other predictions")
            except _Hang as exc:
                frames = [f for f in traceback.extract_tb(exc.__traceback__)
                          if "/npylstm/" in f.filename]
                last = frames[-1] if frames else None
                own = last is not None and any(last.filename.endswith(o) for o in OWN)
                outcome = "hang" if own else "foreign"
                results["failures"].append(
                    (fmt, case, how, f"over {CASE_SECONDS} s",
                     ("hang" if own else "foreign hang") + (
                         f" {last.filename.split('/npylstm/')[-1]}:{last.lineno}" if last
                         else "")))
            except MemoryError as exc:
                outcome = "foreign"
                results["failures"].append((fmt, case, how, f"MemoryError: {exc}"[:300],
                                            "memory"))
            except Exception as exc:  # noqa: BLE001 - classifying every exception is the point
                outcome = _classify(exc, fmt)
                if outcome != "documented error":
                    last = traceback.extract_tb(exc.__traceback__)[-1]
                    results["failures"].append(
                        (fmt, case, how, f"{type(exc).__name__}: {exc}"[:300],
                         f"{outcome} {last.filename.split('/')[-1]}:{last.lineno}"))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.perf_counter() - start
            results["slowest"] = max(results["slowest"], elapsed)
            if elapsed > CASE_SECONDS and outcome not in ("hang", "foreign"):
                results["failures"].append((fmt, case, how, f"took {elapsed:.1f} s", "hang"))
            counts[outcome] = counts.get(outcome, 0) + 1
        results["formats"][fmt] = counts
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results["peak_rss_mib"] = peak / 1024
    results["rss_growth_mib"] = (peak - base_rss) / 1024
    return results


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    out = folder / "results.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONWARNINGS="ignore")
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import resource; "
            "vm = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024; "
            f"resource.setrlimit(resource.RLIMIT_AS, (vm + (3 << 30), resource.RLIM_INFINITY)); "
            "import test_fuzz_files as t; "
            f"r = t.run_child({str(folder)!r}, {CASES}, {SEED}); "
            f"open({str(out)!r}, 'w').write(json.dumps(r))")
    try:  # a hang inside C code (libhdf5) cannot be interrupted by SIGALRM: this bounds it
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120 + CASES * len(FORMATS) * 1.5)
    except subprocess.TimeoutExpired:
        progress = folder / "progress.txt"
        pytest.fail("the fuzz run hung at case "
                    + (progress.read_text().strip() if progress.exists() else "?"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    print(f"\nfuzz: {CASES} cases per format, seed {SEED}")
    for fmt, counts in results["formats"].items():
        print(f"  {fmt:11s} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print(f"  peak RSS {results['peak_rss_mib']:.0f} MiB (growth over the run "
          f"{results['rss_growth_mib']:.0f} MiB); slowest case {results['slowest']:.2f} s")
    for failure in results["failures"]:
        print("  FAIL", failure)
    return results


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutants_load_or_raise_the_documented_error(fuzz, fmt):
    counts = fuzz["formats"][fmt]
    assert sum(counts.values()) == CASES
    mine = [f for f in fuzz["failures"] if f[0] == fmt and f[4].startswith("undocumented")]
    assert not mine, mine
    hangs = [f for f in fuzz["failures"] if f[0] == fmt and f[4].startswith("hang")]
    assert not hangs, hangs
    # the generator is not toothless: most mutants are refused, some still load
    assert counts.get("documented error", 0) >= CASES // 4, counts


def test_memory_and_time_bounds(fuzz):
    assert fuzz["rss_growth_mib"] < MEMORY_BOUND_MIB
    assert fuzz["slowest"] < CASE_SECONDS + 5  # a foreign hang is stopped at CASE_SECONDS


def test_no_foreign_undocumented_exceptions(fuzz):
    """Undocumented exceptions from files the readers do not own (config readers, layers).
    A MemoryError (a config declaring 10**9 units over small weights: the layers are built
    and initialised before the file's arrays are compared) is issue #13 item 1, pinned by
    the xfail in tests/test_fuzz_regressions.py; the default run's mutants do not draw it,
    longer runs (NPYLSTM_FUZZ_CASES=2000) do and fail here until it is fixed."""
    foreign = [f for f in fuzz["failures"] if f[4].startswith(("foreign", "memory"))]
    assert not foreign, foreign
