"""The Numba GRU core against the generic loop over the GRU cell: outputs, every gradient.

The oracle is ``rnn_reference`` running :class:`~npylstm.cells.GRUCell` (itself checked
against real Keras and float64 central differences in the conformance harness). Both run
through ``npylstm.ops.get_kernel``'s objects, so the adapter's generic signatures are
what is tested. Tolerances are ``tests/test_ops_numba.py``'s for float32 (``rtol=1e-5,
atol=1e-6``, gradients' atol scaled by their largest magnitude, plus twice what float32
itself costs the reference on the case) and ``rtol=atol=1e-12`` for float64. NaN and ±inf
inputs must give NaN at exactly the same places and the same values everywhere else.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npylstm.cells import GRUCell
from npylstm.layers import GRU
from npylstm.ops import gru_numba, kernels
from npylstm.ops.numba import gru as gru_core

NAMES = sorted(gru_numba.ACTIVATION_CODES)
TOLERANCE = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
OUTPUTS = ("h_seq", "h_last")
GRADIENTS = ("dx", "dh0", "dkernel", "drecurrent_kernel", "dbias")
NUMBA = kernels.get_kernel(GRUCell(), "numba")
REFERENCE = kernels.REFERENCE


def assert_same(name, ours, ref, dtype, float32_loss=0.0, exponential=False):
    """Same shape, dtype, NaN positions and ±inf; values within the dtype's tolerance
    (gradients: atol times ``max(1, max|ref|)``, as in ``tests/test_ops_numba.py``).

    ``exponential``: the case uses the exponential activation, whose float64 results get
    the LSTM core's float64 tolerance, 1e-10: ``exp(a)`` turns an absolute rounding
    difference of its argument into a relative one of ``exp(a)`` (arguments of several
    hundred, values near 1e200, occur within ten steps), so two correct summation orders
    of the recurrent product already differ by ~1e-11 there.
    """
    assert ours.shape == ref.shape, name
    assert ours.dtype == ref.dtype == dtype, (name, ours.dtype, ref.dtype)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{name}: NaN positions")
    tol = dict(TOLERANCE[dtype])
    if exponential:
        tol = {"rtol": max(tol["rtol"], 1e-10), "atol": max(tol["atol"], 1e-10)}
    if name in GRADIENTS:
        finite = np.abs(ref[np.isfinite(ref)])
        tol["atol"] *= max(1.0, float(finite.max())) if finite.size else 1.0
    tol["atol"] += 2.0 * float32_loss
    np.testing.assert_allclose(ours, ref, equal_nan=True, err_msg=name, **tol)


def make_case(seed, dtype, batch, timesteps, input_dim, units, reset_after=True, use_bias=True,
              scale=1.0):
    """Inputs and weights of the sizes Keras's initializers give (fan-in scaled)."""
    rng = np.random.default_rng(seed)

    def draw(shape, std):
        return rng.normal(0.0, std, size=shape).astype(dtype)

    small = 0.5 * min(scale, 1.0)
    return {
        "x": draw((batch, timesteps, input_dim), 1.0),
        "h0": draw((batch, units), small),
        "kernel": draw((input_dim, 3 * units), scale / np.sqrt(input_dim)),
        "recurrent_kernel": draw((units, 3 * units), scale / np.sqrt(units)),
        "bias": (draw((2, 3 * units) if reset_after else (3 * units,), small)
                 if use_bias else None),
    }


def upstream(seed, dtype, batch, timesteps, units, with_seq=True, with_h=True):
    rng = np.random.default_rng(seed + 1)
    dh_seq = rng.normal(size=(batch, timesteps, units)).astype(dtype) if with_seq else None
    dh_last = rng.normal(size=(batch, units)).astype(dtype) if with_h else None
    return dh_seq, dh_last


def run(kernel, cell, case, grads, go_backwards):
    """Forward, inference and backward through ``kernel``; ``{name: array}``."""
    args = (cell, case["x"], [case["h0"]], case["kernel"], case["recurrent_kernel"],
            case["bias"], go_backwards)
    h_seq, (h_last,), cache = kernel.forward(*args)
    inferred = kernel.inference(*args)
    dx, (dh0,), dweights = kernel.backward(cell, grads[0], [grads[1]], cache)
    names = OUTPUTS + GRADIENTS[: 2 + len(dweights)]
    out = dict(zip(names, (h_seq, h_last, dx, dh0, *dweights), strict=True))
    return out, inferred, cache


def compare(cell, case, grads, go_backwards, dtype):
    """The Numba core against the generic loop on one case: every output and gradient,
    the inference outputs (bit for bit the forward's) and the kept fields."""
    ours, inferred, cache = run(NUMBA, cell, case, grads, go_backwards)
    ref, _, ref_cache = run(REFERENCE, cell, case, grads, go_backwards)
    assert isinstance(cache, gru_numba.GRUCache)
    assert ours.keys() == ref.keys()
    loss = float32_losses(cell, case, grads, go_backwards, ref) if dtype == np.float32 else {}
    exponential = "exponential" in (cell.activation, cell.recurrent_activation)
    for name in ref:
        assert_same(name, ours[name], ref[name], dtype, loss.get(name, 0.0), exponential)
    # inference keeps nothing and returns the forward's outputs, bit for bit
    np.testing.assert_array_equal(inferred[0], ours["h_seq"])
    np.testing.assert_array_equal(inferred[1][0], ours["h_last"])
    # the kept fields are the cell's: a, r_h, h
    for field in ("a", "r_h", "h"):
        assert_same(field, getattr(cache, field), ref_cache.fields[field], dtype,
                    loss.get("h_seq", 0.0), exponential)
    return ours


def float32_losses(cell, case, grads, go_backwards, ref):
    """Per quantity, the largest finite |reference in float32 - reference in float64| on the
    same (exactly widened) inputs: what float32 itself costs on this case."""
    wide = {k: None if v is None else v.astype(np.float64) for k, v in case.items()}
    wide_grads = tuple(None if g is None else g.astype(np.float64) for g in grads)
    exact, _, _ = run(REFERENCE, cell, wide, wide_grads, go_backwards)
    losses = {}
    for name, value in exact.items():
        finite = np.isfinite(ref[name]) & np.isfinite(value)
        losses[name] = float(np.max(np.abs(ref[name][finite] - value[finite]), initial=0.0))
    return losses


def conditioning(activation, recurrent_activation, dtype):
    """The dtype and weight scale for a case, so that float32 stays well-conditioned.

    Keras-sized weights when φ is bounded and σ keeps the update gate in [0, 1] (the mix
    ``z * h_tm1 + (1 - z) * hh`` is then convex); smaller ones otherwise: with σ = tanh,
    ``1 - z`` reaches 2 and a few steps amplify rounding so much that two correct float32
    implementations differ by far more than the reference's own float32 loss (measured:
    5e-5 against 4e-6 after 13 steps; the float32 tanh approximation's 3 ulp start it).
    ``exponential`` is compared in float64 (exp turns an absolute error into a relative
    one and compounds it: see ``tests/test_ops_numba.py``'s ``conditioning``).
    """
    bounded = {"tanh", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "softsign"}
    gates = {"sigmoid", "hard_sigmoid", "hard_sigmoid_keras2"}
    scale = 1.0 if activation in bounded and recurrent_activation in gates else 0.2
    acts = {activation, recurrent_activation}
    return (np.float64 if "exponential" in acts else dtype), scale


# -- both conventions, go_backwards, no bias, several activations ---------------------------

CASES = [
    # activation, recurrent_activation, reset_after, go_backwards, use_bias
    ("tanh", "sigmoid", True, False, True),
    ("tanh", "sigmoid", True, True, True),
    ("tanh", "sigmoid", True, False, False),
    ("tanh", "sigmoid", False, False, True),
    ("tanh", "sigmoid", False, True, True),
    ("tanh", "sigmoid", False, True, False),
    ("softsign", "hard_sigmoid", True, True, True),
    ("relu", "sigmoid", False, False, True),
    ("linear", "hard_sigmoid_keras2", True, True, False),
    ("elu", "softplus", False, True, True),
    ("swish", "sigmoid", True, False, True),
    ("selu", "tanh", False, False, False),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("activation", "recurrent_activation", "reset_after", "go_backwards", "use_bias"), CASES
)
def test_numba_gru_equals_the_generic_loop(activation, recurrent_activation, reset_after,
                                           go_backwards, use_bias, dtype):
    dtype, scale = conditioning(activation, recurrent_activation, dtype)
    sizes = (5, 9, 4, 7)  # batch 5: rows split across threads
    case = make_case(1, dtype, *sizes, reset_after, use_bias, scale)
    grads = upstream(1, dtype, 5, 9, 7)
    cell = GRUCell(activation, recurrent_activation, reset_after)
    ours = compare(cell, case, grads, go_backwards, dtype)
    assert ("dbias" in ours) is use_bias
    if use_bias:
        assert ours["dbias"].shape == case["bias"].shape


cases = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([np.float32, np.float64]),
        "batch": st.sampled_from([0, 1, 2, 3, 5]),
        "timesteps": st.integers(1, 20),
        "input_dim": st.integers(1, 10),
        "units": st.integers(1, 40),
        "activation": st.sampled_from(NAMES),
        "recurrent_activation": st.sampled_from(NAMES),
        "reset_after": st.booleans(),
        "go_backwards": st.booleans(),
        "use_bias": st.booleans(),
        "with_seq": st.booleans(),
        "with_h": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=15, deadline=None)
@given(cfg=cases)
def test_numba_gru_equals_the_generic_loop_on_drawn_cases(cfg):
    dtype, scale = conditioning(cfg["activation"], cfg["recurrent_activation"], cfg["dtype"])
    sizes = (cfg["batch"], cfg["timesteps"], cfg["input_dim"], cfg["units"])
    case = make_case(cfg["seed"], dtype, *sizes, cfg["reset_after"], cfg["use_bias"], scale)
    grads = upstream(cfg["seed"], dtype, cfg["batch"], cfg["timesteps"], cfg["units"],
                     cfg["with_seq"], cfg["with_h"])
    cell = GRUCell(cfg["activation"], cfg["recurrent_activation"], cfg["reset_after"])
    compare(cell, case, grads, cfg["go_backwards"], dtype)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_larger_layer(reset_after, dtype):
    # 20 features, 70 units, 30 steps (the benchmark's GRU(50) is in between)
    case = make_case(7, dtype, 4, 30, 20, 70, reset_after)
    grads = upstream(7, dtype, 4, 30, 70)
    compare(GRUCell(reset_after=reset_after), case, grads, False, dtype)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_weights_few_rows(reset_after, dtype):
    # 300 units: the recurrent kernel's parts pass 1 MB (float64; float32's (U, 3U) with
    # reset_after too), where a block of fewer than 32 rows takes the written-out product
    case = make_case(11, dtype, 5, 4, 3, 300, reset_after)
    compare(GRUCell(reset_after=reset_after), case, upstream(11, dtype, 5, 4, 300), False, dtype)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_split_across_threads(monkeypatch, reset_after, dtype):
    # every problem above is small enough to stay on one thread; here the rows are split
    # into one block per Numba thread (odd batch: unequal blocks) whatever the size
    monkeypatch.setattr(gru_core, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(gru_core, "PARALLEL_MIN_WORK_BACKWARD", 0)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
    case = make_case(12, dtype, 7, 6, 3, 9, reset_after)
    compare(GRUCell(reset_after=reset_after), case, upstream(12, dtype, 7, 6, 9), True, dtype)
    h_split = gru_numba.gru_inference(case["x"], case["h0"], case["kernel"],
                                      case["recurrent_kernel"], case["bias"],
                                      reset_after=reset_after)[0]
    monkeypatch.setattr(gru_core, "PARALLEL_MIN_WORK", 10**12)
    h_one = gru_numba.gru_inference(case["x"], case["h0"], case["kernel"],
                                    case["recurrent_kernel"], case["bias"],
                                    reset_after=reset_after)[0]
    np.testing.assert_allclose(h_split, h_one, **TOLERANCE[dtype])


def test_backward_stays_on_one_thread_below_its_own_threshold(monkeypatch):
    # forward splits from PARALLEL_MIN_WORK, backward only from PARALLEL_MIN_WORK_BACKWARD
    # (its blocks gain less from a second thread); the gradients do not depend on it
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    case = make_case(13, np.float64, 8, 5, 3, 6)  # work 8 * 5 * 6**2 = 1,440
    monkeypatch.setattr(gru_core, "PARALLEL_MIN_WORK", 1_000)
    monkeypatch.setattr(gru_core, "PARALLEL_MIN_WORK_BACKWARD", 2_000)
    parts = []
    monkeypatch.setattr(gru_core, "_run_parts",
                        lambda block, n: (parts.append(n), [block(p) for p in range(n)]))
    args = (case["x"], case["h0"], case["kernel"], case["recurrent_kernel"], case["bias"])
    *_, cache = gru_numba.gru_forward(*args)
    dh_last = np.ones_like(case["h0"])
    one = gru_numba.gru_backward(None, dh_last, cache)
    assert parts == [2, 1]  # forward in two blocks, backward in one
    monkeypatch.setattr(gru_core, "PARALLEL_MIN_WORK_BACKWARD", 1_000)
    split = gru_numba.gru_backward(None, dh_last, cache)
    assert parts == [2, 1, 2]
    for a, b in zip(one[:4], split[:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_the_written_out_product_sums_each_row_alike():
    # _rows_times_matrix: v @ m within rounding, each row's bits the same alone as in a
    # block of four, and every product formed (0 * inf is NaN, as in BLAS)
    rng = np.random.default_rng(4)
    for rows in (1, 3, 4, 5, 9):
        for dtype in (np.float32, np.float64):
            v = rng.normal(size=(rows, 13)).astype(dtype)
            m = rng.normal(size=(13, 7)).astype(dtype)
            out = np.empty((rows, 7), dtype)
            gru_numba._rows_times_matrix(v, m, out)
            np.testing.assert_allclose(out, v.astype(np.float64) @ m, rtol=1e-5, atol=1e-5)
            for r in range(rows):
                alone = np.empty((1, 7), dtype)
                gru_numba._rows_times_matrix(v[r : r + 1].copy(), m, alone)
                np.testing.assert_array_equal(alone[0], out[r])
    v, m = np.ones((5, 4)), np.ones((4, 3))
    m[2, 1], v[1, 2] = np.inf, 0.0
    out = np.empty((5, 3))
    gru_numba._rows_times_matrix(v, m, out)
    expected = np.full((5, 3), 4.0)  # by hand: four ones times one
    expected[:, 1] = np.inf  # one of them infinite
    expected[1] = [3.0, np.nan, 3.0]  # row 1 has v = 0 at that k: 0 * inf = NaN
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates(dtype):
    # biases of ±9 and ±20 push pre-activations beyond the range of the float32 fast
    # tanh (|z| < 7.5) and sigmoid (|z| < 15), onto the exact fallback
    case = make_case(3, dtype, 3, 15, 4, 9)
    rng = np.random.default_rng(3)
    case["bias"] = rng.choice([-20.0, -9.0, 0.0, 9.0, 20.0], size=(2, 27)).astype(dtype)
    compare(GRUCell(), case, upstream(3, dtype, 3, 15, 9), True, dtype)


# -- NaN and ±inf -----------------------------------------------------------------------------

specials = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([np.float32, np.float64]),
        "batch": st.integers(1, 4),
        "timesteps": st.integers(1, 8),
        "input_dim": st.integers(1, 4),
        "units": st.integers(1, 6),
        "activation": st.sampled_from(NAMES),
        "recurrent_activation": st.sampled_from(NAMES),
        "reset_after": st.booleans(),
        "go_backwards": st.booleans(),
        "where": st.sampled_from(["x", "h0", "kernel", "recurrent_kernel", "bias"]),
        "count": st.integers(1, 3),
        "value": st.sampled_from([np.nan, np.inf, -np.inf]),
        "seed": st.integers(0, 2**16),
    }
)


def poisoned(cfg):
    dtype, scale = conditioning(cfg["activation"], cfg["recurrent_activation"], cfg["dtype"])
    sizes = (cfg["batch"], cfg["timesteps"], cfg["input_dim"], cfg["units"])
    case = make_case(cfg["seed"], dtype, *sizes, cfg["reset_after"], True, scale)
    target = case[cfg["where"]].reshape(-1)  # a view: poison a few entries in place
    rng = np.random.default_rng(cfg["seed"] + 2)
    target[rng.choice(target.size, size=min(cfg["count"], target.size), replace=False)] = (
        cfg["value"]
    )
    return dtype, case


@settings(max_examples=15, deadline=None)
@given(cfg=specials)
def test_nan_and_inf_inputs_behave_like_the_generic_loop(cfg):
    dtype, case = poisoned(cfg)
    grads = upstream(cfg["seed"], dtype, cfg["batch"], cfg["timesteps"], cfg["units"])
    cell = GRUCell(cfg["activation"], cfg["recurrent_activation"], cfg["reset_after"])
    compare(cell, case, grads, cfg["go_backwards"], dtype)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "h0", "kernel", "recurrent_kernel", "bias"])
def test_each_special_value_in_each_input(where, value, reset_after):
    cfg = {"dtype": np.float32, "batch": 3, "timesteps": 5, "input_dim": 3, "units": 4,
           "activation": "tanh", "recurrent_activation": "sigmoid",
           "reset_after": reset_after, "where": where, "count": 1, "value": value, "seed": 5}
    dtype, case = poisoned(cfg)
    # (an inf may saturate a gate and leave every result finite: the reference decides)
    compare(GRUCell(reset_after=reset_after), case, upstream(5, dtype, 3, 5, 4), False, dtype)


# -- dtypes, compiled signatures, the layer ---------------------------------------------------


def test_float32_stays_float32_and_outputs_are_contiguous():
    case = make_case(5, np.float32, 2, 4, 3, 6)
    h_seq, h_last, cache = gru_numba.gru_forward(case["x"], case["h0"], case["kernel"],
                                                 case["recurrent_kernel"], case["bias"])
    back = gru_numba.gru_backward(h_seq, h_last, cache)
    for array in (h_seq, h_last, cache.a, cache.r_h, cache.h, *back):
        assert array.dtype == np.float32
        assert array.flags.c_contiguous
    if numba.config.DISABLE_JIT:
        return  # plain Python functions: nothing compiled
    # no recompiles for new shapes or conventions: the same kernels serve them
    kernels = (gru_numba._forward_rows, gru_numba._backward_rows)
    before = [len(kernel.signatures) for kernel in kernels]
    case = make_case(6, np.float32, 3, 5, 2, 4, reset_after=False)
    h_seq, h_last, cache = gru_numba.gru_forward(case["x"], case["h0"], case["kernel"],
                                                 case["recurrent_kernel"], case["bias"],
                                                 reset_after=False, go_backwards=True)
    gru_numba.gru_backward(h_seq, h_last, cache)
    assert [len(kernel.signatures) for kernel in kernels] == before


def test_empty_sequences_and_batches():
    for batch, timesteps in ((0, 4), (3, 0)):
        case = make_case(2, np.float64, batch, timesteps, 2, 3)
        h_seq, h_last, cache = gru_numba.gru_forward(case["x"], case["h0"], case["kernel"],
                                                     case["recurrent_kernel"], case["bias"])
        assert h_seq.shape == (batch, timesteps, 3)
        np.testing.assert_array_equal(h_last, case["h0"])  # no step: the initial state
        dh_last = np.ones((batch, 3))
        dx, dh0, dkernel, drecurrent, dbias = gru_numba.gru_backward(None, dh_last, cache)
        assert dx.shape == case["x"].shape
        np.testing.assert_array_equal(dh0, dh_last)
        for grad in (dkernel, drecurrent, dbias):
            np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_the_gru_layer_runs_on_the_numba_core(rng, reset_after):
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    layer = GRU(5, return_sequences=True, reset_after=reset_after, backend="numba")
    twin = GRU(5, return_sequences=True, reset_after=reset_after, backend="reference")
    twin.build((None, 6, 3))
    layer.build((None, 6, 3))
    twin.set_weights(layer.get_weights())
    y, cache = layer.forward(x, training=True)
    y_ref, cache_ref = twin.forward(x, training=True)
    assert cache.backend == "numba" and cache_ref.backend == "reference"
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(x), y, rtol=0, atol=0)  # __call__: inference, same bits
    dy = rng.normal(size=y.shape).astype("float32")
    (dx, grads), (dx_ref, grads_ref) = layer.backward(dy, cache), twin.backward(dy, cache_ref)
    for a, b in zip([dx, *grads], [dx_ref, *grads_ref], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_options_the_core_lacks_fall_back_to_the_generic_loop(rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = GRU(3, recurrent_dropout=0.5, backend="numba", seed=1)
    _, cache = layer.forward(x, training=True)
    assert cache.backend == "reference"  # per-gate recurrent masks: Keras's implementation 1
    mask = np.ones((2, 4), bool)
    _, cache = GRU(3, backend="numba").forward(x, mask=mask)
    assert cache.backend == "numba"  # every step real: the layer drops the mask
    mask[1, 3] = False
    _, cache = GRU(3, backend="numba").forward(x, mask=mask)
    assert cache.backend == "reference"  # a time mask
    _, cache = GRU(3, dropout=0.5, backend="numba", seed=1).forward(x, training=True)
    assert cache.backend == "numba"  # one input mask, applied before the kernel
    assert kernels.get_kernel(GRUCell(reset_after=False), "numba") is NUMBA


# -- bad input ----------------------------------------------------------------------------------


def test_bad_inputs_are_named():
    case = make_case(0, np.float32, 1, 2, 1, 2)
    args = (case["x"], case["h0"], case["kernel"], case["recurrent_kernel"], case["bias"])
    with pytest.raises(TypeError, match="gru_numba: expected float32 or float64 arrays, "
                                        "received x of dtype int64"):
        gru_numba.gru_forward(np.ones((1, 2, 1), dtype=np.int64), *args[1:])
    with pytest.raises(ValueError, match="activation 'gelu' has no Numba code"):
        gru_numba.gru_forward(*args, activation="gelu")
    with pytest.raises(ValueError, match=r"gru_numba: expected bias of shape \(6,\) .*"
                                         r"\(reset_after=False\), received \(2, 6\)"):
        gru_numba.gru_forward(*args, reset_after=False)
    with pytest.raises(ValueError, match=r"expected recurrent_kernel of shape \(2, 6\)"):
        gru_numba.gru_forward(*args[:3], np.zeros((2, 8), np.float32), None)
    with pytest.raises(ValueError, match=r"expected h0 of shape \(1, 2\) .* received \(3, 2\)"):
        gru_numba.gru_forward(case["x"], np.zeros((3, 2), np.float32), *args[2:])
    with pytest.raises(ValueError, match="expected x of shape .* received shape"):
        gru_numba.gru_forward(case["x"][0], *args[1:])
    h_seq, h_last, cache = gru_numba.gru_forward(*args)
    with pytest.raises(ValueError, match=r"gru_numba: expected dh_last of shape \(1, 2\) \(the "
                                         r"forward's output\), received \(1, 1, 2\)"):
        gru_numba.gru_backward(None, [h_last], cache)
    with pytest.raises(ValueError, match=r"expected dh_seq of shape \(1, 2, 2\) .* received "
                                         r"\(1, 2\)"):
        gru_numba.gru_backward(h_last, None, cache)
    with pytest.raises(ValueError, match="the Numba GRU core has no per-gate dropout masks"):
        NUMBA.forward(GRUCell(), case["x"], [case["h0"]], *args[2:], False,
                      recurrent_masks=np.ones((3, 1, 2), np.float32))
    with pytest.raises(ValueError, match="the Numba GRU core has no time masks"):
        NUMBA.inference(GRUCell(), case["x"], [case["h0"]], *args[2:], False,
                        mask=np.ones((1, 2), bool))


def test_the_docstring_examples_run():
    import doctest

    result = doctest.testmod(gru_core)
    assert result.attempted >= 3 and result.failed == 0
