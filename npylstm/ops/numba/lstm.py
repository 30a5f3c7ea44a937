"""LSTM forward and backward with the timestep loop compiled by Numba: the fast core.

Same equations, signatures and :class:`~npylstm.ops.lstm_reference.LSTMCache` as
``lstm_reference`` (read that module first; caches are interchangeable between the two)::

    z_t = x_t @ kernel + bias + h_tm1 @ recurrent_kernel      packed pre-activations (B, 4U)
    i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)               Keras gate order i, f, c, o
    c_t = f * c_tm1 + i * g
    h_t = o * φ(c_t)

What makes it fast:

* Batch rows are independent, so every call splits them into one block per thread
  (:func:`_row_bounds`, ``numba.get_num_threads()`` blocks) and runs each block in a
  Python thread (:func:`_run_parts`) through all timesteps without synchronising until the
  end: the kernels release the GIL, as do NumPy's BLAS products. No kernel is a Numba
  parallel function: a ``prange`` loop takes several times longer to compile than the
  kernel it runs (with an empty cache, the demo model's first prediction and training step
  compiled for about 12 s and 23 s with them).
* Only what a call needs is compiled: each kernel has a form for the default pair
  φ = tanh, σ = sigmoid (``_ts``, a fused step that compiles no other activation) and one
  for any activation codes, compiled on the first layer that uses another activation; each
  compiles for the dtype it is called with.
* ``x @ kernel`` for all timesteps is one matrix product before the loop (written out per
  step when there are fewer than :data:`_BLAS_INPUT_DIM` input features; for small units
  a stacked product, one BLAS call per row, which keeps rows independent); inside the loop
  only ``h_tm1 @ recurrent_kernel`` and the fused gate arithmetic remain. Backward keeps
  only ``dz_t @ recurrent_kernel.T`` in the loop; the weight gradients are large products
  after it (each block's share, summed).
* Nothing is allocated inside the time loop: pre-activations are formed in registers (the
  default pair's micro-kernels) or in place in their row of ``z`` (the cache), gates go to
  small per-thread workspaces and are copied to the cache only when it is kept.
  :func:`lstm_inference` keeps no cache at all (``z`` and ``c`` stay in workspaces).
* Small ``units`` (below :data:`BLAS_MIN_UNITS`): one kernel call per block (two when the
  block's rows do not fill whole tiles); the rows run through all timesteps in tiles of
  four (the rest one by one), which avoids the per-call overhead of BLAS on tiny matrices.
  For the default tanh/sigmoid the kernel first copies the weights to a padded gate layout
  (each gate's ``U`` columns padded with zeros to whole 8-lane vectors), then each step is
  a register-blocked micro-kernel (``products.py``: per block of 32 columns the tile's 8
  accumulator vectors of 16 lanes stay in registers over the whole sum, each loaded weight
  vector serving four rows) writing straight into the workspace of one fused gate loop over
  the tile's padded rows; a lone row runs the same operations per value on the packed
  weights (masked loads and stores), so a streamed step copies no weights. The loops of
  ``_add_rows_matrix`` this replaces sent their outputs through memory for every four
  weights: one 4-row step of the whole kernel, minimum of 2000 calls, 20 units 987 -> 293-368
  ns, 50 units 2000 -> 916 ns. A row is computed with the same operations in the same order
  in a tile or alone, so its result does not depend on its batch (bit for bit the same).
  Large ``units``: per timestep one NumPy BLAS product for the block and one compiled,
  GIL-free call for its gates. Every BLAS product is NumPy's (single-threaded it runs these
  products 18-43% faster than the SciPy BLAS that ``np.dot`` inside ``@njit`` calls).
* With several blocks BLAS is held to one thread (``npylstm._blas.blas_threads``): a
  multi-threaded BLAS inside each thread would oversubscribe the cores, and OpenBLAS's idle
  threads spin after each call, stealing the core another block needs.
* ``error_model="numpy"`` so the gate loops vectorize; no ``fastmath`` (it breaks NaN and
  ±inf) except ``contract`` in the written-out products (``products.py``: fused
  multiply-adds). In float32, tanh and sigmoid use a branch-free rational approximation of tanh
  (the one Eigen uses, maximum error about 3 ulp; ``sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)``)
  that vectorizes without SVML; NaN stays NaN and ±inf give exactly ±1. float64 uses the
  exact library functions. Every other activation is computed exactly as
  ``npylstm.activations`` computes it, including its values at ±inf and NaN.

The code is split by concern: ``activations.py`` (the jitted activation helpers),
``lstm_cells.py`` (one timestep of one row), ``lstm_kernels.py`` (rows through whole
sequences), ``parallel.py`` (threads and row splits) and this module (the public functions
and the Python threads that run the kernels and the BLAS products).
"""

from __future__ import annotations

import numpy as np

from ..._blas import blas_threads
from .. import lstm_reference
from ..lstm_reference import LSTMCache
from .activations import SIGMOID, TANH
from .elementwise import _activation_code
from .lstm_cells import _LANES, _pad_gate_columns, _padded
from .lstm_kernels import (
    _BLAS_INPUT_DIM,
    _TILE,
    _backward_rows,
    _backward_rows_ts,
    _backward_rows_ts_exact,
    _forward_row_ts,
    _forward_rows,
    _forward_rows_ts,
    _forward_rows_ts_exact,
    _gates_backward_step,
    _gates_backward_step_ts,
    _gates_forward_step,
    _gates_forward_step_ts,
    _stream_step_ts,
)
from .parallel import _row_bounds, _run_parts

__all__ = ["BLAS_MIN_UNITS", "BLAS_MIN_ROWS", "lstm_forward", "lstm_backward", "lstm_inference"]

#: From this many units on, the recurrent product is one BLAS call per timestep.
BLAS_MIN_UNITS = 128

#: ... and a block has at least this many rows (or the batch is one row): with fewer rows
#: per thread, each step's BLAS product repacks the whole recurrent kernel for a handful of
#: rows, and the tile kernels of the small-units path are faster (measured, LSTM 50 steps,
#: 32 features, 2 threads: 1.05-2.6x for batches 2-16 at 128-512 units, inference and
#: training; BLAS wins from 16 rows per thread, and for a lone row at 512 units).
BLAS_MIN_ROWS = 9


def _small_path(units: int, bounds: np.ndarray) -> bool:
    """Whether a call runs the small-units kernels (rows through all timesteps in one
    compiled call) rather than a BLAS product per timestep: below :data:`BLAS_MIN_UNITS`
    units, or when its blocks have fewer than :data:`BLAS_MIN_ROWS` rows (batch > 1)."""
    if units < BLAS_MIN_UNITS:
        return True
    block_rows = int(np.max(np.diff(bounds)))
    return bounds[-1] > 1 and block_rows < BLAS_MIN_ROWS

#: Small units: ``x @ kernel`` is one BLAS product before the time loop only from this many
#: timesteps on; a call of fewer (a streamed step: one) forms it in the compiled step, since
#: a NumPy product of one row costs more (2-7 us) than the row's arithmetic. The choice
#: depends on the call's timesteps, never on its rows, so a row's result still does not
#: depend on its batch.
_BLAS_MIN_STEPS = 4

#: The kernels' ``z_in`` when they form ``x_t @ kernel`` themselves, per dtype character.
_EMPTY = {np.dtype(d).char: np.empty((0, 0, 0), dtype=d) for d in (np.float32, np.float64)}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # the dtypes the kernels compile for


# -- the row blocks: one per thread, each running its rows through all timesteps ----------
#
# Every call splits the batch rows into one block per thread (_row_bounds) and runs the
# blocks in Python threads (_run_parts): the compiled kernels release the GIL, and so do
# NumPy's BLAS products. (A Numba parallel function would do the same with prange, but it
# takes several times longer to compile.) NumPy's own BLAS also runs these products 18-43%
# faster single-threaded than the SciPy BLAS that np.dot inside @njit calls (OpenBLAS
# 0.3.31 vs 0.3.30; 80.7 vs 66.2 GFLOP/s on (64, 512) @ (512, 2048)), so every BLAS product
# is a NumPy call in the block's thread, outside the kernels.


def _padded_kernel(kernel, units):
    """``kernel (D, 4U)`` in the padded gate layout of ``products.py``, ``(D, 4P)``: the
    default-pair kernels' projection ``x @ kernel`` is a BLAS product on it (the kernels'
    own padding, :func:`~npylstm.ops.numba.lstm_cells._pad_gate_columns`)."""
    return _pad_gate_columns(kernel, _padded(units)).reshape(kernel.shape[0], -1)  # (D, 4P)


def _forward_tiles(xs, kernel, bias, recurrent_kernel, h0, c0, keep, project, z_in, z, c, h,
                   c_last, start, stop):
    """Rows ``start:stop`` through all timesteps with the default pair (small units): whole
    tiles of four in :func:`_forward_rows_ts`, the rest one by one in
    :func:`_forward_row_ts`, each resumed by the exact kernel from where a carry left the
    fast range. ``z_in (R, T, 4P)`` holds the block's ``x @ kernel`` in the padded gate
    layout when ``project`` (:func:`_padded_kernel`)."""
    stash = np.empty((_TILE, 5 * h.shape[2]), h.dtype)  # (4, 5U) z_t, c_tm1 where it stopped
    tiled = start + (stop - start) // _TILE * _TILE  # rows start:tiled in whole tiles
    for rows_kernel, lo, hi in ((_forward_rows_ts, start, tiled), (_forward_row_ts, tiled, stop)):
        if lo == hi:
            continue  # (so a batch without such rows never compiles that kernel)
        z_rows = z_in[lo - start : hi - start] if project else z_in  # (hi-lo, T, 4P)
        args = (xs, kernel, bias, recurrent_kernel, h0, c0, keep, project, z_rows, z, c, h,
                c_last, lo, hi)
        stopped = rows_kernel(*args, stash)
        if stopped >= 0:  # a carry left the fast range: the rest with the exact path
            where, resumed = divmod(stopped, _TILE)
            _forward_rows_ts_exact(*args, *divmod(where, xs.shape[1]), resumed + 1, stash)


def _projects(input_dim: int, timesteps: int, small: bool) -> bool:
    """Whether a forward call forms ``x @ kernel`` as a BLAS product before the time loop
    (its only BLAS call on the small-units path)."""
    return (input_dim >= _BLAS_INPUT_DIM and timesteps >= _BLAS_MIN_STEPS) or not small


def _forward_blocks(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, z, c, h,
                    c_last, bounds):
    """Writes ``h``, ``c_last`` (and ``z``, ``c`` when ``keep``): one block of rows
    ``bounds[p]:bounds[p + 1]`` per thread. Small units: ``x @ kernel`` for the block's
    timesteps in one product (from :data:`_BLAS_INPUT_DIM` input features and
    :data:`_BLAS_MIN_STEPS` timesteps on), then one
    kernel call running the rows through all timesteps. Large units: that product, then
    ``h_tm1 @ recurrent_kernel`` and one compiled gate step per timestep."""
    _, timesteps, input_dim = xs.shape
    units = recurrent_kernel.shape[0]
    dtype = h.dtype
    default_pair = act == TANH and ract == SIGMOID
    small = _small_path(units, bounds)
    project = _projects(input_dim, timesteps, small)
    tiles = small and default_pair  # the padded-layout kernels
    kernel_p = _padded_kernel(kernel, units) if tiles and project else None  # (D, 4P)

    def _forward_block(p: int) -> None:
        start, stop = int(bounds[p]), int(bounds[p + 1])
        rows = stop - start
        z_in = _EMPTY[dtype.char]  # (0, 0, 0) when the kernel forms x_t @ kernel itself
        if project and tiles:  # (R, T, 4P), the padded layout
            z_in = np.empty((rows, timesteps, kernel_p.shape[1]), dtype)
            # a stack: NumPy runs it as one BLAS product per row, so a row's bits never
            # depend on the rows it shares the call with (one product over R*T rows does
            # not promise that: with OpenBLAS's Haswell kernels a 7-step row computed in a
            # 37-row call differed in its last bits from the same row alone)
            np.matmul(xs[start:stop], kernel_p, out=z_in)
        elif project:
            z_in = z[start:stop] if keep else np.empty((rows, timesteps, 4 * units), dtype)
            if small:  # (R, T, 4U), a stack as above
                np.matmul(xs[start:stop], kernel, out=z_in)
            else:
                np.matmul(xs[start:stop].reshape(rows * timesteps, input_dim), kernel,
                          out=z_in.reshape(rows * timesteps, 4 * units))  # (R*T, 4U)
        if tiles:
            _forward_tiles(xs, kernel, bias, recurrent_kernel, h0, c0, keep, project, z_in, z,
                           c, h, c_last, start, stop)
            return
        if small:
            _forward_rows(xs, kernel, bias, recurrent_kernel, h0, c0, act, ract, keep, project,
                          z_in, z, c, h, c_last, start, stop)
            return
        h_tm1 = h0[start:stop].copy()  # (R, U) the block's previous output
        c_tm1 = c0[start:stop].copy()  # (R, U) the block's carry
        hr = np.empty((rows, 4 * units), dtype)  # (R, 4U) h_tm1 @ recurrent_kernel
        gates = np.empty(4 * units, dtype)  # (4U,) workspace
        act_c = np.empty(units, dtype)  # (U,) workspace
        c_work = np.empty(units, dtype)  # (U,) workspace
        c_block, h_block = c[start:stop], h[start:stop]  # (R, T, U) views
        for t in range(timesteps):
            np.matmul(h_tm1, recurrent_kernel, out=hr)
            if default_pair:
                _gates_forward_step_ts(z_in, hr, bias, t, c_tm1, h_tm1, c_block, h_block, keep,
                                       gates, act_c, c_work)
            else:
                _gates_forward_step(z_in, hr, bias, t, c_tm1, h_tm1, c_block, h_block, act,
                                    ract, keep, gates, act_c, c_work)
        c_last[start:stop] = c_tm1

    if len(bounds) == 2 and small and not project:
        _forward_block(0)  # one block, compiled code only: it raises no floating-point warning
    elif len(bounds) == 2:  # one block (a streamed row): no thread hand-off
        with np.errstate(all="ignore"):  # NaN and inf propagate silently, as in the reference
            _forward_block(0)
    else:
        _run_parts(_forward_block, len(bounds) - 1)


def _backward_blocks(xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq,
                     dh_next, dc_next, act, ract, dz, dxs, dkernel, drecurrent_kernel, dbias,
                     h_prev, bounds, small):
    """Backward, one block of rows per thread: ``dz`` for the block's rows (``small``, the
    caller's :func:`_small_path`: one kernel call through all timesteps; else
    :func:`_gates_backward_step` and ``dz_t @ recurrent_kernel.T`` per timestep), then the
    block's share of the input and weight gradients as BLAS products: ``dxs = dz @ kernel.T``
    into its rows and its parts ``dkernel[p] = xs^T dz``, ``drecurrent_kernel[p] =
    h_prev^T dz``, ``dbias[p] = sum dz`` (the caller adds the parts). ``h_prev (B, T, U)``
    is a workspace for each step's h_tm1. The small path takes ``recurrent_kernel_t
    (4U, P)`` zero-padded to whole 8-lane vectors."""
    _, timesteps, packed = z.shape
    units = packed // 4
    input_dim = xs.shape[2]
    default_pair = act == TANH and ract == SIGMOID

    def _backward_block(p: int) -> None:
        start, stop = int(bounds[p]), int(bounds[p + 1])
        rows = stop - start
        dz_block = dz[start:stop]  # (R, T, 4U)
        if small and default_pair:
            args = (z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next, dz,
                    start, stop)
            stash = np.empty((_TILE, units), z.dtype)  # (4, U) dL/dc_t where it stopped
            stopped = _backward_rows_ts(*args, stash)
            if stopped >= 0:  # an argument left the fast range: the rest with the exact path
                where, resumed = divmod(stopped, _TILE)
                _backward_rows_ts_exact(*args, *divmod(where, timesteps), resumed + 1, stash)
        elif small:
            _backward_rows(z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next,
                           act, ract, dz, start, stop)
        else:
            dz_t = np.empty((rows, packed), z.dtype)  # (R, 4U) the block's dz of step t
            work = np.empty((3, packed), z.dtype)  # (3, 4U) workspace
            blocks = (z[start:stop], c[start:stop], c0[start:stop],
                      dh_seq[start:stop] if use_dh_seq else dh_seq, use_dh_seq)
            dh_block, dc_block = dh_next[start:stop], dc_next[start:stop]  # (R, U)
            for t in range(timesteps - 1, -1, -1):
                if default_pair:
                    _gates_backward_step_ts(*blocks, dh_block, dc_block, dz_block, t, dz_t, work)
                else:
                    _gates_backward_step(*blocks, dh_block, dc_block, act, ract, dz_block, t,
                                         dz_t, work)
                # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
                np.matmul(dz_t, recurrent_kernel_t, out=dh_block)  # (R, U)
        # backprop into x and the weights: the block's rows over all timesteps at once
        dz_2d = dz_block.reshape(rows * timesteps, packed)  # (R*T, 4U)
        np.matmul(dz_2d, kernel.T, out=dxs[start:stop].reshape(rows * timesteps, input_dim))
        np.matmul(xs[start:stop].reshape(rows * timesteps, input_dim).T, dz_2d, out=dkernel[p])
        h_prev[start:stop, 0] = h0[start:stop]  # each step's h_tm1
        h_prev[start:stop, 1:] = h[start:stop, :-1]
        np.matmul(h_prev[start:stop].reshape(rows * timesteps, units).T, dz_2d,
                  out=drecurrent_kernel[p])
        np.sum(dz_2d, axis=0, out=dbias[p])

    if len(bounds) == 2:  # one block: no thread hand-off
        with np.errstate(all="ignore"):  # the sums may overflow to inf, as in the reference
            _backward_block(0)
    else:
        _run_parts(_backward_block, len(bounds) - 1)


def _work(batch: int, timesteps: int, input_dim: int, units: int) -> int:
    """A call's multiply-adds (the products of every step), which decide whether its rows
    are split between threads (``parallel.PARALLEL_MIN_WORK``)."""
    return batch * timesteps * 4 * units * (units + input_dim)


# -- the public functions -----------------------------------------------------------------


def _float_dtype(x: np.ndarray) -> np.dtype:
    dtype = np.asarray(x).dtype
    if dtype not in _FLOATS:
        raise TypeError(
            f"lstm_numba: expected float32 or float64 arrays, received x of dtype {dtype}"
        )
    return dtype


def lstm_forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    go_backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, LSTMCache]:
    """Run an LSTM over a whole sequence (the Numba core; see ``lstm_reference``).

    Parameters
    ----------
    x : (batch, timesteps, input_dim) array, float32 or float64
    h0, c0 : (batch, units) arrays, the initial output and carry
    kernel : (input_dim, 4*units), recurrent_kernel : (units, 4*units), bias : (4*units,) or None
    activation, recurrent_activation : Keras activation names (φ and σ)
    go_backwards : read the sequence from the last timestep to the first

    Returns
    -------
    h_seq : (batch, timesteps, units), the output of every step in processing order
    h_last, c_last : (batch, units), the final output and carry
    cache : LSTMCache for :func:`lstm_backward` (the reference's cache type)

    Every array is converted to ``x``'s dtype and made C-contiguous (no copy when it
    already is), so one compiled kernel serves each dtype.

    >>> import numpy as np
    >>> B, T, D, U = 2, 3, 4, 5
    >>> x = np.ones((B, T, D)); h0 = c0 = np.zeros((B, U))
    >>> h_seq, h, c, cache = lstm_forward(
    ...     x, h0, c0, np.full((D, 4 * U), 0.1), np.zeros((U, 4 * U)), np.zeros(4 * U))
    >>> h_seq.shape, bool(np.allclose(h_seq[:, -1], h))
    ((2, 3, 5), True)
    """
    return _run_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, go_backwards, keep=True)


def lstm_inference(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    go_backwards: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lstm_forward` without the cache: returns ``(h_seq, h_last, c_last)``, equal to
    the forward's. For predictions: the per-step pre-activations and carries backward needs
    are not kept, which saves memory traffic (and the page faults of allocating them)."""
    if not go_backwards and activation == "tanh" and recurrent_activation == "sigmoid":
        streamed = _streamed_step(x, h0, c0, kernel, recurrent_kernel, bias)
        if streamed is not None:
            return streamed
    return _run_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, go_backwards, keep=False)[:3]


def _streamed_step(x, h0, c0, kernel, recurrent_kernel, bias):
    """:func:`lstm_inference` for a streamed step, in one compiled call
    (:func:`~npylstm.ops.numba.lstm_kernels._stream_step_ts`): fewer rows than a tile,
    fewer than :data:`_BLAS_MIN_STEPS` timesteps, small units, the default pair, a bias,
    and every argument already what the kernels take (C-contiguous ndarrays of one float
    dtype and of fitting shapes), which is what a layer's ``step`` passes on every call of
    a stream. It runs what :func:`_run_forward` would (the same row kernel), without that
    function's ~5 us of conversions, checks and allocations per call. Returns None for any
    other call, or when a carry left the fast range: the general path then does it all."""
    arrays = (x, h0, c0, kernel, recurrent_kernel, bias)
    for array in arrays:
        if type(array) is not np.ndarray:
            return None
    dtype = x.dtype
    if x.ndim != 3 or recurrent_kernel.ndim != 2 or dtype not in _FLOATS:
        return None
    batch, timesteps, input_dim = x.shape
    units, packed = recurrent_kernel.shape
    state = (batch, units)
    if not (0 < batch < _TILE and 0 < timesteps < _BLAS_MIN_STEPS and 0 < units < BLAS_MIN_UNITS
            and packed == 4 * units and h0.shape == state and c0.shape == state
            and kernel.shape == (input_dim, packed) and bias.shape == (packed,)):
        return None
    for array in arrays:
        if array.dtype != dtype or not array.flags.c_contiguous:
            return None
    h, h_last, c_last, done = _stream_step_ts(x, kernel, bias, recurrent_kernel, h0, c0)
    return (h, h_last, c_last) if done else None


def _check_shapes(x, h0, c0, kernel, recurrent_kernel, bias) -> None:
    """Raises ValueError naming the first argument whose shape does not fit ``x (B, T, D)``
    and ``recurrent_kernel (U, 4U)`` (the compiled kernels index without bounds checks: a
    wrong shape would read past an array instead of failing)."""
    batch, _, input_dim = x.shape
    units = recurrent_kernel.shape[0] if recurrent_kernel.ndim == 2 else -1
    expected = [("recurrent_kernel", recurrent_kernel, (units, 4 * units)),
                ("kernel", kernel, (input_dim, 4 * units)), ("h0", h0, (batch, units)),
                ("c0", c0, (batch, units))]
    if bias is not None:
        expected.append(("bias", bias, (4 * units,)))
    for name, array, shape in expected:
        if array.shape != shape:
            if units < 0:
                shape = "(units, 4 * units)"
            raise ValueError(
                f"lstm_numba: expected {name} of shape {shape} for x of shape {x.shape} and "
                f"{units} units, received {array.shape}"
            )


def _run_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation, recurrent_activation,
                 go_backwards, keep):
    """:func:`lstm_forward` (``keep``) or :func:`lstm_inference`; the cache is None without
    ``keep``."""
    dtype = _float_dtype(x)
    act_name, act = _activation_code(activation)
    ract_name, ract = _activation_code(recurrent_activation)
    if np.ndim(x) != 3:
        raise ValueError(f"lstm_numba: expected x of shape (batch, timesteps, input_dim), "
                         f"received shape {np.shape(x)}")
    batch, timesteps, input_dim = np.shape(x)
    if batch == 0 or timesteps == 0:  # nothing to loop over: the reference's exact result
        return lstm_reference.lstm_forward(
            x, h0, c0, kernel, recurrent_kernel, bias, act_name, ract_name, go_backwards
        )
    x = np.ascontiguousarray(x, dtype=dtype)  # (B, T, D)
    h0 = np.ascontiguousarray(h0, dtype=dtype)  # (B, U)
    c0 = np.ascontiguousarray(c0, dtype=dtype)  # (B, U)
    kernel = np.ascontiguousarray(kernel, dtype=dtype)  # (D, 4U)
    recurrent_kernel = np.ascontiguousarray(recurrent_kernel, dtype=dtype)  # (U, 4U)
    use_bias = bias is not None
    if use_bias:
        bias = np.ascontiguousarray(bias, dtype=dtype)  # (4U,)
    units = recurrent_kernel.shape[0]
    _check_shapes(x, h0, c0, kernel, recurrent_kernel, bias)
    xs = np.ascontiguousarray(x[:, ::-1]) if go_backwards else x  # (B, T, D) processing order

    h = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U)
    kept = (batch, timesteps) if keep else (0, 0)  # z and c for backward, only when kept
    z = np.empty((*kept, 4 * units), dtype=dtype)  # (B, T, 4U)
    c = np.empty((*kept, units), dtype=dtype)  # (B, T, U)
    c_last = np.empty((batch, units), dtype=dtype)  # (B, U)
    bias_row = bias if use_bias else np.zeros(4 * units, dtype=dtype)  # (4U,)
    args = (xs, kernel, bias_row, recurrent_kernel, h0, c0, act, ract, keep, z, c, h, c_last)
    # compiled code raises no floating-point warnings: NaN and inf propagate silently, as
    # in the reference
    if (batch < _TILE and timesteps < _BLAS_MIN_STEPS and units < BLAS_MIN_UNITS
            and act == TANH and ract == SIGMOID):
        # a streamed step (fewer rows than a tile, a few timesteps): what _forward_blocks
        # would run for it (one block, x_t @ kernel in the kernel), without its Python
        _forward_tiles(xs, kernel, bias_row, recurrent_kernel, h0, c0, keep, False,
                       _EMPTY[dtype.char], z, c, h, c_last, 0, batch)
    else:
        bounds = _row_bounds(batch, _work(batch, timesteps, input_dim, units))
        if bounds.shape[0] == 2 or not _projects(input_dim, timesteps,
                                                 _small_path(units, bounds)):
            _forward_blocks(*args, bounds)  # one block, or blocks that call no BLAS
        else:
            with blas_threads(1):  # one BLAS thread inside each block
                _forward_blocks(*args, bounds)
    cache = None
    if keep:
        cache = LSTMCache(
            x, h0, c0, kernel, recurrent_kernel, bias if use_bias else None, z, c, h,
            act_name, ract_name, bool(go_backwards),
        )
    return h, h[:, -1].copy(), c_last, cache


def _backward_all(xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq,
                       dh_next, dc_next, act, ract, dz):
    """The whole backward pass (:func:`_backward_blocks`), BLAS held to one thread inside
    each block when there are several; returns ``dxs (B, T, D)`` in processing order,
    ``dkernel``, ``drecurrent_kernel`` and ``dbias`` (the threads' parts added)."""
    dtype = z.dtype
    batch, timesteps, packed = z.shape
    units = packed // 4
    input_dim = xs.shape[2]
    bounds = _row_bounds(batch, _work(batch, timesteps, input_dim, units))
    parts = bounds.shape[0] - 1
    dxs = np.empty((batch, timesteps, input_dim), dtype=dtype)  # (B, T, D)
    dkernel = np.empty((parts, input_dim, packed), dtype=dtype)  # (parts, D, 4U)
    drecurrent_kernel = np.empty((parts, units, packed), dtype=dtype)  # (parts, U, 4U)
    dbias = np.empty((parts, packed), dtype=dtype)  # (parts, 4U)
    h_prev = np.empty((batch, timesteps, units), dtype=dtype)  # (B, T, U) workspace
    args = (np.ascontiguousarray(xs, dtype=dtype), np.ascontiguousarray(kernel, dtype=dtype),
            np.ascontiguousarray(h0, dtype=dtype), np.ascontiguousarray(h, dtype=dtype), z, c,
            c0)
    small = _small_path(units, bounds)  # the padding below and the kernels must agree
    grads = (dh_seq, use_dh_seq, dh_next, dc_next, act, ract, dz, dxs, dkernel,
             drecurrent_kernel, dbias, h_prev, bounds, small)
    if small:
        # recurrent_kernel.T with zero columns up to whole blocks of 32 (two 16-lane
        # vectors): the micro-kernel of dz_row @ recurrent_kernel.T runs without a remainder
        block = 4 * _LANES
        padded_t = np.zeros((packed, -(-units // block) * block), dtype=dtype)  # (4U, C)
        padded_t[:, :units] = recurrent_kernel_t
        recurrent_kernel_t = padded_t
    if parts == 1:
        _backward_blocks(*args, recurrent_kernel_t, *grads)
    else:
        with blas_threads(1):  # one BLAS thread inside each block
            _backward_blocks(*args, recurrent_kernel_t, *grads)
    with np.errstate(all="ignore"):  # inf - inf is NaN, as in the reference, silently
        return dxs, dkernel.sum(axis=0), drecurrent_kernel.sum(axis=0), dbias.sum(axis=0)


def lstm_backward(
    dh_seq: np.ndarray | None,
    dh_last: np.ndarray | None,
    dc_last: np.ndarray | None,
    cache: LSTMCache,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Backpropagation through time for :func:`lstm_forward` (the Numba core).

    Parameters
    ----------
    dh_seq : (batch, timesteps, units) or None
        Gradient with respect to ``h_seq`` (processing order), None when unused.
    dh_last, dc_last : (batch, units) or None
        Gradients with respect to the returned final output and carry.
    cache : the cache returned by either backend's ``lstm_forward``

    Returns
    -------
    dx : (batch, timesteps, input_dim), in the order of ``x``
    dh0, dc0 : (batch, units)
    dkernel : (input_dim, 4*units), drecurrent_kernel : (units, 4*units)
    dbias : (4*units,), or None when the forward had no bias
    """
    x, h0, c0, kernel, recurrent_kernel, bias, z, c, h = cache[:9]
    dtype = _float_dtype(z)
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    if batch == 0 or timesteps == 0:
        return lstm_reference.lstm_backward(dh_seq, dh_last, dc_last, cache)
    _, act = _activation_code(cache.activation)
    _, ract = _activation_code(cache.recurrent_activation)
    z = np.ascontiguousarray(z, dtype=dtype)  # (B, T, 4U)
    c = np.ascontiguousarray(c, dtype=dtype)  # (B, T, U)
    c0 = np.ascontiguousarray(c0, dtype=dtype)  # (B, U)
    use_dh_seq = dh_seq is not None
    dh_seq = np.ascontiguousarray(dh_seq, dtype=dtype) if use_dh_seq else z  # (B, T, U)
    # dh_next, dc_next (B, U): dL/dh, dL/dc flowing back from step t+1, updated in place
    if dh_last is None:
        dh_next = np.zeros((batch, units), dtype=dtype)
    else:
        dh_next = np.array(dh_last, dtype=dtype, order="C", copy=True)
    if dc_last is None:
        dc_next = np.zeros((batch, units), dtype=dtype)
    else:
        dc_next = np.array(dc_last, dtype=dtype, order="C", copy=True)
    grads = [("dh_last", dh_next, h0.shape), ("dc_last", dc_next, c0.shape)]
    for name, array, shape in grads + ([("dh_seq", dh_seq, h.shape)] if use_dh_seq else []):
        if array.shape != shape:
            raise ValueError(f"lstm_numba: expected {name} of shape {shape} (the forward's "
                             f"output), received {array.shape}")
    recurrent_kernel_t = np.ascontiguousarray(recurrent_kernel.T, dtype=dtype)  # (4U, U)

    dz = np.empty((batch, timesteps, 4 * units), dtype=dtype)  # (B, T, 4U)
    xs = x[:, ::-1] if cache.go_backwards else x  # (B, T, D) processing order
    dxs, dkernel, drecurrent_kernel, dbias = _backward_all(
        xs, kernel, h0, h, z, c, c0, recurrent_kernel_t, dh_seq, use_dh_seq, dh_next, dc_next,
        act, ract, dz,
    )
    dx = np.ascontiguousarray(dxs[:, ::-1]) if cache.go_backwards else dxs  # order of x
    if bias is None:
        dbias = None
    return dx, dh_next, dc_next, dkernel, drecurrent_kernel, dbias
