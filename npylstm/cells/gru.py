"""The GRU cell: Keras's equations for one step, forward and backward, both conventions.

In Keras's names (``σ`` the recurrent activation, sigmoid by default; ``φ`` the
activation, tanh by default), following ``keras/src/layers/rnn/gru.py`` (``GRUCell.call``,
implementation 2, and implementation 1 for the per-gate dropout masks)::

    x_z, x_r, x_h = split(xz_t + b_x)          xz_t = x_t @ kernel, gate order z, r, h
    reset_after=True (Keras 3's default, cuDNN's and PyTorch's convention):
        r_z, r_r, r_h = split(h_tm1 @ recurrent_kernel + b_r)
        z = σ(x_z + r_z)        update gate
        r = σ(x_r + r_r)        reset gate
        hh = φ(x_h + r * r_h)   candidate: the reset gate applied after the product
    reset_after=False (Keras 2.2's default, the original paper's):
        r_z, r_r = split(h_tm1 @ recurrent_kernel[:, :2U])
        z, r = σ(x_z + r_z), σ(x_r + r_r)
        hh = φ(x_h + (r * h_tm1) @ recurrent_kernel[:, 2U:])   reset before the product
    h_t = z * h_tm1 + (1 - z) * hh             the new output (and only state)

The bias is ``(2, 3U)`` with ``reset_after`` — row 0 ``b_x`` added to the input
product, row 1 ``b_r`` to the recurrent one — and ``(3U,)`` without (``b_x`` only). With
recurrent dropout masks ``m_z, m_r, m_h`` (implementation 1) each gate's product uses its
own ``h_tm1 * m_g``, the candidate's too (``(r * (h_tm1 * m_h)) @ ...`` before the
product); the mix ``z * h_tm1`` uses the unmasked ``h_tm1``, as Keras's does.

>>> import numpy as np
>>> cell = GRUCell()
>>> B, U = 2, 3
>>> (h,), fields = cell.step(np.zeros((B, 3 * U)), [np.ones((B, U))], np.zeros((U, 3 * U)), None)
>>> round(float(h[0, 0]), 4)             # z * h_tm1 + (1 - z) * tanh(0) = 0.5 * 1
0.5
"""

from __future__ import annotations

import numpy as np

from .. import activations
from ..gates import packed_param_rule
from .base import Cell

__all__ = ["GRUCell"]


class GRUCell(Cell):
    """One GRU step with activation ``φ``, recurrent activation ``σ`` and Keras's
    ``reset_after`` convention."""

    kind = "gru"
    GATES = ("z", "r", "h")
    STATES = ("h",)
    # pre-activations a = [a_z, a_r, a_h], the candidate's recurrent part r_h (reset_after:
    # the product before r multiplies it), and the output
    FIELDS = ("a", "r_h", "h")

    def __init__(self, activation: str = "tanh", recurrent_activation: str = "sigmoid",
                 reset_after: bool = True):
        self.φ = activations.get(activation)
        self.σ = activations.get(recurrent_activation)
        self.activation = self.φ.name
        self.recurrent_activation = self.σ.name
        self.reset_after = bool(reset_after)

    def field_widths(self, units: int) -> dict[str, int]:
        return {"a": 3 * units, "r_h": units, "h": units}

    def weight_shapes(self, input_dim: int, units: int, use_bias: bool) -> dict[str, tuple]:
        shapes = super().weight_shapes(input_dim, units, False)
        if use_bias:
            # reset_after keeps one bias for each product: (2, 3U), Keras's shape
            shapes["bias"] = (2, 3 * units) if self.reset_after else (3 * units,)
        return shapes

    def param_rule(self, input_dim: int, units: int, use_bias: bool) -> tuple[str, str]:
        if not (use_bias and self.reset_after):
            return packed_param_rule(3, input_dim, units, use_bias)
        total = 3 * units * (input_dim + units + 2)
        return ("3 × units × (input_dim + units + 2)",
                f"3 × {units} × ({input_dim} + {units} + 2) = {total:,}")

    def _biases(self, bias):
        """``(b_x, b_r)``: the biases of the input and the recurrent products, or None."""
        if bias is None:
            return None, None
        if self.reset_after:
            return bias[0], bias[1]  # each (3U,)
        return bias, None

    def _h_masks(self, recurrent_masks):
        """The per-gate masks split into (z and r, h), or (None, None)."""
        if recurrent_masks is None:
            return None, None
        return recurrent_masks[:2], recurrent_masks[2]

    def step(self, xz_t, states_tm1, recurrent_kernel, bias, recurrent_masks=None):
        σ, φ = self.σ, self.φ
        (h_tm1,) = states_tm1
        b_x, b_r = self._biases(bias)
        x_zrh = xz_t if b_x is None else xz_t + b_x  # (B, 3U)
        if self.reset_after:
            rz = self.project(h_tm1, recurrent_kernel, recurrent_masks)  # (B, 3U)
            if b_r is not None:
                rz = rz + b_r
            a = x_zrh.copy()  # (B, 3U) pre-activations [a_z, a_r, a_h]
            a_z, a_r, a_h = self.split(a)
            r_z, r_r, r_h = self.split(rz)  # 3 x (B, U)
            a_z += r_z
            a_r += r_r
            r = σ(a_r)  # (B, U) reset gate
            a_h += r * r_h  # reset after the product
        else:
            units = h_tm1.shape[1]
            R_zr, R_h = recurrent_kernel[:, : 2 * units], recurrent_kernel[:, 2 * units:]
            m_zr, m_h = self._h_masks(recurrent_masks)
            a = x_zrh.copy()  # (B, 3U)
            a_z, a_r, a_h = self.split(a)
            r_z, r_r = np.split(self._project_zr(h_tm1, R_zr, m_zr), 2, axis=-1)  # 2 x (B, U)
            a_z += r_z
            a_r += r_r
            r = σ(a_r)
            h_tm1_h = h_tm1 if m_h is None else h_tm1 * m_h  # (B, U)
            r_h = (r * h_tm1_h) @ R_h  # (B, U) reset before the product
            a_h += r_h
        z = σ(a_z)  # (B, U) update gate
        hh = φ(a_h)  # (B, U) candidate
        h_t = z * h_tm1 + (1 - z) * hh  # (B, U) new output
        return [h_t], {"a": a, "r_h": r_h, "h": h_t}

    @staticmethod
    def _project_zr(h_tm1, R_zr, m_zr):
        """``h_tm1 @ recurrent_kernel[:, :2U]`` (per gate with masks), reset_after=False."""
        if m_zr is None:
            return h_tm1 @ R_zr  # (B, 2U)
        R_z, R_r = np.split(R_zr, 2, axis=-1)
        return np.concatenate([(h_tm1 * m_zr[0]) @ R_z, (h_tm1 * m_zr[1]) @ R_r], axis=-1)

    def step_backward(self, dstates_t, fields_t, states_tm1, recurrent_kernel, bias,
                      recurrent_masks=None):
        σ, φ = self.σ, self.φ
        (dh,) = dstates_t
        (h_tm1,) = states_tm1
        units = h_tm1.shape[1]
        # forward of this step again, from the stored pre-activations
        a_z, a_r, a_h = self.split(fields_t["a"])  # 3 x (B, U)
        r_h = fields_t["r_h"]
        z, r, hh = σ(a_z), σ(a_r), φ(a_h)
        # backprop into z, hh and h_tm1 through h_t = z * h_tm1 + (1 - z) * hh
        dz = dh * (h_tm1 - hh)
        dhh = dh * (1 - z)
        dh_tm1 = dh * z  # (B, U)
        # backprop into the candidate's pre-activation
        da_h = φ.vjp(a_h, hh, dhh)  # (B, U)
        if self.reset_after:
            # a_h = x_h + r * r_h
            dr = da_h * r_h
            dr_h = da_h * r
            da_z, da_r = σ.vjp(a_z, z, dz), σ.vjp(a_r, r, dr)
            drz = self.join(da_z, da_r, dr_h)  # (B, 3U)
            dh_tm1 = dh_tm1 + self.project_backward(drz, recurrent_kernel, recurrent_masks)
        else:
            # a_h = x_h + (r * h_tm1_h) @ R_h
            R_zr, R_h = recurrent_kernel[:, : 2 * units], recurrent_kernel[:, 2 * units:]
            m_zr, m_h = self._h_masks(recurrent_masks)
            h_tm1_h = h_tm1 if m_h is None else h_tm1 * m_h
            du_h = da_h @ R_h.T  # (B, U) gradient of r * h_tm1_h
            dr = du_h * h_tm1_h
            dh_tm1_h = du_h * r
            dh_tm1 = dh_tm1 + (dh_tm1_h if m_h is None else dh_tm1_h * m_h)
            da_z, da_r = σ.vjp(a_z, z, dz), σ.vjp(a_r, r, dr)
            # backprop into h_tm1 through the z and r products
            if m_zr is None:
                dh_tm1 = dh_tm1 + np.concatenate([da_z, da_r], axis=-1) @ R_zr.T
            else:
                R_z, R_r = np.split(R_zr, 2, axis=-1)
                dh_tm1 = dh_tm1 + (da_z @ R_z.T) * m_zr[0] + (da_r @ R_r.T) * m_zr[1]
            drz = self.join(da_z, da_r, da_h)  # (B, 3U) the products' gradients
        dxz = self.join(da_z, da_r, da_h)  # (B, 3U)
        return dxz, drz, [dh_tm1]

    def recurrent_inputs(self, h_prev, fields, recurrent_masks=None):
        if self.reset_after:
            return super().recurrent_inputs(h_prev, fields, recurrent_masks)
        # the candidate's product multiplied r * h_tm1 (each step's r from its a_r)
        units = h_prev.shape[-1]
        r = self.σ(fields["a"][..., units: 2 * units])  # (B, T, U)
        if recurrent_masks is None:
            return [h_prev, h_prev, r * h_prev]
        m = [recurrent_masks[g][:, None, :] for g in range(3)]  # 3 x (B, 1, U)
        return [h_prev * m[0], h_prev * m[1], r * (h_prev * m[2])]

    def bias_grad(self, dxz: np.ndarray, drz: np.ndarray) -> np.ndarray:
        if self.reset_after:
            return np.stack([dxz.sum(axis=0), drz.sum(axis=0)])  # (2, 3U)
        return dxz.sum(axis=0)  # (3U,)
