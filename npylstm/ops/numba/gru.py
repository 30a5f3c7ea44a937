"""GRU forward and backward with the timestep loop compiled by Numba.

The equations are those of ``npylstm/cells/gru.py`` (Keras's ``GRUCell.call``,
``keras/src/layers/rnn/gru.py``, implementation 2), both conventions::

    x_z, x_r, x_h = split(x_t @ kernel + b_x)                        gate order z, r, h
    reset_after=True (bias (2, 3U): b_x, b_r):
        r_z, r_r, r_h = split(h_tm1 @ recurrent_kernel + b_r)
        z, r = σ(x_z + r_z), σ(x_r + r_r);  hh = φ(x_h + r * r_h)
    reset_after=False (bias (3U,): b_x):
        r_z, r_r = split(h_tm1 @ recurrent_kernel[:, :2U])
        z, r = σ(x_z + r_z), σ(x_r + r_r);  hh = φ(x_h + (r * h_tm1) @ recurrent_kernel[:, 2U:])
    h_t = z * h_tm1 + (1 - z) * hh

and the results are those of the generic loop (``npylstm/ops/rnn_reference.py``) over
:class:`~npylstm.cells.GRUCell`, within rounding: float32 within the tolerances of the LSTM
core, float64 to about 1e-12, NaN and ±inf in the same places (``tests/test_gru_numba.py``).

How it is built:

* ``x @ kernel + b_x`` for all timesteps is one NumPy (BLAS) product before the loop, into
  the array that then becomes the pre-activations ``a`` (the cache's field, as the cell's).
* Batch rows are independent: they are split into one block per Numba thread
  (:func:`~npylstm.ops.numba.parallel._row_bounds`), each block run by one serial kernel
  in a Python thread (:func:`~npylstm.ops.numba.parallel._run_parts`; the kernels release
  the GIL, and a ``prange`` kernel would take several seconds longer to compile), through
  all timesteps without synchronising. Problems below :data:`PARALLEL_MIN_WORK` (backward:
  :data:`PARALLEL_MIN_WORK_BACKWARD`) stay on one thread (a hand-off costs more than it
  saves there).
* Inside a block's loop, each timestep's recurrent products are one product for all the
  block's rows, so each weight is loaded once per step for the whole block (BLAS inside
  the kernel; for fewer than 32 rows of a recurrent kernel past 1 MB, which BLAS would
  repack at every step, a written-out product four rows at a time), then the gate
  arithmetic row by row. Nothing is allocated inside the loop.
* Backward runs the same way, last step first (the products into ``h_tm1`` once per step
  for the block); the input and weight gradients are large NumPy products after it
  (``dxz @ kernel.T``, ``xs^T dxz``, ``h_prev^T drz``, and ``(r * h_prev)^T da_h`` for the
  candidate without ``reset_after``).
* float32 stays float32; tanh and sigmoid use the core's float32 approximation inside its
  range (``numba/activations.py``), every other activation is computed exactly as
  ``npylstm.activations`` does; no ``fastmath`` (``_jit.JIT_OPTIONS``).

Not here (the layer falls back to the generic loop through ``npylstm.ops.get_kernel``):
per-gate recurrent dropout masks and time masks.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..._blas import blas_threads
from .elementwise import _activation_code
from .gru_kernels import _BIG_WEIGHT_BYTES, _backward_rows, _forward_rows
from .parallel import _row_bounds, _run_parts

__all__ = ["GRUCache", "gru_forward", "gru_inference", "gru_backward"]


class GRUCache(NamedTuple):
    """What :func:`gru_forward` hands to :func:`gru_backward`. ``a``, ``r_h`` and ``h`` are
    the fields :class:`~npylstm.cells.GRUCell` keeps per step in the generic loop (the same
    values, within rounding); time axes in processing order, except ``x``'s."""

    x: np.ndarray  # (B, T, D) the input as given
    h0: np.ndarray  # (B, U)
    kernel: np.ndarray  # (D, 3U)
    recurrent_kernel: np.ndarray  # (U, 3U)
    bias: np.ndarray | None  # (2, 3U) with reset_after, (3U,) without, or None
    a: np.ndarray  # (B, T, 3U) pre-activations [a_z, a_r, a_h]
    r_h: np.ndarray  # (B, T, U) the candidate's recurrent part
    h: np.ndarray  # (B, T, U) outputs
    activation: str
    recurrent_activation: str
    reset_after: bool
    go_backwards: bool


def _arrays(x, h0, kernel, recurrent_kernel, bias, reset_after):
    """The arguments as C-contiguous arrays of ``x``'s dtype, their shapes checked."""
    dtype = np.asarray(x).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(
            f"gru_numba: expected float32 or float64 arrays, received x of dtype {dtype}"
        )
    x = np.ascontiguousarray(x, dtype=dtype)  # (B, T, D)
    h0 = np.ascontiguousarray(h0, dtype=dtype)  # (B, U)
    kernel = np.ascontiguousarray(kernel, dtype=dtype)  # (D, 3U)
    recurrent_kernel = np.ascontiguousarray(recurrent_kernel, dtype=dtype)  # (U, 3U)
    if x.ndim != 3:
        raise ValueError(f"gru_numba: expected x of shape (batch, timesteps, input_dim), "
                         f"received shape {x.shape}")
    batch, _, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    expected = {"h0": (h0, (batch, units)), "kernel": (kernel, (input_dim, 3 * units)),
                "recurrent_kernel": (recurrent_kernel, (units, 3 * units))}
    if bias is not None:
        bias = np.ascontiguousarray(bias, dtype=dtype)
        expected["bias"] = (bias, (2, 3 * units) if reset_after else (3 * units,))
    for name, (array, shape) in expected.items():
        got = array.shape
        if got != shape:
            raise ValueError(
                f"gru_numba: expected {name} of shape {shape} for x of shape {x.shape} and "
                f"{units} units (reset_after={bool(reset_after)}), received {got}"
            )
    return x, h0, kernel, recurrent_kernel, bias


#: Below this much work per call (``batch * timesteps * units**2``, about a sixth of the
#: floating-point operations of the recurrent products) the rows stay on one thread: handing
#: a block to a second thread costs more than it saves.
PARALLEL_MIN_WORK = 2_000_000

#: The same for backward, whose blocks gain less from a second thread: measured (2 threads,
#: 50-60 steps), one block was faster up to about 7 million (batch 32, 50 units: 1.74 vs
#: 2.45 ms; batch 8, 128 units: 1.16 vs 1.42 ms), two from about 26 million (batch 32,
#: 128 units: 5.2 vs 12-29 ms).
PARALLEL_MIN_WORK_BACKWARD = 10_000_000


def _codes(activation, recurrent_activation):
    """The names and the kernels' codes of φ and σ: None for tanh and sigmoid (the kernels
    then compile only those two; see ``gru_kernels.py``)."""
    act_name, act = _activation_code(activation)
    ract_name, ract = _activation_code(recurrent_activation)
    return (act_name, None if act_name == "tanh" else act,
            ract_name, None if ract_name == "sigmoid" else ract)


def _big(recurrent_kernel):
    """The kernels' ``big``: True when the recurrent kernel passes the size from which a
    written-out product can beat BLAS (its parts are then checked one by one), else None:
    kernels without the written-out product."""
    return True if recurrent_kernel.nbytes > _BIG_WEIGHT_BYTES else None


def _in_blocks(kernel, args, batch, timesteps, units, min_work):
    """``kernel(*args, start, stop)`` on the batch rows: one block of rows per thread
    (:func:`~npylstm.ops.numba.parallel._row_bounds`; the kernels release the GIL), or one
    block for problems below ``min_work`` (``batch * timesteps * units**2``). BLAS runs
    single-threaded inside the blocks when there are several: each block's per-step
    products are small, and OpenBLAS's idle threads would spin on the cores the other
    blocks need."""
    bounds = _row_bounds(batch, batch * timesteps * units * units, min_work)
    parts = bounds.shape[0] - 1

    def block(p):
        kernel(*args, bounds[p], bounds[p + 1])

    # (one block: no switch, which costs ~18 µs a call, a one-step stream's every step)
    with np.errstate(all="ignore"), blas_threads(None if parts == 1 else 1):
        _run_parts(block, parts)


def _run_forward(x, h0, kernel, recurrent_kernel, bias, activation, recurrent_activation,
                 reset_after, go_backwards, keep):
    """:func:`gru_forward` (``keep``) or :func:`gru_inference` (the cache is None)."""
    act_name, act, ract_name, ract = _codes(activation, recurrent_activation)
    reset_after = bool(reset_after)
    x, h0, kernel, recurrent_kernel, bias = _arrays(x, h0, kernel, recurrent_kernel, bias,
                                                    reset_after)
    dtype = x.dtype
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    xs = np.ascontiguousarray(x[:, ::-1]) if go_backwards else x  # (B, T, D) processing order
    b_x = None if bias is None else (bias[0] if reset_after else bias)  # (3U,)
    b_r = bias[1] if reset_after and bias is not None else np.zeros(3 * units, dtype)  # (3U,)
    # the input projection for every timestep: one product before the loop
    a = np.empty((batch, timesteps, 3 * units), dtype=dtype)  # (B, T, 3U)
    h = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U)
    r_h = np.empty((batch, timesteps, units) if keep else (0, 0, units), dtype=dtype)  # (B,T,U)
    with np.errstate(all="ignore"):  # inf and NaN propagate silently
        if input_dim == 1:  # one product per entry: the same numbers, 3x faster than BLAS
            np.multiply(xs, kernel[0], out=a)  # (B, T, 1) * (3U,)
        else:
            np.matmul(xs.reshape(batch * timesteps, input_dim), kernel,
                      out=a.reshape(batch * timesteps, 3 * units))  # (B*T, 3U)
        if b_x is not None:
            a += b_x
    if reset_after:
        first, second = recurrent_kernel, recurrent_kernel[:, :0]  # (U, 3U), unused
    else:
        first = np.ascontiguousarray(recurrent_kernel[:, : 2 * units])  # (U, 2U)
        second = np.ascontiguousarray(recurrent_kernel[:, 2 * units :])  # (U, U)
    args = (a, first, second, b_r, h0, act, ract, reset_after, keep, r_h, h,
            _big(recurrent_kernel))
    _in_blocks(_forward_rows, args, batch, timesteps, units, PARALLEL_MIN_WORK)
    h_last = h[:, -1].copy() if timesteps else h0.copy()  # (B, U)
    cache = None
    if keep:
        cache = GRUCache(x, h0, kernel, recurrent_kernel, bias, a, r_h, h, act_name, ract_name,
                         reset_after, bool(go_backwards))
    return h, h_last, cache


def gru_forward(
    x: np.ndarray,
    h0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    reset_after: bool = True,
    go_backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray, GRUCache]:
    """Run a GRU over a whole sequence (the Numba core; equations in the module docstring).

    Parameters
    ----------
    x : (batch, timesteps, input_dim) array, float32 or float64
    h0 : (batch, units), the initial output
    kernel : (input_dim, 3*units), recurrent_kernel : (units, 3*units)
    bias : (2, 3*units) with ``reset_after``, (3*units,) without, or None
    activation, recurrent_activation : Keras activation names (φ and σ)
    reset_after : Keras's convention (True: the reset gate multiplies ``h_tm1 @ R_h + b_r``)
    go_backwards : read the sequence from the last timestep to the first

    Returns
    -------
    h_seq : (batch, timesteps, units), the output of every step in processing order
    h_last : (batch, units), the final output
    cache : GRUCache for :func:`gru_backward`

    Every array is converted to ``x``'s dtype and made C-contiguous (no copy when it
    already is), so one compiled kernel serves each dtype.

    >>> import numpy as np
    >>> B, T, D, U = 2, 3, 4, 5
    >>> h_seq, h, cache = gru_forward(np.ones((B, T, D)), np.zeros((B, U)),
    ...     np.full((D, 3 * U), 0.1), np.zeros((U, 3 * U)), np.zeros((2, 3 * U)))
    >>> h_seq.shape, bool(np.array_equal(h_seq[:, -1], h))
    ((2, 3, 5), True)
    """
    return _run_forward(x, h0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, reset_after, go_backwards, keep=True)


def gru_inference(
    x: np.ndarray,
    h0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    reset_after: bool = True,
    go_backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gru_forward` without the cache: ``(h_seq, h_last)``, equal to the forward's
    bit for bit (the candidate's recurrent parts backward needs are not kept).

    One step by hand: ``a = [1, 1, 1]``, no recurrent part, so ``h = (1 - σ(1)) * tanh(1)``.

    >>> import numpy as np
    >>> h_seq, h = gru_inference(np.ones((1, 1, 1)), np.zeros((1, 1)), np.ones((1, 3)),
    ...                          np.zeros((1, 3)), None, reset_after=False)
    >>> round(float(h[0, 0]), 6), round(float((1 - 1 / (1 + np.exp(-1))) * np.tanh(1)), 6)
    (0.204824, 0.204824)
    """
    return _run_forward(x, h0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, reset_after, go_backwards, keep=False)[:2]


def gru_backward(
    dh_seq: np.ndarray | None,
    dh_last: np.ndarray | None,
    cache: GRUCache,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Backpropagation through time for :func:`gru_forward` (the Numba core).

    Parameters
    ----------
    dh_seq : (batch, timesteps, units) or None
        Gradient with respect to ``h_seq`` (processing order), None when unused.
    dh_last : (batch, units) or None
        Gradient with respect to the returned final output.
    cache : the cache :func:`gru_forward` returned

    Returns
    -------
    dx : (batch, timesteps, input_dim), in the order of ``x``
    dh0 : (batch, units)
    dkernel : (input_dim, 3*units), drecurrent_kernel : (units, 3*units)
    dbias : the bias's shape, or None when the forward had no bias

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, h0 = rng.normal(size=(2, 3, 4)), np.zeros((2, 5))
    >>> h_seq, h, cache = gru_forward(x, h0, rng.normal(size=(4, 15)),
    ...                               rng.normal(size=(5, 15)), None)
    >>> [g.shape for g in gru_backward(None, np.ones_like(h), cache)[:4]]
    [(2, 3, 4), (2, 5), (4, 15), (5, 15)]
    """
    x, h0, kernel, recurrent_kernel, bias, a, r_h, h = cache[:8]
    reset_after = cache.reset_after
    dtype = a.dtype
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    _, act, _, ract = _codes(cache.activation, cache.recurrent_activation)
    use_dh_seq = dh_seq is not None
    dh_seq = np.ascontiguousarray(dh_seq, dtype=dtype) if use_dh_seq else h  # (B, T, U)
    # dL/dh flowing back from step t+1, updated in place: dL/dh0 at the end
    if dh_last is None:
        dh_next = np.zeros((batch, units), dtype=dtype)  # (B, U)
    else:
        dh_next = np.array(dh_last, dtype=dtype, order="C", copy=True)  # (B, U)
    for name, array, shape in (("dh_seq", dh_seq, h.shape), ("dh_last", dh_next, h0.shape)):
        if array.shape != shape:
            raise ValueError(f"gru_numba: expected {name} of shape {shape} (the forward's "
                             f"output), received {array.shape}")
    if reset_after:
        recurrent_kernel_t = np.ascontiguousarray(recurrent_kernel.T)  # (3U, U)
    else:
        recurrent_kernel_t = np.ascontiguousarray(recurrent_kernel[:, : 2 * units].T)  # (2U, U)
    recurrent_kernel_h_t = np.ascontiguousarray(recurrent_kernel[:, 2 * units :].T)  # (U, U)
    dxz = np.empty((batch, timesteps, 3 * units), dtype=dtype)  # (B, T, 3U)
    kept = (batch, timesteps) if reset_after else (0, 0)
    drz = np.empty((*kept, 3 * units), dtype=dtype)  # (B, T, 3U) with reset_after
    kept = (0, 0) if reset_after else (batch, timesteps)
    u_h = np.empty((*kept, units), dtype=dtype)  # (B, T, U) r * h_tm1 without it
    args = (a, r_h, h, h0, recurrent_kernel_t, recurrent_kernel_h_t, act, ract, reset_after,
            dh_seq, use_dh_seq, dh_next, dxz, drz, u_h, _big(recurrent_kernel))
    _in_blocks(_backward_rows, args, batch, timesteps, units, PARALLEL_MIN_WORK_BACKWARD)
    with np.errstate(all="ignore"):  # inf - inf is NaN, as in the reference, silently
        # backprop into x and the weights: one large product each, over all timesteps
        rows = batch * timesteps
        xs = np.ascontiguousarray(x[:, ::-1]) if cache.go_backwards else x  # (B, T, D)
        dxz_2d = dxz.reshape(rows, 3 * units)  # (B*T, 3U)
        dxs = (dxz_2d @ kernel.T).reshape(batch, timesteps, input_dim)  # (B, T, D)
        dkernel = xs.reshape(rows, input_dim).T @ dxz_2d  # (D, 3U)
        h_prev = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U) each h_tm1
        if timesteps:
            h_prev[:, 0] = h0
            h_prev[:, 1:] = h[:, :-1]
        h_prev_2d = h_prev.reshape(rows, units)  # (B*T, U)
        if reset_after:
            drz_2d = drz.reshape(rows, 3 * units)  # (B*T, 3U)
            drecurrent_kernel = h_prev_2d.T @ drz_2d  # (U, 3U)
            dbias = None if bias is None else np.stack(
                [dxz_2d.sum(axis=0), drz_2d.sum(axis=0)])  # (2, 3U)
        else:
            drecurrent_kernel = np.empty((units, 3 * units), dtype=dtype)  # (U, 3U)
            drecurrent_kernel[:, : 2 * units] = h_prev_2d.T @ dxz_2d[:, : 2 * units]
            drecurrent_kernel[:, 2 * units :] = (u_h.reshape(rows, units).T
                                                 @ dxz_2d[:, 2 * units :])
            dbias = None if bias is None else dxz_2d.sum(axis=0)  # (3U,)
    dx = np.ascontiguousarray(dxs[:, ::-1]) if cache.go_backwards else dxs  # order of x
    return dx, dh_next, dkernel, drecurrent_kernel, dbias
