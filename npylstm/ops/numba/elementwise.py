"""The Numba core's activations for Python callers: names to kernel codes, and whole arrays.

:func:`activate` and :func:`derivative` run the compiled elementwise loops of
``activations.py`` (the ones every kernel runs on its gate rows) over an array of any
shape, so their values are bit for bit the core's. :func:`_activation_code` turns a Keras
activation name or alias into the integer code the kernels take.

Pure Python, kept out of ``activations.py`` on purpose: editing a file of jitted helpers
makes Numba recompile every kernel that inlines them (``HELPERS_SOURCE_SHA256``, see the
package docstring); editing this one recompiles nothing.
"""

from __future__ import annotations

import numpy as np

from ...activations import get as get_activation
from .activations import ACTIVATION_CODES, _activate_block, _derivative_block

__all__ = ["activate", "derivative", "_activation_code"]

_codes_cache: dict[str, tuple[str, int]] = {}


def _activation_code(name: str) -> tuple[str, int]:
    """The canonical name and kernel code of an activation name or alias."""
    code = _codes_cache.get(name) if isinstance(name, str) else None
    if code is None:
        canonical = get_activation(name).name
        if canonical not in ACTIVATION_CODES:
            raise ValueError(
                f"activation {canonical!r} has no Numba code; the Numba cores compile "
                f"{sorted(ACTIVATION_CODES)} (a layer with another one runs the generic loop)"
            )
        code = (canonical, ACTIVATION_CODES[canonical])
        if isinstance(name, str):
            _codes_cache[name] = code
    return code


# -- the public entry points: the kernels' own loops over whole arrays ---------------------


def _flat_float(z: np.ndarray, what: str) -> np.ndarray:
    """``z`` as a flat C-contiguous float32/float64 array (a view when it already is one)."""
    z = np.asarray(z)
    if z.dtype not in (np.float32, np.float64):
        raise TypeError(f"{what}: expected a float32 or float64 array, received dtype {z.dtype}")
    return np.ascontiguousarray(z).reshape(-1)  # (N,)


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """Activation ``name`` of every element of ``z``, computed by the Numba core's own loop.

    The loop is the compiled :func:`_activate_block` the kernels run on each block of gate
    pre-activations, so the values are bit for bit those the core computes: in float32,
    tanh and sigmoid are the rational approximation inside its range and the exact
    functions outside it (a few ulp from ``npylstm.activations``); float64 and every other
    activation are computed as ``npylstm.activations`` computes them. Each output depends
    on its own input only, so one call over a whole array gives what the core computed
    row by row.

    Parameters
    ----------
    name : str
        A Keras activation name or alias, as ``npylstm.activations.get`` accepts.
    z : np.ndarray
        float32 or float64, any shape.

    Returns
    -------
    np.ndarray
        ``name(z)``: a new C-contiguous array of ``z``'s shape and dtype.

    Raises
    ------
    ValueError
        For an unknown activation name.
    TypeError
        When ``z`` is neither float32 nor float64.

    Examples
    --------
    >>> import numpy as np
    >>> from npylstm.ops.numba import activate
    >>> activate("sigmoid", np.array([0.0, np.inf, -np.inf, np.nan], dtype=np.float32))
    array([0.5, 1. , 0. , nan], dtype=float32)
    """
    _, code = _activation_code(name)
    flat = _flat_float(z, "activate")  # (N,)
    out = np.empty_like(flat)  # (N,)
    with np.errstate(all="ignore"):  # only under NUMBA_DISABLE_JIT; compiled code never warns
        _activate_block(code, flat, out)
    return out.reshape(np.shape(z))


def derivative(name: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d ``name`` / dz at every element of ``z``, given ``y = activate(name, z)``.

    Computed by the compiled :func:`_derivative_block` the kernels' backward uses (the fused
    tanh/sigmoid loop evaluates the same expressions, ``1 - y*y`` and ``y * (1 - y)``), so
    the values are bit for bit the core's.

    Parameters
    ----------
    name : str
        A Keras activation name or alias, as ``npylstm.activations.get`` accepts.
    z, y : np.ndarray
        The pre-activations and their activations: float32 or float64, one shape and dtype.

    Returns
    -------
    np.ndarray
        A new C-contiguous array of ``z``'s shape and dtype.

    Raises
    ------
    ValueError
        For an unknown activation name, or ``y`` not of ``z``'s shape and dtype.
    TypeError
        When ``z`` is neither float32 nor float64.

    Examples
    --------
    >>> import numpy as np
    >>> from npylstm.ops.numba import activate, derivative
    >>> z = np.array([0.0, 2.0])
    >>> derivative("tanh", z, activate("tanh", z))
    array([1.        , 0.07065082])
    """
    _, code = _activation_code(name)
    flat_z = _flat_float(z, "derivative")  # (N,)
    y = np.asarray(y)
    if y.shape != np.shape(z) or y.dtype != flat_z.dtype:
        raise ValueError(
            f"derivative: expected y of z's shape {np.shape(z)} and dtype {flat_z.dtype}, "
            f"received shape {y.shape} and dtype {y.dtype}"
        )
    flat_y = np.ascontiguousarray(y).reshape(-1)  # (N,)
    out = np.empty_like(flat_z)  # (N,)
    with np.errstate(all="ignore"):  # only under NUMBA_DISABLE_JIT
        _derivative_block(code, flat_z, flat_y, out)
    return out.reshape(np.shape(z))
