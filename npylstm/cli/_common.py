"""What every command shares: the one-line user error, output, paths, arrays in and out,
fitting an array to a model's input, BLAS threads, and importing Keras / PyTorch."""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "EXIT_ERROR",
    "EXIT_MISMATCH",
    "EXIT_OK",
    "INPUT_SUFFIXES",
    "CLIError",
    "blas_threads",
    "existing",
    "fit_input",
    "fmt_shape",
    "import_keras",
    "import_torch",
    "one_line",
    "out",
    "quiet_keras",
    "read_array",
    "writable",
    "write_array",
]

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2

#: Keras's own savers and loaders call Variable.__array__, which warns under NumPy 2.
_KERAS_NUMPY2_WARNING = "__array__ implementation doesn't accept a copy keyword"

INPUT_SUFFIXES = (".npy", ".csv")


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):  # KeyError's str() is the quoted key
        text = f"missing key {text}"
    return re.sub(r"\s*\n\s*", " ", text).strip()


def out(text: str = "") -> None:
    print(text, flush=True)


def fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def existing(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a regular file to read: missing files, directories and FIFOs / sockets /
    devices (which would block or never end) are refused with one message each."""
    from ..io._safe import not_a_regular_file

    path = Path(path)
    if not path.exists():
        raise CLIError(f"no such {what}: '{path}'")
    if path.is_dir():
        raise CLIError(f"'{path}' is a directory; expected a {what}")
    problem = not_a_regular_file(path, what)
    if problem:
        raise CLIError(problem)
    return path


def writable(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CLIError(f"'{path}' is a directory; expected a file name to write")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"cannot write '{path}': the directory '{parent}' does not exist")
    return path


@contextlib.contextmanager
def blas_threads(threads: int | None):
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
def quiet_keras():
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=_KERAS_NUMPY2_WARNING, category=DeprecationWarning
        )
        # Keras's advice on legacy configs (e.g. "Do not pass an `input_shape`") is not ours
        warnings.filterwarnings("ignore", category=UserWarning, module=r"keras(\.|$)")
        yield


def import_keras(purpose: str):
    """Real Keras (JAX backend unless KERAS_BACKEND says otherwise), or a CLIError."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        with quiet_keras():
            import keras
    except ImportError as exc:
        raise CLIError(
            f"{purpose} needs Keras, which is not installed ({one_line(exc)}): "
            'pip install keras "jax[cpu]"'
        ) from exc
    return keras


def import_torch(purpose: str):
    try:
        import torch
    except ImportError as exc:
        raise CLIError(
            f"{purpose} needs PyTorch, which is not installed: pip install torch "
            "(or use a .npz state dict, which needs only NumPy)"
        ) from exc
    return torch


# -- inputs and outputs ----------------------------------------------------------------------


def read_array(path: str | os.PathLike, option: str = "--input", integer: bool = False,
               source: str | None = None) -> np.ndarray:
    """An array from a ``.npy`` file or a ``.csv`` table of numbers (one sample per row).

    ``integer``: the array feeds an integer input (ids): a ``.npy`` keeps its dtype, a CSV
    is parsed as integers (a cell that is not a whole number is an error naming
    ``source``, e.g. ``--input 'ids.csv' (input 'ids')``, with its row and column).
    """
    path = existing(path, f"{option} file")
    source = source or f"{option} '{path}'"
    suffix = path.suffix.lower()
    if suffix == ".npy":
        from ..io.arrays import read_npy

        try:  # header first: dtype kind and size checked before the data is read
            array = read_npy(path)
        except ValueError as exc:
            raise CLIError(f"{option} {one_line(exc)}") from exc
    elif suffix == ".csv":
        from ..io.limits import check_size

        try:
            check_size(path.stat().st_size, "MAX_ARRAY_BYTES", f"'{path}'")
            with open(path, "rb") as stream:
                empty = not stream.read(1 << 16).strip()
        except (OSError, ValueError) as exc:
            raise CLIError(f"{option} {one_line(exc)}") from exc
        if empty:
            raise CLIError(f"{source} is empty: expected a comma-separated table of numbers, "
                           "one sample per row")
        try:
            array = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CLIError(
                f"{source}: expected a comma-separated table of numbers, one sample "
                f"per row ({one_line(exc)})"
            ) from exc
        if array.size == 0:
            raise CLIError(f"{source} holds no numbers: expected a comma-separated table of "
                           "numbers, one sample per row")
        if integer:
            array = _csv_integers(path, array, source)
    else:
        raise CLIError(f"{option} '{path}': expected a .npy or .csv file, received '{suffix}'")
    if array.dtype.kind not in "biuf":
        from ..io.arrays import KIND_NAMES

        raise CLIError(f"{option} '{path}' holds {KIND_NAMES.get(array.dtype.kind, 'values')} "
                       f"(dtype {array.dtype}): expected real numbers")
    return array


def _csv_integers(path: Path, values: np.ndarray, source: str) -> np.ndarray:
    """A CSV table (already read as float64 ``values``) read again as int64: every cell
    must be a whole number (``3`` or ``3.0``; not ``2.5``, ``nan``, ``inf``)."""
    whole = np.isfinite(values) & (values == np.round(values))
    if not whole.all():
        row, column = (int(i) for i in np.argwhere(~whole)[0])
        raise CLIError(
            f"{source} feeds an integer input: row {row + 1}, column {column + 1} holds "
            f"{values[row, column]:g}, not an integer"
        )
    try:  # exact for ids beyond float64's 2**53
        return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.int64)
    except ValueError:  # "3.0" cells: whole, and read exactly enough as floats
        return values.astype(np.int64)


def fit_input(x: np.ndarray, model, source: str, expected=None) -> np.ndarray:
    """``x`` shaped as the model's input ``(samples, timesteps, features)`` (or as
    ``expected``, one input's shape with the batch axis, for a model with several).

    A 2-D table (a CSV) holds one sample per row, ``timesteps × features`` values in
    time-major order (any sample shape: its values in C order); a 1-D array is one sample.
    Mismatches are explained.
    """
    expected = tuple(model.input_shape if expected is None else expected)
    want = fmt_shape(expected)
    if len(expected) > 3:
        return _fit_any(x, expected, source)
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


def _fit_any(x: np.ndarray, expected: tuple, source: str) -> np.ndarray:
    """``x`` as an input of 4 or more axes: as is, or one sample per row of a table."""
    want, tail = fmt_shape(expected), expected[1:]
    if x.ndim == len(expected):
        if all(e is None or e == d for e, d in zip(tail, x.shape[1:], strict=True)):
            return x
        raise CLIError(f"{source} has shape {x.shape}, the model expects {want}")
    if x.ndim in (1, 2) and None not in tail:
        x = x[None] if x.ndim == 1 else x
        if x.shape[1] == int(np.prod(tail)):
            return x.reshape(len(x), *tail)
    raise CLIError(f"{source} has shape {x.shape}, the model expects {want} (or a table with "
                   "one sample of fixed shape per row)")


def write_array(path: Path, array: np.ndarray) -> None:
    """``array`` as ``.npy``, or as ``.csv`` with one sample per row (trailing axes flattened).

    Atomic, through :func:`npylstm.io.atomic.atomic_open`: a failure leaves no half-written
    file (and an existing ``path`` untouched); the file gets ``open()``'s permissions."""
    from ..io.atomic import atomic_open

    path = Path(path)
    with atomic_open(path) as handle:
        if path.suffix.lower() == ".npy":
            np.save(handle, array)
        else:
            np.savetxt(handle, array.reshape(len(array), -1), delimiter=",", fmt="%.9g")
