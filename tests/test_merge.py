"""The merge layers against real Keras (JAX) beyond the conformance rows.

Keras's merge layers read their masks from the tensors (``_keras_mask``), so the masked
checks here attach them (``set_keras_mask``) and compare outputs, input gradients and the
output mask Keras sets; then output shapes with unknown sizes, Concatenate / Dot axes
(hypothesis), JAX's tie gradients of Maximum / Minimum, and every bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npylstm import registry
from npylstm.layers import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
)

HYPOTHESIS = settings(max_examples=10, deadline=None, derandomize=True)


def _ours(layer, xs, masks, projection):
    """Output, input gradients (for ``sum(y * projection)``) and output mask, through the
    graph hooks a functional model calls."""
    y, cache = layer.graph_forward([xs], {}, [masks], False)
    (dxs,), _, grads = layer.graph_backward(projection, cache)
    assert grads == []
    return y, dxs, layer.graph_output_mask([xs], [masks], y)


def _theirs(keras, layer, xs, masks, projection, output_mask=True):
    """Keras's output, input gradients and output mask (an eager call: ``output_mask``),
    the masks attached to the inputs."""
    import jax
    import jax.numpy as jnp
    from keras.src import backend as keras_backend

    theirs = keras.layers.deserialize(registry.serialize(layer))
    theirs.build([(None, *x.shape[1:]) for x in xs])

    def attach(tensors):
        for t, m in zip(tensors, masks, strict=True):
            if m is not None:
                keras_backend.set_keras_mask(t, jnp.asarray(m))
        return tensors

    def objective(tensors):
        out, _ = theirs.stateless_call([], [], attach(tensors))
        return jnp.sum(out * projection), out

    grad = jax.jit(jax.value_and_grad(objective, has_aux=True))  # one compile, not one per op
    (_, out), dxs = grad([jnp.asarray(x) for x in xs])
    mask = None
    if output_mask:
        mask = keras_backend.get_keras_mask(theirs(attach([jnp.asarray(x) for x in xs])))
    return np.asarray(out), [np.asarray(d) for d in dxs], None if mask is None else np.asarray(
        mask)


def _compare(keras, layer, xs, masks, output_mask=True):
    shape = layer.forward(xs)[0].shape
    projection = np.random.default_rng(0).normal(size=shape).astype("float32")
    y, dxs, mask = _ours(layer, xs, masks, projection)
    their_y, their_dxs, their_mask = _theirs(keras, layer, xs, masks, projection, output_mask)
    for ours, ref in [(y, their_y), *zip(dxs, their_dxs, strict=True)]:
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=1e-5 * max(1.0, np.max(np.abs(ref))))
    if their_mask is None:
        assert mask is None
    else:
        np.testing.assert_array_equal(mask, their_mask)
    return y, dxs, mask


def _time_masks(rng, xs, which):
    """A random ``(batch, timesteps)`` mask for the 3-D inputs ``which`` names, None
    elsewhere."""
    picked = {"all": range(len(xs)), "first": [0], "last": [len(xs) - 1], "none": []}[which]
    masks = [None] * len(xs)
    for i in (i for i in picked if xs[i].ndim == 3):
        masks[i] = rng.random(xs[i].shape[:2]) < 0.5
    return masks


MASKED = [
    ("add", Add, {}, [(2, 5, 4), (2, 5, 4)]),
    ("subtract_broadcast", Subtract, {}, [(2, 5, 4), (2, 1, 4)]),
    ("average_3", Average, {}, [(2, 5, 4)] * 3),
    ("multiply", Multiply, {}, [(2, 5, 4), (2, 5, 4)]),
    ("multiply_broadcast_3", Multiply, {}, [(2, 5, 4), (2, 1, 4), (2, 5, 4)]),
    ("maximum_3", Maximum, {}, [(2, 5, 4)] * 3),
    ("minimum_broadcast", Minimum, {}, [(2, 5, 4), (2, 1, 4)]),
    ("multiply_ranks", Multiply, {}, [(2, 4), (2, 5, 4), (2, 5, 4)]),  # (2, 4) -> (2, 1, 4)
    ("concatenate_time", Concatenate, {"axis": 1}, [(2, 3, 4), (2, 5, 4)]),
    ("concatenate_features_3", Concatenate, {"axis": -1}, [(2, 3, 4), (2, 3, 2), (2, 3, 1)]),
    ("dot", Dot, {"axes": (2, 2)}, [(2, 3, 4), (2, 5, 4)]),
]


@pytest.mark.parametrize("which", ["all", "first", "last"])
@pytest.mark.parametrize("case", MASKED, ids=[c[0] for c in MASKED])
def test_masked_outputs_gradients_and_output_mask_match_keras(keras, case, which):
    _, cls, config, shapes = case
    rng = np.random.default_rng(7)
    # halves: Maximum / Minimum see ties (JAX splits the gradient), Multiply sees zeros
    xs = [(np.round(rng.normal(size=s) * 2) / 2).astype("float32") for s in shapes]
    _compare(keras, cls(**config), xs, _time_masks(rng, xs, which))


def test_mask_rules_by_hand():
    a, b = np.zeros((1, 3, 2)), np.zeros((1, 2, 2))
    ma, mb = np.array([[True, False, False]]), np.array([[False, True]])
    # Merge: the OR of the masks, None when an input has none
    assert Add().compute_mask([a, a], [ma, np.array([[False, False, True]])]).tolist() == [
        [True, False, True]]
    assert Add().compute_mask([a, a], [ma, None]) is None
    assert Add().compute_mask([a, a], None) is None
    # Concatenate along time: the masks concatenated, all True for an input without one
    assert Concatenate(axis=1).compute_mask([a, b], [ma, mb]).tolist() == [
        [True, False, False, False, True]]
    assert Concatenate(axis=1).compute_mask([a, b], [None, mb]).tolist() == [
        [True, True, True, False, True]]
    # along the features: the OR, an input without a mask counting as all True
    assert Concatenate().compute_mask([a, a], [ma, None]).tolist() == [[True, True, True]]
    assert Concatenate().compute_mask([a, a], [None, None]) is None
    assert Dot(axes=2).compute_mask([a, a], [ma, ma]) is None


def test_masked_values_by_hand():
    x = np.array([[[2.0], [3.0]]])  # (1, 2, 1)
    z = np.array([[[5.0], [-1.0]]])
    keep = [np.array([[True, False]]), np.array([[False, False]])]
    # Multiply: masked-out entries count as 1, and 0 where no input is real
    assert Multiply().forward([x, z], mask=keep)[0].ravel().tolist() == [2.0, 0.0]
    assert Multiply().forward([x, z], mask=[keep[0], None])[0].ravel().tolist() == [10.0, -1.0]
    # Maximum: a masked-out entry takes the other input's value
    assert Maximum().forward([x, z], mask=keep)[0].ravel().tolist() == [2.0, 3.0]
    assert Minimum().forward([x, z], mask=[None, keep[1]])[0].ravel().tolist() == [2.0, 3.0]
    # Add / Average / Concatenate ignore masks in their values (Keras's call has no mask)
    assert not Add.USES_MASK and not Concatenate.USES_MASK and Multiply.USES_MASK


def test_maximum_ties_split_the_gradient_as_jax_does():
    x = np.ones((1, 2), dtype="float32")
    layer = Maximum()
    _, cache = layer.forward([x, x, x])
    dxs, _ = layer.backward(np.ones((1, 2), dtype="float32"), cache)
    # max(max(a, b), c): halves at the first tie, then halves again for the left side
    assert [d.ravel().tolist() for d in dxs] == [[0.25, 0.25], [0.25, 0.25], [0.5, 0.5]]
    _, cache = Minimum().forward([x, 2 * x])
    assert [d.tolist() for d in Minimum().backward(x, cache)[0]] == [[[1.0, 1.0]],
                                                                      [[0.0, 0.0]]]


def test_dot_normalize_of_a_zero_vector_has_keras_output_and_a_finite_gradient():
    zero, z = np.zeros((1, 3), dtype="float32"), np.array([[1.0, 2.0, 3.0]], dtype="float32")
    layer = Dot(axes=1, normalize=True)
    y, cache = layer.forward([zero, z])
    assert y.tolist() == [[0.0]]  # Keras: 0 * min(rsqrt(0), 1 / epsilon) = 0
    (dzero, dz), _ = layer.backward(np.ones_like(y), cache)
    # x * (1 / epsilon) near x = 0: the capped norm's gradient (JAX's rule gives 0 * inf = NaN)
    np.testing.assert_allclose(dzero, z / np.linalg.norm(z) * 1e7, rtol=1e-6)
    assert dz.tolist() == [[0.0, 0.0, 0.0]]


def test_gradients_are_fresh_arrays_per_input():
    x = np.ones((2, 3), dtype="float32")
    layer = Add()
    _, cache = layer.forward([x, x])
    dxs, _ = layer.backward(x, cache)
    assert dxs[0] is not dxs[1] and not np.shares_memory(dxs[0], dxs[1])


SHAPES = [
    (Add, {}, [(None, None, 4), (None, 5, 1)]),
    (Add, {}, [(None, 4), (None, 5, 4)]),
    (Add, {}, [(None, 1, 4), (None, 5, 1), (None, 5, 4)]),
    (Add, {}, [(2, 3), (None, 3)]),
    (Maximum, {}, [(None, None, 1), (None, 3, 4)]),
    (Subtract, {}, [(None, 3, 1), (None, 1, 3)]),
    (Concatenate, {"axis": 1}, [(None, None, 4), (None, 5, 4)]),
    (Concatenate, {"axis": -1}, [(None, None, 4), (None, 3, 2)]),
    (Concatenate, {"axis": -1}, [(None, 3, 4)]),
    (Dot, {"axes": (1, 1)}, [(None, None, 4), (None, None, 5)]),
    (Dot, {"axes": -1}, [(None, 3, 4), (None, 4)]),
    (Dot, {"axes": 1}, [(None, 4), (None, 4)]),
    (Dot, {"axes": (1, -1)}, [(None, 3, 2, 4), (None, 5, 3)]),
]


@pytest.mark.parametrize("cls, config, shapes", SHAPES)
def test_output_shapes_with_unknown_sizes_match_keras(keras, cls, config, shapes):
    layer = cls(**config)
    theirs = keras.layers.deserialize(registry.serialize(layer))
    theirs.build(shapes)
    assert layer.graph_build([shapes], {}) == tuple(theirs.compute_output_shape(shapes))


@HYPOTHESIS
@given(st.data())
def test_concatenate_axes_match_keras(keras, data):
    rank = data.draw(st.integers(2, 4), label="rank")
    n = data.draw(st.integers(1, 3), label="inputs")
    position = data.draw(st.integers(1, rank - 1), label="axis")
    axis = position - rank if data.draw(st.booleans(), label="negative") else position
    dims = [2] + data.draw(st.lists(st.integers(1, 3), min_size=rank - 1, max_size=rank - 1))
    shapes = []
    for _ in range(n):
        shape = list(dims)
        shape[position] = data.draw(st.integers(1, 3))
        shapes.append(tuple(shape))
    rng = np.random.default_rng(n * 10 + rank)
    xs = [rng.normal(size=s).astype("float32") for s in shapes]
    masks = [None] * n
    if rank == 3:
        masks = _time_masks(rng, xs, data.draw(st.sampled_from(["all", "first", "none"])))
    layer = Concatenate(axis=axis)
    _compare(keras, layer, xs, masks)
    theirs = keras.layers.Concatenate(axis=axis)
    none_shapes = [(None, *s[1:]) for s in shapes]
    assert layer.compute_output_shape(none_shapes) == tuple(
        theirs.compute_output_shape(none_shapes))


@HYPOTHESIS
@given(st.data())
def test_dot_axes_match_keras(keras, data):
    ranks = [data.draw(st.integers(2, 4), label=f"rank {i}") for i in range(2)]
    axes = [data.draw(st.integers(1, r - 1), label=f"axis {i}") for i, r in enumerate(ranks)]
    size = data.draw(st.integers(1, 4), label="dot size")
    shapes = []
    for r, a in zip(ranks, axes, strict=True):
        shape = [2] + data.draw(st.lists(st.integers(1, 3), min_size=r - 1, max_size=r - 1))
        shape[a] = size
        shapes.append(tuple(shape))
    form = data.draw(st.sampled_from(["pair", "negative pair", "int"]), label="form")
    if form == "negative pair":
        config_axes = [a - r for a, r in zip(axes, ranks, strict=True)]
    elif form == "int" and axes[0] == axes[1]:
        config_axes = axes[0]
    elif form == "int" and ranks[0] - axes[0] == ranks[1] - axes[1]:
        config_axes = axes[0] - ranks[0]
    else:
        config_axes = tuple(axes)
    layer = Dot(axes=config_axes, normalize=data.draw(st.booleans(), label="normalize"))
    rng = np.random.default_rng(sum(ranks) * 10 + size)
    xs = [rng.normal(size=s).astype("float32") for s in shapes]
    _compare(keras, layer, xs, [None, None], output_mask=False)  # Dot's: tested above
    none_shapes = [(None, *s[1:]) for s in shapes]
    theirs = keras.layers.Dot(axes=config_axes)
    assert layer.compute_output_shape(none_shapes) == tuple(
        theirs.compute_output_shape(none_shapes))


# -- bad inputs ---------------------------------------------------------------------------
BAD_SHAPES = [  # (id, layer, build shapes, our message, Keras refuses the same shapes)
    ("not_a_list", lambda: Add(name="m"), (None, 3),
     r"Add 'm': expected a list of input shapes, one per input, received \(None, 3\)", True),
    ("empty", lambda: Add(name="m"), [], r"Add 'm': expected a list of input shapes", True),
    ("no_batch_axis", lambda: Add(name="m"), [(None, 3), ()],
     r"Add 'm': input 1 has shape \(\): expected a batch axis", False),
    ("batch_sizes", lambda: Add(name="m"), [(2, 3), (4, 3)],
     r"Add 'm': cannot merge inputs with different batch sizes, received shapes "
     r"\[\(2, 3\), \(4, 3\)\]", True),
    ("incompatible", lambda: Add(name="m"), [(None, 5, 4), (None, 3, 4)],
     r"Add 'm': inputs 0 and 1 have incompatible shapes \(None, 5, 4\) and \(None, 3, 4\): "
     r"axis -2 is 5 and 3", True),
    ("incompatible_third", lambda: Maximum(name="m"), [(None, 5, 1), (None, 1, 4),
                                                        (None, 3, 4)],
     r"Maximum 'm': inputs 0 and 2 have incompatible shapes \(None, 5, 1\) and "
     r"\(None, 3, 4\): axis -2 is 5 and 3", True),
    ("incompatible_ranks", lambda: Multiply(name="m"), [(None, 4), (None, 5, 3)],
     r"Multiply 'm': inputs 0 and 1 have incompatible shapes \(None, 4\) and \(None, 5, 3\): "
     r"axis -1 is 4 and 3", True),
    ("subtract_three", lambda: Subtract(name="m"), [(None, 3)] * 3,
     r"Subtract 'm': expected exactly 2 inputs, received 3", True),
    ("subtract_one", lambda: Subtract(name="m"), [(None, 3)],
     r"Subtract 'm': expected exactly 2 inputs, received 1", True),
    ("dot_three", lambda: Dot(1, name="m"), [(None, 3)] * 3,
     r"Dot 'm': expected exactly 2 inputs, received 3", True),
    ("dot_sizes", lambda: Dot((1, 2), name="m"), [(None, 3, 4), (None, 4, 5)],
     r"Dot 'm': inputs 0 and 1 have shapes \(None, 3, 4\) and \(None, 4, 5\): sizes 3 "
     r"\(input 0, axis 1\) and 5 \(input 1, axis 2\) differ", True),
    ("dot_unknown_size", lambda: Dot(1, name="m"), [(None, None, 4), (None, 3, 4)],
     r"Dot 'm': .*sizes None \(input 0, axis 1\) and 3 \(input 1, axis 1\) differ", True),
    ("dot_batch_axis", lambda: Dot(0, name="m"), [(None, 3), (None, 3)],
     r"Dot 'm': axes=0: input 0 has shape \(None, 3\), expected an axis of it from 1 to 1 "
     r"\(or -1 to -1\): the batch axis cannot be summed over", False),
    ("dot_negative_batch_axis", lambda: Dot((-3, 1), name="m"), [(None, 3, 2), (None, 3)],
     r"Dot 'm': axes=\(-3, 1\): input 0 has shape \(None, 3, 2\)", False),
    ("dot_axis_range", lambda: Dot((1, 3), name="m"), [(None, 3), (None, 3, 2)],
     r"Dot 'm': axes=\(1, 3\): input 1 has shape \(None, 3, 2\), expected an axis of it from "
     r"1 to 2", False),
    ("dot_rank_1", lambda: Dot(1, name="m"), [(None,), (None, 3)],
     r"Dot 'm': axes=1: input 0 has shape \(None,\)", False),
    ("concatenate_sizes", lambda: Concatenate(axis=1, name="m"), [(None, 3, 4), (None, 5, 3)],
     r"Concatenate 'm': inputs 0 and 1 have shapes \(None, 3, 4\) and \(None, 5, 3\): axis 2 "
     r"is 4 and 3, expected one size on every axis but the concatenation axis 1", True),
    ("concatenate_ranks", lambda: Concatenate(name="m"), [(None, 3, 4), (None, 3)],
     r"Concatenate 'm': inputs 0 and 1 have shapes \(None, 3, 4\) and \(None, 3\) of ranks 3 "
     r"and 2", True),
    ("concatenate_axis_range", lambda: Concatenate(axis=3, name="m"), [(None, 3, 4)] * 2,
     r"Concatenate 'm': axis 3 is out of range for inputs of rank 3", False),
]


@pytest.mark.parametrize("case", BAD_SHAPES, ids=[c[0] for c in BAD_SHAPES])
def test_bad_shapes_name_the_layer_the_inputs_and_their_shapes(keras, case):
    _, make, shapes, message, keras_refuses = case
    with pytest.raises(ValueError, match=message):
        make().build(shapes)
    with pytest.raises(ValueError, match=message):
        make().compute_output_shape(shapes)
    if keras_refuses:  # the same shapes are refused by Keras's own build
        theirs = keras.layers.deserialize(registry.serialize(make()))
        with pytest.raises((ValueError, TypeError, IndexError)):
            theirs.build(shapes)


def test_bad_arrays_at_call_name_the_layer():
    x = np.ones((2, 3), dtype="float32")
    with pytest.raises(ValueError, match=r"Add 'm': expected a list of input arrays, "
                                         r"received ndarray"):
        Add(name="m")(x)
    with pytest.raises(ValueError, match=r"Add 'm': expected a numeric array input, "
                                         r"received str"):
        Add(name="m")([x, "abc"])
    layer = Add(name="m")
    layer.build([(None, 3), (None, 3)])
    with pytest.raises(ValueError, match=r"Add 'm': cannot merge inputs with different batch "
                                         r"sizes, received shapes \[\(2, 3\), \(3, 3\)\]"):
        layer([x, np.ones((3, 3))])
    with pytest.raises(ValueError, match=r"Dot 'm': inputs 0 and 1 have shapes \(None, 3\) and "
                                         r"\(None, 4\): sizes 3"):
        Dot(1, name="m")([x, np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"Subtract 'm': expected exactly 2 inputs, received 1"):
        Subtract(name="m")([x])


def test_bad_masks_name_the_layer_and_the_input():
    x = np.ones((2, 4, 3), dtype="float32")
    mask = np.ones((2, 4), dtype=bool)
    with pytest.raises(ValueError, match=r"Multiply 'm': expected a list of masks, one per "
                                         r"input \(None allowed\) of a list of 2 inputs, "
                                         r"received ndarray"):
        Multiply(name="m").forward([x, x], mask=mask)
    with pytest.raises(ValueError, match=r"Maximum 'm': .*received 1 masks"):
        Maximum(name="m").forward([x, x], mask=[mask])
    with pytest.raises(ValueError, match=r"Add 'm': .*of a list of 2 inputs, received 3 masks"):
        Add(name="m").compute_mask([x, x], [mask] * 3)
    with pytest.raises(ValueError, match=r"Concatenate 'm': .*received 1 masks"):
        Concatenate(name="m").compute_mask([x, x], [mask])
    with pytest.raises(ValueError, match=r"Multiply 'm': mask 1 has shape \(2, 5\), input 1 "
                                         r"has shape \(2, 4, 3\): expected the input's leading "
                                         r"axes"):
        Multiply(name="m").forward([x, x], mask=[None, np.ones((2, 5), dtype=bool)])
    x4 = np.ones((2, 4, 3, 2), dtype="float32")
    with pytest.raises(ValueError, match=r"Minimum 'm': mask 0 of shape \(2, 4\) does not fit "
                                         r"input 0 of shape \(2, 4, 3, 2\)"):
        Minimum(name="m").forward([x4, x4], mask=[mask, None])


@pytest.mark.parametrize("make, message", [
    (lambda: Concatenate(axis="1", name="m"),
     r"Concatenate 'm': expected axis to be an integer, received '1'"),
    (lambda: Concatenate(axis=True, name="m"), r"expected axis to be an integer, received True"),
    (lambda: Dot(axes=(1,), name="m"),
     r"Dot 'm': expected axes to be an integer or a pair of integers, received \(1,\)"),
    (lambda: Dot(axes=(1, 2, 3), name="m"), r"Dot 'm': expected axes .* received \(1, 2, 3\)"),
    (lambda: Dot(axes=1.0, name="m"), r"Dot 'm': expected axes .* received 1.0"),
    (lambda: Dot(axes=True, name="m"), r"Dot 'm': expected axes .* received True"),
    (lambda: Dot(axes=(1, "2"), name="m"), r"Dot 'm': expected axes .* received \(1, '2'\)"),
    (lambda: Dot(axes=1, normalize="yes", name="m"),
     r"Dot 'm': expected normalize to be True or False, received 'yes'"),
])
def test_bad_arguments_name_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()
