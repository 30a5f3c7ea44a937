"""The one generic recurrent loop, in NumPy: any cell, forward and full BPTT.

Keras runs every recurrent layer through one loop (``backend.rnn(step_function, ...)``,
``keras/src/layers/rnn/rnn.py`` ``RNN.inner_loop``) that calls the cell once per timestep;
this module is that loop for an :class:`npylstm.cells.Cell`, with the products hoisted
out of it the way the fast kernels do::

    xs = x reversed in time if go_backwards                          (B, T, D)
    xz = xs @ kernel                  one product for every timestep  (B, T, nU)
    for t in 0 .. T-1:
        rz_t = h_tm1 @ recurrent_kernel                               (B, nU)
        states, fields[t] = cell.step(xz[:, t], rz_t, states, bias)

and backward mirrors it: the cell's ``step_backward`` per step, ``drz_t @
recurrent_kernel.T`` into ``h_tm1`` inside the loop, and the weight gradients as two large
products after it (``xs^T dxz``, ``h_prev^T drz``).

Per-gate dropout masks (Keras's implementation 1, which ``LSTM`` uses when
``recurrent_dropout > 0``): ``input_masks (n, B, D)`` and ``recurrent_masks (n, B, U)``,
one per gate, drawn once per batch and reused at every step::

    xz_g = (xs * input_masks[g]) @ kernel_g
    rz_g = (h_tm1 * recurrent_masks[g]) @ recurrent_kernel_g

The sequence output comes back in processing order (reversed for ``go_backwards``), as in
Keras. The next issue adds a per-step mask argument (Keras's ``mask``) here.
Signatures match every fast kernel's (:func:`npylstm.ops.get_kernel`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..cells import Cell

__all__ = ["RNNCache", "rnn_backward", "rnn_forward", "rnn_inference"]


class RNNCache(NamedTuple):
    """What :func:`rnn_forward` hands to :func:`rnn_backward`.

    Time axes are in processing order, except ``x``, the caller's array.
    """

    x: np.ndarray  # (B, T, D) the input as given
    initial_states: tuple  # each (B, U)
    kernel: np.ndarray  # (D, nU)
    recurrent_kernel: np.ndarray  # (U, nU)
    bias: np.ndarray | None  # the cell's bias, or None
    fields: dict  # name -> (B, T, width), what the cell kept per step
    go_backwards: bool
    input_masks: np.ndarray | None  # (n, B, D) per-gate input masks, or None
    recurrent_masks: np.ndarray | None  # (n, B, U) per-gate recurrent masks, or None


def _input_projection(cell: Cell, xs, kernel, input_masks):
    """``xs @ kernel`` for every timestep; gate by gate with per-gate masks."""
    if input_masks is None:
        return xs @ kernel  # (B, T, nU)
    kernels = cell.split(kernel)  # n x (D, U)
    return cell.join(
        *[(xs * input_masks[g][:, None, :]) @ kernels[g] for g in range(cell.n_gates)]
    )  # (B, T, nU)


def _recurrent_projection(cell: Cell, h_tm1, recurrent_kernel, recurrent_kernels, masks):
    """``h_tm1 @ recurrent_kernel``; gate by gate with per-gate masks."""
    if masks is None:
        return h_tm1 @ recurrent_kernel  # (B, nU)
    return cell.join(
        *[(h_tm1 * masks[g]) @ recurrent_kernels[g] for g in range(cell.n_gates)]
    )  # (B, nU)


def rnn_forward(
    cell: Cell,
    x: np.ndarray,
    initial_states,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    go_backwards: bool = False,
    input_masks: np.ndarray | None = None,
    recurrent_masks: np.ndarray | None = None,
):
    """Run ``cell`` over a whole sequence.

    Parameters
    ----------
    cell : the step equations (e.g. :class:`npylstm.cells.LSTMCell`)
    x : (batch, timesteps, input_dim) array
    initial_states : sequence of (batch, units) arrays, in ``cell.STATES`` order
    kernel : (input_dim, n*units), recurrent_kernel : (units, n*units), bias : the cell's or None
    go_backwards : read the sequence from the last timestep to the first
    input_masks, recurrent_masks : per-gate dropout masks (see the module docstring) or None

    Returns
    -------
    h_seq : (batch, timesteps, units), the output of every step in processing order
    last_states : list of (batch, units), the final states
    cache : RNNCache for :func:`rnn_backward`

    >>> import numpy as np
    >>> from npylstm.cells import LSTMCell
    >>> B, T, D, U = 2, 3, 4, 5
    >>> h_seq, (h, c), cache = rnn_forward(LSTMCell(), np.ones((B, T, D)),
    ...     [np.zeros((B, U))] * 2, np.full((D, 4 * U), 0.1), np.zeros((U, 4 * U)), None)
    >>> h_seq.shape, bool(np.array_equal(h_seq[:, -1], h))
    ((2, 3, 5), True)
    """
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    xs = x[:, ::-1] if go_backwards else x  # (B, T, D) in processing order (a view)
    fields = {
        name: np.empty((batch, timesteps, width), dtype=x.dtype)  # (B, T, width)
        for name, width in cell.field_widths(units).items()
    }
    recurrent_kernels = None if recurrent_masks is None else cell.split(recurrent_kernel)
    states = list(initial_states)
    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in Keras
        xz = _input_projection(cell, xs, kernel, input_masks)  # (B, T, nU)
        for t in range(timesteps):
            rz_t = _recurrent_projection(
                cell, states[0], recurrent_kernel, recurrent_kernels, recurrent_masks
            )  # (B, nU)
            states, fields_t = cell.step(xz[:, t], rz_t, states, bias)
            for name, value in fields_t.items():
                fields[name][:, t] = value
    cache = RNNCache(
        x, tuple(initial_states), kernel, recurrent_kernel, bias, fields, bool(go_backwards),
        input_masks, recurrent_masks,
    )
    return fields["h"], states, cache


def rnn_inference(cell: Cell, x, initial_states, kernel, recurrent_kernel, bias,
                  go_backwards: bool = False):
    """:func:`rnn_forward` for predictions: ``(h_seq, last_states)``, without the cache."""
    h_seq, states, _ = rnn_forward(cell, x, initial_states, kernel, recurrent_kernel, bias,
                                   go_backwards)
    return h_seq, states


def rnn_backward(cell: Cell, dh_seq, dlast_states, cache: RNNCache):
    """Backpropagation through time for :func:`rnn_forward`.

    Parameters
    ----------
    cell : the cell the forward ran
    dh_seq : (batch, timesteps, units) or None — gradient of ``h_seq`` (processing order)
    dlast_states : list (``cell.STATES`` order) of (batch, units) arrays or None — gradients
        of the returned final states
    cache : from :func:`rnn_forward`

    Returns
    -------
    dx : (batch, timesteps, input_dim), in the order of ``x``
    dinitial_states : list of (batch, units)
    dweights : ``[dkernel, drecurrent_kernel]`` plus ``dbias`` when the forward had a bias
    """
    x, initial_states, kernel, recurrent_kernel, bias, fields = cache[:6]
    input_masks, recurrent_masks = cache.input_masks, cache.recurrent_masks
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    packed = recurrent_kernel.shape[1]
    xs = x[:, ::-1] if cache.go_backwards else x  # (B, T, D) in processing order
    recurrent_kernels = None if recurrent_masks is None else cell.split(recurrent_kernel)

    def states_at(t: int) -> list:
        """The states a step started from: step t-1's, or the initial ones."""
        if t < 0:
            return list(initial_states)
        return [fields[name][:, t] for name in cell.STATES]

    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in Keras
        dxz = np.empty((batch, timesteps, packed), dtype=x.dtype)  # (B, T, nU)
        drz = np.empty((batch, timesteps, packed), dtype=x.dtype)  # (B, T, nU)
        dstates = [
            np.zeros_like(s) if d is None else d
            for s, d in zip(initial_states, dlast_states, strict=True)
        ]  # each (B, U), from step t+1
        for t in reversed(range(timesteps)):
            # backprop into h_t: from the sequence output and from step t+1
            if dh_seq is not None:
                dstates[0] = dstates[0] + dh_seq[:, t]  # (B, U)
            fields_t = {name: value[:, t] for name, value in fields.items()}
            dxz_t, drz_t, dstates_tm1 = cell.step_backward(
                dstates, fields_t, states_at(t - 1), bias
            )
            dxz[:, t], drz[:, t] = dxz_t, drz_t
            # backprop into h_tm1 through rz_t = h_tm1 @ recurrent_kernel (gate by gate
            # through the recurrent masks)
            if recurrent_masks is None:
                dh_tm1 = drz_t @ recurrent_kernel.T  # (B, U)
            else:
                drz_gates = cell.split(drz_t)  # n x (B, U)
                dh_tm1 = sum(
                    (drz_gates[g] @ recurrent_kernels[g].T) * recurrent_masks[g]
                    for g in range(cell.n_gates)
                )  # (B, U)
            if dstates_tm1[0] is not None:
                dh_tm1 = dh_tm1 + dstates_tm1[0]
            dstates = [dh_tm1, *dstates_tm1[1:]]

        # backprop into x and the weights: one large product each, over all timesteps
        dxz_2d = dxz.reshape(batch * timesteps, packed)  # (B*T, nU)
        drz_2d = drz.reshape(batch * timesteps, packed)  # (B*T, nU)
        h_prev = np.concatenate(
            [initial_states[0][:, None], fields["h"][:, :-1]], axis=1
        )  # (B, T, U) each step's h_tm1
        if input_masks is None:
            dxs = (dxz_2d @ kernel.T).reshape(batch, timesteps, input_dim)  # (B, T, D)
            dkernel = xs.reshape(batch * timesteps, input_dim).T @ dxz_2d  # (D, nU)
        else:
            kernels = cell.split(kernel)  # n x (D, U)
            dxz_gates = cell.split(dxz)  # n x (B, T, U)
            dxs = np.zeros_like(xs)  # (B, T, D)
            dkernels = []
            for g in range(cell.n_gates):
                m_g = input_masks[g][:, None, :]  # (B, 1, D)
                dxs += (dxz_gates[g] @ kernels[g].T) * m_g
                x_g = (xs * m_g).reshape(batch * timesteps, input_dim)  # (B*T, D)
                dkernels.append(x_g.T @ dxz_gates[g].reshape(batch * timesteps, units))
            dkernel = cell.join(*dkernels)  # (D, nU)
        if recurrent_masks is None:
            drecurrent_kernel = h_prev.reshape(batch * timesteps, units).T @ drz_2d  # (U, nU)
        else:
            drz_gates = cell.split(drz)  # n x (B, T, U)
            drecurrent_kernel = cell.join(*[
                (h_prev * recurrent_masks[g][:, None, :]).reshape(batch * timesteps, units).T
                @ drz_gates[g].reshape(batch * timesteps, units)
                for g in range(cell.n_gates)
            ])  # (U, nU)
        dx = dxs[:, ::-1] if cache.go_backwards else dxs
        dweights = [dkernel, drecurrent_kernel]
        if bias is not None:
            dweights.append(cell.bias_grad(dxz_2d, drz_2d))
    return np.ascontiguousarray(dx), dstates, dweights
