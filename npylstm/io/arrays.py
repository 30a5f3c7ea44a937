"""Reading ``.npy`` and ``.npz`` files that may be hostile: header first, then the data.

* The magic string is checked first: a file that is not a ``.npy`` says so (and never gets
  advice to enable pickle loading).
* The header's dtype must be real numbers or booleans (``kinds``): object arrays (pickles)
  are refused and never unpickled; string, complex, structured and date arrays are refused
  with their dtype kind named, never parsed or truncated.
* The header's shape is checked against :mod:`npylstm.io.limits` (``MAX_ARRAY_ELEMENTS``,
  ``MAX_ARRAY_BYTES``, ``MAX_ARRAY_DIMS``) and against the bytes the file actually holds
  before anything is allocated.
* ``.pt`` files (``torch.save``) are loaded with ``weights_only=True`` after their zip
  members (or, for the old pickle format, their size) are checked; every value must be a
  real tensor.
* ``.npz`` archives get the zip checks of :class:`npylstm.io._safe._SafeZip` (member names,
  counts, declared sizes, decompression bombs) and each member the checks above.

Every failure is a ``ValueError`` naming the file (a
:class:`~npylstm.io.limits.LimitExceededError`, also a ``ValueError``, for a limit).

>>> import io, numpy as np
>>> buffer = io.BytesIO(); np.save(buffer, np.arange(3.0)); _ = buffer.seek(0)
>>> read_npy_stream(buffer, "'x.npy'", available=len(buffer.getvalue()))
array([0., 1., 2.])
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ._safe import _READ_ERRORS, _SafeZip, not_a_regular_file
from .limits import check_array, check_size
from .model_file import KerasFileError

__all__ = ["KIND_NAMES", "read_npy", "read_npy_stream", "read_npz", "read_pt"]

#: NumPy's dtype kinds, as the messages name them.
KIND_NAMES = {
    "b": "booleans", "i": "signed integers", "u": "unsigned integers", "f": "real floats",
    "c": "complex numbers", "U": "unicode strings", "S": "byte strings", "O": "Python objects",
    "V": "structured records", "M": "datetimes", "m": "timedeltas",
}
_NUMBERS = "biuf"


def _header(stream, what: str):
    try:
        version = npy_format.read_magic(stream)
    except _READ_ERRORS:
        raise ValueError(f"{what} is not a .npy array: it does not start with NumPy's "
                         "\\x93NUMPY magic string") from None
    try:
        if version == (1, 0):
            return npy_format.read_array_header_1_0(stream)
        if version == (2, 0):
            return npy_format.read_array_header_2_0(stream)
        if version == (3, 0):
            return npy_format._read_array_header(stream, version)
    except Exception as exc:  # noqa: BLE001 - NumPy parses the header with ast, tokenize
        raise ValueError(f"{what} is truncated or corrupted: its .npy header cannot be read "
                         f"({' '.join(str(exc).split())})") from None
    raise ValueError(f"{what}: unsupported .npy format version {version[0]}.{version[1]} "
                     "(expected 1.0, 2.0 or 3.0)")


def read_npy_stream(stream, what: str, available: int, kinds: str = _NUMBERS) -> np.ndarray:
    """The array of a seekable ``.npy`` stream holding ``available`` bytes, header first.

    ``what`` names the file in messages (``"'x.npy'"``); ``kinds`` the dtype kinds allowed.
    """
    shape, fortran_order, dtype = _header(stream, what)
    if dtype.hasobject or dtype.kind not in kinds:
        allowed = ("real numbers" if set(kinds) <= set(_NUMBERS)
                   else ", ".join(KIND_NAMES[k] for k in kinds))
        never = "; object arrays are never unpickled" if dtype.hasobject else ""
        raise ValueError(f"{what} holds {KIND_NAMES.get(dtype.kind, dtype.kind)} (dtype "
                         f"{dtype}): expected {allowed}{never}")
    try:
        nbytes = check_array(shape, dtype.itemsize, what)
    except KerasFileError as exc:
        if type(exc) is KerasFileError:  # a malformed shape, not a limit
            raise ValueError(str(exc)) from None
        raise
    stored = available - stream.tell()
    if stored < nbytes:
        raise ValueError(f"{what} is truncated: its header declares {shape} {dtype} values "
                         f"({nbytes} bytes) but only {max(stored, 0)} bytes follow")
    stream.seek(0)
    try:
        return npy_format.read_array(stream, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise ValueError(f"{what} is truncated or corrupted: "
                         f"{' '.join(str(exc).split())}") from None


def _is_zip(path: Path) -> bool:
    """Whether ``path`` looks like a zip archive (a damaged directory counts as one: its
    reader then says what is wrong)."""
    try:
        return zipfile.is_zipfile(path)
    except _READ_ERRORS:  # is_zipfile lets BadZipFile through for some damaged directories
        return True


def _regular(path: Path, what: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"No such file: '{path}'")
    problem = not_a_regular_file(path, what)
    if problem:
        raise ValueError(problem)
    if path.is_dir():
        raise ValueError(f"'{path}' is a directory; expected a {what}")


def read_npy(path: str | os.PathLike, kinds: str = _NUMBERS) -> np.ndarray:
    """The array of a ``.npy`` file, its header checked before its data is read.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for anything else.
    """
    path = Path(path)
    _regular(path, ".npy file")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"'{path}' is empty, not a .npy array")
    check_size(size, "MAX_FILE_BYTES", f"'{path}'")
    with open(path, "rb") as stream:
        return read_npy_stream(stream, f"'{path}'", size, kinds)


def read_npz(path: str | os.PathLike, kinds: str = _NUMBERS) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (``np.savez``) by name, in file order; zip and
    member checks first (see the module docstring)."""
    path = Path(path)
    _regular(path, ".npz file")
    try:
        archive = _SafeZip(path)
    except KerasFileError as exc:
        if not _is_zip(path):
            raise ValueError(f"'{path}' is not an .npz file (a zip archive of .npy arrays): "
                             f"{exc}") from None
        raise
    arrays: dict[str, np.ndarray] = {}
    try:
        for info in archive.zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise ValueError(f"'{path}': the member {name!r} is not a .npy array "
                                 "(an .npz file holds only .npy members)")
            _, stream = archive.open_member(name)
            with stream:
                arrays[name[:-4]] = read_npy_stream(stream, f"'{path}' member {name!r}",
                                                    info.file_size, kinds)
    except (KerasFileError, ValueError):
        raise
    except _READ_ERRORS as exc:
        raise ValueError(f"'{path}' is truncated or corrupted: "
                         f"{' '.join(str(exc).split())}") from None
    finally:
        archive.close()
    return arrays


def read_pt(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save``-d state dict as NumPy arrays (needs torch; loaded
    with ``weights_only=True``, which unpickles tensors and containers only)."""
    path = Path(path)
    _regular(path, ".pt file")
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"reading '{path}' needs PyTorch, which is not installed: pip install "
                          "torch (or use a .npz state dict, which needs only NumPy)") from exc
    check_size(path.stat().st_size, "MAX_FILE_BYTES", f"'{path}'")
    if _is_zip(path):  # torch.save's format: member names and sizes first
        _SafeZip(path).close()  # a KerasFileError: a ValueError, as documented
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ValueError(f"'{path}' is not a readable PyTorch file: "
                         f"{' '.join(str(exc).split())[:300]}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"'{path}' holds a {type(state).__name__}, expected a state dict "
                         "(torch.save(module.state_dict(), path))")
    arrays = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"'{path}': the state dict entry {key!r} is a "
                             f"{type(value).__name__}, expected a tensor")
        if value.is_complex():
            raise ValueError(f"'{path}': the state dict entry {key!r} holds complex numbers "
                             f"(dtype {value.dtype}), expected real numbers")
        try:
            arrays[str(key)] = value.detach().cpu().numpy()
        except (TypeError, RuntimeError) as exc:  # e.g. bfloat16 has no NumPy dtype
            raise ValueError(f"'{path}': the state dict entry {key!r} has dtype "
                             f"{value.dtype}, which NumPy cannot hold") from exc
    return arrays
