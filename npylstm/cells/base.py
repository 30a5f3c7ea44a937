"""What a recurrent cell declares: one step of one recurrent layer kind, in NumPy.

A cell is a description, not a layer: it owns no weights and keeps no state. The generic
loop (:mod:`npylstm.ops.rnn_reference`) runs any cell over a sequence, and a recurrent
layer (:class:`npylstm.layers.rnn.RNN`) owns the weights, the options and the choice of
kernel. This is Keras's split (``RNN`` running ``LSTMCell.call`` through ``backend.rnn``)
and flax's (``RNN`` scanning any ``RNNCellBase``), minus the weights.

The loop hands a cell, per step, ``xz_t = x_t @ kernel`` — computed for every timestep at
once before the loop (per gate, with per-gate dropout masks: ``(x_t * m_g) @ kernel_g``),
the product that dominates the cost — and the previous states. The recurrent product is
the cell's: most cells take ``h_tm1 @ recurrent_kernel`` for every gate at once
(:meth:`Cell.project`), but Keras's GRU with ``reset_after=False`` multiplies
``(r * h_tm1) @ recurrent_kernel_h``, with ``r`` computed earlier in the same step.

``step`` turns them into the new states; ``step_backward`` turns the states' gradients
into the gradients of ``xz_t``, of the recurrent products (``drz_t``) and of the previous
states (through every path, the recurrent product included: :meth:`Cell.project_backward`).
The loop does the rest: the weight gradients as two large products after the loop,
``xs^T dxz`` and ``Σ_g u_g^T drz_g`` where ``u_g`` is what each gate's recurrent product
multiplied (:meth:`Cell.recurrent_inputs`).
"""

from __future__ import annotations

import numpy as np

from ..gates import join_gates, packed_param_rule, split_gates

__all__ = ["Cell"]


class Cell:
    """One step of a recurrent layer kind. Subclasses set the class attributes and
    implement :meth:`step`, :meth:`step_backward` and :meth:`bias_grad`.

    Class attributes
    ----------------
    kind : str
        The kernel-lookup key (``"lstm"``): :func:`npylstm.ops.get_kernel` finds a fast
        kernel for ``(kind, backend)`` or falls back to the generic loop.
    GATES : tuple of str
        The gate blocks packed along the last axis of ``kernel``, ``recurrent_kernel``
        and ``bias``, in packing order (``("i", "f", "c", "o")`` for Keras's LSTM).
    STATES : tuple of str
        The state names (``("h", "c")``); the first is the output fed back as ``h_tm1``.
    FIELDS : tuple of str
        What :meth:`step` keeps per step for :meth:`step_backward`, stored by the loop as
        ``(batch, timesteps, width)`` arrays; every state is one of them.
    """

    kind: str = ""
    GATES: tuple[str, ...] = ()
    STATES: tuple[str, ...] = ("h",)
    FIELDS: tuple[str, ...] = ("h",)

    # -- packing ------------------------------------------------------------------------
    @property
    def n_gates(self) -> int:
        return len(self.GATES)

    def split(self, packed: np.ndarray) -> tuple[np.ndarray, ...]:
        """The gate blocks of a packed array, in :attr:`GATES` order (views)."""
        return split_gates(packed, self.n_gates)

    def join(self, *blocks: np.ndarray) -> np.ndarray:
        """Pack gate blocks along the last axis (inverse of :meth:`split`)."""
        return join_gates(*blocks)

    # -- sizes --------------------------------------------------------------------------
    def weight_shapes(self, input_dim: int, units: int, use_bias: bool) -> dict[str, tuple]:
        """Keras's variable shapes for this cell, in ``get_weights()`` order."""
        n = self.n_gates
        shapes = {"kernel": (input_dim, n * units), "recurrent_kernel": (units, n * units)}
        if use_bias:
            shapes["bias"] = (n * units,)
        return shapes

    def field_widths(self, units: int) -> dict[str, int]:
        """The last-axis width of each of :attr:`FIELDS`."""
        return dict.fromkeys(self.FIELDS, units)

    def param_rule(self, input_dim: int, units: int, use_bias: bool) -> tuple[str, str]:
        """``(rule, formula)``, e.g. ``("4 × units × (input_dim + units + 1)",
        "4 × 20 × (1 + 20 + 1) = 1,760")``, for the default :meth:`weight_shapes` (a cell
        with other shapes overrides both)."""
        return packed_param_rule(self.n_gates, input_dim, units, use_bias)

    # -- the recurrent product ---------------------------------------------------------
    def project(self, h_tm1, recurrent_kernel, recurrent_masks=None):
        """``h_tm1 @ recurrent_kernel`` (B, nU); gate by gate with per-gate recurrent
        dropout masks ``(n, B, U)``: ``(h_tm1 * m_g) @ recurrent_kernel_g``."""
        if recurrent_masks is None:
            return h_tm1 @ recurrent_kernel  # (B, nU)
        blocks = self.split(recurrent_kernel)  # n x (U, U)
        return self.join(*[(h_tm1 * recurrent_masks[g]) @ blocks[g]
                           for g in range(len(blocks))])  # (B, nU)

    def project_backward(self, drz, recurrent_kernel, recurrent_masks=None):
        """The gradient of ``h_tm1`` through :meth:`project` (B, U), from ``drz`` (B, nU)."""
        if recurrent_masks is None:
            return drz @ recurrent_kernel.T  # (B, U)
        blocks = self.split(recurrent_kernel)  # n x (U, U)
        drz_gates = self.split(drz)  # n x (B, U)
        return sum((drz_gates[g] @ blocks[g].T) * recurrent_masks[g]
                   for g in range(len(blocks)))  # (B, U)

    def recurrent_inputs(self, h_prev, fields, recurrent_masks=None):
        """What each gate's recurrent product multiplied, for every step at once:
        ``h_prev (B, T, U)`` itself (one array: every gate multiplied ``h_tm1``), or a list
        with one ``(B, T, U)`` array per gate. The loop's recurrent-kernel gradient is
        ``Σ_g u_g^T drz_g`` over every step."""
        if recurrent_masks is None:
            return h_prev  # (B, T, U)
        return [h_prev * recurrent_masks[g][:, None, :] for g in range(self.n_gates)]

    # -- the step -----------------------------------------------------------------------
    def step(self, xz_t, states_tm1, recurrent_kernel, bias, recurrent_masks=None):
        """``(states_t, fields_t)``: the new states (a list in :attr:`STATES` order) and
        what backward needs (a dict over :attr:`FIELDS`), from ``xz_t (batch, n_gates *
        units)``, the previous states, the recurrent kernel, the bias and the per-gate
        recurrent dropout masks (or None)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def step_backward(self, dstates_t, fields_t, states_tm1, recurrent_kernel, bias,
                      recurrent_masks=None):
        """``(dxz_t, drz_t, dstates_tm1)``: the gradients of ``xz_t``, of the recurrent
        products (packed like ``xz_t``) and of every previous state (a full list)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def bias_grad(self, dxz: np.ndarray, drz: np.ndarray) -> np.ndarray:  # pragma: no cover
        """The bias gradient from every step's ``dxz`` and ``drz`` (``(B*T, n*units)``)."""
        raise NotImplementedError
