"""The LSTM cell: Keras's equations for one step, forward and backward.

In Keras's names (``σ`` is the recurrent activation, sigmoid by default; ``φ`` the
activation, tanh by default), following ``keras/src/layers/rnn/lstm.py``
(``LSTMCell.call``, implementation 2: ``z = x @ kernel + h_tm1 @ recurrent_kernel + bias``,
then ``_compute_carry_and_output_fused``)::

    z = xz_t + rz_t + bias                 xz_t = x_t @ kernel, rz_t = h_tm1 @ recurrent_kernel
    z_i, z_f, z_c, z_o = split(z)          Keras gate order i, f, c, o
    i = σ(z_i)      input gate
    f = σ(z_f)      forget gate
    g = φ(z_c)      candidate carry
    o = σ(z_o)      output gate
    c_t = f * c_tm1 + i * g                new carry
    h_t = o * φ(c_t)                       new output

With per-gate dropout masks (Keras's implementation 1, used when ``recurrent_dropout > 0``)
``xz_t`` (the loop) and ``rz_t`` (:meth:`Cell.project`) are built gate by gate from
masked copies of ``x_t`` and ``h_tm1``; the equations above do not change.
``ops/lstm_reference.py`` is the same LSTM written out on one page, and a test pins the
two equal bit for bit.

>>> import numpy as np
>>> cell = LSTMCell()
>>> B, U = 2, 3
>>> xz, recurrent_kernel = np.zeros((B, 4 * U)), np.zeros((U, 4 * U))
>>> (h, c), fields = cell.step(xz, [np.zeros((B, U)), np.ones((B, U))], recurrent_kernel, None)
>>> round(float(c[0, 0]), 4)                # f * c_tm1 + i * g = 0.5 * 1 + 0.5 * 0
0.5
"""

from __future__ import annotations

import numpy as np

from .. import activations
from .base import Cell

__all__ = ["LSTMCell"]


class LSTMCell(Cell):
    """One LSTM step with activation ``φ`` and recurrent activation ``σ`` (Keras names)."""

    kind = "lstm"
    GATES = ("i", "f", "c", "o")
    STATES = ("h", "c")
    FIELDS = ("z", "c", "h")  # pre-activations, carry and output of every step

    def __init__(self, activation: str = "tanh", recurrent_activation: str = "sigmoid"):
        self.φ = activations.get(activation)
        self.σ = activations.get(recurrent_activation)
        self.activation = self.φ.name
        self.recurrent_activation = self.σ.name

    def field_widths(self, units: int) -> dict[str, int]:
        return {"z": 4 * units, "c": units, "h": units}

    def step(self, xz_t, states_tm1, recurrent_kernel, bias, recurrent_masks=None):
        σ, φ = self.σ, self.φ
        h_tm1, c_tm1 = states_tm1
        rz_t = self.project(h_tm1, recurrent_kernel, recurrent_masks)  # (B, 4U)
        z = xz_t + rz_t  # (B, 4U) packed pre-activations
        if bias is not None:
            z += bias
        z_i, z_f, z_c, z_o = self.split(z)  # 4 x (B, U)
        i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)  # gates and candidate
        c_t = f * c_tm1 + i * g  # (B, U) new carry
        h_t = o * φ(c_t)  # (B, U) new output
        return [h_t, c_t], {"z": z, "c": c_t, "h": h_t}

    def step_backward(self, dstates_t, fields_t, states_tm1, recurrent_kernel, bias,
                      recurrent_masks=None):
        σ, φ = self.σ, self.φ
        dh, dc_next = dstates_t
        _, c_tm1 = states_tm1
        # forward of this step again, from the stored pre-activations
        z_i, z_f, z_c, z_o = self.split(fields_t["z"])  # 4 x (B, U)
        i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)
        c_t = fields_t["c"]
        φ_c = φ(c_t)  # (B, U)
        # backprop into o and c_t through h_t = o * φ(c_t)
        do = dh * φ_c
        dc = dc_next + φ.vjp(c_t, φ_c, dh * o)  # (B, U)
        # backprop into f, c_tm1, i, g through c_t = f * c_tm1 + i * g
        df = dc * c_tm1
        di = dc * g
        dg = dc * i
        dc_tm1 = dc * f
        # backprop into the pre-activations z through the gate activations
        dz = self.join(
            σ.vjp(z_i, i, di), σ.vjp(z_f, f, df), φ.vjp(z_c, g, dg), σ.vjp(z_o, o, do)
        )  # (B, 4U)
        # backprop into h_tm1 through z = xz + h_tm1 @ recurrent_kernel + bias (the only
        # place h_tm1 enters the step); the same dz reaches both products
        dh_tm1 = self.project_backward(dz, recurrent_kernel, recurrent_masks)  # (B, U)
        return dz, dz, [dh_tm1, dc_tm1]

    def bias_grad(self, dxz: np.ndarray, drz: np.ndarray) -> np.ndarray:
        return dxz.sum(axis=0)  # (4U,): the bias enters z once per step
