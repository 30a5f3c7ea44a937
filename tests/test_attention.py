"""Attention, AdditiveAttention and MultiHeadAttention beyond the conformance rows: Keras's
mask semantics (the query mask Keras reads from the tensor, rows with nothing to attend
to, causal + padding), dropout with the same masks as Keras in training, the weight files'
variable tree against a Keras-written ``.weights.h5`` and legacy ``.h5``, attention over
LSTM outputs (self- and cross-attention, masks from a padded sequence), and bad inputs.

The oracle is real Keras (JAX backend) called on the same weights; gradients through
``jax.grad``.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npylstm import registry
from npylstm.layers import (
    LSTM,
    AdditiveAttention,
    Attention,
    Masking,
    MultiHeadAttention,
)

B, T, S, D = 2, 4, 5, 3


def _jnp():
    import jax.numpy as jnp

    return jnp


def _random_weights(layer, rng):
    layer.set_weights([rng.normal(0, 0.5, size=w.shape).astype("float32")
                       for w in layer.weights])


def _keras_weights(layer):
    """Keras's ``get_weights()`` without its NumPy 2 ``__array__`` warning."""
    return [np.asarray(v.value) for v in layer.weights]


def _close(ours, theirs, tol=2e-5):
    theirs = np.asarray(theirs)
    scale = max(1.0, float(np.max(np.abs(theirs))))
    np.testing.assert_allclose(ours, theirs, atol=tol * scale)


class MaskRng:
    """A generator stub: ``random(shape)`` gives 1.0 where the prepared mask keeps, 0.0
    where it drops (``dropout_mask`` keeps ``u >= rate``)."""

    def __init__(self, mask):
        self.mask = (np.asarray(mask) > 0).astype(np.float64)

    def random(self, shape):
        assert self.mask.shape == tuple(shape)
        return self.mask


# -- MultiHeadAttention: masks as Keras reads them -------------------------------------------
@pytest.fixture(scope="module")
def mha_pair(keras):
    ours = MultiHeadAttention(num_heads=2, key_dim=3, name="mha_masks")
    ours.graph_build([(None, T, D), (None, S, D)], {})
    _random_weights(ours, np.random.default_rng(0))
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    theirs.build((None, T, D), (None, S, D))
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def _keras_mha(theirs, q, v, qm, vm, kwargs, proj):
    """Keras's outputs and gradients (inputs, then weights) with the query mask attached
    to the query tensor, as a functional model does (``call`` ignores ``query_mask=``)."""
    import jax
    from keras.src import backend

    jnp = _jnp()

    def run(weights, q, v):
        if qm is not None:
            backend.set_keras_mask(q, jnp.asarray(qm))
        vmask = None if vm is None else jnp.asarray(vm)
        out, _ = theirs.stateless_call(weights, [], q, v, value_mask=vmask, **kwargs)
        return out

    def objective(weights, q, v):
        out = run(weights, q, v)
        outs = out if isinstance(out, tuple) else (out,)
        return sum(jnp.sum(o * p) for o, p in zip(outs, proj, strict=True))

    weights = [w.value for w in theirs.trainable_variables]
    out = run(weights, jnp.asarray(q), jnp.asarray(v))
    grads = jax.grad(objective, argnums=(0, 1, 2))(weights, jnp.asarray(q), jnp.asarray(v))
    return out, grads


@settings(max_examples=6, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**16), scores=st.booleans(), causal=st.booleans(),
       query_masked=st.booleans(), empty_value_row=st.booleans())
def test_mha_masks_match_keras_with_the_query_mask_on_the_tensor(
        mha_pair, seed, scores, causal, query_masked, empty_value_row):
    """Every mask combination, on both Keras paths: the fused one (rows with nothing to
    attend to are uniform) and the einsum one with ``return_attention_scores`` (zeros)."""
    ours, theirs = mha_pair
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(B, T, D)).astype("float32")
    v = rng.normal(size=(B, S, D)).astype("float32")
    qm = (rng.random((B, T)) < 0.6) if query_masked else None
    vm = rng.random((B, S)) < 0.6
    if empty_value_row:
        vm[1] = False  # batch row 1 attends to nothing
    kwargs = {"return_attention_scores": scores, "use_causal_mask": causal}
    outputs, cache = ours.graph_forward([q, v], dict(kwargs, value_mask=vm), [qm, None],
                                        False)
    outs = outputs if scores else (outputs,)
    proj = [rng.normal(size=o.shape).astype("float32") for o in outs]
    dargs, _, grads = ours.graph_backward(proj if scores else proj[0], cache)
    their_out, (their_grads, dq, dv) = _keras_mha(theirs, q, v, qm, vm, kwargs, proj)
    for a, b in zip(outs, their_out if scores else (their_out,), strict=True):
        _close(a, b)
    for a, b in zip([*dargs, *grads], [dq, dv, *their_grads], strict=True):
        _close(a, b)
    assert np.array_equal(ours.graph_output_mask([q, v], [qm, None], outputs)[0]
                          if scores else ours.graph_output_mask([q, v], [qm, None], outputs),
                          qm) or qm is None


def test_mha_rows_with_nothing_to_attend_to_follow_keras_two_paths(mha_pair):
    """Fused path: the uniform average of every value; einsum path: zero weights, so the
    output is the output projection's bias."""
    ours, _ = mha_pair
    rng = np.random.default_rng(3)
    q = rng.normal(size=(B, T, D)).astype("float32")
    v = rng.normal(size=(B, S, D)).astype("float32")
    vm = np.ones((B, S), bool)
    vm[0] = False
    fused = ours(q, v, value_mask=vm)
    plain = ours(q, v)
    out, scores = ours(q, v, value_mask=vm, return_attention_scores=True)
    np.testing.assert_array_equal(scores[0], 0.0)
    np.testing.assert_allclose(out[0], np.broadcast_to(ours.weights[-1].value, (T, D)))
    np.testing.assert_allclose(fused[1], plain[1], rtol=1e-6)
    uniform = MultiHeadAttention(num_heads=2, key_dim=3)
    uniform.graph_build([(None, T, D), (None, S, D)], {})
    uniform.set_weights(ours.get_weights())
    vk = ours._project(v, "value")  # (B, S, N, Hv): the mean over S is the uniform average
    ctx = vk.mean(axis=1, keepdims=True).repeat(T, axis=1)  # (B, T, N, Hv)
    expected = np.tensordot(ctx, ours.weights[-2].value, axes=([2, 3], [0, 1])) + \
        ours.weights[-1].value
    np.testing.assert_allclose(fused[0], expected[0], rtol=1e-5, atol=1e-6)


def test_mha_explicit_value_mask_and_attention_mask_and_key_mask(mha_pair, keras):
    ours, theirs = mha_pair
    jnp = _jnp()
    rng = np.random.default_rng(4)
    q = rng.normal(size=(B, T, D)).astype("float32")
    v = rng.normal(size=(B, S, D)).astype("float32")
    am = rng.random((B, T, S)) < 0.7
    km = rng.random((B, S)) < 0.8
    ours_out = ours(q, v, v, key_mask=km, attention_mask=am)
    theirs_out = theirs(jnp.asarray(q), jnp.asarray(v), jnp.asarray(v),
                        key_mask=jnp.asarray(km), attention_mask=jnp.asarray(am))
    _close(ours_out, theirs_out)
    # a graph call: the value tensor's own mask, an explicit query_mask ignored (as Keras)
    a, _ = ours.graph_forward([q, v], {"query_mask": km[:, :T]}, [None, km], False)
    _close(a, theirs(jnp.asarray(q), jnp.asarray(v), value_mask=jnp.asarray(km),
                     query_mask=jnp.asarray(km[:, :T])))


# -- Attention: causal + padding, rows with nothing to attend to ------------------------------
@pytest.mark.parametrize("cls,config", [(Attention, {"use_scale": True}),
                                        (Attention, {"score_mode": "concat"}),
                                        (AdditiveAttention, {})])
def test_attention_causal_and_padding_with_empty_rows_match_keras(cls, config, keras):
    """``scores - 1e9`` on masked scores: a row with every value masked (value step 0 is
    padding under a causal mask) is the softmax of the lowered scores, as in Keras."""
    import jax

    jnp = _jnp()
    rng = np.random.default_rng(5)
    q = rng.normal(size=(B, T, D)).astype("float32")
    v = rng.normal(size=(B, T, D)).astype("float32")
    qm = rng.random((B, T)) < 0.7
    vm = rng.random((B, T)) < 0.6
    vm[:, 0] = False  # query step 0 sees nothing under the causal mask
    ours = cls(**config)
    ours.build([(None, T, D), (None, T, D)])
    _random_weights(ours, rng)
    theirs = getattr(keras.layers, cls.__name__)(**config)
    theirs.build([(None, T, D), (None, T, D)])
    theirs.set_weights(ours.get_weights())
    kw = {"return_attention_scores": True, "use_causal_mask": True}
    (out, scores), cache = ours.forward([q, v], mask=[qm, vm], **kw)
    proj = [rng.normal(size=out.shape), rng.normal(size=scores.shape)]
    (dq, dv), grads = ours.backward(proj, cache)
    masks = [jnp.asarray(qm), jnp.asarray(vm)]

    def objective(weights, xs):
        (o, s), _ = theirs.stateless_call(weights, [], xs, mask=masks, **kw)
        return jnp.sum(o * proj[0]) + jnp.sum(s * proj[1])

    weights = [w.value for w in theirs.trainable_variables]
    xs = [jnp.asarray(q), jnp.asarray(v)]
    (their_out, their_scores), _ = theirs.stateless_call(weights, [], xs, mask=masks, **kw)
    their_grads, their_dxs = jax.grad(objective, argnums=(0, 1))(weights, xs)
    _close(out, their_out)
    _close(scores, their_scores)
    for a, b in zip([dq, dv, *grads], [*their_dxs, *their_grads], strict=True):
        _close(a, b)
    np.testing.assert_allclose(scores[:, 0], 1.0 / T, rtol=1e-6)  # lowered evenly: uniform
    assert ours.compute_mask([q, v], [qm, vm]) is not None
    np.testing.assert_array_equal(ours.compute_mask([q, v], [qm, vm]),
                                  np.asarray(theirs.compute_mask(xs, masks)))


# -- dropout: the same masks as Keras, in training ---------------------------------------------
def test_attention_dropout_in_training_matches_keras_with_the_same_mask(keras, monkeypatch):
    from keras.src import backend

    jnp = _jnp()
    rng = np.random.default_rng(6)
    q = rng.normal(size=(B, T, D)).astype("float32")
    v = rng.normal(size=(B, S, D)).astype("float32")
    keep = rng.random((B, T, S)) >= 0.4
    ours = Attention(dropout=0.4)
    theirs = keras.layers.Attention(dropout=0.4)
    theirs.build([(None, T, D), (None, S, D)])
    monkeypatch.setattr(backend.random, "dropout",
                        lambda x, rate, noise_shape=None, seed=None: x * keep / (1 - rate))
    (out, scores), _ = ours.forward([q, v], training=True, rng=MaskRng(keep),
                                    return_attention_scores=True)
    their_out, their_scores = theirs([jnp.asarray(q), jnp.asarray(v)], training=True,
                                     return_attention_scores=True)
    _close(out, their_out)
    _close(scores, their_scores)  # Attention returns the weights after dropout
    assert ours([q, v], training=False).shape == (B, T, D)


def test_mha_dropout_in_training_matches_keras_with_the_same_mask(keras):
    jnp = _jnp()
    rng = np.random.default_rng(7)
    q = rng.normal(size=(B, T, D)).astype("float32")
    v = rng.normal(size=(B, S, D)).astype("float32")
    keep = rng.random((B, 2, T, S)) >= 0.3
    ours = MultiHeadAttention(2, 3, dropout=0.3)
    ours.graph_build([(None, T, D), (None, S, D)], {})
    _random_weights(ours, rng)
    theirs = keras.layers.MultiHeadAttention(2, 3, dropout=0.3)
    theirs.build((None, T, D), (None, S, D))
    theirs.set_weights(ours.get_weights())
    theirs._dropout_layer.call = lambda inputs, training=False: inputs * keep / 0.7
    (out, scores), _ = ours.forward(q, v, training=True, rng=MaskRng(keep),
                                    return_attention_scores=True)
    their_out, their_scores = theirs(jnp.asarray(q), jnp.asarray(v), training=True,
                                     return_attention_scores=True)
    _close(out, their_out)
    _close(scores, their_scores)  # MHA returns the weights before dropout
    again, _ = ours.forward(q, v, training=True, rng=np.random.default_rng(1))
    same, _ = ours.forward(q, v, training=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(again, same)


# -- files: the variable tree against Keras's own files ----------------------------------------
def _keras_mha_model(keras, **config):
    q = keras.Input((T, D))
    v = keras.Input((S, 2))
    mha = keras.layers.MultiHeadAttention(name="mha", **config)
    return keras.Model([q, v], mha(q, v)), mha


@pytest.mark.parametrize("use_bias,use_gate", [(True, False), (False, True)])
def test_mha_variable_tree_is_keras_weights_h5_layout(keras, tmp_path, use_bias, use_gate):
    model, theirs = _keras_mha_model(keras, num_heads=2, key_dim=3, value_dim=4,
                                     output_shape=5, use_bias=use_bias, use_gate=use_gate)
    rng = np.random.default_rng(8)
    theirs.set_weights([rng.normal(size=w.shape) for w in theirs.weights])
    with warnings.catch_warnings():  # Keras 3.15's saver warns under NumPy 2
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save_weights(tmp_path / "m.weights.h5")
        model.save(tmp_path / "m.h5")
    ours = MultiHeadAttention.from_config(theirs.get_config())
    tree = ours.variable_tree(ours.get_config())
    root = "layers/multi_head_attention"
    with h5py.File(tmp_path / "m.weights.h5") as f:
        groups = set()
        f[root].visit(lambda n: groups.add(n) if n.endswith("vars") else None)
        assert groups == {f"{p}/vars" if p else "vars" for p, _ in tree.nodes()}
        for path, node in tree.nodes():
            name = f[f"{root}/{path}/vars"].attrs["name"]  # Keras numbers softmax_1, ...
            assert name == (node.name or "mha") or name.startswith(f"{node.name}_")
        arrays = [f[f"{root}/{path}/vars/{i}"][()] for path, node, _ in tree.leaves()
                  for i in range(len(node.weights))]
    for a, b in zip(arrays, _keras_weights(theirs), strict=True):  # get_weights() order
        np.testing.assert_array_equal(a, b)
    names = [f"mha/{'/'.join(scopes)}/{w}" for _, node, scopes in tree.leaves()
             for w in node.weights]
    with h5py.File(tmp_path / "m.h5") as f:
        legacy = [n.decode() if isinstance(n, bytes) else n
                  for n in f["model_weights/mha"].attrs["weight_names"]]
    assert names == legacy == [w.path for w in theirs.weights]
    ours.graph_build([(None, T, D), (None, S, 2)], {})
    ours.set_weights(_keras_weights(theirs))
    assert [f"mha/{w.name}" for w in ours.weights] == legacy


def test_mha_config_after_build_is_keras(keras):
    ours = MultiHeadAttention(2, 3, attention_axes=-2, output_shape=[4])
    theirs = keras.layers.deserialize(registry.serialize(ours))
    assert ours.get_config() == theirs.get_config()
    ours.graph_build([(None, T, D), (None, S, D)], {})
    theirs.build((None, T, D), (None, S, D))
    assert ours.get_config() == theirs.get_config()
    assert ours.get_config()["attention_axes"] == (1,)
    assert MultiHeadAttention.from_config(theirs.get_config()).get_config() == \
        theirs.get_config()


# -- attention over LSTM outputs: a padded sequence's mask through the layers -----------------
def _keras_grads(model, x, proj):
    import jax

    jnp = _jnp()
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def objective(weights, xs):
        out, _ = model.stateless_call(weights, frozen, xs)
        return jnp.sum(out * proj)

    xs = [jnp.asarray(a) for a in x]
    xs = xs if len(xs) > 1 else xs[0]
    out, _ = model.stateless_call(trainable, frozen, xs)
    grads, dxs = jax.grad(objective, argnums=(0, 1))(trainable, xs)
    return out, (dxs if isinstance(dxs, list) else [dxs]), grads


def _padded(rng, lengths, steps, features):
    x = rng.normal(size=(len(lengths), steps, features)).astype("float32")
    for b, n in enumerate(lengths):
        x[b, n:] = 0.0  # Masking(0.0) pads these steps
    return x


def _encode(lstm, x):
    """Masking -> LSTM(return_sequences): ``(h, mask, backward)``."""
    masking = Masking(0.0)
    xm, _ = masking.forward(x)
    mask = masking.compute_mask(x, None)
    h, cache = lstm.forward(xm, mask=mask)
    return h, lstm.compute_mask(xm, mask), lambda dh: lstm.backward(dh, cache)


@pytest.mark.parametrize("kind", ["mha_self", "mha_cross", "attention_cross"])
def test_attention_over_lstm_outputs_with_padding_masks_matches_keras(keras, kind):
    """``Masking -> LSTM -> MultiHeadAttention(h, h)`` (the same tensor twice: the
    gradients of query and value add up), and cross-attention of a decoder LSTM over an
    encoder LSTM (MHA and Attention): outputs and every gradient as Keras's model."""
    rng = np.random.default_rng(9)
    src = _padded(rng, [5, 3], 5, 2)
    tgt = _padded(rng, [4, 2], 4, 2)
    cross = kind != "mha_self"
    enc_lstm, dec_lstm = LSTM(3, return_sequences=True), LSTM(3, return_sequences=True)
    att = Attention(use_scale=True) if kind == "attention_cross" else MultiHeadAttention(2, 2)
    k_src, k_tgt = keras.Input((5, 2)), keras.Input((4, 2))
    twins = {enc_lstm: keras.layers.LSTM(3, return_sequences=True),
             dec_lstm: keras.layers.LSTM(3, return_sequences=True),
             att: getattr(keras.layers, type(att).__name__)(**att.get_config())}
    k_enc = twins[enc_lstm](keras.layers.Masking(0.0)(k_src))
    k_dec = twins[dec_lstm](keras.layers.Masking(0.0)(k_tgt)) if cross else k_enc
    if kind == "attention_cross":
        k_out = twins[att]([k_dec, k_enc])
    else:
        k_out = twins[att](k_dec, k_enc)
    model = keras.Model([k_src, k_tgt] if cross else k_src, k_out)
    layers = [enc_lstm, dec_lstm, att] if cross else [enc_lstm, att]
    enc_lstm.build((None, 5, 2))
    dec_lstm.build((None, 4, 2))
    if kind == "attention_cross":
        att.graph_build([[(None, 4, 3), (None, 5, 3)]], {})
    else:
        att.graph_build([(None, 4 if cross else 5, 3), (None, 5, 3)], {})
    for layer in layers:
        weights = [rng.normal(0, 0.5, size=v.shape).astype("float32")
                   for v in twins[layer].weights]
        twins[layer].set_weights(weights)
        layer.set_weights(weights)
    h_enc, m_enc, back_enc = _encode(enc_lstm, src)
    if cross:
        h_dec, m_dec, back_dec = _encode(dec_lstm, tgt)
    if kind == "attention_cross":
        out, cache = att.graph_forward([[h_dec, h_enc]], {}, [[m_dec, m_enc]], False)
    else:
        query, qmask = (h_dec, m_dec) if cross else (h_enc, m_enc)
        out, cache = att.graph_forward([query, h_enc], {}, [qmask, m_enc], False)
    proj = rng.normal(size=out.shape).astype("float32")
    dargs, _, att_grads = att.graph_backward(proj, cache)
    dq, dv = dargs[0] if kind == "attention_cross" else dargs
    if cross:
        dsrc, enc_grads = back_enc(dv)
        dtgt, dec_grads = back_dec(dq)
        dxs, grads = [dsrc, dtgt], {enc_lstm: enc_grads, dec_lstm: dec_grads}
    else:
        dsrc, enc_grads = back_enc(dq + dv)  # mha(h, h): the graph adds the two
        dxs, grads = [dsrc], {enc_lstm: enc_grads}
    grads[att] = att_grads
    by_twin = {id(twins[layer]): grads[layer] for layer in layers}
    ours = [*dxs, *(g for k_layer in model.layers for g in by_twin.get(id(k_layer), []))]
    their_out, their_dxs, their_grads = _keras_grads(model, [src, tgt] if cross else [src],
                                                     proj)
    _close(out, their_out)
    assert len(ours) == len(their_dxs) + len(their_grads)
    for a, b in zip(ours, [*their_dxs, *their_grads], strict=True):
        _close(a, b)


# -- bad inputs: one clear error each ------------------------------------------------------------
def _att():
    layer = Attention(name="att")
    layer.build([(None, T, D), (None, S, D)])
    return layer


def _mha():
    layer = MultiHeadAttention(2, 3, name="mha")
    layer.graph_build([(None, T, D), (None, S, D)], {})
    return layer


_Q = np.zeros((B, T, D), "float32")
_V = np.zeros((B, S, D), "float32")

BAD = [
    (lambda: Attention(use_scale=1, name="att"), r"Attention 'att': expected use_scale"),
    (lambda: Attention(score_mode="add", name="att"), r"expected score_mode one of"),
    (lambda: AdditiveAttention(dropout=1.0, name="att"), r"expected dropout in \[0, 1\)"),
    (lambda: _att().forward(_Q), r"must be called on a list of inputs"),
    (lambda: _att().forward([_Q]), r"expected a list of 2 or 3 inputs"),
    (lambda: _att().forward([_Q, _V[0]]), r"expected query, value and key of shape"),
    (lambda: _att().forward([_Q, _V, _V[..., :2]]), r"query and key with the same feature"),
    (lambda: _att().forward([_Q, _V, _Q]), r"value and key with the same timesteps"),
    (lambda: _att().forward([_Q, _V[:1]]), r"expected inputs with one batch size"),
    (lambda: _att().forward([_Q, _V], mask=np.ones((B, T), bool)), r"mask to be a list"),
    (lambda: _att().forward([_Q, _V], mask=[None]), r"mask list of length 2 or 3"),
    (lambda: _att().forward([_Q, _V], mask=[None, np.ones((B, T), bool)]),
     r"expected value_mask of shape \(2, 5\)"),
    (lambda: _att().build([(None, T, D)]), r"expected a list of 2 or 3 inputs"),
    (lambda: MultiHeadAttention(0, 3, name="mha"), r"'mha': expected num_heads to be a pos"),
    (lambda: MultiHeadAttention(2, True), r"expected key_dim to be a positive integer"),
    (lambda: MultiHeadAttention(2, 3, value_dim=-1), r"expected value_dim to be a positive"),
    (lambda: MultiHeadAttention(2, 3, output_shape="4"), r"expected output_shape to be an"),
    (lambda: MultiHeadAttention(2, 3, output_shape=(4, 0)), r"output_shape entries"),
    (lambda: MultiHeadAttention(2, 3, attention_axes=(1, 2)), r"expected attention_axes None"),
    (lambda: MultiHeadAttention(2, 3, sliding_window=0), r"expected sliding_window"),
    (lambda: MultiHeadAttention(2, 3, flash_attention=True), r"flash_attention=True is not"),
    (lambda: MultiHeadAttention(2, 3, activity_regularizer="l2"),
     r"activity_regularizer is not supported yet"),
    (lambda: MultiHeadAttention(2, 3, kernel_constraint="nonnegative"),
     r"kernel_constraint: Unknown constraint 'nonnegative'"),
    (lambda: MultiHeadAttention(2, 3).build((None, T, D)), r"build needs the query and value"),
    (lambda: MultiHeadAttention(2, 3).build((None, D), (None, S, D)),
     r"expected query of shape \(batch, time, features\)"),
    (lambda: MultiHeadAttention(2, 3).build((None, T, D), (None, S, D), (None, T, D)),
     r"All dimensions of `value` and `key`, except the last one, must be equal"),
    (lambda: _mha()(_Q[..., :2], _V), r"expected query, value and key with \(3, 3, 3\)"),
    (lambda: _mha()(_Q, _V[:1]), r"expected one batch size"),
    (lambda: _mha()(_Q, _V, value_mask=np.ones((B, T), bool)),
     r"expected value_mask of shape \(2, 5\)"),
    (lambda: _mha()(_Q, _V, attention_mask=np.ones((B, S, T), bool)),
     r"expected attention_mask broadcastable to \(2, 4, 5\)"),
]


@pytest.mark.parametrize("call,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_mha_kernels_get_keras_einsum_dense_fans():
    """Keras's EinsumDense gives a variance-scaling initializer the contracted axes as
    ``input_axes``: glorot_uniform's limit is ``sqrt(6 / (fan_in + fan_out))`` with
    ``(dim, N * H)`` for the input projections and ``(N * Hv, E)`` for the output one."""
    mha = MultiHeadAttention(num_heads=4, key_dim=16, value_dim=8, output_shape=32)
    mha.graph_build([(None, T, 64), (None, S, 64)], {})
    limits = {"query/kernel": np.sqrt(6 / (64 + 64)),
              "value/kernel": np.sqrt(6 / (64 + 32)),
              "attention_output/kernel": np.sqrt(6 / (32 + 32))}
    for w in mha.weights:
        if w.name in limits:
            assert np.max(np.abs(w.value)) <= limits[w.name]
            assert np.max(np.abs(w.value)) > 0.9 * limits[w.name]
        elif w.name.endswith("bias"):
            np.testing.assert_array_equal(w.value, 0.0)
