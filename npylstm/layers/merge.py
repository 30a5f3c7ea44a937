"""The Keras merge layers: ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``,
``Maximum``, ``Minimum`` and ``Dot``, called on a list of tensors.

Following Keras 3.15's ``keras/src/layers/merging/``: ``base_merge.py`` (shape checks,
``_compute_elemwise_op_output_shape``, lower ranks expanded at axis 1, ``compute_mask``,
``_apply_merge_op_and_or_mask``) and each class's file (``dot.py`` with ``batch_dot``)::

    Add:       y = x_0 + x_1 + ... + x_{n-1}           (broadcasting, batch axis apart)
    Subtract:  y = x_0 - x_1
    Average:   y = (x_0 + ... + x_{n-1}) / n
    Multiply:  y = x_0 * x_1 * ... * x_{n-1}
    Maximum:   y = max(x_0, ..., x_{n-1})              (elementwise; Minimum: min)
    Concatenate(axis):  y = concatenate([x_0, ...], axis)
    Dot(axes):  y[b, i.., j..] = sum_k x_0[b, i.., k, ..] x_1[b, j.., k, ..]
                (normalize: each x first times min(1 / ||x||_2, 1 / epsilon) along its axis)

Masks (``(batch, timesteps)``, True at the real steps): the output mask is the OR of the
inputs' masks (None if one has none; Concatenate and Dot: see them); only Multiply, Maximum
and Minimum use masks in their values. Gradients are JAX's: broadcasting summed back to
each input's shape; Maximum / Minimum route to the winner, halves at ties. Examples: in
each class.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from ..registry import register
from .base import Layer

__all__ = [
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Merge", "Minimum", "Multiply",
    "Subtract",
]

#: ``keras.config.epsilon()``: the floor of the l2 norm in ``Dot(normalize=True)``.
EPSILON = 1e-7


def _unbroadcast(d: np.ndarray, shape: tuple) -> np.ndarray:
    """``d`` summed over the axes broadcasting added or stretched, back to ``shape``."""
    extra = d.ndim - len(shape)
    if extra > 0:
        d = d.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and d.shape[i] != 1)
    if stretched:
        d = d.sum(axis=stretched, keepdims=True)
    return np.broadcast_to(d, shape)


def _where_grads(cond, d, a_shape, b_shape):
    """The gradients of ``where(cond, a, b)`` for ``a`` and ``b``."""
    return _unbroadcast(np.where(cond, d, 0), a_shape), _unbroadcast(np.where(cond, 0, d), b_shape)


def _balanced_eq(x, z, y):
    """JAX's ``max`` / ``min`` derivative for ``x`` of result ``z``: 1 if it won, 1/2 at a tie."""
    return (x == z) / (1.0 + (y == z)).astype(z.dtype)


def _known_batch(shapes) -> set:
    return {s[0] for s in shapes if s} - {None}


class Merge(Layer):
    """Keras's ``base_merge.Merge``: a list of inputs, shape checks, broadcasting, the OR of
    the masks. A subclass writes ``_merge(xs, masks) -> (y, cache)`` and
    ``_merge_backward(dy, cache) -> dxs`` (each broadcastable to its input: summed back).

    >>> from npylstm.layers import Maximum
    >>> Maximum().compute_output_shape([(None, 5, 4), (None, 1, 4)])
    (None, 5, 4)
    """

    SUPPORTS_MASKING = True
    #: The number of inputs the layer takes (None: one or more).
    EXACT_INPUTS: int | None = None
    #: Keras's ``_reshape_required``: inputs of lower rank are expanded at axis 1.
    EXPANDS_RANKS = True

    # -- shapes -----------------------------------------------------------------------------
    def _shapes(self, input_shape) -> list[tuple]:
        """The list of shapes (one per input), or an error naming what was received."""
        if (not isinstance(input_shape, list | tuple) or not input_shape
                or not all(isinstance(s, list | tuple) for s in input_shape)):
            raise self._error(
                f"expected a list of input shapes, one per input, received {input_shape!r}")
        shapes = [tuple(s) for s in input_shape]
        if self.EXACT_INPUTS is not None and len(shapes) != self.EXACT_INPUTS:
            raise self._error(f"expected exactly {self.EXACT_INPUTS} inputs, received "
                              f"{len(shapes)} with shapes {shapes}")
        for i, s in enumerate(shapes):
            if not s:
                raise self._error(f"input {i} has shape {s}: expected a batch axis")
        return shapes

    def _check_batch(self, shapes) -> None:
        if len(_known_batch(shapes)) > 1:
            raise self._error(f"cannot merge inputs with different batch sizes, received "
                              f"shapes {shapes}")

    def _broadcast_shape(self, shapes) -> tuple:
        """Keras's ``_compute_elemwise_op_output_shape`` folded over the inputs (the batch
        axis apart): axes aligned from the end, a 1 stretches, None stays unknown."""
        out = shapes[0][1:]
        for i in range(1, len(shapes)):
            s = shapes[i][1:]
            longer, shorter = (out, s) if len(out) >= len(s) else (s, out)
            lead = len(longer) - len(shorter)
            merged = list(longer[:lead])
            for k, (a, b) in enumerate(zip(longer[lead:], shorter, strict=True)):
                if a is None or b is None:
                    merged.append(None)
                elif a == 1 or b == 1:
                    merged.append(b if a == 1 else a)
                elif a != b:
                    self._incompatible(shapes, i, k - len(shorter))
                else:
                    merged.append(a)
            out = tuple(merged)
        return out

    def _incompatible(self, shapes, i: int, axis: int):
        """Input ``i`` clashes at ``axis`` (from the end) with an earlier input: name both."""
        dim = shapes[i][axis]
        j = next(j for j in range(i) if len(shapes[j]) > -axis
                 and shapes[j][axis] not in (None, 1, dim))
        raise self._error(
            f"inputs {j} and {i} have incompatible shapes {shapes[j]} and {shapes[i]}: axis "
            f"{axis} is {shapes[j][axis]} and {dim} (sizes must be equal, or 1 to broadcast)")

    def _validate(self, shapes) -> list[tuple]:
        """Keras's ``build`` checks, on build shapes or on the shapes of a call's arrays."""
        shapes = self._shapes(shapes)
        self._check_batch(shapes)
        self._broadcast_shape(shapes)
        return shapes

    def build(self, input_shape) -> None:
        self.input_shape = self._validate(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = self._validate(input_shape)
        batch = _known_batch(shapes)
        return (batch.pop() if len(batch) == 1 else None, *self._broadcast_shape(shapes))

    # -- masks ------------------------------------------------------------------------------
    def _check_mask_list(self, inputs, mask) -> None:
        n = len(inputs) if isinstance(inputs, list | tuple) else None
        if not isinstance(mask, list | tuple) or len(mask) != n:
            got = f"{len(mask)} masks" if isinstance(mask, list | tuple) else type(mask).__name__
            raise self._error(f"expected a list of masks, one per input (None allowed) of a "
                              f"list of {n} inputs, received {got}")

    def compute_mask(self, inputs, mask=None):
        """Keras's ``Merge.compute_mask``: the logical OR of the inputs' masks; None when
        ``mask`` is None or any input has no mask."""
        if mask is None:
            return None
        self._check_mask_list(inputs, mask)
        if any(m is None for m in mask):
            return None
        out = np.asarray(mask[0], dtype=bool)
        for m in mask[1:]:
            out = np.logical_or(out, m)
        return out

    def _mask_like(self, i: int, mask: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Keras's ``broadcast_to(expand_dims(mask, -1), shape(x))``."""
        try:
            return np.broadcast_to(mask[..., None], x.shape)
        except ValueError:
            raise self._error(f"mask {i} of shape {mask.shape} does not fit input {i} of "
                              f"shape {x.shape} (expected its leading axes)") from None

    # -- calling ----------------------------------------------------------------------------
    def _call_inputs(self, inputs) -> list[np.ndarray]:
        if not isinstance(inputs, list | tuple):
            raise self._error(f"expected a list of input arrays, received "
                              f"{type(inputs).__name__}")
        xs = [self._as_float_array(x) for x in inputs]
        shapes = [(None, *x.shape[1:]) if x.ndim else () for x in xs]
        if not self.built:
            self.build(shapes)
        self._validate([x.shape for x in xs])
        return xs

    def _call_masks(self, mask, xs) -> list:
        if mask is None:
            return [None] * len(xs)
        self._check_mask_list(xs, mask)
        masks = [None if m is None else np.asarray(m, dtype=bool) for m in mask]
        for i, (m, x) in enumerate(zip(masks, xs, strict=True)):
            if m is not None and (m.ndim >= x.ndim or m.shape != x.shape[:m.ndim]):
                raise self._error(f"mask {i} has shape {m.shape}, input {i} has shape "
                                  f"{x.shape}: expected the input's leading axes")
        return masks

    def forward(self, inputs, training: bool = False, rng=None, mask=None):
        """``(y, cache)``; ``mask``: None or one mask (or None) per input."""
        xs = self._call_inputs(inputs)
        masks = self._call_masks(mask, xs)
        shapes = [x.shape for x in xs]
        rank = max(x.ndim for x in xs)
        if self.EXPANDS_RANKS and any(x.ndim < rank for x in xs):
            # Keras expands at axis 1 (new tensors: their masks are not carried over).
            masks = [m if x.ndim == rank else None for x, m in zip(xs, masks, strict=True)]
            xs = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
        y, cache = self._merge(xs, masks)
        return np.array(y, dtype=self.dtype), (shapes, [x.shape for x in xs], cache)

    def backward(self, dy, cache):
        """``(dxs, [])``: one gradient per input, in order (no weights)."""
        shapes, expanded, merge_cache = cache
        dy = np.asarray(dy, dtype=self.dtype)
        dxs = self._merge_backward(dy, merge_cache)
        return [np.array(_unbroadcast(np.asarray(d), e).reshape(s), dtype=self.dtype)
                for d, e, s in zip(dxs, expanded, shapes, strict=True)], []


@register("Add")
class Add(Merge):
    """Elementwise sum of the inputs (Keras's ``add.py``); masks do not change the values.

    >>> import numpy as np
    >>> Add()([np.ones((1, 2, 3)), np.ones((1, 1, 3))]).shape   # broadcasting
    (1, 2, 3)
    """

    def _merge(self, xs, masks):
        return functools.reduce(np.add, xs), len(xs)  # x_0 + x_1 + ..., left to right

    def _merge_backward(self, dy, n):
        return [dy] * n


@register("Subtract")
class Subtract(Merge):
    """``inputs[0] - inputs[1]`` (Keras's ``subtract.py``): exactly two inputs.

    >>> import numpy as np
    >>> Subtract()([np.full((1, 2), 3.0), np.ones((1, 2))]).tolist()
    [[2.0, 2.0]]
    """

    EXACT_INPUTS = 2

    def _merge(self, xs, masks):
        return xs[0] - xs[1], None

    def _merge_backward(self, dy, cache):
        return [dy, -dy]


@register("Average")
class Average(Merge):
    """Elementwise mean of the inputs (Keras's ``average.py``: the sum divided by their
    number); masks do not change the values.

    >>> import numpy as np
    >>> Average()([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
    [[0.5, 0.5]]
    """

    def _merge(self, xs, masks):
        return functools.reduce(np.add, xs) / len(xs), len(xs)

    def _merge_backward(self, dy, n):
        return [dy / n] * n


@register("Multiply")
class Multiply(Merge):
    """Elementwise product of the inputs (Keras's ``multiply.py``).

    With masks, each input's masked-out steps count as 1; when every input has a mask, the
    output is 0 where none of them is real::

        x_i' = where(mask_i, x_i, 1);  y = prod_i x_i';  y = where(OR_i mask_i, y, 0)

    >>> import numpy as np
    >>> x = np.full((1, 2, 1), 3.0)
    >>> y, _ = Multiply().forward([x, x], mask=[np.array([[True, False]]), None])
    >>> y.ravel().tolist()
    [9.0, 3.0]
    """

    USES_MASK = True

    def _merge(self, xs, masks):
        has_output_mask = all(m is not None for m in masks)
        factors, keeps, products = [], [], []  # x_i', masks, the running products
        output = output_mask = None
        for i, (x, m) in enumerate(zip(xs, masks, strict=True)):
            if m is not None:
                m = self._mask_like(i, m, x)  # (batch, timesteps, ...) like x
                x = np.where(m, x, x.dtype.type(1))
                if has_output_mask:
                    output_mask = m if output_mask is None else np.logical_or(output_mask, m)
            factors.append(x)
            keeps.append(m)
            output = x if output is None else output * x
            products.append(output)
        if has_output_mask:
            output = np.where(output_mask, output, output.dtype.type(0))
        return output, (factors, keeps, products, output_mask)

    def _merge_backward(self, dy, cache):
        factors, keeps, products, output_mask = cache
        d_out = dy if output_mask is None else np.where(output_mask, dy, 0)
        dfactors = []
        for k in range(len(factors) - 1, 0, -1):  # products[k] = products[k - 1] * factors[k]
            dfactors.insert(0, _unbroadcast(d_out * products[k - 1], factors[k].shape))
            d_out = _unbroadcast(d_out * factors[k], products[k - 1].shape)
        return [d if m is None else np.where(m, d, 0)  # x_i' = where(m, x_i, 1)
                for d, m in zip([d_out, *dfactors], keeps, strict=True)]


class _MaskedExtremum(Merge):
    """Maximum / Minimum: Keras's ``_apply_merge_op_and_or_mask``. At each input after the
    first, its masked-out entries take the running output's values and the running output's
    masked-out entries take the input's, then ``op``; the mask ORs along (None as soon as
    one input has none)."""

    USES_MASK = True
    _OP = staticmethod(np.maximum)

    def _merge(self, xs, masks):
        output, output_mask, steps = None, None, []
        for i, (x, m) in enumerate(zip(xs, masks, strict=True)):
            if m is not None:
                m = self._mask_like(i, m, x)  # (batch, timesteps, ...) like x
            if output is None:
                output, output_mask = x, m
                continue
            previous, x_in = output, x
            if m is not None:
                x = np.where(m, x_in, previous)
            left = previous if output_mask is None else np.where(output_mask, previous, x)
            output = self._OP(left, x)
            steps.append((previous.shape, x_in.shape, m, x, output_mask, left, output))
            output_mask = (np.logical_or(output_mask, m)
                           if m is not None and output_mask is not None else None)
        return output, steps

    def _merge_backward(self, dy, steps):
        dxs, d_out = [], dy
        for previous_shape, x_shape, m, x, output_mask, left, out in reversed(steps):
            d_left = _unbroadcast(d_out * _balanced_eq(left, out, x), left.shape)
            d_x = _unbroadcast(d_out * _balanced_eq(x, out, left), x.shape)
            if output_mask is None:  # left is the running output
                d_previous = d_left
            else:  # left = where(output_mask, previous, x)
                d_previous, d_from_left = _where_grads(output_mask, d_left, previous_shape,
                                                       x.shape)
                d_x = d_x + d_from_left
            if m is not None:  # x = where(m, x_in, previous)
                d_x, d_from_x = _where_grads(m, d_x, x_shape, previous_shape)
                d_previous = d_previous + d_from_x
            dxs.append(d_x)
            d_out = d_previous
        return [d_out, *dxs[::-1]]


@register("Maximum")
class Maximum(_MaskedExtremum):
    """Elementwise maximum of the inputs (Keras's ``maximum.py``); at a step one input masks
    out, the others' values are taken.

    >>> import numpy as np
    >>> Maximum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[3.0, 5.0]]
    """

    _OP = staticmethod(np.maximum)


@register("Minimum")
class Minimum(_MaskedExtremum):
    """Elementwise minimum of the inputs (Keras's ``minimum.py``), masks as ``Maximum``.

    >>> import numpy as np
    >>> Minimum()([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[1.0, 2.0]]
    """

    _OP = staticmethod(np.minimum)


@register("Concatenate")
class Concatenate(Merge):
    """Join the inputs along ``axis`` (Keras's ``concatenate.py``): every other axis must
    have one size (None matches any).

    The output mask: each input's mask (all True without one) spread over its features,
    concatenated along ``axis``, then "any" over the last axis: along the features it is the
    OR of the masks, along the time axis their concatenation.

    >>> import numpy as np
    >>> layer = Concatenate(axis=1)
    >>> layer([np.zeros((2, 2, 5)), np.ones((2, 1, 5))]).shape
    (2, 3, 5)
    >>> layer.compute_mask([np.zeros((1, 2, 5)), np.ones((1, 1, 5))],
    ...                    [np.array([[True, False]]), None]).tolist()
    [[True, False, True]]
    """

    EXPANDS_RANKS = False

    def __init__(self, axis: int = -1, name: str | None = None, dtype="float32",
                 input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise self._error(f"expected axis to be an integer, received {axis!r}")
        self.axis = int(axis)

    def _validate(self, shapes) -> list[tuple]:
        shapes = self._shapes(shapes)
        rank = len(shapes[0])
        for i, s in enumerate(shapes):
            if len(s) != rank:
                raise self._error(
                    f"inputs 0 and {i} have shapes {shapes[0]} and {s} of ranks {rank} and "
                    f"{len(s)}: expected inputs of one rank")
        if not -rank <= self.axis < rank:
            raise self._error(f"axis {self.axis} is out of range for inputs of rank {rank} "
                              f"(shapes {shapes})")
        concat_axis = self.axis % rank
        for k in range(rank):
            known = [(i, s[k]) for i, s in enumerate(shapes) if s[k] is not None]
            clash = [(i, d) for i, d in known if d != known[0][1]]
            if k != concat_axis and clash:
                (j, a), (i, b) = known[0], clash[0]
                raise self._error(
                    f"inputs {j} and {i} have shapes {shapes[j]} and {shapes[i]}: axis {k} is "
                    f"{a} and {b}, expected one size on every axis but the concatenation "
                    f"axis {self.axis}")
        return shapes

    def compute_output_shape(self, input_shape):
        """Keras's: the first input's shape, the sizes along ``axis`` added (None if any
        is None)."""
        shapes = self._validate(input_shape)
        out = list(shapes[0])
        for s in shapes[1:]:
            if out[self.axis] is None or s[self.axis] is None:
                out[self.axis] = None
                break
            out[self.axis] += s[self.axis]
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        """Keras's ``Concatenate.compute_mask`` (see the class docstring)."""
        if mask is None:
            return None
        self._check_mask_list(inputs, mask)
        if all(m is None for m in mask):
            return None
        masks = []
        for x, m in zip(inputs, mask, strict=True):
            shape = np.shape(x)
            if m is None:
                masks.append(np.ones(shape, dtype=bool))
            elif np.ndim(m) < len(shape):
                masks.append(np.broadcast_to(np.asarray(m, dtype=bool)[..., None], shape))
            else:
                masks.append(np.asarray(m, dtype=bool))
        return np.concatenate(masks, axis=self.axis).any(axis=-1)

    def _merge(self, xs, masks):
        return np.concatenate(xs, axis=self.axis), [x.shape[self.axis] for x in xs]

    def _merge_backward(self, dy, sizes):
        return np.split(dy, np.cumsum(sizes)[:-1], axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


@register("Dot")
class Dot(Merge):
    """Batchwise dot product of two inputs along ``axes`` (Keras's ``dot.py``, its
    ``batch_dot``): the output keeps the first input's other axes, then the second's (two
    2-D inputs give ``(batch, 1)``). ``axes``: an int (both inputs) or a pair; negative axes
    count from each input's end; the batch axis cannot be one. ``normalize``: l2-normalize
    each input along its axis first (Keras's ``ops.normalize``:
    ``x * min(rsqrt(sum(x ** 2)), 1 / epsilon)``): cosine similarities. No output mask.

    >>> import numpy as np
    >>> x = np.arange(6.0).reshape(1, 3, 2)
    >>> Dot(axes=(1, 1))([x, x]).tolist()
    [[[20.0, 26.0], [26.0, 35.0]]]
    >>> Dot(axes=-1, normalize=True)([np.array([[3.0, 4.0]]), np.array([[3.0, 4.0]])]).shape
    (1, 1)
    """

    EXACT_INPUTS = 2
    EXPANDS_RANKS = False

    def __init__(self, axes, normalize: bool = False, name: str | None = None,
                 dtype="float32", input_shape=None, trainable: bool = True):
        super().__init__(name=name, dtype=dtype, input_shape=input_shape, trainable=trainable)

        def is_int(a):
            return isinstance(a, numbers.Integral) and not isinstance(a, bool)

        if not is_int(axes) and not (isinstance(axes, list | tuple) and len(axes) == 2
                                     and all(is_int(a) for a in axes)):
            raise self._error(f"expected axes to be an integer or a pair of integers, "
                              f"received {axes!r}")
        if not isinstance(normalize, bool | np.bool_):
            raise self._error(f"expected normalize to be True or False, received "
                              f"{normalize!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _pair(self) -> list[int]:
        return [self.axes] * 2 if isinstance(self.axes, numbers.Integral) else list(self.axes)

    def _axes(self, shapes) -> list[int]:
        """Each input's axis, counted from 0 (Keras's ``_merge_function``)."""
        return [int(a) % len(s) for a, s in zip(self._pair(), shapes, strict=True)]

    def _validate(self, shapes) -> list[tuple]:
        shapes = self._shapes(shapes)
        for i, (a, s) in enumerate(zip(self._pair(), shapes, strict=True)):
            if len(s) < 2 or not -len(s) < a < len(s) or a == 0:  # never the batch axis
                raise self._error(f"axes={self.axes!r}: input {i} has shape {s}, expected "
                                  f"an axis of it from 1 to {len(s) - 1} (or -{len(s) - 1} to "
                                  f"-1): the batch axis cannot be summed over")
        self._check_batch(shapes)
        (a0, a1), (s0, s1) = self._axes(shapes), shapes
        if s0[a0] != s1[a1]:  # Keras's build refuses None against a known size too
            raise self._error(f"inputs 0 and 1 have shapes {s0} and {s1}: sizes {s0[a0]} (input "
                              f"0, axis {a0}) and {s1[a1]} (input 1, axis {a1}) differ, "
                              f"expected equal sizes along axes={self.axes!r}")
        return shapes

    def compute_output_shape(self, input_shape):
        shapes = self._validate(input_shape)
        (a0, a1), (s0, s1) = self._axes(shapes), shapes
        out = [d for k, d in enumerate(s0) if k != a0] + [
            d for k, d in enumerate(s1) if k not in (0, a1)]
        return tuple(out + [1] if len(out) == 1 else out)

    def compute_mask(self, inputs, mask=None):
        """None: Keras's ``Dot`` output carries no mask."""
        return None

    def _subscripts(self, x0, x1) -> tuple[str, str, str]:
        """einsum subscripts of the two inputs and the output (batch ``a``, axis ``z``)."""
        a0, a1 = self._axes([x0.shape, x1.shape])
        s0 = ["a"] + [chr(ord("b") + k) for k in range(x0.ndim - 1)]
        s1 = ["a"] + [chr(ord("m") + k) for k in range(x1.ndim - 1)]
        s0[a0] = s1[a1] = "z"
        out = [c for c in s0 if c != "z"] + [c for c in s1[1:] if c != "z"]
        return "".join(s0), "".join(s1), "".join(out)

    def _l2_normalize(self, x, axis):
        """Keras's ``ops.normalize(x, axis)``, order 2: ``x * min(rsqrt(sum(x**2)), 1/eps)``."""
        square_sum = np.sum(np.square(x), axis=axis, keepdims=True)  # (..., 1, ...)
        with np.errstate(divide="ignore"):
            rsqrt = (1.0 / np.sqrt(square_sum)).astype(x.dtype)
        inv_norm = np.minimum(rsqrt, x.dtype.type(1.0 / EPSILON))
        return x * inv_norm, (x, axis, square_sum, rsqrt, inv_norm)

    @staticmethod
    def _l2_normalize_backward(dn, cache):
        x, axis, square_sum, rsqrt, inv_norm = cache
        cap = np.full_like(inv_norm, 1.0 / EPSILON)
        d_rsqrt = np.sum(dn * x, axis=axis, keepdims=True) * _balanced_eq(rsqrt, inv_norm, cap)
        # JAX's rsqrt rule (inv_norm = rsqrt there; finite at x = 0, where JAX has 0 * inf)
        d_square_sum = np.divide(-0.5 * d_rsqrt * inv_norm, square_sum,
                                 out=np.zeros_like(square_sum), where=d_rsqrt != 0)
        return dn * inv_norm + 2 * x * d_square_sum

    def _merge(self, xs, masks):
        x0, x1 = xs
        caches = [None, None]
        if self.normalize:
            (a0, a1), normalize = self._axes([x0.shape, x1.shape]), self._l2_normalize
            (x0, caches[0]), (x1, caches[1]) = normalize(x0, a0), normalize(x1, a1)
        s0, s1, out = self._subscripts(x0, x1)
        y = np.einsum(f"{s0},{s1}->{out}", x0, x1)  # (batch, x0's other axes, x1's)
        return (y[:, None] if y.ndim == 1 else y), (x0, x1, caches)

    def _merge_backward(self, dy, cache):
        x0, x1, caches = cache
        s0, s1, out = self._subscripts(x0, x1)
        dy = dy.reshape(dy.shape[:1]) if len(out) == 1 else dy
        dxs = [np.einsum(f"{out},{s1}->{s0}", dy, x1), np.einsum(f"{out},{s0}->{s1}", dy, x0)]
        return [d if c is None else self._l2_normalize_backward(d, c)
                for d, c in zip(dxs, caches, strict=True)]

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
