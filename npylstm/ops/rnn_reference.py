"""The one generic recurrent loop, in NumPy: any cell, forward and full BPTT, masks.

Keras runs every recurrent layer through one loop (``backend.rnn(step_function, ...)``,
``keras/src/layers/rnn/rnn.py`` ``RNN.inner_loop``) that calls the cell once per timestep;
this module is that loop for an :class:`npylstm.cells.Cell`, with the input product
hoisted out of it the way the fast kernels do::

    xs = x reversed in time if go_backwards                          (B, T, D)
    xz = xs @ kernel                  one product for every timestep  (B, T, nU)
    for t in 0 .. T-1:
        states, fields[t] = cell.step(xz[:, t], states, recurrent_kernel, bias)

and backward mirrors it: the cell's ``step_backward`` per step (which includes the
recurrent product's transpose), and the weight gradients as two large products after it
(``xs^T dxz``, ``Σ_g u_g^T drz_g`` over :meth:`~npylstm.cells.Cell.recurrent_inputs`).

Per-gate dropout masks (Keras's implementation 1, which ``LSTM`` and ``GRU`` use when
``recurrent_dropout > 0``): ``input_masks (n, B, D)`` and ``recurrent_masks (n, B, U)``,
one per gate, drawn once per batch and reused at every step::

    xz_g = (xs * input_masks[g]) @ kernel_g
    rz_g = (h_tm1 * recurrent_masks[g]) @ recurrent_kernel_g     (inside the cell)

Time masks (Keras's ``mask``, ``(B, T)`` booleans, True where a step is real), as the JAX
backend's ``rnn`` does it (``keras/src/backend/jax/rnn.py``, the ``lax.scan`` path that
Keras takes unless ``unroll=True``): at a masked step every state is carried unchanged,
``states_t = where(m_t, new_states, states_tm1)``, and the output is the previous *state*
``h_tm1`` (the initial state before the first real step, not zeros), or zeros with
``zero_output_for_mask``. With ``go_backwards`` the mask is reversed with the input.
The last output is the last step's output (with ``zero_output_for_mask`` and a masked
last step: zeros). The loop's gradients take the same paths back.

The sequence output comes back in processing order (reversed for ``go_backwards``), as in
Keras. Signatures match every fast kernel's (:func:`npylstm.ops.get_kernel`).
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
    mask: np.ndarray | None = None  # (B, T, 1) time mask in processing order, or None
    carried: dict | None = None  # state name -> (B, T, U) states after each step (masked)
    zero_output_for_mask: bool = False


def _input_projection(cell: Cell, xs, kernel, input_masks):
    """``xs @ kernel`` for every timestep; gate by gate with per-gate masks."""
    if input_masks is None:
        return xs @ kernel  # (B, T, nU)
    kernels = cell.split(kernel)  # n x (D, U)
    return cell.join(
        *[(xs * input_masks[g][:, None, :]) @ kernels[g] for g in range(cell.n_gates)]
    )  # (B, T, nU)


def _time_mask(mask, batch: int, timesteps: int, go_backwards: bool):
    """The ``(B, T)`` mask as ``(B, T, 1)`` booleans in processing order, or None."""
    if mask is None:
        return None
    mask = np.asarray(mask).astype(bool, copy=False)  # (B, T)
    if mask.shape != (batch, timesteps):
        raise ValueError(
            f"expected a mask of shape (batch, timesteps) = {(batch, timesteps)}, "
            f"received {mask.shape}"
        )
    return (mask[:, ::-1] if go_backwards else mask)[:, :, None]  # (B, T, 1)


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
    mask: np.ndarray | None = None,
    zero_output_for_mask: bool = False,
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
    mask : (batch, timesteps) booleans, True at the real steps (in the order of ``x``), or None
    zero_output_for_mask : the output at a masked step is zeros instead of ``h_tm1``

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
    m = _time_mask(mask, batch, timesteps, go_backwards)  # (B, T, 1) or None
    fields = {
        name: np.empty((batch, timesteps, width), dtype=x.dtype)  # (B, T, width)
        for name, width in cell.field_widths(units).items()
    }
    carried = None
    if m is not None:
        carried = {name: np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)
                   for name in cell.STATES}
        h_seq = np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)
    states = list(initial_states)
    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in Keras
        xz = _input_projection(cell, xs, kernel, input_masks)  # (B, T, nU)
        for t in range(timesteps):
            new_states, fields_t = cell.step(xz[:, t], states, recurrent_kernel, bias,
                                             recurrent_masks)
            for name, value in fields_t.items():
                fields[name][:, t] = value
            if m is None:
                states = new_states
                continue
            # a masked step carries every state and repeats h_tm1 (or outputs zeros)
            m_t = m[:, t]  # (B, 1)
            h_seq[:, t] = np.where(m_t, new_states[0], 0 if zero_output_for_mask else states[0])
            states = [np.where(m_t, new, old)
                      for new, old in zip(new_states, states, strict=True)]
            for name, value in zip(cell.STATES, states, strict=True):
                carried[name][:, t] = value
    if m is None:
        h_seq = fields["h"]
    cache = RNNCache(
        x, tuple(initial_states), kernel, recurrent_kernel, bias, fields, bool(go_backwards),
        input_masks, recurrent_masks, m, carried, bool(zero_output_for_mask),
    )
    return h_seq, states, cache


def rnn_inference(cell: Cell, x, initial_states, kernel, recurrent_kernel, bias,
                  go_backwards: bool = False, mask=None, zero_output_for_mask: bool = False):
    """:func:`rnn_forward` for predictions: ``(h_seq, last_states)``, without the cache."""
    h_seq, states, _ = rnn_forward(cell, x, initial_states, kernel, recurrent_kernel, bias,
                                   go_backwards, mask=mask,
                                   zero_output_for_mask=zero_output_for_mask)
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
    m, zero_output = cache.mask, cache.zero_output_for_mask
    carried = fields if cache.carried is None else cache.carried  # states after each step
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    packed = recurrent_kernel.shape[1]
    xs = x[:, ::-1] if cache.go_backwards else x  # (B, T, D) in processing order

    def states_at(t: int) -> list:
        """The states a step started from: step t-1's, or the initial ones."""
        if t < 0:
            return list(initial_states)
        return [carried[name][:, t] for name in cell.STATES]

    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in Keras
        dxz = np.empty((batch, timesteps, packed), dtype=x.dtype)  # (B, T, nU)
        drz = np.empty((batch, timesteps, packed), dtype=x.dtype)  # (B, T, nU)
        dstates = [
            np.zeros_like(s) if d is None else d
            for s, d in zip(initial_states, dlast_states, strict=True)
        ]  # each (B, U), the gradients of the states after step t
        for t in reversed(range(timesteps)):
            dout_t = None if dh_seq is None else dh_seq[:, t]  # (B, U)
            bypass = None
            if m is None:
                # backprop into h_t: from the sequence output and from step t+1
                if dout_t is not None:
                    dstates[0] = dstates[0] + dout_t  # (B, U)
            else:
                # backprop through the mask: a masked step passed its states (and, unless
                # zero_output_for_mask, its output h_tm1) straight through
                m_t = m[:, t]  # (B, 1)
                if dout_t is not None and not zero_output:
                    dstates[0] = dstates[0] + dout_t
                bypass = [np.where(m_t, 0, d) for d in dstates]
                dstates = [np.where(m_t, d, 0) for d in dstates]
                if dout_t is not None and zero_output:
                    dstates[0] = dstates[0] + np.where(m_t, dout_t, 0)
            fields_t = {name: value[:, t] for name, value in fields.items()}
            dxz[:, t], drz[:, t], dstates = cell.step_backward(
                dstates, fields_t, states_at(t - 1), recurrent_kernel, bias, recurrent_masks
            )
            if bypass is not None:
                dstates = [d + b for d, b in zip(dstates, bypass, strict=True)]

        # backprop into x and the weights: one large product each, over all timesteps
        dxz_2d = dxz.reshape(batch * timesteps, packed)  # (B*T, nU)
        drz_2d = drz.reshape(batch * timesteps, packed)  # (B*T, nU)
        h_prev = np.concatenate(
            [initial_states[0][:, None], carried["h"][:, :-1]], axis=1
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
        u = cell.recurrent_inputs(h_prev, fields, recurrent_masks)
        if isinstance(u, np.ndarray):  # every gate multiplied h_tm1
            drecurrent_kernel = u.reshape(batch * timesteps, units).T @ drz_2d  # (U, nU)
        else:
            drz_gates = cell.split(drz)  # n x (B, T, U)
            drecurrent_kernel = cell.join(*[
                u[g].reshape(batch * timesteps, units).T
                @ drz_gates[g].reshape(batch * timesteps, units)
                for g in range(cell.n_gates)
            ])  # (U, nU)
        dx = dxs[:, ::-1] if cache.go_backwards else dxs
        dweights = [dkernel, drecurrent_kernel]
        if bias is not None:
            dweights.append(cell.bias_grad(dxz_2d, drz_2d))
    return np.ascontiguousarray(dx), dstates, dweights
