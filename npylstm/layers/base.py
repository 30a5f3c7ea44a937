"""What every npylstm layer shares: names, weights, building, and the forward/backward contract.

A layer owns its weights and nothing else. Its two computing methods are pure:

* ``forward(x, training=False, rng=None) -> (y, cache)``
* ``backward(dy, cache) -> (dx, grads)`` with ``grads`` in ``get_weights()`` order.

``__call__`` is ``forward`` without the cache, like calling a Keras layer; called on
symbolic tensors (:func:`npylstm.Input`), it records a node of a functional graph instead
(:mod:`npylstm.layers.graph`).

A layer that takes several tensors follows the same contract with Keras's call signature:
a merge layer's ``forward(inputs: list, ...)`` and ``backward(dy, cache) -> (dxs: list,
grads)``; layers with several tensor arguments (``MultiHeadAttention(query, value)``, an
RNN's ``initial_state=``) adapt :meth:`Layer.graph_forward` / :meth:`Layer.graph_backward`,
the hooks a functional model calls.
"""

from __future__ import annotations

import inspect
import numbers
import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .. import activations, initializers
from . import graph, inputs

# Keras-style serialization of dtypes, initializers and regularizers lives in
# serialization.py; its names stay importable from here.
from .serialization import (
    _known_kwargs,  # noqa: F401
    deserialize_constraint,
    deserialize_initializer,
    deserialize_regularizer,
    dtype_from_config,
    dtype_policy_config,
    serialize_initializer,
    serialize_regularizer,
)

__all__ = [
    "ANY_VALUE",
    "Layer",
    "VarsNode",
    "Weight",
    "clear_session",
    "dtype_policy_config",
    "serialize_initializer",
    "serialize_regularizer",
    "deserialize_initializer",
    "deserialize_regularizer",
]

_name_counts: defaultdict[str, int] = defaultdict(int)


def clear_session() -> None:
    """Reset automatic layer names (``lstm``, ``lstm_1``, ...).

    Like ``keras.backend.clear_session()``.
    """
    _name_counts.clear()


def _snake_case(name: str) -> str:
    """Keras's class-name to layer-name rule: ``LSTM -> lstm``, ``InputLayer -> input_layer``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


#: Keys Keras 3's base ``Layer.get_config`` writes for every layer, with the value that
#: changes nothing (accepted by a class that does not take them).
_KERAS_BASE_DEFAULTS = {"activity_regularizer": None, "autocast": True}


def _has_mask(masks) -> bool:
    """Whether a mask structure (None, an array, or a list of those) holds any mask."""
    if isinstance(masks, list | tuple):
        return any(_has_mask(m) for m in masks)
    return masks is not None


class Weight:
    """A named weight array (Keras's Variable, minus the framework).

    ``value`` is the array itself: optimizers update it in place. ``constraint`` (a
    callable ``array -> array``, or None) is applied after each optimizer update, as Keras's
    ``Variable.constraint``.
    """

    def __init__(self, name: str, value: np.ndarray, path: str = "", constraint=None):
        self.name = name
        self.value = value
        self.path = path or name
        self.constraint = constraint

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def numpy(self) -> np.ndarray:
        return self.value

    def assign(self, value: np.ndarray) -> None:
        """Write ``value`` into the array in place, once its kind (numbers only, see
        :mod:`npylstm.layers.inputs`) and shape are checked: a refused value changes nothing."""
        value = inputs.as_numeric_array(value, f"Weight '{self.path}'", "a numeric value")
        if value.shape != self.value.shape:
            raise ValueError(
                f"Weight '{self.path}': expected shape {self.value.shape}, received {value.shape}"
            )
        self.value[...] = value

    def __repr__(self) -> str:
        return f"<Weight path={self.path} shape={self.shape} dtype={self.dtype}>"


class _AnyValue:
    def __repr__(self) -> str:
        return "any value"


#: In :attr:`Layer.KERAS_IGNORED`: the key is accepted with any value.
ANY_VALUE = _AnyValue()


@dataclass(frozen=True)
class VarsNode:
    """One saveable object of a layer in Keras's weight files, and its children.

    Keras 3 walks a layer's attributes (``saving_lib._walk_saveable``) and writes each
    saveable object's own variables as ``<path>/vars/0, 1, ...``, then recurses into its
    sub-layers under their attribute names: an ``LSTM`` stores nothing itself and its
    ``cell`` holds the weights (``layers/lstm/cell/vars/0``); a ``Bidirectional`` has
    ``forward_layer`` and ``backward_layer`` children, each an LSTM tree. Legacy ``.h5``
    files name the same weights ``<layer>/<scope>/.../kernel:0``.

    ``weights``: the variable names stored in this node's ``vars``, in order.
    ``name``: the ``name`` attribute Keras writes on this node's ``vars`` group
    (None: the layer's own name). ``legacy_scope``: this node's name level in legacy
    weight names (``"lstm_cell"``; empty: none). ``children``: ``(attribute, node)`` pairs.
    Flattened depth first (own weights, then each child in order), the tree gives
    ``get_weights()`` order.
    """

    weights: tuple[str, ...] = ()
    name: str | None = None
    legacy_scope: str = ""
    children: tuple[tuple[str, VarsNode], ...] = field(default_factory=tuple)

    def leaves(self, path: str = "", scope: tuple[str, ...] = ()):
        """``(path, node, legacy_scopes)`` for every node that stores variables, in
        ``get_weights()`` order; ``path`` is relative to the layer's group (``"cell"``)."""
        scope = (*scope, self.legacy_scope) if self.legacy_scope else scope
        if self.weights:
            yield path, self, scope
        for attr, child in self.children:
            yield from child.leaves(f"{path}/{attr}" if path else attr, scope)

    def nodes(self, path: str = ""):
        """``(path, node)`` for this node and every descendant (where Keras writes a
        ``vars`` group, empty or not)."""
        yield path, self
        for attr, child in self.children:
            yield from child.nodes(f"{path}/{attr}" if path else attr)

    def weight_names(self) -> list[str]:
        """Every variable name, in ``get_weights()`` order."""
        return [w for _, node, _ in self.leaves() for w in node.weights]


class Layer:
    """Base class. Subclasses define ``build``, ``forward``, ``backward``,
    ``compute_output_shape`` and ``get_config``, and register with
    ``@npylstm.registry.register()``.

    Class attributes a subclass declares for the registry and the file formats:

    ``WEIGHT_NAMES``: its variables in ``get_weights()`` order (``("kernel", "bias")``).
    ``KERAS_IGNORED``: config keys Keras writes that change nothing here, each with the
    one value accepted (or :data:`ANY_VALUE`): ``{"quantization_config": None}``.
    ``KERAS2_ONLY``: keys tf_keras writes that Keras 3 dropped, with the value to write
    in a Keras 2 file (``{"implementation": 2}``). ``KERAS3_ONLY``: keys Keras 3 writes
    that tf_keras refuses. ``ACTIVATION_KEYS``: keys holding an activation name (Keras 2's
    ``"hard_sigmoid"`` means another function, see :mod:`npylstm.io.keras_config`).
    ``NOT_CONFIG_KEYS``: ``__init__`` arguments that are npylstm's, never read from a file.
    ``KERAS2_DEFAULTS``: Keras 2's default for a key a Keras 2 config may lack.
    """

    KERAS_MODULE = "keras.layers"
    WEIGHT_NAMES: tuple[str, ...] = ()
    KERAS_IGNORED: dict[str, object] = {}
    KERAS2_ONLY: dict[str, object] = {}
    #: Keras 2 defaults that differ from Keras 3's, for a key a Keras 2 file may lack
    #: (GRU's ``reset_after``: False in Keras <= 2.2); applied to Keras 2 files only.
    KERAS2_DEFAULTS: dict[str, object] = {}
    KERAS3_ONLY: tuple[str, ...] = ()
    ACTIVATION_KEYS: tuple[str, ...] = ()
    NOT_CONFIG_KEYS: tuple[str, ...] = ("backend",)
    #: The dtype of the data a model feeds this layer when it is first and no Input says
    #: (None: the model's float dtype; Embedding: ``"int32"`` ids).
    INPUT_DTYPE: str | None = None

    def __init__(
        self, name: str | None = None, dtype="float32", input_shape=None, trainable: bool = True
    ):
        dtype = dtype_from_config(dtype)
        base = _snake_case(type(self).__name__)
        if name is None:
            n = _name_counts[base]
            _name_counts[base] += 1
            name = base if n == 0 else f"{base}_{n}"
        self.name = inputs.check_name(name, type(self).__name__)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"{self._label()}: expected dtype float32 or float64, received {self.dtype}"
            )
        # Keras accepts input_shape= on a layer (without the batch axis); Sequential uses it.
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self.trainable = bool(trainable)
        self._weights: list[Weight] = []
        self.built = False
        self.input_shape = None  # with the batch axis, once built

    # -- names and errors -------------------------------------------------------------------
    def _label(self) -> str:
        return f"{type(self).__name__} '{getattr(self, 'name', '?')}'"

    def _error(self, message: str) -> ValueError:
        return ValueError(f"{self._label()}: {message}")

    def _check_units(self, units) -> int:
        """``units`` as an int, or a clear error (bools and floats are refused)."""
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise self._error(f"expected units to be a positive integer, received {units!r}")
        return int(units)

    def _set_constraints(self, **constraints) -> None:
        """Each ``<weight>_constraint`` attribute from its identifier (constraints.get)."""
        for key, identifier in constraints.items():
            try:
                setattr(self, key, deserialize_constraint(identifier))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{self._label()}: {key}: {exc}") from None

    def _elementwise_activation(self, key: str, identifier) -> str:
        """An activation's name for ``key``, refusing one that changes the last axis
        (``glu`` halves it: a layer's units cannot follow it)."""
        act = activations.get(identifier)
        if act.halves_last_axis:
            raise self._error(f"{key}={act.name!r} halves the last axis, so it cannot be a "
                              f"{type(self).__name__}'s {key}; use an Activation layer")
        return act.name

    def _feature_count(self, input_shape: tuple) -> int:
        """The last axis of a build shape, or an error when it is unknown or not positive."""
        input_dim = input_shape[-1]
        if not isinstance(input_dim, numbers.Integral) or input_dim <= 0:
            raise self._error(f"expected a known, positive feature count, received {input_shape}")
        return int(input_dim)

    def _as_float_array(self, x) -> np.ndarray:
        """``x`` as an array of the layer's dtype (:func:`npylstm.layers.inputs.as_float_array`:
        real numbers only, no copy when it has the dtype already), or an error naming the layer."""
        if type(x) is np.ndarray and x.dtype == self.dtype:
            return x
        return inputs.as_float_array(x, self.dtype, self._label())

    # -- weights ----------------------------------------------------------------------------
    def add_weight(self, name: str, value: np.ndarray, constraint=None) -> Weight:
        # a C-ordered copy of the layer's dtype (0-d stays 0-d); constraint: Keras's. A load's
        # fresh zero placeholder is kept (its pages untouched until the file's are written)
        budget = initializers.active_budget()
        fresh = (budget is not None and budget.placeholders and type(value) is np.ndarray
                 and value.dtype == self.dtype and value.flags.c_contiguous and value.base is None)
        value = value if fresh else np.array(value, dtype=self.dtype, order="C")
        weight = Weight(name, value, f"{self.name}/{name}", constraint)
        self._weights.append(weight)
        return weight

    @property
    def weights(self) -> list[Weight]:
        return list(self._weights)

    #: Weights that are state, not parameters (BatchNormalization's ``moving_mean`` and
    #: ``moving_variance``): in ``get_weights()`` and the files, never given a gradient.
    NON_TRAINABLE_WEIGHTS: tuple[str, ...] = ()

    @property
    def parameter_weights(self) -> list[Weight]:
        """The weights ``backward`` returns gradients for, in order: every weight but
        :attr:`NON_TRAINABLE_WEIGHTS` (whether or not the layer is ``trainable``)."""
        return [w for w in self._weights if w.name not in self.NON_TRAINABLE_WEIGHTS]

    @property
    def trainable_weights(self) -> list[Weight]:
        """The weights training updates: :attr:`parameter_weights`, none when the layer is
        frozen (``trainable=False``), as Keras."""
        return self.parameter_weights if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Weight]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self._weights if id(w) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weight arrays, in Keras's order."""
        return [w.value.copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        """Replace the weights (a list in ``get_weights()`` order): every array's count,
        shape and kind (numbers; NaN allowed, as Keras) is checked before any is assigned,
        so a refusal leaves the layer unchanged (Keras 3.15.1's ``Layer.set_weights``,
        ``keras/src/layers/layer.py``, assigns as it checks).

        An unbuilt layer is first built for the input shape its weights imply
        (:meth:`input_shape_from_weights`; Keras refuses weights on an unbuilt layer).
        """
        weights = list(weights)
        weights = [inputs.as_numeric_array(w, self._label(), f"numeric weights (array {i})")
                   for i, w in enumerate(weights)]
        if not self.built:
            shape = self.input_shape_from_weights(weights)
            if shape is not None:
                self.build(shape)
        arrays = inputs.check_weight_arrays(self._weights, weights, self._label())
        for weight, array in zip(self._weights, arrays, strict=True):
            weight.value[...] = array  # every array checked: all or nothing

    def count_params(self) -> int:
        if not self.built:
            raise self._error("count_params() needs a built layer: call build() or the layer first")
        return int(sum(w.value.size for w in self._weights))

    # -- calling ----------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.input_shape = tuple(input_shape)
        self.built = True

    def forward(self, x, training: bool = False, rng=None):  # pragma: no cover - abstract
        """``(y, cache)``."""
        raise NotImplementedError

    def backward(self, dy, cache):  # pragma: no cover - abstract
        """``(dx, grads)``, ``grads`` one per :attr:`parameter_weights` entry, in order."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- masks ----------------------------------------------------------------------------
    #: Keras's ``supports_masking``: the layer passes its input's time mask on unchanged
    #: (Dense, Dropout, Activation). A layer without it ends the mask, as Keras's does.
    SUPPORTS_MASKING: bool = False
    #: The layer's ``forward`` / ``__call__`` take ``mask=`` (Keras: ``call`` has a
    #: ``mask`` argument), a ``(batch, timesteps)`` boolean array, True at real steps.
    USES_MASK: bool = False
    #: After a call, the masks of the call's input tensors are gone for every later
    #: consumer (Keras's MultiHeadAttention clears them: ``set_keras_mask(query, None)``).
    CLEARS_INPUT_MASKS: bool = False

    def compute_mask(self, x, mask):
        """The mask of this layer's output, from its input ``x`` and the input's mask (or
        None): Keras's ``Layer.compute_mask(inputs, previous_mask)``."""
        return mask if self.SUPPORTS_MASKING else None

    # -- one call in a functional graph ----------------------------------------------------
    def graph_build(self, arg_shapes: list, kwargs: dict):
        """Build for a symbolic call and return its output shape (a list of shapes for
        several outputs). ``arg_shapes``: the shapes of the call's positional arguments
        (a list of shapes for a list argument). The default: ``build(*arg_shapes)`` when
        unbuilt, then ``compute_output_shape(*arg_shapes)``."""
        if not self.built:
            self.build(*arg_shapes)
        return self.compute_output_shape(*arg_shapes)

    def graph_forward(self, args: list, kwargs: dict, masks: list, training: bool):
        """One call of this layer in a functional model: ``(outputs, cache)``.

        ``args`` / ``kwargs`` are the call's arguments with arrays in place of its symbolic
        tensors (``layer(x)``: ``[x]``; ``Concatenate()([a, b])``: ``[[a, b]]``;
        ``mha(q, v)``: ``[q, v]``; ``lstm(x, initial_state=[h, c])``: ``[x]`` and
        ``{"initial_state": [h, c]}``); ``masks``: the time masks of ``args``, in the same
        structure (None where there is none). As Keras's ``Layer.__call__``, a layer with
        :attr:`USES_MASK` receives the first argument's masks as ``mask=`` unless the call
        passes ``mask`` itself.
        """
        kwargs = dict(kwargs)
        if self.USES_MASK and "mask" not in kwargs and _has_mask(masks[0] if masks else None):
            kwargs["mask"] = masks[0]
        return self.forward(*args, training=training, **kwargs)

    def graph_call(self, args: list, kwargs: dict, masks: list, training: bool):
        """:meth:`graph_forward`'s outputs without keeping a cache (for ``predict``); a
        layer with a faster cache-free path (the recurrent layers) overrides it."""
        return self.graph_forward(args, kwargs, masks, training)[0]

    def graph_backward(self, dy, cache):
        """``(dargs, dkwargs, grads)``: the gradients of the call's arguments in the
        structure of ``args`` / ``kwargs`` (None where there is none, e.g. integer ids;
        a missing kwarg: no gradient) and of :attr:`parameter_weights`."""
        dx, grads = self.backward(dy, cache)
        return [dx], {}, grads

    def graph_output_mask(self, args: list, masks: list, outputs):
        """The masks of this call's outputs (a list, one per output, for several outputs):
        Keras's ``compute_mask(inputs, previous_mask)`` on the first argument."""
        return self.compute_mask(args[0], masks[0] if masks else None)

    # -- regularization -------------------------------------------------------------------
    def weight_regularizers(self) -> list:
        """One regularizer (or None) per weight, in ``get_weights()`` order."""
        return [None] * len(self._weights)

    def regularization_loss(self) -> float:
        """Sum of this layer's weight-regularizer penalties (0 without regularizers)."""
        regs = self.weight_regularizers()
        if all(reg is None for reg in regs):
            return 0.0  # the usual case, on every training step: nothing to add
        return float(sum(reg(w.value) for reg, w in zip(regs, self._weights, strict=True)
                         if reg is not None))

    def regularization_grads(self) -> list[np.ndarray | None]:
        """Gradients of :meth:`regularization_loss`, one per :attr:`parameter_weights`
        entry (None: no penalty)."""
        return [
            None if reg is None else reg.grad(w.value)
            for reg, w in zip(self.weight_regularizers(), self._weights, strict=True)
            if w.name not in self.NON_TRAINABLE_WEIGHTS
        ]

    def activity_loss(self, outputs) -> tuple[float, list | np.ndarray | None]:
        """Keras's activity penalty on this layer's output(s) and its gradient.

        Keras 3 adds ``activity_regularizer(output) / batch_size`` for every output tensor
        (all three with ``return_state``). Returns ``(0.0, None)`` without a regularizer.
        """
        reg = getattr(self, "activity_regularizer", None)
        if reg is None:
            return 0.0, None
        flat = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        value, grads = 0.0, []
        for out in flat:
            batch = out.shape[0] if out.ndim > 0 else 1
            scale = 1.0 / batch if batch else 0.0
            value += reg(out) * scale
            grads.append(reg.grad(out) * out.dtype.type(scale))
        return value, (grads if isinstance(outputs, list | tuple) else grads[0])

    # -- configs --------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The Keras 3 config of this layer (same keys and values as Keras writes)."""
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": dtype_policy_config(self.dtype),
        }
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = serialize_regularizer(self.activity_regularizer)
        return config

    @classmethod
    def config_keys(cls) -> list[str]:
        """Every key this class's config may hold: its ``__init__`` arguments (minus
        npylstm-only ones such as ``backend``) and :attr:`KERAS_IGNORED`."""
        params = [
            p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        keys = [k for k in params if k not in cls.NOT_CONFIG_KEYS]
        return sorted(set(keys) | set(cls.KERAS_IGNORED))

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild a layer from :meth:`get_config` output or a Keras layer config.

        Every key must be one this class knows (:meth:`config_keys`): an unknown key is an
        error naming the layer, the key and the keys accepted — never silently dropped, so
        a file using an option npylstm lacks cannot load with the wrong meaning. Keys in
        :attr:`KERAS_IGNORED` are accepted only with a value that changes nothing here.
        """
        class_name = getattr(cls, "keras_class_name", cls.__name__)
        if not isinstance(config, dict):
            raise TypeError(
                f"{class_name}.from_config: expected a config dict, received "
                f"{type(config).__name__}"
            )
        config = dict(config)
        label = f"{class_name} '{config.get('name', '?')}'"
        accepted = cls.config_keys()
        for key, default in _KERAS_BASE_DEFAULTS.items():
            # Keras's base Layer writes these for every class (a custom one's too)
            if key not in accepted and key in config and config[key] == default:
                del config[key]
        for key in list(config):
            if key in cls.KERAS_IGNORED:
                allowed = cls.KERAS_IGNORED[key]
                value = config.pop(key)
                if allowed is not ANY_VALUE and value != allowed and value is not None:
                    raise ValueError(
                        f"{label}: config key {key!r} = {value!r} is not supported "
                        f"(npylstm accepts only {allowed!r})"
                    )
            elif key not in accepted:
                raise ValueError(
                    f"{label}: unknown config key {key!r}; {class_name} accepts {accepted}"
                )
        return cls(**config)

    # -- what the registry, the file formats and the explanations need ------------------
    @classmethod
    def from_keras2_config(cls, config: dict, where: str) -> dict:
        """Bring a Keras 2 (tf.keras / tf_keras) config of this class to Keras 3's keys.

        The default drops :attr:`KERAS2_ONLY` keys; a class overrides this to refuse a
        Keras 2 value it cannot honour (``LSTM`` refuses ``time_major=True``).
        """
        for key in cls.KERAS2_ONLY:
            config.pop(key, None)
        return config

    @classmethod
    def to_keras2_config(cls, config: dict) -> dict:
        """The config tf_keras reads: without :attr:`KERAS3_ONLY` keys (tf_keras refuses
        unknown arguments), with :attr:`KERAS2_ONLY` keys at their defaults."""
        config = {k: v for k, v in config.items() if k not in cls.KERAS3_ONLY}
        for key, default in cls.KERAS2_ONLY.items():
            config.setdefault(key, default)
        return config

    @classmethod
    def variable_tree(cls, config: dict) -> VarsNode:
        """Where this layer's variables live in Keras's files, for a layer with ``config``.

        The default: the layer's own variables (``WEIGHT_NAMES``, in ``get_weights()``
        order; without ``bias`` when ``use_bias`` is False) directly in its ``vars``
        group. A recurrent layer keeps them in a ``cell`` child; a wrapper returns its
        inner layers' trees as children.
        """
        return VarsNode(weights=cls._weight_names(config))

    @classmethod
    def _weight_names(cls, config: dict) -> tuple[str, ...]:
        names = tuple(cls.WEIGHT_NAMES)
        if "bias" in names and not config.get("use_bias", True):
            names = tuple(n for n in names if n != "bias")
        return names

    def build_config(self) -> dict:
        """What Keras records of the build in a file (``get_build_config``): the input
        shape (a layer built from several named shapes overrides it)."""
        return {"input_shape": self.input_shape}

    def input_shape_from_weights(self, weights) -> tuple | None:
        """The input shape (with the batch axis) that weights of these shapes imply, to
        build an unbuilt layer or model from weights alone (as Keras cannot); None when
        the weights do not tell (the default)."""
        return None

    def param_rule(self) -> tuple[str, str]:
        """``(rule, formula)``: this layer's parameter count as a rule in words and with its
        numbers, e.g. ``("units × (input_dim + 1)", "5 × (20 + 1) = 105")``.

        The default sums the weight sizes; layers with a known formula override it.
        """
        shapes = [tuple(w.value.shape) for w in self._weights]
        if not shapes:
            return "", "no weights = 0"
        sizes = " + ".join("×".join(str(d) for d in shape) or "1" for shape in shapes)
        return "sum of the weight sizes", f"{sizes} = {self.count_params():,}"

    def __call__(self, x, training: bool = False):
        y, _ = self.forward(x, training=training)
        return y

    def __init_subclass__(cls, **kwargs):
        """Every layer's ``__call__`` also takes symbolic tensors: called on one (an
        ``Input`` or a layer's output), it records a graph node instead of computing
        (:func:`npylstm.layers.graph.symbolic_call`), whatever its own signature."""
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_takes_symbolic", False):
            cls.__call__ = graph.symbolic_aware(call)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


Layer.__call__ = graph.symbolic_aware(Layer.__call__)
