"""LSTM forward and backward in plain NumPy: the teaching code.

The equations, in Keras's names (``σ`` is the recurrent activation, sigmoid by default;
``φ`` is the activation, tanh by default)::

    z_t = x_t @ kernel + h_tm1 @ recurrent_kernel + bias      packed pre-activations (B, 4U)
                                                              (x_t @ kernel for every t at once)
    z_i, z_f, z_c, z_o = split(z_t)                           Keras gate order i, f, c, o
    i = σ(z_i)      input gate
    f = σ(z_f)      forget gate
    g = φ(z_c)      candidate carry
    o = σ(z_o)      output gate
    c_t = f * c_tm1 + i * g                                   new carry
    h_t = o * φ(c_t)                                          new output

With ``go_backwards=True`` the input is read from the last timestep to the first, and the
sequence output comes back in that (reversed) processing order, as in Keras.

The cache (:class:`LSTMCache`) keeps what backward needs: the inputs, the initial state,
the weights, the pre-activations ``z`` of every step, and the carries ``c`` and outputs
``h`` of every step. Backward recomputes the gate values from ``z`` (a cheap elementwise
pass) instead of storing them twice. The Numba core (``lstm_numba``) has the same
signatures and the same cache. The layers run the same equations through the generic
loop over a cell (``ops/rnn_reference.py`` with ``cells/lstm.py``); a test pins this page
equal to it bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import activations
from ..gates import join_gates, split_gates

__all__ = ["LSTMCache", "lstm_forward", "lstm_backward", "lstm_inference"]


class LSTMCache(NamedTuple):
    """What :func:`lstm_forward` hands to :func:`lstm_backward`.

    Time axes are in *processing* order (reversed with respect to ``x`` when
    ``go_backwards``), except ``x`` itself, which is the caller's array.
    """

    x: np.ndarray  # (B, T, D) the input as given
    h0: np.ndarray  # (B, U)
    c0: np.ndarray  # (B, U)
    kernel: np.ndarray  # (D, 4U)
    recurrent_kernel: np.ndarray  # (U, 4U)
    bias: np.ndarray | None  # (4U,) or None without bias
    z: np.ndarray  # (B, T, 4U) gate pre-activations
    c: np.ndarray  # (B, T, U) carry after each step
    h: np.ndarray  # (B, T, U) output after each step
    activation: str
    recurrent_activation: str
    go_backwards: bool


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
    """Run an LSTM over a whole sequence.

    Parameters
    ----------
    x : (batch, timesteps, input_dim) array
    h0, c0 : (batch, units) arrays, the initial output and carry
    kernel : (input_dim, 4*units), recurrent_kernel : (units, 4*units), bias : (4*units,) or None
    activation, recurrent_activation : Keras activation names (φ and σ above)
    go_backwards : read the sequence from the last timestep to the first

    Returns
    -------
    h_seq : (batch, timesteps, units), the output of every step in processing order
    h_last, c_last : (batch, units), the final output and carry
    cache : LSTMCache for :func:`lstm_backward`

    Arrays must share one float dtype; the layer (``npylstm.layers.LSTM``) checks shapes
    and converts inputs before calling this.

    >>> import numpy as np
    >>> B, T, D, U = 2, 3, 4, 5
    >>> x = np.ones((B, T, D)); h0 = c0 = np.zeros((B, U))
    >>> h_seq, h, c, cache = lstm_forward(
    ...     x, h0, c0, np.full((D, 4 * U), 0.1), np.zeros((U, 4 * U)), np.zeros(4 * U))
    >>> h_seq.shape, bool(np.allclose(h_seq[:, -1], h))
    ((2, 3, 5), True)
    """
    σ = activations.get(recurrent_activation)
    φ = activations.get(activation)
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    xs = x[:, ::-1] if go_backwards else x  # (B, T, D) in processing order (a view)

    z = np.empty((batch, timesteps, 4 * units), dtype=x.dtype)  # (B, T, 4U)
    c = np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)
    h = np.empty((batch, timesteps, units), dtype=x.dtype)  # (B, T, U)

    h_tm1, c_tm1 = h0, c0
    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in Keras
        xz = xs @ kernel  # (B, T, 4U): the input's share of z, one product for every step
        for t in range(timesteps):
            z_t = xz[:, t] + h_tm1 @ recurrent_kernel  # (B, 4U)
            if bias is not None:
                z_t += bias
            z_i, z_f, z_c, z_o = split_gates(z_t)  # 4 x (B, U)
            i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)  # gates and candidate
            c_t = f * c_tm1 + i * g  # (B, U) new carry
            h_t = o * φ(c_t)  # (B, U) new output
            z[:, t], c[:, t], h[:, t] = z_t, c_t, h_t
            h_tm1, c_tm1 = h_t, c_t

    cache = LSTMCache(
        x, h0, c0, kernel, recurrent_kernel, bias, z, c, h,
        φ.name, σ.name, bool(go_backwards),
    )
    return h, h_tm1, c_tm1, cache


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
    """:func:`lstm_forward` for predictions: ``(h_seq, h_last, c_last)``, without the cache.

    (Here it simply drops the cache; the Numba core's version never builds it.)
    """
    return lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, go_backwards)[:3]


def lstm_backward(
    dh_seq: np.ndarray | None,
    dh_last: np.ndarray | None,
    dc_last: np.ndarray | None,
    cache: LSTMCache,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Backpropagation through time for :func:`lstm_forward`.

    Parameters
    ----------
    dh_seq : (batch, timesteps, units) or None
        Gradient of the loss with respect to ``h_seq`` (processing order, like ``h_seq``).
        None when only the last output was used.
    dh_last, dc_last : (batch, units) or None
        Gradients with respect to the returned final output and carry.
    cache : the cache returned by :func:`lstm_forward`

    Returns
    -------
    dx : (batch, timesteps, input_dim), in the order of ``x``
    dh0, dc0 : (batch, units)
    dkernel : (input_dim, 4*units), drecurrent_kernel : (units, 4*units)
    dbias : (4*units,), or None when the forward had no bias
    """
    x, h0, c0, kernel, recurrent_kernel, bias, z, c, h = cache[:9]
    σ = activations.get(cache.recurrent_activation)
    φ = activations.get(cache.activation)
    batch, timesteps, input_dim = x.shape
    units = recurrent_kernel.shape[0]
    xs = x[:, ::-1] if cache.go_backwards else x  # (B, T, D) in processing order

    with np.errstate(all="ignore"):  # inf and NaN propagate as IEEE says, as in Keras
        dz = np.empty_like(z)  # (B, T, 4U)
        dh_next = np.zeros_like(h0) if dh_last is None else dh_last  # (B, U) from step t+1
        dc_next = np.zeros_like(c0) if dc_last is None else dc_last  # (B, U) from step t+1

        for t in reversed(range(timesteps)):
            # forward of this step again, from the stored pre-activations
            z_i, z_f, z_c, z_o = split_gates(z[:, t])  # 4 x (B, U)
            i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)
            c_tm1 = c[:, t - 1] if t > 0 else c0  # (B, U)
            c_t = c[:, t]
            φ_c = φ(c_t)  # (B, U)

            # backprop into h_t: from the sequence output and from step t+1
            dh = dh_next if dh_seq is None else dh_next + dh_seq[:, t]  # (B, U)
            # backprop into o and c_t through h_t = o * φ(c_t)
            do = dh * φ_c
            dc = dc_next + dh * o * φ.grad(c_t, φ_c)  # (B, U)
            # backprop into f, c_tm1, i, g through c_t = f * c_tm1 + i * g
            df = dc * c_tm1
            di = dc * g
            dg = dc * i
            dc_next = dc * f
            # backprop into the pre-activations z through the gate activations
            dz_t = join_gates(
                di * σ.grad(z_i, i), df * σ.grad(z_f, f), dg * φ.grad(z_c, g), do * σ.grad(z_o, o)
            )  # (B, 4U)
            dz[:, t] = dz_t
            # backprop into h_tm1 through z_t = ... + h_tm1 @ recurrent_kernel
            dh_next = dz_t @ recurrent_kernel.T  # (B, U)

        # backprop into x and the weights: one large product each, over all timesteps
        dz_2d = dz.reshape(batch * timesteps, 4 * units)  # (B*T, 4U)
        dxs = (dz_2d @ kernel.T).reshape(batch, timesteps, input_dim)  # (B, T, D)
        dx = dxs[:, ::-1] if cache.go_backwards else dxs
        dkernel = xs.reshape(batch * timesteps, input_dim).T @ dz_2d  # (D, 4U)
        h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (B, T, U) each step's h_tm1
        drecurrent_kernel = h_prev.reshape(batch * timesteps, units).T @ dz_2d  # (U, 4U)
        dbias = None if bias is None else dz_2d.sum(axis=0)  # (4U,)
    return np.ascontiguousarray(dx), dh_next, dc_next, dkernel, drecurrent_kernel, dbias
