"""The ``keras.ops`` operations Keras 3 records in a functional graph to carry masks.

When Keras 3 builds a functional model, the masks its layers compute are symbolic tensors
too, and the operations that made them become nodes of the saved graph: an
``Embedding(mask_zero=True)`` feeding an LSTM is saved with a ``NotEqual(ids, 0)`` node whose
output reaches the LSTM as ``mask=``; a ``Masking`` layer adds ``NotEqual`` + ``Any``; merge
layers add ``ExpandDims``, ``ZerosLike``, ``LogicalOr``, ``Concatenate``. These are the
operations (``keras/src/ops/numpy.py``) as graph nodes: NumPy functions of their arguments,
without weights or gradients (they make booleans). They live in their own table, apart from
the layer registry (Keras's module ``keras.src.ops.numpy`` tells them apart from layers of the
same name, such as the ``Concatenate`` layer), and are never in ``model.layers``, as in Keras.

>>> import numpy as np
>>> op = get("NotEqual").from_config({"name": "not_equal"})
>>> op.compute(np.array([[3, 0]]), 0).tolist()
[[True, False]]
"""

from __future__ import annotations

import numpy as np

from .base import Layer

__all__ = ["OPERATIONS", "Operation", "get", "is_operation_entry"]

#: Keras's module for the operations it records.
OPS_MODULE = "keras.src.ops.numpy"
OPERATIONS: dict[str, type] = {}


def _register(cls):
    OPERATIONS[cls.__name__] = cls
    cls.keras_class_name = cls.__name__
    return cls


def get(class_name: str) -> type:
    """The operation class of this Keras name, or a clear error."""
    if class_name not in OPERATIONS:
        raise ValueError(
            f"unsupported keras.ops operation {class_name!r} in the graph; npylstm runs "
            f"the mask operations Keras records: {sorted(OPERATIONS)}"
        )
    return OPERATIONS[class_name]


def is_operation_entry(entry) -> bool:
    """Whether a config entry is a ``keras.ops`` operation (not a layer)."""
    return isinstance(entry, dict) and str(entry.get("module") or "").startswith(
        "keras.src.ops")


def _broadcast(a: tuple, b: tuple) -> tuple:
    """NumPy's broadcast of two shapes with None (unknown) dimensions."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(y if x == 1 else x if y == 1 else (x if x is not None else y)
                 for x, y in zip(a, b, strict=True))


def _shape(value) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else ()


class Operation(Layer):
    """A recorded ``keras.ops`` call: ``compute(*args)`` in NumPy, its output shape, its
    config; no weights, no mask, no gradient."""

    IS_OPERATION = True
    KERAS_MODULE = OPS_MODULE
    OUTPUT_DTYPE = "bool"

    def __init__(self, name: str | None = None):
        super().__init__(name=name)
        self.dtype = np.dtype(self.OUTPUT_DTYPE)
        self.built = True

    def compute(self, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    def output_shape_of(self, *shapes) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        if not isinstance(config, dict):
            raise ValueError(f"{cls.__name__}: expected a config dict, received "
                             f"{type(config).__name__}")
        return super().from_config(config)

    # a node of the graph
    def graph_build(self, arg_shapes, kwargs):
        return self.output_shape_of(*[_shape(s) if isinstance(s, list | tuple) and not any(
            isinstance(d, list | tuple) for d in s) else s for s in arg_shapes])

    def graph_forward(self, args, kwargs, masks, training):
        return self.compute(*args, **kwargs), None

    def graph_backward(self, dy, cache):
        return [None], {}, []

    def graph_output_mask(self, args, masks, outputs):
        return None

    def compute_mask(self, x, mask):
        return None


class _Binary(Operation):
    FN = None

    def compute(self, x1, x2):
        return type(self).FN(np.asarray(x1), np.asarray(x2))

    def output_shape_of(self, a, b=()):
        return _broadcast(_shape(a), _shape(b))


@_register
class NotEqual(_Binary):
    FN = staticmethod(np.not_equal)


@_register
class Equal(_Binary):
    FN = staticmethod(np.equal)


@_register
class LogicalOr(_Binary):
    FN = staticmethod(np.logical_or)


@_register
class LogicalAnd(_Binary):
    FN = staticmethod(np.logical_and)


@_register
class LogicalNot(Operation):
    def compute(self, x):
        return np.logical_not(x)

    def output_shape_of(self, a):
        return tuple(a)


class _Reduce(Operation):
    FN = None

    def __init__(self, axis=None, keepdims: bool = False, name: str | None = None):
        super().__init__(name=name)
        self.axis = tuple(axis) if isinstance(axis, list | tuple) else axis
        self.keepdims = bool(keepdims)

    def compute(self, x):
        return type(self).FN(np.asarray(x), axis=self.axis, keepdims=self.keepdims)

    def output_shape_of(self, a):
        a = tuple(a)
        axes = range(len(a)) if self.axis is None else (
            self.axis if isinstance(self.axis, tuple) else (self.axis,))
        axes = {ax % len(a) for ax in axes}
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(a))
        return tuple(d for i, d in enumerate(a) if i not in axes)

    def get_config(self) -> dict:
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        return {"name": self.name, "axis": axis, "keepdims": self.keepdims}


@_register
class Any(_Reduce):
    FN = staticmethod(np.any)


@_register
class All(_Reduce):
    FN = staticmethod(np.all)


@_register
class ExpandDims(Operation):
    def __init__(self, axis: int = -1, name: str | None = None):
        super().__init__(name=name)
        self.axis = int(axis)

    def compute(self, x):
        return np.expand_dims(x, self.axis)

    def output_shape_of(self, a):
        a = list(a)
        axis = self.axis if self.axis >= 0 else len(a) + 1 + self.axis
        return tuple(a[:axis] + [1] + a[axis:])

    def get_config(self) -> dict:
        return {"name": self.name, "axis": self.axis}


@_register
class Squeeze(ExpandDims):
    def __init__(self, axis=None, name: str | None = None):
        Operation.__init__(self, name=name)
        self.axis = axis

    def compute(self, x):
        return np.squeeze(x, axis=self.axis)

    def output_shape_of(self, a):
        a = tuple(a)
        if self.axis is None:
            return tuple(d for d in a if d != 1)
        axes = {ax % len(a) for ax in (self.axis if isinstance(self.axis, list | tuple)
                                       else (self.axis,))}
        return tuple(d for i, d in enumerate(a) if i not in axes)


@_register
class ZerosLike(Operation):
    FILL = 0

    def __init__(self, dtype=None, name: str | None = None):
        super().__init__(name=name)
        self.out_dtype = None if dtype is None else np.dtype(dtype)
        if self.out_dtype is not None:
            self.dtype = self.out_dtype

    def compute(self, x):
        x = np.asarray(x)
        return np.full(x.shape, self.FILL, dtype=self.out_dtype or x.dtype)

    def output_shape_of(self, a):
        return tuple(a)

    def get_config(self) -> dict:
        return {"name": self.name,
                "dtype": None if self.out_dtype is None else self.out_dtype.name}


@_register
class OnesLike(ZerosLike):
    FILL = 1


@_register
class Cast(ZerosLike):
    def compute(self, x):
        return np.asarray(x).astype(self.out_dtype)


@_register
class Concatenate(Operation):
    def __init__(self, axis: int = 0, name: str | None = None):
        super().__init__(name=name)
        self.axis = int(axis)

    def compute(self, xs):
        return np.concatenate([np.asarray(x) for x in xs], axis=self.axis)

    def output_shape_of(self, shapes):
        shapes = [tuple(s) for s in shapes]
        axis = self.axis % len(shapes[0])
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def get_config(self) -> dict:
        return {"name": self.name, "axis": self.axis}
