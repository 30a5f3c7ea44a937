"""Watch the gates: every timestep of every LSTM layer of one forward pass.

:func:`trace` runs an ordinary inference forward pass (``training=False``) and returns, for
each LSTM layer, the arrays the equations name (see ``npylstm/ops/lstm_reference.py``)::

    i = σ(z_i)      input gate                     (batch, timesteps, units)
    f = σ(z_f)      forget gate                    (batch, timesteps, units)
    g = φ(z_c)      candidate carry                (batch, timesteps, units)
    o = σ(z_o)      output gate                    (batch, timesteps, units)
    c = f * c_tm1 + i * g      carry               (batch, timesteps, units)
    h = o * φ(c)               output              (batch, timesteps, units)

Nothing is recomputed from scratch: ``z``, ``c`` and ``h`` are the very arrays the layer's
kernel cached for its backward pass, and the gates are ``z`` passed through the *same*
activation code that kernel used (the Numba core's float32 tanh/sigmoid approximation for
``backend="numba"``, ``npylstm.activations`` for ``"reference"``). So ``h`` is the layer's
output bit for bit, and ``f * c_tm1 + i * g`` gives back ``c`` bit for bit.

Time order. The time axis is the *processing* order, the order in which the layer read the
input: with ``go_backwards=True`` step ``t`` read ``x[:, T - 1 - t]`` (``input_index`` holds
that map), which is also the order of Keras's ``return_sequences`` output for such a layer.

>>> import numpy as np, npylstm
>>> from npylstm.layers import LSTM
>>> layer = LSTM(3, return_sequences=True)
>>> x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
>>> t = npylstm.trace(layer, x)[layer.name]
>>> t.i.shape, bool(np.array_equal(t.h, layer(x)))
((2, 5, 3), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import activations
from .gates import split_gates
from .layers.base import Layer
from .layers.lstm import LSTM
from .ops import LSTMCache
from .ops import numba as numba_core
from .ops.rnn_reference import RNNCache

__all__ = ["LSTMTrace", "trace"]

#: The per-timestep arrays of an :class:`LSTMTrace`, in the order of the equations.
TRACE_FIELDS = ("i", "f", "g", "o", "c", "h")


@dataclass(frozen=True, eq=False)  # arrays: compare fields with np.array_equal
class LSTMTrace:
    """One LSTM layer's forward pass, timestep by timestep.

    Attributes
    ----------
    layer_name : the layer's name
    i, f, g, o : (batch, timesteps, units) input gate, forget gate, candidate carry
        (the ``c`` block of the packed weights), output gate
    c, h : (batch, timesteps, units) carry and output after each step
    h0, c0 : (batch, units) the state before the first step
    go_backwards : whether the layer read its input from the last timestep to the first
    input_index : (timesteps,) the input timestep read at each processing step
        (``arange(T)``, or ``arange(T)[::-1]`` with ``go_backwards``)
    backend : the kernel that ran the layer (``"numba"`` or ``"reference"``)
    activation, recurrent_activation : φ and σ of the equations, by Keras name
    """

    layer_name: str
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    go_backwards: bool
    input_index: np.ndarray
    backend: str
    activation: str
    recurrent_activation: str

    def gates(self) -> dict[str, np.ndarray]:
        """``{"i": ..., "f": ..., "g": ..., "o": ..., "c": ..., "h": ...}``."""
        return {name: getattr(self, name) for name in TRACE_FIELDS}

    def c_tm1(self) -> np.ndarray:
        """(batch, timesteps, units) the carry *entering* each step: ``c0``, then ``c[:, :-1]``."""
        return np.concatenate([self.c0[:, None], self.c[:, :-1]], axis=1)

    def in_input_order(self, name: str) -> np.ndarray:
        """The array ``name`` with its time axis in the order of ``x`` (undoes go_backwards)."""
        if name not in TRACE_FIELDS:
            raise ValueError(
                f"LSTMTrace '{self.layer_name}': expected one of {TRACE_FIELDS}, received {name!r}"
            )
        array = getattr(self, name)
        return array[:, ::-1] if self.go_backwards else array


# -- the gate values, with the activation code each backend used -------------------------------


def _numba_activate(name: str, z: np.ndarray) -> np.ndarray:
    """``name(z)`` computed by the Numba core's own elementwise activation loop.

    The core's float32 tanh and sigmoid are a rational approximation (a few ulp from
    NumPy's), so only the same compiled function reproduces its gates bit for bit. It is
    elementwise (each output depends on one input only), so one call over all timesteps
    gives what the core computed row by row.
    """
    return numba_core.activate(name, z)


class _LSTMArrays(NamedTuple):
    """What a trace reads from an LSTM kernel's cache (either kernel's cache type)."""

    z: np.ndarray  # (B, T, 4U)
    c: np.ndarray  # (B, T, U)
    h: np.ndarray  # (B, T, U)
    h0: np.ndarray  # (B, U)
    c0: np.ndarray  # (B, U)
    go_backwards: bool
    activation: str
    recurrent_activation: str


def _lstm_arrays(layer: LSTM, cache) -> _LSTMArrays:
    if isinstance(cache, LSTMCache):  # the Numba core's cache
        return _LSTMArrays(cache.z, cache.c, cache.h, cache.h0, cache.c0, cache.go_backwards,
                           cache.activation, cache.recurrent_activation)
    if isinstance(cache, RNNCache) and cache.recurrent_masks is None:  # the generic loop's
        h0, c0 = cache.initial_states
        f = cache.fields
        return _LSTMArrays(f["z"], f["c"], f["h"], h0, c0, cache.go_backwards,
                           layer.cell.activation, layer.cell.recurrent_activation)
    raise TypeError(
        f"trace: LSTM '{layer.name}' ran without an inference cache (received "
        f"{type(cache).__name__}); trace runs inference only"
    )


def _numba_gates(cache: _LSTMArrays) -> tuple[np.ndarray, ...]:
    z_i, z_f, z_c, z_o = split_gates(cache.z)  # 4 x (B, T, U)
    σ, φ = cache.recurrent_activation, cache.activation
    return (
        _numba_activate(σ, z_i),
        _numba_activate(σ, z_f),
        _numba_activate(φ, z_c),
        _numba_activate(σ, z_o),
    )


def _reference_gates(cache: _LSTMArrays) -> tuple[np.ndarray, ...]:
    """The reference kernel's gates, computed step by step on a ``(B, 4U)`` array exactly as
    the generic loop's LSTM cell (``cells/lstm.py``) computed them (same shapes and strides
    for each call)."""
    σ = activations.get(cache.recurrent_activation)
    φ = activations.get(cache.activation)
    batch, timesteps, packed = cache.z.shape
    gates = np.empty((4, batch, timesteps, packed // 4), dtype=cache.z.dtype)  # (4, B, T, U)
    with np.errstate(all="ignore"):  # inf and NaN propagate, as in the forward pass
        for t in range(timesteps):
            z_t = cache.z[:, t].copy()  # (B, 4U), a fresh array like the forward's z_t
            z_i, z_f, z_c, z_o = split_gates(z_t)  # 4 x (B, U)
            gates[0, :, t], gates[1, :, t] = σ(z_i), σ(z_f)
            gates[2, :, t], gates[3, :, t] = φ(z_c), σ(z_o)
    return tuple(gates)


def _layer_trace(layer: LSTM, layer_cache) -> LSTMTrace:
    cache = _lstm_arrays(layer, layer_cache.op)
    backend = layer_cache.backend
    if backend == "numba":
        i, f, g, o = _numba_gates(cache)
    elif backend == "reference":
        i, f, g, o = _reference_gates(cache)
    else:
        raise ValueError(f"trace: LSTM '{layer.name}' ran on an unknown backend {backend!r}")
    timesteps = cache.z.shape[1]
    input_index = np.arange(timesteps)
    return LSTMTrace(
        layer_name=layer.name,
        i=i,
        f=f,
        g=g,
        o=o,
        c=cache.c,
        h=cache.h,
        h0=cache.h0,
        c0=cache.c0,
        go_backwards=cache.go_backwards,
        input_index=input_index[::-1].copy() if cache.go_backwards else input_index,
        backend=backend,
        activation=cache.activation,
        recurrent_activation=cache.recurrent_activation,
    )


#: What trace records per recurrent cell kind (``layer.cell.kind``): one entry per cell
#: with gates worth watching.
_TRACERS = {"lstm": _layer_trace}


def _layers_of(model_or_layer) -> list[Layer]:
    if isinstance(model_or_layer, Layer):
        return [model_or_layer]
    layers = getattr(model_or_layer, "layers", None)
    if layers is None or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(
            "trace: expected an npylstm Sequential model or layer, received "
            f"{type(model_or_layer).__name__}"
        )
    if not layers:
        raise ValueError("trace: the model has no layers")
    return list(layers)


def trace(model_or_layer, x) -> dict[str, LSTMTrace]:
    """Run one inference forward pass and record every LSTM layer's gates at every timestep.

    Parameters
    ----------
    model_or_layer : npylstm.Sequential or a layer (e.g. ``npylstm.layers.LSTM``)
    x : (batch, timesteps, features) array, the input of the model (or of the layer)

    Returns
    -------
    dict[str, LSTMTrace]
        One entry per LSTM layer, keyed by layer name, in the model's order. Each holds
        ``i, f, g, o, c, h`` of shape ``(batch, timesteps, units)`` in processing order
        (reversed with respect to ``x`` for a ``go_backwards`` layer).

    Notes
    -----
    The pass is the same as ``model(x)`` (``training=False``: no dropout), so a ``stateful``
    layer advances its carried state exactly as a call would. ``trace[name].h`` equals the
    layer's ``return_sequences`` output, and ``trace[name].h[:, -1]`` its last output, bit
    for bit, on either backend.

    >>> import numpy as np, npylstm
    >>> from npylstm.layers import LSTM, Dense
    >>> model = npylstm.Sequential([npylstm.Input((6, 2)), LSTM(4, return_sequences=True),
    ...                             LSTM(3), Dense(1)])
    >>> traces = npylstm.trace(model, np.zeros((5, 6, 2), dtype="float32"))
    >>> [(name, t.f.shape) for name, t in traces.items()]  # doctest: +SKIP
    [('lstm', (5, 6, 4)), ('lstm_1', (5, 6, 3))]
    """
    layers = _layers_of(model_or_layer)
    first = layers[0]
    try:
        h = np.asarray(x, dtype=first.dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"trace: expected a numeric array x, received {type(x).__name__}") from exc
    if h.ndim != 3:
        raise ValueError(
            f"trace: expected x of shape (batch, timesteps, features), received shape {h.shape}"
        )
    if not isinstance(model_or_layer, Layer) and not getattr(model_or_layer, "built", True):
        model_or_layer.build((None, *h.shape[1:]))  # as model(x) would on its first data
    traces: dict[str, LSTMTrace] = {}
    for layer in layers:
        out, cache = layer.forward(h, training=False)
        tracer = _TRACERS.get(getattr(getattr(layer, "cell", None), "kind", None))
        if tracer is not None:
            traces[layer.name] = tracer(layer, cache)
        h = out[0] if isinstance(out, list) else out  # [output, h, c] with return_state
    return traces
