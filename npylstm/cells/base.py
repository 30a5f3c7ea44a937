"""What a recurrent cell declares: one step of one recurrent layer kind, in NumPy.

A cell is a description, not a layer: it owns no weights and keeps no state. The generic
loop (:mod:`npylstm.ops.rnn_reference`) runs any cell over a sequence, and a recurrent
layer (:class:`npylstm.layers.rnn.RNN`) owns the weights, the options and the choice of
kernel. This is Keras's split (``RNN`` running ``LSTMCell.call`` through ``backend.rnn``)
and flax's (``RNN`` scanning any ``RNNCellBase``), minus the weights.

The loop hands a cell two projections per step, so that the cell's own equations stay in
one place and the products that dominate the cost are shared by every cell:

* ``xz_t = x_t @ kernel`` — computed for every timestep at once, before the loop
  (per gate, with per-gate dropout masks: ``(x_t * m_g) @ kernel_g``);
* ``rz_t = h_tm1 @ recurrent_kernel`` — the recurrent product, inside the loop
  (per gate with recurrent dropout masks), where ``h_tm1`` is the cell's first state.

``step`` turns them into the new states; ``step_backward`` turns the states' gradients
into the projections' gradients, and the loop does the rest (the recurrent product's
transpose inside the loop, the weight gradients as two large products after it).
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

    # -- the step -----------------------------------------------------------------------
    def step(self, xz_t, rz_t, states_tm1, bias):  # pragma: no cover - abstract
        """``(states_t, fields_t)``: the new states (a list in :attr:`STATES` order) and
        what backward needs (a dict over :attr:`FIELDS`), from ``xz_t`` and ``rz_t``
        (each ``(batch, n_gates * units)``), the previous states and the bias."""
        raise NotImplementedError

    def step_backward(self, dstates_t, fields_t, states_tm1, bias):  # pragma: no cover
        """``(dxz_t, drz_t, dstates_tm1)``: gradients of the two projections and of the
        previous states *except* through ``rz_t`` (the loop adds ``drz_t @
        recurrent_kernel.T`` to the first one); an entry of ``dstates_tm1`` may be None
        when the state reaches the step only through ``rz_t``."""
        raise NotImplementedError

    def bias_grad(self, dxz: np.ndarray, drz: np.ndarray) -> np.ndarray:  # pragma: no cover
        """The bias gradient from every step's ``dxz`` and ``drz`` (``(B*T, n*units)``)."""
        raise NotImplementedError
