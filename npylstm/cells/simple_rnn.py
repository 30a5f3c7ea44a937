"""The SimpleRNN cell: Keras's equations for one step, forward and backward.

Following ``keras/src/layers/rnn/simple_rnn.py`` (``SimpleRNNCell.call``), with ``φ`` the
activation (tanh by default)::

    a = xz_t + h_tm1 @ recurrent_kernel + bias      xz_t = x_t @ kernel
    h_t = φ(a)                                       the new output (and only state)

One gate: ``kernel (input_dim, units)``, ``recurrent_kernel (units, units)``, ``bias
(units,)``. Keras's dropout masks are single masks on ``x_t`` and on ``h_tm1``; the loop's
per-gate masks with one gate are exactly those.

>>> import numpy as np
>>> (h,), _ = SimpleRNNCell().step(np.zeros((1, 2)), [np.ones((1, 2))], np.eye(2), None)
>>> h.round(4).tolist()                           # tanh(h_tm1 @ I)
[[0.7616, 0.7616]]
"""

from __future__ import annotations

import numpy as np

from .. import activations
from .base import Cell

__all__ = ["SimpleRNNCell"]


class SimpleRNNCell(Cell):
    """One fully connected recurrent step with activation ``φ``."""

    kind = "simple_rnn"
    GATES = ("h",)
    STATES = ("h",)
    FIELDS = ("a", "h")  # the pre-activation and the output of every step

    def __init__(self, activation: str = "tanh"):
        self.φ = activations.get(activation)
        self.activation = self.φ.name

    def param_rule(self, input_dim: int, units: int, use_bias: bool) -> tuple[str, str]:
        bias = " + 1" if use_bias else ""
        total = units * (input_dim + units + (1 if use_bias else 0))
        return (f"units × (input_dim + units{bias})",
                f"{units} × ({input_dim} + {units}{bias}) = {total:,}")

    def step(self, xz_t, states_tm1, recurrent_kernel, bias, recurrent_masks=None):
        (h_tm1,) = states_tm1
        a = xz_t + self.project(h_tm1, recurrent_kernel, recurrent_masks)  # (B, U)
        if bias is not None:
            a += bias
        h_t = self.φ(a)  # (B, U)
        return [h_t], {"a": a, "h": h_t}

    def step_backward(self, dstates_t, fields_t, states_tm1, recurrent_kernel, bias,
                      recurrent_masks=None):
        (dh,) = dstates_t
        # backprop into a through h_t = φ(a)
        da = self.φ.vjp(fields_t["a"], fields_t["h"], dh)  # (B, U)
        # backprop into h_tm1 through a = xz + h_tm1 @ recurrent_kernel + bias
        dh_tm1 = self.project_backward(da, recurrent_kernel, recurrent_masks)  # (B, U)
        return da, da, [dh_tm1]

    def bias_grad(self, dxz: np.ndarray, drz: np.ndarray) -> np.ndarray:
        return dxz.sum(axis=0)  # (U,)
