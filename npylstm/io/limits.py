"""Limits on every size a file may declare, checked before anything is allocated.

A hostile or damaged file can declare sizes far beyond what it stores (a zip member
inflating 1000:1, an HDF5 dataset of 10**12 lazily filled values, an ``.npy`` header
claiming a terabyte). The readers compare each declared size with these limits from the
file's metadata first (zip central directory, HDF5 dataset ``shape``/``dtype``, the
``.npy`` header read by ``np.lib.format.read_array_header_*``), and only then read.

===========================  ===========  ==================================================
Limit                        Default      What it bounds
===========================  ===========  ==================================================
``MAX_FILE_BYTES``           4 GiB        bytes read from one file: the sum of a zip's
                                          uncompressed members (``.keras``, ``.npz``,
                                          ``.pt``), of the datasets read from one HDF5
                                          file, of a ``.csv`` / ``.npy`` / legacy ``.pt``
``MAX_MEMBER_BYTES``         2 GiB        uncompressed bytes of one zip member
``MAX_ARRAY_BYTES``          2 GiB        bytes of one dataset / array (``.npy``, ``.npz``
                                          member, HDF5 dataset)
``MAX_ARRAY_ELEMENTS``       2**29        values in one dataset / array
``MAX_ARRAY_DIMS``           32           axes of one dataset / array
``MAX_GROUP_DATASETS``       65536        datasets (links) in one HDF5 group read from
``MAX_FILE_DATASETS``        1048576      datasets read from one HDF5 file in total
``MAX_ARCHIVE_MEMBERS``      65536        members of one zip archive
``MAX_JSON_BYTES``           64 MiB       one JSON text (``config.json``, ``metadata.json``,
                                          a legacy ``model_config`` attribute, a config file)
``MAX_JSON_DEPTH``           200          nesting of lists / objects in one JSON text
``MAX_MODEL_ELEMENTS``       2**28        values in all the weights a model config declares
                                          when no file supplies them (a JSON config built
                                          alone, its initializers run)
===========================  ===========  ==================================================

Besides these, a model built from a file's config is bounded by the file itself: its
layers are built with :func:`npylstm.initializers.deferred` (zero placeholders, no
initializer runs) and may declare at most the values of the file's weight arrays plus
``npylstm.io.load.BUDGET_SLACK``; every initializer call checks ``MAX_ARRAY_ELEMENTS`` and
``MAX_ARRAY_BYTES`` for its weight before anything is allocated.

Raising them, for a genuinely large model (a lower value makes the readers stricter):

* one environment variable per limit, ``NPYLSTM_<NAME>`` (``NPYLSTM_MAX_FILE_BYTES=
  20000000000``), read at each check;
* ``NPYLSTM_LIMIT_SCALE``: a factor applied to every size limit (not to the JSON depth);
* :func:`raised_limits` in code: ``with raised_limits(scale=10, MAX_JSON_DEPTH=500): ...``
  (it wins over the environment; thread and context local).

An exceeded limit raises :class:`LimitExceededError` (a :class:`KerasFileError`, so a
``ValueError``) naming the file, what was read, the declared size, the limit and the
variable that raises it.

>>> limit("MAX_JSON_DEPTH")
200
>>> with raised_limits(MAX_JSON_DEPTH=500):
...     limit("MAX_JSON_DEPTH")
500
>>> check_size(10, "MAX_ARRAY_DIMS", "'x.npy': the array", "axes") is None
True
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os

from .model_file import KerasFileError

__all__ = [
    "DEFAULTS",
    "LimitExceededError",
    "check_array",
    "check_size",
    "limit",
    "raised_limits",
]

_GiB, _MiB = 1 << 30, 1 << 20

#: The default of every limit (see the module docstring).
DEFAULTS: dict[str, int] = {
    "MAX_FILE_BYTES": 4 * _GiB,
    "MAX_MEMBER_BYTES": 2 * _GiB,
    "MAX_ARRAY_BYTES": 2 * _GiB,
    "MAX_ARRAY_ELEMENTS": 1 << 29,
    "MAX_ARRAY_DIMS": 32,
    "MAX_GROUP_DATASETS": 1 << 16,
    "MAX_FILE_DATASETS": 1 << 20,
    "MAX_ARCHIVE_MEMBERS": 1 << 16,
    "MAX_JSON_BYTES": 64 * _MiB,
    "MAX_JSON_DEPTH": 200,
    "MAX_MODEL_ELEMENTS": 1 << 28,
}
_UNSCALED = frozenset({"MAX_JSON_DEPTH", "MAX_ARRAY_DIMS"})
_SCALE_VARIABLE = "NPYLSTM_LIMIT_SCALE"

_overrides: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "npylstm_limits", default=None)


class LimitExceededError(KerasFileError):
    """A file declares a size beyond one of :data:`DEFAULTS` (as raised)."""


def _env_number(variable: str, cast):
    text = os.environ.get(variable)
    if text is None or not text.strip():
        return None
    try:
        value = cast(text)
    except ValueError:
        raise ValueError(f"the environment variable {variable}={text!r}: expected a positive "
                         "number") from None
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"the environment variable {variable}={text!r}: expected a positive "
                         "number")
    return value


def limit(name: str) -> int:
    """The current value of limit ``name``: :func:`raised_limits`, else the environment
    (``NPYLSTM_<NAME>``, then ``NPYLSTM_LIMIT_SCALE`` times the default), else the default."""
    if name not in DEFAULTS:
        raise ValueError(f"unknown limit {name!r}; expected one of {sorted(DEFAULTS)}")
    overrides = _overrides.get() or {}
    if name in overrides:
        return overrides[name]
    value = _env_number(f"NPYLSTM_{name}", lambda t: int(float(t)))
    if value is not None:
        return value
    scale = overrides.get("scale")
    if scale is None:
        scale = _env_number(_SCALE_VARIABLE, float)
    if scale is None or name in _UNSCALED:
        return DEFAULTS[name]
    return max(1, int(DEFAULTS[name] * scale))


@contextlib.contextmanager
def raised_limits(scale: float | None = None, **values: int):
    """Limits for the readers called inside the block: ``scale`` multiplies every size
    limit's default, ``values`` set single limits (``MAX_FILE_BYTES=20 * 2**30``).

    >>> with raised_limits(scale=2):
    ...     limit("MAX_MEMBER_BYTES") == 2 * DEFAULTS["MAX_MEMBER_BYTES"]
    True
    """
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"raised_limits: unknown limits {unknown}; expected names from "
                         f"{sorted(DEFAULTS)}")
    for name, value in [("scale", scale), *values.items()]:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 \
                or not math.isfinite(value):
            raise ValueError(f"raised_limits: {name} must be a positive number, received "
                             f"{value!r}")
    new = dict(_overrides.get() or {})
    if scale is not None:
        new["scale"] = float(scale)
        for name in DEFAULTS:
            if name not in _UNSCALED:
                new[name] = max(1, int(DEFAULTS[name] * scale))
    new.update({name: int(value) for name, value in values.items()})
    token = _overrides.set(new)
    try:
        yield
    finally:
        _overrides.reset(token)


def check_size(value: int, name: str, what: str, unit: str = "bytes") -> None:
    """Raise :class:`LimitExceededError` when ``value`` (declared by ``what``, e.g.
    ``"'m.keras': zip member 'model.weights.h5'"``) exceeds limit ``name``."""
    bound = limit(name)
    if value > bound:
        raise LimitExceededError(
            f"{what} declares {value} {unit}, more than the limit {name} = {bound} (set the "
            f"environment variable NPYLSTM_{name}, NPYLSTM_LIMIT_SCALE, or use "
            "npylstm.io.limits.raised_limits() for a genuinely large file)"
        )


def check_array(shape, itemsize: int, what: str) -> int:
    """Check a declared array (``shape``, ``itemsize`` bytes a value) before it is read;
    returns its size in bytes. Negative or non-integer dimensions are refused."""
    shape = tuple(shape)
    for dim in shape:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise KerasFileError(f"{what} declares the shape {shape}: expected non-negative "
                                 "integer dimensions")
    check_size(len(shape), "MAX_ARRAY_DIMS", what, "axes")
    elements = math.prod(shape)
    check_size(elements, "MAX_ARRAY_ELEMENTS", what, "values")
    nbytes = elements * int(itemsize)
    check_size(nbytes, "MAX_ARRAY_BYTES", what)
    return nbytes
