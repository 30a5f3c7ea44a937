"""The ``npylstm`` command (also ``python -m npylstm``).

::

    npylstm demo [--epochs 20] [--seed 0] [--out DIR]   train the seeds' damped-sine model
    npylstm summary FILE                                Keras-style summary + param formulas
    npylstm predict FILE --input X --output Y           X, Y as .npy or .csv
    npylstm crosscheck FILE [--grad] [--atol 1e-5]      npylstm vs real Keras, layer by layer
    npylstm convert SRC DST                             .keras .weights.h5 .h5 .npz .pt
    npylstm gates FILE --input X [--plot gates.png]     trace the gates (and plot them)
    npylstm bench [--quick]                             run benchmarks/run.py

Exit status: 0 success; 1 ``crosscheck`` found a difference above ``--atol``; 2 an error
(missing file, wrong format, bad shapes, missing optional dependency), reported as one
line on stderr (``--debug`` shows the traceback instead).

A model stored as weights only (``.weights.h5``, a legacy weights ``.h5``, a PyTorch state
dict) needs ``--config``: a ``.keras`` / ``.h5`` model file with the same layers, or a JSON
model config (``keras_model.to_json()``, or the ``config.json`` inside a ``.keras`` file).

BLAS threads: the matrices of an LSTM step are small, and OpenBLAS's worker threads cost
more than they save (on a busy 2-core machine ``fit`` ran 20x slower with 2 threads than
with 1), so the command limits BLAS to ``--threads`` (default 1) threads when
``threadpoolctl`` is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "CLIError",
    "build_parser",
    "find_benchmarks",
    "fit_input",
    "load_any_model",
    "main",
    "read_array",
    "write_array",
]

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2

#: Keras's own savers and loaders call Variable.__array__, which warns under NumPy 2.
_KERAS_NUMPY2_WARNING = "__array__ implementation doesn't accept a copy keyword"

_INPUT_SUFFIXES = (".npy", ".csv")


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


# -- small helpers ---------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):  # KeyError's str() is the quoted key
        text = f"missing key {text}"
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _out(text: str = "") -> None:
    print(text, flush=True)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def _existing(path: str | os.PathLike, what: str = "file") -> Path:
    path = Path(path)
    if not path.exists():
        raise CLIError(f"no such {what}: '{path}'")
    if path.is_dir():
        raise CLIError(f"'{path}' is a directory; expected a {what}")
    return path


def _writable(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"'{path}' is a directory; expected a file name to write")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"cannot write '{path}': the directory '{parent}' does not exist")
    return path


@contextlib.contextmanager
def _blas_threads(threads: int | None):
    """Limit BLAS to ``threads`` threads (needs threadpoolctl; a no-op without it)."""
    if not threads:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only a speed matter
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


@contextlib.contextmanager
def _quiet_keras():
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=_KERAS_NUMPY2_WARNING, category=DeprecationWarning
        )
        # Keras's advice on legacy configs (e.g. "Do not pass an `input_shape`") is not ours
        warnings.filterwarnings("ignore", category=UserWarning, module=r"keras(\.|$)")
        yield


def _import_keras(purpose: str):
    """Real Keras (JAX backend unless KERAS_BACKEND says otherwise), or a CLIError."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        with _quiet_keras():
            import keras
    except ImportError as exc:
        raise CLIError(
            f"{purpose} needs Keras, which is not installed ({_one_line(exc)}): "
            'pip install keras "jax[cpu]"'
        ) from exc
    return keras


def _import_torch(purpose: str):
    try:
        import torch
    except ImportError as exc:
        raise CLIError(
            f"{purpose} needs PyTorch, which is not installed: pip install torch "
            "(or use a .npz state dict, which needs only NumPy)"
        ) from exc
    return torch


# -- models from files -----------------------------------------------------------------------


def _is_weights_only(path: Path) -> bool:
    from . import keras_io

    if str(path).endswith(".weights.h5"):
        return True
    try:
        keras_io.read_model_file(path)
    except keras_io.KerasFileError as exc:
        return "weights-only" in str(exc)
    return False


def _model_from_config(config_path: str | os.PathLike):
    """An npylstm model from ``--config``: a model file (with its weights) or a JSON config."""
    from . import keras_io
    from .model import Sequential

    path = _existing(config_path, "config file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:4] == b"PK\x03\x04" or head == b"\x89HDF\r\n\x1a\n":
        return keras_io.load_model(path), True
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(
            f"--config '{path}' is neither a .keras/.h5 model file nor a JSON model config "
            f"({_one_line(exc)})"
        ) from exc
    if isinstance(raw, dict) and "class_name" not in raw and "layers" in raw:
        raw = {"class_name": "Sequential", "config": raw}  # a bare Sequential.get_config()
    if not isinstance(raw, dict) or raw.get("class_name") != "Sequential":
        raise CLIError(
            f"--config '{path}': expected a Sequential model config "
            '{"class_name": "Sequential", "config": {"layers": [...]}}, received '
            f"{raw.get('class_name') if isinstance(raw, dict) else type(raw).__name__!r}"
        )
    config = keras_io.normalize_model_config(raw, keras_io.KERAS_FORMAT_VERSION, f"'{path}'")
    try:
        model = Sequential.from_config(config["config"])
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--config '{path}': cannot build the model: {_one_line(exc)}") from exc
    if not model.built:
        raise CLIError(
            f"--config '{path}': the config does not give the input shape (no InputLayer and "
            "no build_input_shape)"
        )
    return model, False


def load_any_model(path: str | os.PathLike, config: str | None = None):
    """An npylstm model from a Keras file, or from weights (Keras or PyTorch) plus ``config``.

    Parameters
    ----------
    path : a ``.keras``, legacy ``.h5``, ``.weights.h5``, ``.npz`` or ``.pt`` file
    config : a ``.keras``/``.h5`` model file or a JSON config; required for weights-only files

    Returns
    -------
    npylstm.Sequential
    """
    from . import keras_io

    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix in (".npz", ".pt", ".pth"):
        if config is None:
            raise CLIError(
                f"'{path}' is a PyTorch-style state dict, which holds only the LSTM weights: "
                "pass --config MODEL (a .keras/.h5 file or a JSON config) for the layers"
            )
        model, has_weights = _model_from_config(config)
        _load_state_dict(model, path, has_weights)
        return model
    if config is None:
        if _is_weights_only(path):
            raise CLIError(
                f"'{path}' holds weights only (no model config): pass --config CONFIG, a "
                ".keras/.h5 model file or a JSON config (keras_model.to_json())"
            )
        return keras_io.load_model(path)
    model, _ = _model_from_config(config)
    keras_io.load_weights(model, path)
    return model


def _read_state_dict(path: Path) -> dict[str, np.ndarray]:
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (OSError, ValueError) as exc:
            raise CLIError(f"'{path}' is not a readable .npz file: {_one_line(exc)}") from exc
    torch = _import_torch(f"reading '{path}'")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise CLIError(f"'{path}' is not a readable PyTorch file: {_one_line(exc)}") from exc
    if not isinstance(state, dict):
        raise CLIError(
            f"'{path}' holds a {type(state).__name__}, expected a state dict "
            "(torch.save(module.state_dict(), path))"
        )
    return {key: value.detach().cpu().numpy() for key, value in state.items()}


def _split_state_dict(state: dict[str, np.ndarray], path: Path) -> list[dict[str, np.ndarray]]:
    """One state dict per ``nn.LSTM`` module, in file order, prefixes stripped.

    ``weight_ih_l0, ...`` is one (possibly multi-layer) module; ``lstm.weight_ih_l0, ...,
    lstm_1.weight_ih_l0, ...`` are several (what ``convert`` writes for a stack whose layers
    have different sizes, one module per layer).
    """
    prefixes: list[str] = []
    for key in state:
        if key.endswith("weight_ih_l0") and key[: -len("weight_ih_l0")] not in prefixes:
            prefixes.append(key[: -len("weight_ih_l0")])
    if not prefixes:
        raise CLIError(f"'{path}' has no nn.LSTM weights (no key ending in 'weight_ih_l0')")
    modules = []
    for prefix in prefixes:
        others = [p for p in prefixes if p != prefix and p.startswith(prefix)]
        modules.append({
            key[len(prefix):]: value for key, value in state.items()
            if key.startswith(prefix) and not any(key.startswith(o) for o in others)
        })
    return modules


def _load_state_dict(model, path: Path, has_weights: bool) -> None:
    from .torch_io import load_torch_state_dict

    state = _read_state_dict(path)
    missing = [
        layer.name for layer in model.layers
        if layer.weights and type(layer).__name__ != "LSTM"
    ]
    if missing and not has_weights:
        raise CLIError(
            f"'{path}' holds only LSTM weights; the model's {missing} need theirs: pass "
            "--config a .keras/.h5 model file (its weights fill those layers)"
        )
    load_torch_state_dict(model, _split_state_dict(state, path))


def _load_keras_model(keras, path: Path, config: str | None):
    """The same model in real Keras (compile=False)."""
    with _quiet_keras():
        if path.suffix.lower() in (".npz", ".pt", ".pth"):
            raise CLIError(
                "crosscheck reads Keras files; convert the state dict first "
                "(npylstm convert SRC model.keras --config MODEL)"
            )
        try:
            if config is None:
                return keras.saving.load_model(path, compile=False)
            config_path = Path(config)
            if config_path.suffix.lower() in (".keras", ".h5"):
                model = keras.saving.load_model(config_path, compile=False)
            else:
                model = keras.models.model_from_json(config_path.read_text(encoding="utf-8"))
            model.load_weights(path)
            return model
        except (ValueError, TypeError, OSError) as exc:
            raise CLIError(
                f"Keras {keras.__version__} cannot load '{path}'"
                + (f" with --config '{config}'" if config else "") + f": {_one_line(exc)}"
            ) from exc


# -- inputs and outputs ----------------------------------------------------------------------


def read_array(path: str | os.PathLike, option: str = "--input") -> np.ndarray:
    """An array from a ``.npy`` file or a ``.csv`` table of numbers (one sample per row)."""
    path = _existing(path, f"{option} file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CLIError(
                f"{option} '{path}' is not a readable .npy file: {_one_line(exc)}"
            ) from exc
    elif suffix == ".csv":
        try:
            array = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise CLIError(
                f"{option} '{path}': expected a comma-separated table of numbers, one sample "
                f"per row ({_one_line(exc)})"
            ) from exc
    else:
        raise CLIError(f"{option} '{path}': expected a .npy or .csv file, received '{suffix}'")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise CLIError(f"{option} '{path}': expected numbers, found dtype {array.dtype}")
    return array


def fit_input(x: np.ndarray, model, source: str) -> np.ndarray:
    """``x`` shaped as the model's input ``(samples, timesteps, features)``.

    A 2-D table (a CSV) holds one sample per row, ``timesteps × features`` values in
    time-major order; a 1-D array is one sample. Mismatches are explained.
    """
    expected = tuple(model.input_shape)
    want = _fmt_shape(expected)
    if len(expected) != 3:  # a model that starts with a Dense layer: (None, features)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or (expected[1] is not None and x.shape[1] != expected[1]):
            raise CLIError(f"{source} has shape {x.shape}, the model expects {want}")
        return x
    _, timesteps, features = expected
    if x.ndim == 1:
        x = x[None]
    if x.ndim == 2:
        per_row = x.shape[1]
        if timesteps is not None and per_row == timesteps * features:
            return x.reshape(len(x), timesteps, features)
        if timesteps is None and per_row % features == 0 and per_row:
            return x.reshape(len(x), per_row // features, features)
        need = (f"timesteps × features = {timesteps} × {features} = {timesteps * features}"
                if timesteps is not None else f"a multiple of features = {features}")
        raise CLIError(
            f"{source} has shape {x.shape}; the model expects {want}: each row (one sample) "
            f"must hold {need} values, found {per_row}"
        )
    if x.ndim != 3:
        raise CLIError(
            f"{source} has {x.ndim} dimensions {x.shape}; the model expects {want} "
            "(samples, timesteps, features)"
        )
    problems = []
    if timesteps is not None and x.shape[1] != timesteps:
        problems.append(f"{x.shape[1]} timesteps where the model reads {timesteps}")
    if x.shape[2] != features:
        problems.append(f"{x.shape[2]} features where the model reads {features}")
    if problems:
        raise CLIError(f"{source} has shape {x.shape}, the model expects {want}: "
                       + "; ".join(problems))
    return x


def write_array(path: Path, array: np.ndarray) -> None:
    """``array`` as ``.npy``, or as ``.csv`` with one sample per row (trailing axes flattened)."""
    if path.suffix.lower() == ".npy":
        np.save(path, array)
    else:
        np.savetxt(path, array.reshape(len(array), -1), delimiter=",", fmt="%.9g")


# -- demo ------------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    """The seeds' damped-sine stacked LSTM, trained, evaluated, saved, plotted, cross-checked."""
    import npylstm
    from npylstm import datasets, keras_io
    from npylstm.layers import LSTM, Dense

    started = time.perf_counter()
    if args.epochs < 1:
        raise CLIError(f"--epochs: expected an integer >= 1, received {args.epochs}")
    if args.samples < 5 or args.samples % 5:
        raise CLIError(
            f"--samples: expected a multiple of 5 (five wave patterns), >= 5, received "
            f"{args.samples}"
        )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out '{out}' exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    # 1. Data: five damped sine waves (seed 004's np.random.seed(1234) draws), 50 steps in,
    #    the next 5 out; the last 20% of rows, one whole pattern, are held out for validation.
    x, y = datasets.damped_sine(n_samples=args.samples)
    split = int(len(x) * 0.8)
    x_val, y_val = x[split:], y[split:]
    _out(f"npylstm demo: the damped-sine stacked LSTM of seeds 001/004 (weights seed {args.seed})")
    _out(f"Data: {len(x)} damped sine waves in 5 patterns, x {x.shape} -> y {y.shape} "
         f"(50 steps in, the next 5 out); validation: the last {len(x) - split} rows, "
         "a pattern never trained on")
    _out()

    # 2. The model of seed 004: LSTM(20, return_sequences=True) + LSTM(20) + Dense(5).
    npylstm.set_random_seed(args.seed)
    model = npylstm.Sequential(
        [npylstm.Input((50, 1)), LSTM(20, return_sequences=True), LSTM(20), Dense(5)],
        name="damped_sine",
    )
    model.compile(optimizer="adam", loss="mae")
    model.summary()
    _out("Where the counts come from:")
    _out(str(npylstm.explain_params(model)))
    _out()

    # 3. Train with a progress bar, as the seed's model.fit(X, Y, epochs=20, validation_split=0.2).
    _out(f"Training {args.epochs} epoch(s): adam, loss mae, batch size {args.batch_size} "
         "(the very first run also compiles the Numba kernels, then caches them)")
    train_start = time.perf_counter()
    history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=0.2, verbose=1)
    train_seconds = time.perf_counter() - train_start
    val_mae = float(model.evaluate(x_val, y_val, verbose=0))
    y_pred = model.predict(x_val, verbose=0)
    _out()
    _out(f"Validation MAE: {val_mae:.4f} ({len(x_val)} rows, after {args.epochs} epoch(s) and "
         f"{train_seconds:.1f} s of training)")

    # 4. Save the model as Keras 3 does, and a picture of predictions against the truth.
    model_path = keras_io.save_model(model, out / "damped_sine.keras")
    _out(f"Saved the model: {model_path}")
    _save_demo_plots(model, x, y, split, history, out)

    # 5. Real Keras reads the file and must predict the same numbers.
    _demo_keras_check(model_path, x_val, y_pred, args.no_keras)
    _out(f"Done in {time.perf_counter() - started:.1f} s.")
    return EXIT_OK


def _save_demo_plots(model, x, y, split: int, history, out: Path) -> None:
    try:
        from npylstm import plots

        patterns = len(x) // 5
        rows = [p * patterns for p in range(5)]  # one row of each wave pattern
        fig = plots.plot_predictions(y, model.predict(x, verbose=0), x=x, samples=rows)
    except ImportError:
        _out("Plots skipped: matplotlib is not installed (pip install \"npylstm[plot]\")")
        return
    for ax, row in zip(fig.axes, rows, strict=False):
        part = "validation" if row >= split else "training"
        ax.set_title(f"pattern {row // patterns + 1} ({part}): {ax.get_title().split(': ')[-1]}",
                     fontsize=10)
    fig.suptitle("Damped sine: the next 5 steps, predicted (x) against the truth (o)")
    fig.savefig(out / "predictions.png", dpi=100)
    _out(f"Saved the plot of predictions against the truth: {out / 'predictions.png'}")
    curves = plots.plot_history(history)
    curves.savefig(out / "history.png", dpi=100)
    _out(f"Saved the training curves: {out / 'history.png'}")


def _demo_keras_check(model_path: Path, x_val, y_pred, skip: bool) -> None:
    if skip:
        _out("Keras check skipped (--no-keras).")
        return
    try:
        keras = _import_keras("the Keras check")
    except CLIError:
        _out('Keras is not installed: skipped loading the file in Keras (pip install keras '
             '"jax[cpu]" to see it).')
        return
    with _quiet_keras():
        keras_model = keras.saving.load_model(model_path, compile=False)
        keras_pred = np.asarray(keras_model.predict(x_val, verbose=0))
    diff = float(np.max(np.abs(keras_pred - y_pred)))
    _out(f"Loaded {model_path.name} in Keras {keras.__version__} ({keras.backend.backend()} "
         f"backend): largest |npylstm - Keras| difference over {len(x_val)} validation "
         f"predictions: {diff:.2e}")


# -- summary / predict ------------------------------------------------------------------------

_FORMAT_NAMES = {
    "keras": "Keras 3 .keras archive",
    "legacy_h5": "legacy HDF5 model",
    "weights.h5": "Keras 3 .weights.h5",
    "legacy_weights_h5": "legacy HDF5 weights",
}


def cmd_summary(args) -> int:
    import npylstm
    from npylstm import keras_io

    path = _existing(args.file)
    model = load_any_model(path, args.config)
    origin = ""
    if path.suffix.lower() not in (".npz", ".pt", ".pth"):
        with contextlib.suppress(keras_io.KerasFileError, FileNotFoundError):
            classes = [type(layer).__name__ for layer in model.layers]
            saved = (keras_io.read_model_file(path) if args.config is None
                     else keras_io.read_weights_file(path, classes))
            origin = _FORMAT_NAMES.get(saved.format, saved.format)
            if saved.format != "weights.h5":  # a Keras 3 weights file does not say its version
                origin += f", Keras {saved.keras_version}"
    _out(f"{path}" + (f" ({origin})" if origin else ""))
    model.summary()
    _out("Where the counts come from:")
    _out(str(npylstm.explain_params(model)))
    return EXIT_OK


def cmd_predict(args) -> int:
    model = load_any_model(args.file, args.config)
    output = _writable(args.output)
    if output.suffix.lower() not in _INPUT_SUFFIXES:
        raise CLIError(f"--output '{output}': expected a .npy or .csv file name")
    x = fit_input(read_array(args.input), model, f"--input '{args.input}'")
    y = model.predict(x, batch_size=args.batch_size, verbose=0)
    write_array(output, y)
    _out(f"Predicted {len(x)} sample(s) of shape {x.shape[1:]} -> {output} {y.shape}")
    return EXIT_OK


# -- crosscheck ------------------------------------------------------------------------------


def _diff(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Largest absolute difference, and that divided by the largest |Keras value|."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        raise CLIError(f"npylstm gave shape {ours.shape}, Keras {theirs.shape}")
    if ours.size == 0:
        return 0.0, 0.0
    both_nan = np.isnan(ours) & np.isnan(theirs)
    abs_diff = float(np.max(np.where(both_nan, 0.0, np.abs(ours - theirs))))
    scale = float(np.max(np.abs(theirs))) if np.isfinite(theirs).all() else np.inf
    return abs_diff, (abs_diff / scale if scale > 0 else abs_diff)


def _keras_grads(keras, keras_model, x: np.ndarray, cotangent: np.ndarray):
    """d mean(output * r) / d (weights, x) in Keras, JAX backend."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise CLIError(f"crosscheck --grad needs KERAS_BACKEND=jax, found '{backend}'")
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in keras_model.trainable_variables]
    non_trainable = [v.value for v in keras_model.non_trainable_variables]
    r = jnp.asarray(cotangent)

    def objective(weights, inputs):
        y, _ = keras_model.stateless_call(weights, non_trainable, inputs, training=False)
        return jnp.mean(y * r)

    dweights, dx = jax.grad(objective, argnums=(0, 1))(trainable, jnp.asarray(x))
    by_id = {id(v): np.asarray(g) for v, g in zip(keras_model.trainable_variables, dweights,
                                                   strict=True)}
    per_layer = [[by_id[id(v)] for v in layer.trainable_weights] for layer in keras_model.layers]
    return np.asarray(dx), per_layer


def _our_grads(model, x: np.ndarray, cotangent: np.ndarray):
    """d mean(output * r) / d (weights, x) in npylstm: each layer's backward, last to first."""
    h, caches = x, []
    for layer in model.layers:
        h, cache = layer.forward(h, training=False)
        caches.append(cache)
    dy = (cotangent / cotangent.size).astype(h.dtype)  # d mean(y * r) / dy
    grads = []
    for layer, cache in zip(reversed(model.layers), reversed(caches), strict=True):
        dy, layer_grads = layer.backward(dy, cache)
        grads.append(layer_grads)
    return dy, grads[::-1]


def cmd_crosscheck(args) -> int:
    path = _existing(args.file)
    model = load_any_model(path, args.config)
    keras = _import_keras("crosscheck")
    keras_model = _load_keras_model(keras, path, args.config)
    if len(keras_model.layers) != len(model.layers):
        raise CLIError(
            f"Keras built {len(keras_model.layers)} layers, npylstm {len(model.layers)}"
        )
    rng = np.random.default_rng(args.seed)
    if args.input is not None:
        x = fit_input(read_array(args.input), model, f"--input '{args.input}'")
        source = f"the {len(x)} samples of '{args.input}'"
    else:
        if args.samples < 1:
            raise CLIError(f"--samples: expected an integer >= 1, received {args.samples}")
        shape = list(model.input_shape[1:])
        if shape[0] is None:
            shape[0] = args.timesteps
        x = rng.normal(size=(args.samples, *shape))
        source = (f"{args.samples} random N(0, 1) samples of shape {_fmt_shape(shape)}, "
                  f"seed {args.seed}")
    x = np.ascontiguousarray(x, dtype=model.layers[0].dtype)
    _out(f"Cross-check of {path}: npylstm against Keras {keras.__version__} "
         f"({keras.backend.backend()} backend) on {source}")
    _out("rel = largest |npylstm - Keras| / largest |Keras value|")
    rows: list[tuple[str, str, float, float]] = []
    ours, theirs = x, x
    with _quiet_keras():
        for layer, keras_layer in zip(model.layers, keras_model.layers, strict=True):
            ours, _ = layer.forward(ours, training=False)
            theirs = np.asarray(keras.ops.convert_to_numpy(keras_layer(theirs, training=False)))
            rows.append((f"{layer.name} ({type(layer).__name__})", _fmt_shape(ours.shape),
                         *_diff(ours, theirs)))
        grad_rows: list[tuple[str, str, float, float]] = []
        if args.grad:
            cotangent = np.random.default_rng(args.seed + 1).normal(size=ours.shape)
            dx_keras, grads_keras = _keras_grads(keras, keras_model, x, cotangent)
            dx_ours, grads_ours = _our_grads(model, x, cotangent)
            grad_rows.append(("input x", _fmt_shape(dx_ours.shape), *_diff(dx_ours, dx_keras)))
            for layer, ours_g, keras_g in zip(model.layers, grads_ours, grads_keras, strict=True):
                for weight, g, k in zip(layer.weights, ours_g, keras_g, strict=True):
                    grad_rows.append((f"{layer.name}/{weight.name}", _fmt_shape(g.shape),
                                      *_diff(g, k)))
    width = max(len(r[0]) for r in rows + grad_rows) + 2
    header = f"{'':<{width}}{'shape':<16}{'max abs diff':>14}{'max rel diff':>14}"
    _out()
    _out("Layer outputs" + header[len("Layer outputs"):])
    for name, shape, a, r in rows:
        _out(f"{name:<{width}}{shape:<16}{a:>14.2e}{r:>14.2e}")
    if grad_rows:
        _out()
        title = "Gradients of mean(output * r), r ~ N(0, 1)"
        _out(title)
        for name, shape, a, r in grad_rows:
            _out(f"{name:<{width}}{shape:<16}{a:>14.2e}{r:>14.2e}")
    worst = max(a for _, _, a, _ in rows + grad_rows)
    _out()
    if not worst <= args.atol:  # NaN fails too
        over = [n for n, _, a, _ in rows + grad_rows if not a <= args.atol]
        _out(f"FAIL: largest difference {worst:.2e} > --atol {args.atol:g} in {', '.join(over)}")
        return EXIT_MISMATCH
    _out(f"OK: largest difference {worst:.2e} <= --atol {args.atol:g}")
    return EXIT_OK


# -- convert ---------------------------------------------------------------------------------

_DST_KINDS = {
    ".keras": "Keras 3 .keras archive",
    ".weights.h5": "Keras 3 .weights.h5 file",
    ".h5": "legacy HDF5 model",
    ".npz": "PyTorch-style nn.LSTM state dict (.npz)",
    ".pt": "PyTorch nn.LSTM state dict (.pt)",
}


def _dst_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".weights.h5", ".keras", ".h5", ".npz", ".pt"):
        if name.endswith(suffix):
            return suffix
    raise CLIError(
        f"DST '{path}': expected a name ending in .keras, .weights.h5, .h5, .npz or .pt"
    )


def cmd_convert(args) -> int:
    from . import keras_io, torch_io

    src = _existing(args.src, "SRC file")
    dst = _writable(args.dst)
    kind = _dst_kind(dst)
    if src.resolve() == dst.resolve():
        raise CLIError(f"SRC and DST are the same file: '{src}'")
    if kind == ".pt":
        torch = _import_torch(f"writing '{dst}'")
    model = load_any_model(src, args.config)
    note = ""
    if kind == ".keras" or (kind == ".h5" and not args.weights_only):
        keras_io.save_model(model, dst)
    elif kind in (".weights.h5", ".h5"):
        keras_io.save_weights(model, dst)
        kind = ".weights.h5" if kind == ".weights.h5" else "legacy weights"
    else:
        lstms = torch_io.lstm_layers(model)
        if len({layer.units for layer in lstms}) == 1:
            state = torch_io.to_torch_state_dict(model)
            note = (f"; one nn.LSTM(input_size={lstms[0].input_dim}, hidden_size="
                    f"{lstms[0].units}, num_layers={len(lstms)}, batch_first=True)")
        else:  # one nn.LSTM cannot change size between layers: one module per layer
            dicts = torch_io.to_torch_state_dicts(model)
            state = {f"{layer.name}.{key}": value for layer, sd in zip(lstms, dicts, strict=True)
                     for key, value in sd.items()}
            note = ("; one nn.LSTM per layer (sizes differ), keys prefixed with the layer names "
                    f"{[layer.name for layer in lstms]}")
        if kind == ".npz":
            np.savez(dst, **state)
        else:
            torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                       dst)
        others = [layer.name for layer in model.layers if layer.weights and layer not in lstms]
        if others:
            note += f"; not in an nn.LSTM state dict, so not written: {others}"
    label = _DST_KINDS.get(kind, "legacy HDF5 weights file")
    _out(f"Wrote {dst} ({label}): {len(model.layers)} layers, {model.count_params():,} "
         f"parameters{note}")
    return EXIT_OK


# -- gates -----------------------------------------------------------------------------------

_GATE_ROWS = (
    ("i", "input gate  i = σ(z_i)"),
    ("f", "forget gate f = σ(z_f)"),
    ("g", "candidate   g = φ(z_c)"),
    ("o", "output gate o = σ(z_o)"),
    ("c", "carry       c"),
    ("h", "output      h"),
)


def cmd_gates(args) -> int:
    import npylstm

    model = load_any_model(args.file, args.config)
    x = fit_input(read_array(args.input), model, f"--input '{args.input}'")
    x = np.ascontiguousarray(x, dtype=model.layers[0].dtype)
    traces = npylstm.trace(model, x)
    if not traces:
        raise CLIError(f"'{args.file}' has no LSTM layer to trace")
    name = args.layer or next(iter(traces))
    if name not in traces:
        raise CLIError(f"--layer '{name}': expected one of the LSTM layers {list(traces)}")
    if not -len(x) <= args.sample < len(x):
        raise CLIError(f"--sample {args.sample}: the input has {len(x)} sample(s)")
    trace = traces[name]
    _, timesteps, units = trace.h.shape
    _out(f"LSTM '{name}', sample {args.sample} of '{args.input}': {timesteps} timesteps, "
         f"{units} units (values over all steps and units)")
    _out(f"{'':<26}{'mean':>9}{'min':>9}{'max':>9}   {'first step':>10}{'last step':>10}")
    for key, label in _GATE_ROWS:
        a = getattr(trace, key)[args.sample]  # (timesteps, units)
        _out(f"{label:<26}{a.mean():>9.3f}{a.min():>9.3f}{a.max():>9.3f}   "
             f"{a[0].mean():>10.3f}{a[-1].mean():>10.3f}")
    if args.plot:
        plot = _writable(args.plot)
        from . import plots

        fig = plots.plot_gates(trace, sample=args.sample)
        fig.savefig(plot, dpi=100)
        _out(f"Saved the gate heatmaps: {plot}")
    return EXIT_OK


# -- bench -----------------------------------------------------------------------------------


def find_benchmarks() -> Path | None:
    """``benchmarks/run.py`` of the source checkout (it is not part of the installed package)."""
    candidates = [Path(__file__).resolve().parent.parent / "benchmarks" / "run.py",
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
    _out("+ " + " ".join(command[1:]))
    return subprocess.call(command, cwd=script.parent.parent)


# -- the parser ------------------------------------------------------------------------------


def _common(sub: bool) -> argparse.ArgumentParser:
    """--debug and --threads, accepted before or after the command."""
    parser = argparse.ArgumentParser(add_help=False)
    suppress = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error", **suppress)
    parser.add_argument("--threads", type=int, metavar="N",
                        help="BLAS threads (default 1: fastest for LSTM-sized matrices; "
                        "0 leaves BLAS alone)", **({} if sub else {"default": 1}) | suppress)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``npylstm`` argument parser (one sub-command per job)."""
    parser = argparse.ArgumentParser(
        prog="npylstm",
        description="A from-scratch LSTM engine with Keras's weight layout: train the demo, "
        "read, run, convert and cross-check Keras LSTM models without Keras.",
        parents=[_common(sub=False)],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_common(sub=True)]

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=common)
        sub.set_defaults(handler=handler)
        return sub

    def add_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", metavar="CONFIG",
                         help="model config for a weights-only FILE: a .keras/.h5 model file "
                         "or a JSON config (keras_model.to_json())")

    demo = add("demo", cmd_demo, "train the seeds' damped-sine stacked LSTM, save and check it")
    demo.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and shuffling")
    demo.add_argument("--out", default="npylstm_demo",
                      help="folder for damped_sine.keras and the plots (default ./npylstm_demo)")
    demo.add_argument("--samples", type=int, default=1000,
                      help="rows of data, a multiple of 5 (default 1000; fewer train faster)")
    demo.add_argument("--batch-size", type=int, default=32, help="default 32")
    demo.add_argument("--no-keras", action="store_true",
                      help="skip loading the saved file in real Keras")

    summary = add("summary", cmd_summary, "Keras-style summary with each layer's param formula")
    summary.add_argument("file", metavar="FILE", help=".keras, .h5 or (with --config) .weights.h5")
    add_config(summary)

    predict = add("predict", cmd_predict, "run a model file on inputs from .npy or .csv")
    predict.add_argument("file", metavar="FILE")
    predict.add_argument("--input", required=True, metavar="X",
                         help=".npy (samples, timesteps, features) or .csv (one sample a row)")
    predict.add_argument("--output", required=True, metavar="Y", help=".npy or .csv")
    predict.add_argument("--batch-size", type=int, default=32)
    add_config(predict)

    cross = add("crosscheck", cmd_crosscheck,
                "run a file in real Keras and in npylstm, compare every layer; exit 1 over --atol")
    cross.add_argument("file", metavar="FILE")
    cross.add_argument("--samples", type=int, default=8, help="random input samples (default 8)")
    cross.add_argument("--timesteps", type=int, default=10,
                       help="timesteps of random input when the model accepts any (default 10)")
    cross.add_argument("--input", metavar="X", help="use these inputs (.npy/.csv) instead")
    cross.add_argument("--grad", action="store_true",
                       help="compare gradients too (weights and input; JAX backend)")
    cross.add_argument("--atol", type=float, default=1e-5, help="tolerance (default 1e-5)")
    cross.add_argument("--seed", type=int, default=0)
    add_config(cross)

    convert = add("convert", cmd_convert,
                  "convert between .keras, .weights.h5, legacy .h5, .npz and .pt state dicts")
    convert.add_argument("src", metavar="SRC")
    convert.add_argument("dst", metavar="DST")
    convert.add_argument("--weights-only", action="store_true",
                         help="write a legacy weights-only file for a DST ending in .h5")
    add_config(convert)

    gates = add("gates", cmd_gates, "trace the gates over time (and plot them)")
    gates.add_argument("file", metavar="FILE")
    gates.add_argument("--input", required=True, metavar="X", help=".npy or .csv inputs")
    gates.add_argument("--plot", metavar="PNG", help="save heatmaps of i, f, g, o, c, h")
    gates.add_argument("--layer", help="LSTM layer name (default: the first)")
    gates.add_argument("--sample", type=int, default=0, help="which input sample (default 0)")
    add_config(gates)

    bench = commands.add_parser(
        "bench", help="run the benchmark harness benchmarks/run.py (options pass through: "
        "--quick, --threads, --configs ...; npylstm bench --help lists them)",
        add_help=False,
    )
    bench.set_defaults(handler=cmd_bench, rest=[])
    return parser


def _split_bench(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[..., "bench", *rest]`` -> (``[..., "bench"]``, rest): everything after ``bench``
    belongs to benchmarks/run.py (which has its own ``--threads`` and ``--help``)."""
    for index, token in enumerate(argv):
        if token == "bench":
            return argv[: index + 1], argv[index + 1:]
        if not token.startswith("-") and argv[index - 1: index] != ["--threads"]:
            break  # another command (or a value): nothing to split
    return argv, []


def main(argv: list[str] | None = None) -> int:
    """Run the ``npylstm`` command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, bench_args = _split_bench(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    if args.command == "bench":
        args.rest = bench_args
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        with _blas_threads(args.threads):
            return int(args.handler(args))
    except BrokenPipeError:  # `npylstm ... | head`: the reader left, nothing more to say
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1  # as rich's Console does when it meets a closed pipe
    except KeyboardInterrupt:
        print("npylstm: interrupted", file=sys.stderr)
        return 130
    except (CLIError, OSError, ValueError, TypeError, ImportError, KeyError) as exc:
        if args.debug:
            raise
        print(f"npylstm {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, with the way to the traceback
        if args.debug:
            raise
        print(f"npylstm {args.command}: unexpected {type(exc).__name__}: {_one_line(exc)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
