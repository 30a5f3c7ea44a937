"""The layer conformance harness: every row of ``layer_cases.CASES`` through the same checks
(as Keras's ``testing.TestCase.run_layer_test`` serves every Keras layer).

1. config round trip: ``get_config`` -> registry -> ``from_config`` -> the same config, and
   Keras's own config of the layer built from ours is ours;
2. every file format (``.keras``, ``.weights.h5``, legacy ``.h5`` model and weights) written
   and read back by npylstm, a ``.keras`` written by npylstm read by Keras, and one written
   by Keras read by npylstm — the same predictions;
3. float64 central differences of every weight and of the input;
4. real Keras (JAX backend) on the same weights: outputs and gradients (float32);
5. ``count_params`` and ``compute_output_shape`` against Keras.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from gradcheck import central_difference  # tests/ is on sys.path (its conftest's folder)
from layer_cases import CASES  # tests/conformance/ is on sys.path (pytest's rootdir mode)

import npylstm
from npylstm import activations, registry

EPS = 1e-6
BY_ID = {case.id: case for case in CASES}
FORWARD = [c.id for c in CASES if c.forward]
FILES = [c.id for c in CASES if c.files]
KERAS = [c.id for c in CASES if c.keras]


def _inputs(case, rng, dtype):
    """One array per input: normal floats, or integer ids for ``int_input`` cases."""
    if case.int_input is not None:
        return [rng.integers(0, case.int_input, size=s).astype(case.input_dtype)
                for s in case.shapes]
    return [rng.normal(size=s).astype(dtype) for s in case.shapes]


def _masks(case, rng, inputs):
    """A random time mask per 3-D input (each row keeps at least one real step), or None."""
    if not case.masked:
        return [None] * len(inputs)
    masks = []
    for x in inputs:
        if x.ndim < 2:
            masks.append(None)
            continue
        mask = rng.random(x.shape[:2]) < 0.6  # (B, T)
        mask[np.arange(len(mask)), rng.integers(0, x.shape[1], len(mask))] = True
        masks.append(mask)
    return masks


def _built(case, rng, dtype="float32"):
    """The case's layer, built, with random weights (not the initializers': every entry
    of every weight matters), its inputs and their masks."""
    layer = case.make(dtype=dtype) if case.class_name != "InputLayer" else case.make()
    layer.graph_build(case.arg_shapes(), dict(case.call_kwargs))
    layer.set_weights([
        (np.abs(rng.normal(0, 0.5, size=w.shape)) + 0.5 if w.name in case.positive_weights
         else rng.normal(0, 0.5, size=w.shape)).astype(dtype)
        for w in layer.weights
    ])
    inputs = _inputs(case, rng, dtype)
    return layer, inputs, _masks(case, rng, inputs)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, list | tuple) else [outputs]


def _projections(rng, outputs, dtype):
    return [rng.normal(size=np.shape(o)).astype(dtype) for o in _as_list(outputs)]


def _mask_args(case, masks):
    """The masks in the structure of the call's arguments."""
    return case.args(masks)


def _forward(layer, inputs, masks, case, training=None):
    """The layer's output through the graph hook (as a functional model calls it); with
    dropout, the same random draws on every call (one seed)."""
    training = case.training if training is None else training
    kwargs = dict(case.call_kwargs)
    if case.training:
        kwargs["rng"] = np.random.default_rng(5)
    return layer.graph_forward(case.args(inputs), kwargs, _mask_args(case, masks), training)


def _backward(layer, cache, projections, outputs):
    """``(input grads, weight grads)``: one input gradient per input, in order."""
    dy = projections if isinstance(outputs, list | tuple) else projections[0]
    dargs, _, grads = layer.graph_backward(dy, cache)
    flat = []
    for d in dargs:
        flat.extend(d if isinstance(d, list | tuple) else [d])
    return flat, grads


# -- 1. configs -----------------------------------------------------------------------------
@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_config_round_trip(case_id):
    case = BY_ID[case_id]
    layer = case.make()
    entry = registry.serialize(layer)
    assert entry["class_name"] == case.class_name
    again = registry.deserialize(entry)
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_config_is_the_one_keras_writes(case_id, keras):
    case = BY_ID[case_id]
    layer = case.make()
    theirs = keras.layers.deserialize(registry.serialize(layer))
    expected = dict(theirs.get_config())
    ours = layer.get_config()
    for key in registry.get(case.class_name).ACTIVATION_KEYS:
        # Keras 3 writes "silu" for "swish" (one function, two names; npylstm keeps the
        # name tf_keras also reads)
        expected[key] = activations.get(expected[key]).name
    if case.class_name == "InputLayer":  # Keras writes lists, we write tuples
        expected["batch_shape"] = tuple(expected["batch_shape"])
    assert ours == expected
    assert registry.deserialize({"class_name": case.class_name,
                                 "config": theirs.get_config()}).get_config() == ours


def test_unknown_config_key_names_the_layer_the_key_and_the_accepted_keys():
    with pytest.raises(ValueError, match=r"LSTM 'gru': unknown config key 'reset_after'; "
                                         r"LSTM accepts \[.*'units'.*\]"):
        registry.deserialize({"class_name": "LSTM",
                              "config": {"name": "gru", "units": 3, "reset_after": True}})


def test_unknown_sequential_config_key_is_refused():
    config = npylstm.Sequential([npylstm.Input((3, 2)), npylstm.layers.Dense(2)]).get_config()
    with pytest.raises(ValueError, match=r"Sequential '.*': unknown config key 'mask'; "
                                         r"Sequential accepts \['name', 'trainable'"):
        npylstm.Sequential.from_config({**config, "mask": True})


def test_activation_layer_bad_inputs_name_the_layer():
    with pytest.raises(ValueError, match=r"Activation 'act': Unknown activation 'tanhh': "
                                         r"expected one of .*softmax"):
        npylstm.layers.Activation("tanhh", name="act")
    layer = npylstm.layers.Activation("softmax", name="act")
    with pytest.raises(ValueError, match=r"Activation 'act': expected an input with a batch "
                                         r"axis, received shape \(\)"):
        layer(np.float32(1.0))
    with pytest.raises(ValueError, match=r"Activation 'act': expected a numeric array input, "
                                         r"received str"):
        layer("abc")


def test_ignored_keras_key_with_a_meaningful_value_is_refused():
    with pytest.raises(ValueError, match=r"Dense 'q': config key 'quantization_config'"):
        registry.deserialize({"class_name": "Dense", "config": {
            "name": "q", "units": 2, "quantization_config": {"mode": "int8"}}})


def test_unknown_class_name_is_refused_with_the_registered_ones():
    with pytest.raises(
        registry.UnknownClassError,
        match=r"unknown layer class 'Lambda'.*\['Activation', .*'Bidirectional', .*'Dense'",
    ):
        registry.deserialize({"class_name": "Lambda", "config": {"function": "os.system"}})


def test_malformed_config_of_a_registered_class_names_the_layer_and_the_key():
    with pytest.raises(ValueError, match=r"LSTM 'bad': expected units to be a positive integer"):
        registry.deserialize({"class_name": "LSTM", "config": {"name": "bad", "units": "ten"}})
    with pytest.raises(ValueError, match=r"Dense: expected its config to be a dict"):
        registry.deserialize({"class_name": "Dense", "config": [1, 2]})


# -- 2. files -------------------------------------------------------------------------------
def _sequential(case, layer):
    dtype = case.input_dtype if case.int_input is not None else None
    return npylstm.Sequential([npylstm.Input(case.input_shape[1:], dtype=dtype), layer])


@pytest.mark.parametrize("case_id", FILES)
def test_every_file_format_round_trips(case_id, rng, tmp_path):
    case = BY_ID[case_id]
    layer, (x,), _ = _built(case, rng)
    model = _sequential(case, layer)
    expected = model.predict(x, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = npylstm.load_model(tmp_path / name)
        assert [type(lay) for lay in loaded.layers] == [type(layer)]
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected, err_msg=name)
    for name in ("w.weights.h5", "w.h5"):
        model.save_weights(tmp_path / name)
        fresh = npylstm.Sequential.from_config(model.get_config())
        fresh.load_weights(tmp_path / name)
        for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("case_id", [c for c in FILES if c in KERAS])
def test_keras_reads_our_file_and_we_read_keras_file(case_id, rng, tmp_path, keras):
    case = BY_ID[case_id]
    layer, (x,), _ = _built(case, rng)
    model = _sequential(case, layer)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), expected,
                               atol=case.tolerance * scale)
    with warnings.catch_warnings():  # Keras 3.15's saver warns under NumPy 2 (its Variable)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        theirs.save(tmp_path / "theirs.keras")
    back = npylstm.load_model(tmp_path / "theirs.keras")
    np.testing.assert_array_equal(back.predict(x, verbose=0), expected)


GRAPH_FILES = [c.id for c in CASES if not c.files and c.forward]


def _functional(case, layer):
    """A functional model of the one layer call (several inputs, several outputs)."""
    dtype = case.input_dtype if case.int_input is not None else None
    inputs = [npylstm.Input(shape[1:], dtype=dtype, name=f"in_{i}")
              for i, shape in enumerate(case.shapes)]
    outputs = layer(*case.args(inputs), **case.call_kwargs)
    return npylstm.Model(inputs, outputs)


def _predictions(model, inputs):
    out = model.predict(inputs, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


@pytest.mark.parametrize("case_id", GRAPH_FILES)
def test_layers_of_several_tensors_round_trip_in_a_functional_model(case_id, rng, tmp_path,
                                                                      keras):
    """The rows a one-layer Sequential cannot hold (several inputs or outputs) through
    ``.keras`` and legacy ``.h5`` in a functional model, both ways, and Keras reading ours."""
    case = BY_ID[case_id]
    layer, inputs, _ = _built(case, rng)
    model = _functional(case, layer)
    expected = _predictions(model, inputs)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = npylstm.load_model(tmp_path / name)
        for ours, theirs in zip(_predictions(loaded, inputs), expected, strict=True):
            np.testing.assert_array_equal(ours, theirs, err_msg=name)
    if not case.keras:
        return
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    out = theirs.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    for a, b in zip([np.asarray(o) for o in (out if isinstance(out, list) else [out])],
                    expected, strict=True):
        scale = max(1.0, float(np.max(np.abs(b))))
        np.testing.assert_allclose(a, b, atol=case.tolerance * scale)


# -- 3. gradients by central differences (float64) ------------------------------------------
@pytest.mark.parametrize("case_id", FORWARD)
def test_gradients_match_central_differences(case_id, rng):
    case = BY_ID[case_id]
    layer, inputs, masks = _built(case, rng, dtype="float64")
    outputs, cache = _forward(layer, inputs, masks, case)
    projections = _projections(rng, outputs, "float64")
    dxs, grads = _backward(layer, cache, projections, outputs)

    def loss():
        out, _ = _forward(layer, inputs, masks, case)
        return sum(float(np.sum(o * p)) for o, p in zip(_as_list(out), projections,
                                                         strict=True))

    arrays = [(w.name, w.value, g) for w, g in zip(layer.parameter_weights, grads,
                                                   strict=True)]
    if case.int_input is None:
        assert len(dxs) == len(inputs)
        arrays = [(f"input {i}", x, dx) for i, (x, dx) in enumerate(zip(inputs, dxs,
                                                                         strict=True))] + arrays
    assert len(grads) == len(layer.parameter_weights)
    for name, array, analytic in arrays:
        numeric = central_difference(loss, array, EPS)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{case.id}: d{name}")


# -- 4. real Keras: outputs and gradients ---------------------------------------------------
def _keras_twin(keras, layer, case):
    theirs = keras.layers.deserialize(registry.serialize(layer))
    theirs.build(*case.arg_shapes())
    theirs.set_weights(layer.get_weights())
    return theirs


def _keras_mask_kwargs(case, masks, theirs):
    import jax.numpy as jnp

    if not case.masked:
        return {}
    as_jax = [None if m is None else jnp.asarray(m) for m in masks]
    if case.keras_mask_kwargs:
        return {k: m for k, m in zip(case.keras_mask_kwargs, as_jax, strict=False)}
    if "mask" not in inspect.signature(theirs.call).parameters:
        return {}  # Keras's layer takes no mask (it passes it on, or drops it)
    return {"mask": case.args(as_jax)[0]}


def _attach_masks(case, xs, masks):
    """Each input's mask on the (traced) array, as Keras's functional model carries masks:
    layers whose ``call`` takes no ``mask`` (merge layers, MultiHeadAttention's query)
    read them there (``backend.get_keras_mask``)."""
    if not case.masked:
        return
    import jax.numpy as jnp
    from keras.src import backend as keras_backend

    for x, m in zip(xs, masks, strict=True):
        if m is not None:
            keras_backend.set_keras_mask(x, jnp.asarray(m))


def _modes(case_id):
    case = BY_ID[case_id]
    return [False, True] if case.keras_training else [False]


@pytest.mark.parametrize("case_id", [c for c in FORWARD if c in KERAS])
def test_outputs_and_gradients_match_keras(case_id, rng, keras):
    import jax
    import jax.numpy as jnp

    case = BY_ID[case_id]
    for training in _modes(case_id):  # Keras's dropout masks are its own: inference only
        layer, inputs, masks = _built(case, rng)
        theirs = _keras_twin(keras, layer, case)
        outputs, cache = _forward(layer, inputs, masks, case, training=training)
        projections = _projections(rng, outputs, "float32")
        dxs, grads = _backward(layer, cache, projections, outputs)

        trainable = [v.value for v in theirs.trainable_variables]
        frozen = [v.value for v in theirs.non_trainable_variables]
        kwargs = {**case.call_kwargs, **_keras_mask_kwargs(case, masks, theirs)}
        if training:
            kwargs["training"] = True
        floats = case.int_input is None

        def objective(weights, xs, theirs=theirs, frozen=frozen, kwargs=kwargs,
                      projections=projections, masks=masks):
            _attach_masks(case, xs, masks)
            out, _ = theirs.stateless_call(weights, frozen, *case.args(xs), **kwargs)
            return sum(jnp.sum(o * p) for o, p in zip(_as_list(out), projections,
                                                      strict=True))

        xs = [jnp.asarray(x) for x in inputs]
        _attach_masks(case, xs, masks)
        their_out, _ = theirs.stateless_call(trainable, frozen, *case.args(xs), **kwargs)
        if floats:
            their_grads, their_dxs = jax.grad(objective, argnums=(0, 1))(trainable, xs)
        else:  # integer ids: no input gradient
            their_grads = jax.grad(objective)(trainable, xs)
        pairs = list(zip(_as_list(outputs), _as_list(their_out), strict=True))
        if floats:
            pairs += list(zip(dxs, their_dxs, strict=True))
        pairs += list(zip(grads, their_grads, strict=True))
        assert len(grads) == len(their_grads)
        for ours, ref in pairs:
            ref = np.asarray(ref)
            scale = max(1.0, float(np.max(np.abs(ref))))
            np.testing.assert_allclose(ours, ref, atol=case.tolerance * scale,
                                       err_msg=f"{case.id} (training={training})")


# -- 5. sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case_id", [c for c in FORWARD if c in KERAS])
def test_count_params_and_output_shape_match_keras(case_id, rng, keras):
    case = BY_ID[case_id]
    layer, _, _ = _built(case, rng)
    theirs = _keras_twin(keras, layer, case)
    assert layer.count_params() == theirs.count_params()
    dtype = case.input_dtype if case.int_input is not None else "float32"
    symbolic = [keras.KerasTensor(s, dtype=dtype) for s in
                [(None, *s[1:]) for s in case.shapes]]
    spec = theirs.compute_output_spec(*case.args(symbolic), **case.call_kwargs)
    expected = [tuple(t.shape) for t in _as_list(spec)]
    ours = layer.graph_build(case.arg_shapes(), dict(case.call_kwargs))
    several = len(ours) > 0 and isinstance(ours[0], list | tuple)  # one shape per output
    assert ([tuple(o) for o in ours] if several else [tuple(ours)]) == expected


def test_input_layer_shape():
    case = BY_ID["input"]
    layer = case.make()
    assert layer.batch_shape == (None, 5, 2)
    assert layer.compute_output_shape((None, 5, 2)) == (None, 5, 2)


def test_every_registered_layer_has_a_row():
    covered = {case.class_name for case in CASES}
    assert set(registry.names()) - {"Sequential", "Functional"} == covered
