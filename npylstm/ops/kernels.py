"""Kernel lookup: ``(cell kind, backend)`` -> the code that runs a recurrent layer.

Every kernel has the generic loop's signatures (:mod:`npylstm.ops.rnn_reference`)::

    kernel.forward(cell, x, initial_states, kernel, recurrent_kernel, bias, go_backwards,
                   input_masks=None, recurrent_masks=None, mask=None,
                   zero_output_for_mask=False) -> (h_seq, last_states, cache)
    kernel.inference(cell, x, initial_states, kernel, recurrent_kernel, bias, go_backwards,
                     mask=None, zero_output_for_mask=False) -> (h_seq, last_states)
    kernel.backward(cell, dh_seq, dlast_states, cache) -> (dx, dinitial_states, dweights)

:func:`get_kernel` returns a cell's fast kernel where one is registered for the backend
(``("lstm", "numba")``: the Numba LSTM core; ``("gru", "numba")``: the Numba GRU core) and
the generic NumPy loop otherwise — so a new cell runs everywhere before it has a fast
kernel, and a fast kernel that cannot take an option (the Numba cores have no per-gate
dropout masks and no time masks) is bypassed for it.

>>> from npylstm.cells import LSTMCell
>>> get_kernel(LSTMCell(), "numba").name, get_kernel(LSTMCell(), "reference").name
('numba', 'reference')
>>> get_kernel(LSTMCell(), "numba", gate_masks=True).name   # Keras's implementation 1
'reference'
>>> from npylstm.cells import GRUCell
>>> get_kernel(GRUCell(reset_after=False), "numba").name
'numba'
"""

from __future__ import annotations

from . import gru_numba, lstm_numba, rnn_reference

__all__ = ["KERNELS", "REFERENCE", "get_kernel", "register_kernel"]


class _ReferenceKernel:
    """The generic NumPy loop, for any cell and every option."""

    name = "reference"
    supports_gate_masks = True
    supports_time_mask = True

    @staticmethod
    def supports(cell) -> bool:
        return True
    forward = staticmethod(rnn_reference.rnn_forward)
    inference = staticmethod(rnn_reference.rnn_inference)
    backward = staticmethod(rnn_reference.rnn_backward)


class _NumbaKernel:
    """What the Numba cores share: no per-gate dropout masks, no time masks, and only the
    elementwise activations their module compiles (``ACTIVATION_CODES``)."""

    name = "numba"
    supports_gate_masks = False
    supports_time_mask = False
    module = None  # the core's module (lstm_numba, gru_numba)

    def supports(self, cell) -> bool:
        codes = self.module.ACTIVATION_CODES
        return cell.activation in codes and cell.recurrent_activation in codes


class _LSTMNumbaKernel(_NumbaKernel):
    """The Numba LSTM core (``ops/lstm_numba.py``) behind the generic signatures: the
    states ``[h, c]`` become its ``h0, c0`` and its six gradients the generic three."""

    module = lstm_numba

    @staticmethod
    def forward(cell, x, initial_states, kernel, recurrent_kernel, bias, go_backwards,
                input_masks=None, recurrent_masks=None, mask=None, zero_output_for_mask=False):
        if input_masks is not None or recurrent_masks is not None or mask is not None:
            raise ValueError("the Numba LSTM core has no per-gate dropout masks or time masks")
        h0, c0 = initial_states
        h_seq, h_last, c_last, cache = lstm_numba.lstm_forward(
            x, h0, c0, kernel, recurrent_kernel, bias,
            cell.activation, cell.recurrent_activation, go_backwards,
        )
        return h_seq, [h_last, c_last], cache

    @staticmethod
    def inference(cell, x, initial_states, kernel, recurrent_kernel, bias, go_backwards,
                  mask=None, zero_output_for_mask=False):
        if mask is not None:
            raise ValueError("the Numba LSTM core has no time masks")
        h0, c0 = initial_states
        h_seq, h_last, c_last = lstm_numba.lstm_inference(
            x, h0, c0, kernel, recurrent_kernel, bias,
            cell.activation, cell.recurrent_activation, go_backwards,
        )
        return h_seq, [h_last, c_last]

    @staticmethod
    def backward(cell, dh_seq, dlast_states, cache):
        dh_last, dc_last = dlast_states
        dx, dh0, dc0, dkernel, drecurrent, dbias = lstm_numba.lstm_backward(
            dh_seq, dh_last, dc_last, cache
        )
        dweights = [dkernel, drecurrent] + ([] if dbias is None else [dbias])
        return dx, [dh0, dc0], dweights


class _GRUNumbaKernel(_NumbaKernel):
    """The Numba GRU core (``ops/gru_numba.py``) behind the generic signatures: the one
    state ``[h]`` becomes its ``h0``, the cell gives the activations and ``reset_after``,
    and its five gradients become the generic three."""

    module = gru_numba

    @staticmethod
    def forward(cell, x, initial_states, kernel, recurrent_kernel, bias, go_backwards,
                input_masks=None, recurrent_masks=None, mask=None, zero_output_for_mask=False):
        if input_masks is not None or recurrent_masks is not None or mask is not None:
            raise ValueError("the Numba GRU core has no per-gate dropout masks or time masks")
        (h0,) = initial_states
        h_seq, h_last, cache = gru_numba.gru_forward(
            x, h0, kernel, recurrent_kernel, bias, cell.activation, cell.recurrent_activation,
            cell.reset_after, go_backwards,
        )
        return h_seq, [h_last], cache

    @staticmethod
    def inference(cell, x, initial_states, kernel, recurrent_kernel, bias, go_backwards,
                  mask=None, zero_output_for_mask=False):
        if mask is not None:
            raise ValueError("the Numba GRU core has no time masks")
        (h0,) = initial_states
        h_seq, h_last = gru_numba.gru_inference(
            x, h0, kernel, recurrent_kernel, bias, cell.activation, cell.recurrent_activation,
            cell.reset_after, go_backwards,
        )
        return h_seq, [h_last]

    @staticmethod
    def backward(cell, dh_seq, dlast_states, cache):
        (dh_last,) = dlast_states
        dx, dh0, dkernel, drecurrent, dbias = gru_numba.gru_backward(dh_seq, dh_last, cache)
        dweights = [dkernel, drecurrent] + ([] if dbias is None else [dbias])
        return dx, [dh0], dweights


REFERENCE = _ReferenceKernel()

#: Fast kernels by ``(cell kind, backend)``.
KERNELS: dict[tuple[str, str], object] = {
    ("lstm", "numba"): _LSTMNumbaKernel(),
    ("gru", "numba"): _GRUNumbaKernel(),
}


def register_kernel(kind: str, backend: str, kernel) -> None:
    """Make ``kernel`` the one :func:`get_kernel` returns for ``(kind, backend)``."""
    KERNELS[(kind, backend)] = kernel


def get_kernel(cell, backend: str, gate_masks: bool = False, time_mask: bool = False):
    """The kernel for ``cell`` on ``backend`` (``"numba"`` or ``"reference"``).

    ``gate_masks``: the call needs per-gate dropout masks; ``time_mask``: the call has a
    time mask. Kernels without them fall back to the generic loop, as do kernels that
    cannot run the cell's options (``kernel.supports(cell)``: the Numba LSTM core has no
    softmax activation).
    """
    kernel = KERNELS.get((cell.kind, backend))
    if (kernel is None or (gate_masks and not kernel.supports_gate_masks)
            or (time_mask and not kernel.supports_time_mask)
            or not kernel.supports(cell)):
        return REFERENCE
    return kernel
