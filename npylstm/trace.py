"""Watch the gates: every timestep of every recurrent layer of one forward pass.

:func:`trace` runs an ordinary inference forward pass (``training=False``) and returns, for
each recurrent layer, the arrays its cell's equations name, each ``(batch, timesteps,
units)``. An LSTM (``npylstm/cells/lstm.py``; :class:`LSTMTrace`)::

    i = σ(z_i)   f = σ(z_f)   g = φ(z_c)   o = σ(z_o)      input, forget, candidate, output
    c = f * c_tm1 + i * g      carry
    h = o * φ(c)               output

a GRU (``npylstm/cells/gru.py``, either ``reset_after``; :class:`GRUTrace`)::

    z = σ(a_z)   r = σ(a_r)   hh = φ(a_h)                  update, reset, candidate h̃
    h = z * h_tm1 + (1 - z) * hh

a SimpleRNN (``npylstm/cells/simple_rnn.py``; :class:`SimpleRNNTrace`): the
pre-activation ``a = x_t @ kernel + h_tm1 @ recurrent_kernel + bias`` and ``h = φ(a)``;
and a ``Bidirectional`` wrapper (:class:`BidirectionalTrace`): one such trace per direction.

Nothing is recomputed from scratch: the pre-activations and the states are the very arrays
the layer's kernel cached for its backward pass, and the gates are those pre-activations
passed through the *cell's own* activation functions (for the Numba LSTM core, its own
compiled activation loop), on arrays of the same shapes and strides. So ``h`` is the
layer's output bit for bit, and the cell's update (``f * c_tm1 + i * g``, ``z * h_tm1 +
(1 - z) * hh``) gives back the state bit for bit. No gate equation is written here: each
lives in its cell file.

Time order. The time axis is the *processing* order, the order in which the layer read the
input: with ``go_backwards=True`` step ``t`` read ``x[:, T - 1 - t]`` (``input_index`` holds
that map), which is also the order of Keras's ``return_sequences`` output for such a layer.

Masks. With a time mask (a ``Masking`` layer in the model, or ``trace(layer, x,
mask=...)``), ``mask`` holds it in processing order. At a masked step the cell still
computes its gates (they are recorded: what the step *would* have done), but the layer
carries its states (``c``, ``h_state``) and repeats its last output in ``h`` (zeros with
``zero_output_for_mask``), as Keras does; ``h`` is always the layer's output.

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
from typing import ClassVar, NamedTuple

import numpy as np

from .layers.base import Layer
from .ops import LSTMCache
from .ops import numba as numba_core
from .ops.rnn_reference import RNNCache

__all__ = [
    "BidirectionalTrace", "GRUTrace", "LSTMTrace", "RecurrentTrace", "SimpleRNNTrace", "trace",
]

#: The per-timestep arrays of an :class:`LSTMTrace`, in the order of the equations.
TRACE_FIELDS = ("i", "f", "g", "o", "c", "h")
#: Those of a :class:`GRUTrace` (``hh`` is the candidate h̃).
GRU_FIELDS = ("z", "r", "hh", "h")
#: Those of a :class:`SimpleRNNTrace`.
SIMPLE_RNN_FIELDS = ("a", "h")


class RecurrentTrace:
    """What every per-layer trace has: :attr:`FIELDS` arrays ``(batch, timesteps, units)``
    in processing order, and ``layer_name``, ``h0``, ``h_state``, ``go_backwards``,
    ``input_index``, ``backend``, ``mask``."""

    KIND: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def gates(self) -> dict[str, np.ndarray]:
        """Every one of :attr:`FIELDS` by name (``{"i": ..., ..., "h": ...}`` for an LSTM)."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def h_tm1(self) -> np.ndarray:
        """(batch, timesteps, units) the output state *entering* each step: ``h0``, then
        ``h_state[:, :-1]``."""
        return np.concatenate([self.h0[:, None], self.h_state[:, :-1]], axis=1)

    def real_steps(self) -> np.ndarray:
        """(batch, timesteps) booleans in processing order: True where the layer updated
        its states (every step without a mask)."""
        if self.mask is None:
            return np.ones(self.h.shape[:2], dtype=bool)
        return self.mask

    def in_input_order(self, name: str) -> np.ndarray:
        """The array ``name`` with its time axis in the order of ``x`` (undoes go_backwards)."""
        if name not in self.FIELDS:
            raise ValueError(
                f"{type(self).__name__} '{self.layer_name}': expected one of {self.FIELDS}, "
                f"received {name!r}"
            )
        array = getattr(self, name)
        return array[:, ::-1] if self.go_backwards else array


@dataclass(frozen=True, eq=False)  # arrays: compare fields with np.array_equal
class LSTMTrace(RecurrentTrace):
    """One LSTM layer's forward pass, timestep by timestep.

    Attributes
    ----------
    layer_name : the layer's name
    i, f, g, o : (batch, timesteps, units) input gate, forget gate, candidate carry
        (the ``c`` block of the packed weights), output gate
    c : (batch, timesteps, units) carry after each step (carried over masked steps)
    h : (batch, timesteps, units) the layer's output at each step
    h0, c0 : (batch, units) the state before the first step
    go_backwards : whether the layer read its input from the last timestep to the first
    input_index : (timesteps,) the input timestep read at each processing step
        (``arange(T)``, or ``arange(T)[::-1]`` with ``go_backwards``)
    backend : the kernel that ran the layer (``"numba"`` or ``"reference"``)
    activation, recurrent_activation : φ and σ of the equations, by Keras name
    mask : (batch, timesteps) booleans in processing order, True at real steps, or None
    h_state : (batch, timesteps, units) the state h after each step (``h`` itself unless
        ``zero_output_for_mask`` zeroed the output of masked steps)
    """

    KIND: ClassVar[str] = "lstm"
    FIELDS: ClassVar[tuple[str, ...]] = TRACE_FIELDS

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
    mask: np.ndarray | None = None
    h_state: np.ndarray | None = None

    def __post_init__(self):
        if self.h_state is None:
            object.__setattr__(self, "h_state", self.h)

    def c_tm1(self) -> np.ndarray:
        """(batch, timesteps, units) the carry *entering* each step: ``c0``, then ``c[:, :-1]``."""
        return np.concatenate([self.c0[:, None], self.c[:, :-1]], axis=1)


@dataclass(frozen=True, eq=False)
class GRUTrace(RecurrentTrace):
    """One GRU layer's forward pass, timestep by timestep (Keras's gate order z, r, h).

    Attributes
    ----------
    layer_name : the layer's name
    z, r : (batch, timesteps, units) update gate and reset gate
    hh : (batch, timesteps, units) the candidate h̃ (the ``h`` block of the packed weights)
    h : (batch, timesteps, units) the layer's output at each step
    h0 : (batch, units) the state before the first step
    go_backwards, input_index, backend, activation, recurrent_activation, mask, h_state :
        as in :class:`LSTMTrace`
    reset_after : Keras's convention (True: ``hh = φ(x_h + r * (h_tm1 @ R_h + b_rh))``;
        False: ``hh = φ(x_h + (r * h_tm1) @ R_h + b_h)``)
    """

    KIND: ClassVar[str] = "gru"
    FIELDS: ClassVar[tuple[str, ...]] = GRU_FIELDS

    layer_name: str
    z: np.ndarray
    r: np.ndarray
    hh: np.ndarray
    h: np.ndarray
    h0: np.ndarray
    go_backwards: bool
    input_index: np.ndarray
    backend: str
    activation: str
    recurrent_activation: str
    reset_after: bool
    mask: np.ndarray | None = None
    h_state: np.ndarray | None = None

    def __post_init__(self):
        if self.h_state is None:
            object.__setattr__(self, "h_state", self.h)


@dataclass(frozen=True, eq=False)
class SimpleRNNTrace(RecurrentTrace):
    """One SimpleRNN layer's forward pass: the pre-activation ``a`` and ``h = φ(a)``.

    Attributes
    ----------
    layer_name : the layer's name
    a : (batch, timesteps, units) ``x_t @ kernel + h_tm1 @ recurrent_kernel + bias``
    h : (batch, timesteps, units) the layer's output at each step
    h0 : (batch, units) the state before the first step
    go_backwards, input_index, backend, activation, mask, h_state : as in :class:`LSTMTrace`
    """

    KIND: ClassVar[str] = "simple_rnn"
    FIELDS: ClassVar[tuple[str, ...]] = SIMPLE_RNN_FIELDS

    layer_name: str
    a: np.ndarray
    h: np.ndarray
    h0: np.ndarray
    go_backwards: bool
    input_index: np.ndarray
    backend: str
    activation: str
    mask: np.ndarray | None = None
    h_state: np.ndarray | None = None

    def __post_init__(self):
        if self.h_state is None:
            object.__setattr__(self, "h_state", self.h)


@dataclass(frozen=True, eq=False)
class BidirectionalTrace:
    """A ``Bidirectional`` layer: the trace of each direction's layer.

    Attributes
    ----------
    layer_name : the wrapper's name
    forward : the forward layer's trace (its ``layer_name`` is the inner layer's)
    backward : the backward layer's trace, in *its* processing order (``go_backwards``:
        step t read input timestep T-1-t; ``in_input_order`` aligns it with ``x``)
    merge_mode : how the wrapper combines the two outputs (``"concat"``, ``"sum"``, ...)
    """

    layer_name: str
    forward: RecurrentTrace
    backward: RecurrentTrace
    merge_mode: str | None

    def directions(self) -> dict[str, RecurrentTrace]:
        """``{"forward": ..., "backward": ...}``."""
        return {"forward": self.forward, "backward": self.backward}


# -- what a kernel's cache holds, whichever kernel ran ------------------------------------


class _Run(NamedTuple):
    """The arrays of one recurrent layer's pass, in processing order."""

    fields: dict  # the cell's per-step fields, name -> (B, T, width)
    states: dict  # state name -> (B, T, U) after each step (carried over masked steps)
    output: np.ndarray  # (B, T, U) the layer's output at each step
    initial: tuple  # each (B, U), in cell.STATES order
    mask: np.ndarray | None  # (B, T) in processing order, or None
    go_backwards: bool
    backend: str

    def input_index(self) -> np.ndarray:
        index = np.arange(self.output.shape[1])  # (T,)
        return index[::-1].copy() if self.go_backwards else index


def _run_of(layer, layer_cache) -> _Run:
    cell, op, backend = layer.cell, layer_cache.op, layer_cache.backend
    if isinstance(op, LSTMCache):  # the Numba LSTM core's cache
        fields = {"z": op.z, "c": op.c, "h": op.h}
        return _Run(fields, {"h": op.h, "c": op.c}, op.h, (op.h0, op.c0), None,
                    op.go_backwards, backend)
    if isinstance(op, numba_core.GRUCache):
        # the Numba GRU core's cache: the cell's fields, as the generic loop keeps them
        fields = {"a": op.a, "r_h": op.r_h, "h": op.h}
        return _Run(fields, {"h": op.h}, op.h, (op.h0,), None, op.go_backwards, backend)
    if isinstance(op, RNNCache) and op.recurrent_masks is None:  # the generic loop's
        fields = op.fields
        if op.mask is None:
            states = {name: fields[name] for name in cell.STATES}
            return _Run(fields, states, fields["h"], op.initial_states, None,
                        op.go_backwards, backend)
        m = op.mask  # (B, T, 1) in processing order
        # the loop's output: the carried state, or zeros at masked steps (zero_output_for_mask)
        output = np.where(m, fields["h"], 0) if op.zero_output_for_mask else op.carried["h"]
        return _Run(fields, op.carried, output, op.initial_states, m[:, :, 0],
                    op.go_backwards, backend)
    raise TypeError(
        f"trace: {type(layer).__name__} '{layer.name}' ran without an inference cache "
        f"trace can read (received {type(op).__name__}); trace runs inference only"
    )


def _per_step(packed: np.ndarray, activate) -> list[np.ndarray]:
    """``activate(a_t)`` at every step, on a fresh ``(B, width)`` copy of step t — the shape
    and strides of the array the cell's step computed it on, so the values are its own bit
    for bit. Returns one ``(B, T, U)`` array per value ``activate`` returns."""
    batch, timesteps, _ = packed.shape
    out = None
    with np.errstate(all="ignore"):  # inf and NaN propagate, as in the forward pass
        for t in range(timesteps):
            values = activate(packed[:, t].copy())  # each (B, U)
            if out is None:
                out = [np.empty((batch, timesteps, v.shape[-1]), dtype=v.dtype)
                       for v in values]  # each (B, T, U)
            for array, value in zip(out, values, strict=True):
                array[:, t] = value
    return out


# -- one tracer per cell kind ------------------------------------------------------------


def _numba_activate(name: str, z: np.ndarray) -> np.ndarray:
    """``name(z)`` computed by the Numba core's own elementwise activation loop.

    The core's float32 tanh and sigmoid are a rational approximation (a few ulp from
    NumPy's), so only the same compiled function reproduces its gates bit for bit. It is
    elementwise (each output depends on one input only), so one call over all timesteps
    gives what the core computed row by row.
    """
    return numba_core.activate(name, z)


def _lstm_trace(layer, layer_cache) -> LSTMTrace:
    run = _run_of(layer, layer_cache)
    cell = layer.cell
    if run.backend == "numba":
        z_i, z_f, z_c, z_o = cell.split(run.fields["z"])  # 4 x (B, T, U)
        σ, φ = cell.recurrent_activation, cell.activation
        i, f = _numba_activate(σ, z_i), _numba_activate(σ, z_f)
        g, o = _numba_activate(φ, z_c), _numba_activate(σ, z_o)
    elif run.backend == "reference":
        def gates(z_t):
            z_i, z_f, z_c, z_o = cell.split(z_t)  # 4 x (B, U)
            return cell.σ(z_i), cell.σ(z_f), cell.φ(z_c), cell.σ(z_o)

        i, f, g, o = _per_step(run.fields["z"], gates)
    else:
        raise ValueError(f"trace: LSTM '{layer.name}' ran on an unknown backend {run.backend!r}")
    h0, c0 = run.initial
    return LSTMTrace(
        layer_name=layer.name, i=i, f=f, g=g, o=o, c=run.states["c"], h=run.output,
        h0=h0, c0=c0, go_backwards=run.go_backwards, input_index=run.input_index(),
        backend=run.backend, activation=cell.activation,
        recurrent_activation=cell.recurrent_activation, mask=run.mask,
        h_state=run.states["h"],
    )


def _gru_trace(layer, layer_cache) -> GRUTrace:
    run = _run_of(layer, layer_cache)
    cell = layer.cell

    def gates(a_t):
        a_z, a_r, a_h = cell.split(a_t)  # 3 x (B, U): the cell's pre-activations
        return cell.σ(a_z), cell.σ(a_r), cell.φ(a_h)

    if run.backend == "numba":  # the core's own activation loop (see _numba_activate)
        a_z, a_r, a_h = cell.split(run.fields["a"])  # 3 x (B, T, U)
        σ, φ = cell.recurrent_activation, cell.activation
        z, r, hh = _numba_activate(σ, a_z), _numba_activate(σ, a_r), _numba_activate(φ, a_h)
    else:
        z, r, hh = _per_step(run.fields["a"], gates)
    return GRUTrace(
        layer_name=layer.name, z=z, r=r, hh=hh, h=run.output, h0=run.initial[0],
        go_backwards=run.go_backwards, input_index=run.input_index(), backend=run.backend,
        activation=cell.activation, recurrent_activation=cell.recurrent_activation,
        reset_after=cell.reset_after, mask=run.mask, h_state=run.states["h"],
    )


def _simple_rnn_trace(layer, layer_cache) -> SimpleRNNTrace:
    run = _run_of(layer, layer_cache)
    return SimpleRNNTrace(
        layer_name=layer.name, a=run.fields["a"], h=run.output, h0=run.initial[0],
        go_backwards=run.go_backwards, input_index=run.input_index(), backend=run.backend,
        activation=layer.cell.activation, mask=run.mask, h_state=run.states["h"],
    )


#: What trace records per recurrent cell kind (``layer.cell.kind``).
_TRACERS = {"lstm": _lstm_trace, "gru": _gru_trace, "simple_rnn": _simple_rnn_trace}


def _tracer_of(layer):
    return _TRACERS.get(getattr(getattr(layer, "cell", None), "kind", None))


def _bidirectional_trace(layer, cache) -> BidirectionalTrace:
    """Trace each direction of a ``Bidirectional`` wrapper from the caches of the pass the
    wrapper ran (``cache.forward``, ``cache.backward``: its inner layers' own)."""
    directions = {}
    for which in ("forward", "backward"):
        inner = getattr(layer, f"{which}_layer")
        tracer = _tracer_of(inner)
        if tracer is None:
            raise TypeError(
                f"trace: Bidirectional '{layer.name}': its {which} layer "
                f"{type(inner).__name__} '{inner.name}' has no tracer (expected one of the "
                f"cell kinds {sorted(_TRACERS)})"
            )
        directions[which] = tracer(inner, getattr(cache, which))
    return BidirectionalTrace(layer.name, directions["forward"], directions["backward"],
                              layer.merge_mode)


def _is_bidirectional(layer) -> bool:
    return hasattr(layer, "forward_layer") and hasattr(layer, "backward_layer")


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


def _first(value):
    """The output (or its mask) of a layer that may return ``[output, *states]``."""
    return value[0] if isinstance(value, list | tuple) else value


def trace(model_or_layer, x, mask=None) -> dict[str, RecurrentTrace | BidirectionalTrace]:
    """Run one inference forward pass and record every recurrent layer's gates at every step.

    Parameters
    ----------
    model_or_layer : npylstm.Sequential or a layer (``LSTM``, ``GRU``, ``SimpleRNN``,
        ``Bidirectional``)
    x : (batch, timesteps, features) array, the input of the model (or of the layer)
    mask : optional (batch, timesteps) booleans, True at the real steps: the time mask the
        first layer is called with (``layer(x, mask=mask)``). A ``Masking`` layer in the
        model makes its own, passed on as the model passes it.

    Returns
    -------
    dict
        One entry per recurrent layer, keyed by layer name, in the model's order: an
        :class:`LSTMTrace` (``i, f, g, o, c, h``), :class:`GRUTrace` (``z, r, hh, h``),
        :class:`SimpleRNNTrace` (``a, h``), each field ``(batch, timesteps, units)`` in
        processing order (reversed with respect to ``x`` for a ``go_backwards`` layer), or a
        :class:`BidirectionalTrace` holding one per direction.

    Notes
    -----
    The pass is the same as ``model(x)`` (``training=False``: no dropout), so a ``stateful``
    layer advances its carried state exactly as a call would. ``trace[name].h`` equals the
    layer's ``return_sequences`` output, and ``trace[name].h_state[:, -1]`` its last state,
    bit for bit, on either backend.

    >>> import numpy as np, npylstm
    >>> from npylstm.layers import GRU, LSTM, Dense
    >>> model = npylstm.Sequential([npylstm.Input((6, 2)), LSTM(4, return_sequences=True),
    ...                             GRU(3), Dense(1)])
    >>> traces = npylstm.trace(model, np.zeros((5, 6, 2), dtype="float32"))
    >>> [(type(t).__name__, t.h.shape) for t in traces.values()]
    [('LSTMTrace', (5, 6, 4)), ('GRUTrace', (5, 6, 3))]
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
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != h.shape[:2]:
            raise ValueError(
                f"trace: expected a mask of shape (batch, timesteps) = {h.shape[:2]}, "
                f"received {mask.shape}"
            )
    if not isinstance(model_or_layer, Layer) and not getattr(model_or_layer, "built", True):
        model_or_layer.build((None, *h.shape[1:]))  # as model(x) would on its first data
    traces: dict[str, RecurrentTrace | BidirectionalTrace] = {}
    for layer in layers:
        uses_mask = getattr(layer, "USES_MASK", False)
        kwargs = {"mask": mask} if uses_mask and mask is not None else {}
        out, cache = layer.forward(h, training=False, **kwargs)
        tracer = _tracer_of(layer)
        if tracer is not None:
            traces[layer.name] = tracer(layer, cache)
        elif _is_bidirectional(layer):
            traces[layer.name] = _bidirectional_trace(layer, cache)
        mask = _first(layer.compute_mask(h, mask))
        h = _first(out)  # [output, *states] with return_state
    return traces
