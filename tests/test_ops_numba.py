"""The Numba core against the NumPy reference: outputs, final states, every gradient.

The reference (``npylstm/ops/lstm_reference.py``) is the oracle here; it is itself checked
against real Keras and against float64 central differences elsewhere. Tolerances: float32
``rtol=1e-5, atol=1e-6``, float64 ``rtol=atol=1e-10``. NaN and ±inf inputs must give NaN at
exactly the same places and the same values everywhere else.

Every test reuses one compiled kernel per dtype (all arrays are C-contiguous and of one
dtype), so the suite pays Numba's compile time once per dtype.
"""

from __future__ import annotations

import contextlib
import re
from unittest import mock

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npylstm import activations
from npylstm.ops import LSTMCache, lstm_numba, lstm_reference
from npylstm.ops.numba import lstm as lstm_core

NAMES = sorted(lstm_numba.ACTIVATION_CODES)
TOLERANCE = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}
OUTPUTS = ("h_seq", "h_last", "c_last")
GRADIENTS = ("dx", "dh0", "dc0", "dkernel", "drecurrent_kernel", "dbias")

# the largest share of the tolerance used, |numba - reference| / (atol + rtol * |reference|),
# per dtype and quantity; printed with pytest -s
TOLERANCE_USED: dict[str, float] = {}


def _record(dtype, name, ours, ref, tol):
    finite = np.isfinite(ref) & np.isfinite(ours)
    if finite.any():
        key = f"{np.dtype(dtype).name} {name}"
        diff = np.abs(ours[finite].astype(np.float64) - ref[finite])
        used = float(np.max(diff / (tol["atol"] + tol["rtol"] * np.abs(ref[finite]))))
        TOLERANCE_USED[key] = max(TOLERANCE_USED.get(key, 0.0), used)


@pytest.fixture(scope="module", autouse=True)
def _show_max_differences():
    yield
    for key, value in sorted(TOLERANCE_USED.items()):  # visible with pytest -s
        print(f"\n  tolerance used by numba vs reference, {key}: {value:.3f}", end="")


def assert_same(name, ours, ref, dtype, float32_loss=0.0):
    """Same shape, dtype, NaN positions and ±inf; values within the dtype's tolerance.

    ``float32_loss`` is how far the reference itself lands from the same computation in
    float64 on this case (the largest finite difference); twice it is added to the
    absolute tolerance. In a well-conditioned case it is ~1e-7 and changes nothing; in an
    ill-conditioned one (tanh as the recurrent activation lets the forget gate go negative,
    and 20 steps of that amplify rounding) two correct float32 implementations differ by
    about what float32 loses, and the test then asks the Numba core to be as accurate as
    the reference, not bit-identical to its rounding.

    Gradients are sums over batch and time whose entries can cancel to far below their
    terms, so for them the absolute tolerance is scaled by the array's largest magnitude
    (``atol * max(1, max|ref|)``): in float32 even the reference differs from the same
    computation in float64 by up to 1.8x the plain elementwise tolerance on dkernel
    (measured over 600 random cases), while this scaled form leaves both backends under
    0.4x of it. Outputs and final states use the plain elementwise tolerance.
    """
    if ref is None:
        assert ours is None, name
        return
    assert ours.shape == ref.shape, name
    assert ours.dtype == ref.dtype == dtype, (name, ours.dtype, ref.dtype)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{name}: NaN positions")
    tol = _tolerance(name, ref, dtype)
    tol["atol"] += 2.0 * float32_loss
    np.testing.assert_allclose(ours, ref, equal_nan=True, err_msg=name, **tol)
    _record(dtype, name, ours, ref, tol)


def _tolerance(name, ref, dtype):
    tol = dict(TOLERANCE[dtype])
    if name in GRADIENTS:
        finite = np.abs(ref[np.isfinite(ref)])
        tol["atol"] *= max(1.0, float(finite.max())) if finite.size else 1.0
    return tol


def make_case(seed, dtype, batch, timesteps, input_dim, units, use_bias=True, scale=1.0):
    """Inputs and weights of the sizes Keras's initializers give (fan-in scaled)."""
    rng = np.random.default_rng(seed)

    def draw(shape, std):
        return rng.normal(0.0, std, size=shape).astype(dtype)

    return {
        "x": draw((batch, timesteps, input_dim), 1.0),
        "h0": draw((batch, units), 0.5 * min(scale, 1.0)),
        "c0": draw((batch, units), 0.5 * min(scale, 1.0)),
        "kernel": draw((input_dim, 4 * units), scale / np.sqrt(input_dim)),
        "recurrent_kernel": draw((units, 4 * units), scale / np.sqrt(units)),
        "bias": draw((4 * units,), 0.5 * min(scale, 1.0)) if use_bias else None,
    }


def run_both(case, grads, activation="tanh", recurrent_activation="sigmoid",
             go_backwards=False):
    """Forward and backward with each backend; returns ``{name: (numba, reference)}``."""
    args = (case["x"], case["h0"], case["c0"], case["kernel"], case["recurrent_kernel"],
            case["bias"], activation, recurrent_activation, go_backwards)
    results = {}
    for module in (lstm_numba, lstm_reference):
        # neither backend may warn about inf * 0 and friends (pytest turns warnings into
        # errors): NaN and inf propagate silently, as in Keras
        h_seq, h_last, c_last, cache = module.lstm_forward(*args)
        assert isinstance(cache, LSTMCache)
        back = module.lstm_backward(*grads, cache)
        results[module.__name__] = (h_seq, h_last, c_last, *back)
    ours, ref = results[lstm_numba.__name__], results[lstm_reference.__name__]
    return {name: (a, b) for name, a, b in zip(OUTPUTS + GRADIENTS, ours, ref, strict=True)}


def upstream(seed, dtype, batch, timesteps, units, with_seq, with_h, with_c):
    rng = np.random.default_rng(seed + 1)
    dh_seq = rng.normal(size=(batch, timesteps, units)).astype(dtype) if with_seq else None
    dh_last = rng.normal(size=(batch, units)).astype(dtype) if with_h else None
    dc_last = rng.normal(size=(batch, units)).astype(dtype) if with_c else None
    return dh_seq, dh_last, dc_last


# -- the activations, one value at a time, including NaN and ±inf ---------------------------

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 3e-4, -3e-4, 1e4, -1e4, 200.0,
           -200.0, 89.0, 7.4, -7.4, 7.6, -7.6, 8.5, -8.5, 14.9, -14.9, 15.1, -15.1, 20.0, -20.0,
           -3.0, 3.0, -2.5, 2.5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_activation_and_derivative_match_npylstm_activations(name, dtype):
    # a dense sweep through the fast-approximation range plus every special value
    z = np.concatenate([np.linspace(-16, 16, 4001), SPECIAL]).astype(dtype)  # (N,)
    code = lstm_numba.ACTIVATION_CODES[name]
    act = activations.get(name)
    y = np.empty_like(z)
    dy = np.empty_like(z)
    with np.errstate(all="ignore"):  # exponential overflows to inf on purpose (NumPy warns
        # about it, compiled code does not; under NUMBA_DISABLE_JIT these are NumPy scalars)
        lstm_numba._activate_block(code, z, y)
        lstm_numba._derivative_block(code, z, y, dy)
        y_ref = act(z)
        dy_ref = act.grad(z, y_ref)
    assert_same(f"{name}(z)", y, y_ref, dtype)
    assert_same(f"{name}'(z)", dy, dy_ref, dtype)


def test_fast_tanh_keeps_nan_and_limits():
    z = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30], dtype=np.float32)
    y = np.empty_like(z)
    lstm_numba._activate_block(lstm_numba.ACTIVATION_CODES["tanh"], z, y)
    # tanh(NaN) = NaN (a clamp written with min/max would give ±1); tanh(±inf) = ±1 exactly
    np.testing.assert_array_equal(y, [np.nan, 1.0, -1.0, 1.0, -1.0])
    lstm_numba._activate_block(lstm_numba.ACTIVATION_CODES["sigmoid"], z, y)
    np.testing.assert_array_equal(y, [np.nan, 1.0, 0.0, 1.0, 0.0])
    # the approximation itself (inside the range where it is used) never leaves [-1, 1]
    t = np.array([lstm_numba._tanh_f32(v) for v in np.linspace(-7.5, 7.5, 301, dtype=np.float32)])
    assert np.all(np.abs(t) < 1.0)


# -- whole sequences: shapes, options, every gradient --------------------------------------

cases = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([np.float32, np.float64]),
        "batch": st.sampled_from([0, 1, 2, 3, 5, 9]),  # 5, 9: tiles of 4 rows and the rest
        "timesteps": st.integers(1, 20),
        "input_dim": st.integers(1, 10),
        "units": st.integers(1, 40),
        "activation": st.sampled_from(NAMES),
        "recurrent_activation": st.sampled_from(NAMES),
        "go_backwards": st.booleans(),
        "use_bias": st.booleans(),
        "with_seq": st.booleans(),
        "with_h": st.booleans(),
        "with_c": st.booleans(),
        "blas": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


@contextlib.contextmanager
def blas_path(blas):
    """Force the per-timestep BLAS path (``blas``) or the small-units kernels, whatever
    the units and rows per thread."""
    with mock.patch.object(lstm_numba, "BLAS_MIN_UNITS", 1 if blas else 10**9), \
            mock.patch.object(lstm_numba, "BLAS_MIN_ROWS", 1):
        yield


def conditioning(cfg):
    """The dtype and weight scale for a drawn case, so that float32 stays well-conditioned.

    Bounded activations get Keras-sized weights; unbounded ones (relu, linear, elu, ...)
    smaller ones so 20 steps stay well-conditioned in float32. ``exponential`` is compared
    in float64: exp(c) turns an absolute error of c into a relative error of exp(c) and
    exp(exp(...)) compounds it, so within two or three steps any two float32
    implementations (a 1-ulp different expf, another summation order) differ by more than
    rtol=1e-5. (It is compared in float32 value by value in the activation test above.)
    So is a case whose recurrent activation is unbounded (softplus, relu, ...): a forget
    gate above 1 makes the carry grow geometrically, and two summation orders of the
    products then drift apart by more than rtol as well (found by hypothesis: softplus /
    softplus on the BLAS path, carries near 3.4e36 differing from the reference's by 2e-5
    relatively; the same with the kernels before the tiles).
    """
    acts = {cfg["activation"], cfg["recurrent_activation"]}
    bounded = {"tanh", "sigmoid", "hard_sigmoid", "hard_sigmoid_keras2", "softsign"}
    scale = 1.0 if acts <= bounded else 0.2
    geometric = "exponential" in acts or cfg["recurrent_activation"] not in bounded
    dtype = np.float64 if geometric else cfg["dtype"]
    return dtype, scale


@settings(max_examples=60, deadline=None)
@given(cfg=cases)
def test_numba_equals_reference(cfg):
    dtype, scale = conditioning(cfg)
    sizes = (cfg["batch"], cfg["timesteps"], cfg["units"])
    case = make_case(cfg["seed"], dtype, cfg["batch"], cfg["timesteps"], cfg["input_dim"],
                     cfg["units"], cfg["use_bias"], scale)
    grads = upstream(cfg["seed"], dtype, *sizes, cfg["with_seq"], cfg["with_h"], cfg["with_c"])
    # blas=True takes the per-timestep BLAS path that normally starts at 128 units
    with blas_path(cfg["blas"]):
        results = run_both(case, grads, cfg["activation"], cfg["recurrent_activation"],
                           cfg["go_backwards"])
    loss = float32_losses(case, grads, cfg, results) if dtype == np.float32 else {}
    for name, (ours, ref) in results.items():
        assert_same(name, ours, ref, dtype, loss.get(name, 0.0))


def float32_losses(case, grads, cfg, results):
    """Per quantity, the largest finite |reference in float32 - reference in float64| on the
    same (exactly widened) inputs: what float32 itself costs on this case."""
    wide = {key: None if v is None else v.astype(np.float64) for key, v in case.items()}
    args = (wide["x"], wide["h0"], wide["c0"], wide["kernel"], wide["recurrent_kernel"],
            wide["bias"], cfg["activation"], cfg["recurrent_activation"], cfg["go_backwards"])
    h_seq, h_last, c_last, cache = lstm_reference.lstm_forward(*args)
    back = lstm_reference.lstm_backward(
        *(None if g is None else g.astype(np.float64) for g in grads), cache
    )
    losses = {}
    for name, exact in zip(OUTPUTS + GRADIENTS, (h_seq, h_last, c_last, *back), strict=True):
        ref = results[name][1]
        if ref is None or exact is None:
            continue
        finite = np.isfinite(ref) & np.isfinite(exact)
        losses[name] = float(np.max(np.abs(ref[finite] - exact[finite]), initial=0.0))
    return losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blas", [False, True])
def test_larger_layer_both_paths(dtype, blas):
    # 64 features (BLAS input projection), 130 units (BLAS recurrent product by default)
    case = make_case(7, dtype, 4, 12, 64, 130)
    grads = upstream(7, dtype, 4, 12, 130, True, True, True)
    with blas_path(blas):
        results = run_both(case, grads)
    for name, (ours, ref) in results.items():
        assert_same(name, ours, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [3, 9])  # 9: two tiles of 4 rows and one row alone
def test_saturated_gates(dtype, batch):
    # biases of ±9 and ±20 push pre-activations beyond the range of the float32 fast
    # tanh (|z| < 7.5) and sigmoid (|z| < 15), onto the exact fallback
    case = make_case(3, dtype, batch, 15, 4, 9)
    rng = np.random.default_rng(3)
    case["bias"] = rng.choice([-20.0, -9.0, 0.0, 9.0, 20.0], size=4 * 9).astype(dtype)
    grads = upstream(3, dtype, batch, 15, 9, True, True, True)
    for name, (ours, ref) in run_both(case, grads).items():
        assert_same(name, ours, ref, dtype)


def _exact_kernel_spies():
    """Spies on the kernels that finish a sequence once a value left the fast range."""
    return (mock.patch.object(lstm_core, name, wraps=getattr(lstm_core, name))
            for name in ("_forward_rows_ts_exact", "_backward_rows_ts_exact"))


def test_the_exact_paths_run_only_when_a_value_leaves_the_fast_range():
    # the fast tanh/sigmoid kernels compile nothing else in; the exact paths are separate
    # kernels, called (and compiled) only when a carry or pre-activation needs them
    case = make_case(4, np.float32, 6, 8, 3, 5)
    args = (case["x"], case["h0"], case["c0"], case["kernel"], case["recurrent_kernel"],
            case["bias"])
    spy_forward, spy_backward = _exact_kernel_spies()
    with spy_forward as forward, spy_backward as backward:
        *_, cache = lstm_numba.lstm_forward(*args)
        lstm_numba.lstm_backward(np.ones((6, 8, 5), np.float32), None, None, cache)
    assert not forward.called and not backward.called


@pytest.mark.parametrize("row", [0, 2, 4, 8])  # first / inner row of a tile, the row alone
@pytest.mark.parametrize("keep", [False, True])
def test_a_carry_leaving_the_fast_range_inside_a_tile(row, keep):
    # rows go through the small-units kernel four at a time; when one row's carry leaves
    # the fast range of tanh at some step, the kernel stops for the whole tile and the
    # exact path finishes the rows from there. Every row must still equal the reference
    # and, bit for bit, the same row computed alone (batch 1).
    dtype = np.float32
    batch, timesteps, units = 9, 12, 5
    case = make_case(5, dtype, batch, timesteps, 3, units)
    case["c0"][row] = 6.0  # this row's carry grows past |c| = 7.5 within a few steps
    case["bias"][units : 2 * units] = 9.0  # forget gate near 1: the carry is kept
    case["bias"][: units] = 9.0  # input gate near 1, adding g each step
    case["kernel"][:, 2 * units : 3 * units] = np.abs(case["kernel"][:, 2 * units : 3 * units])
    case["x"][row] = np.abs(case["x"][row]) + 1.0  # g > 0 for this row: c keeps growing
    args = (case["x"], case["h0"], case["c0"], case["kernel"], case["recurrent_kernel"],
            case["bias"])
    run = lstm_numba.lstm_forward if keep else lstm_numba.lstm_inference
    spy_forward, spy_backward = _exact_kernel_spies()
    with spy_forward as forward, spy_backward as backward:
        ours = run(*args)
        if keep:
            dh_seq = np.ones((batch, timesteps, units), dtype)
            back = lstm_numba.lstm_backward(dh_seq, None, None, ours[3])
    assert forward.called  # the stop inside the tile, and the exact path from there
    assert backward.called is keep
    ref = lstm_reference.lstm_forward(*args)
    assert np.max(np.abs(ref[2][row])) > 7.5  # the carry did leave the fast range (c0 < 7.5)
    for name, a, b in zip(OUTPUTS, ours[:3], ref[:3], strict=True):
        assert_same(name, a, b, dtype)
    if keep:  # backward: the rows also go in tiles, through the exact path at those steps
        back_ref = lstm_reference.lstm_backward(dh_seq, None, None, ref[3])
        for name, a, b in zip(GRADIENTS, back, back_ref, strict=True):
            assert_same(name, a, b, dtype)
    for b in range(batch):
        alone = run(case["x"][b : b + 1], case["h0"][b : b + 1], case["c0"][b : b + 1],
                    *args[3:])
        for a, one in zip(ours[:3], alone[:3], strict=True):
            np.testing.assert_array_equal(a[b : b + 1], one)
        if keep:  # dL/dh0, dL/dc0 of a row come from the kernel alone: bit for bit too
            one_back = lstm_numba.lstm_backward(dh_seq[b : b + 1], None, None, alone[3])
            np.testing.assert_array_equal(back[1][b : b + 1], one_back[1])
            np.testing.assert_array_equal(back[2][b : b + 1], one_back[2])


# -- NaN and ±inf --------------------------------------------------------------------------

specials = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from([np.float32, np.float64]),
        "batch": st.integers(1, 6),
        "timesteps": st.integers(1, 8),
        "input_dim": st.integers(1, 4),
        "units": st.integers(1, 6),
        "activation": st.sampled_from(NAMES),
        "recurrent_activation": st.sampled_from(NAMES),
        "go_backwards": st.booleans(),
        "where": st.sampled_from(["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]),
        "count": st.integers(1, 3),
        "value": st.sampled_from([np.nan, np.inf, -np.inf]),
        "blas": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=60, deadline=None)
@given(cfg=specials)
def test_nan_and_inf_inputs_behave_like_the_reference(cfg):
    dtype, scale = conditioning(cfg)
    sizes = (cfg["batch"], cfg["timesteps"], cfg["units"])
    case = make_case(cfg["seed"], dtype, cfg["batch"], cfg["timesteps"], cfg["input_dim"],
                     cfg["units"], scale=scale)
    target = case[cfg["where"]].reshape(-1)  # a view: poison a few entries in place
    rng = np.random.default_rng(cfg["seed"] + 2)
    target[rng.choice(target.size, size=min(cfg["count"], target.size), replace=False)] = (
        cfg["value"]
    )
    grads = upstream(cfg["seed"], dtype, *sizes, True, True, True)
    with blas_path(cfg["blas"]):
        results = run_both(case, grads, cfg["activation"], cfg["recurrent_activation"],
                           cfg["go_backwards"])
    loss = float32_losses(case, grads, cfg, results) if dtype == np.float32 else {}
    for name, (ours, ref) in results.items():
        assert_same(name, ours, ref, dtype, loss.get(name, 0.0))


# -- the cache is shared between backends -------------------------------------------------


@pytest.mark.parametrize("forward_with", ["numba", "reference"])
def test_caches_are_interchangeable(forward_with):
    dtype = np.float64
    case = make_case(11, dtype, 2, 6, 3, 5)
    grads = upstream(11, dtype, 2, 6, 5, True, True, False)
    modules = {"numba": lstm_numba, "reference": lstm_reference}
    args = (case["x"], case["h0"], case["c0"], case["kernel"], case["recurrent_kernel"],
            case["bias"], "tanh", "sigmoid", True)
    *_, cache = modules[forward_with].lstm_forward(*args)
    *_, ref_cache = lstm_reference.lstm_forward(*args)
    for field in ("z", "c", "h"):
        assert_same(field, getattr(cache, field), getattr(ref_cache, field), dtype)
    other = lstm_reference if forward_with == "numba" else lstm_numba
    ours = other.lstm_backward(*grads, cache)
    ref = lstm_reference.lstm_backward(*grads, ref_cache)
    for name, a, b in zip(GRADIENTS, ours, ref, strict=True):
        assert_same(name, a, b, dtype)


def test_float32_stays_float32_and_outputs_are_contiguous():
    case = make_case(5, np.float32, 2, 4, 3, 6)
    h_seq, h_last, c_last, cache = lstm_numba.lstm_forward(
        case["x"], case["h0"], case["c0"], case["kernel"], case["recurrent_kernel"], case["bias"]
    )
    back = lstm_numba.lstm_backward(h_seq, h_last, c_last, cache)
    for array in (h_seq, h_last, c_last, cache.z, cache.c, cache.h, *back):
        assert array.dtype == np.float32
        assert array.flags.c_contiguous
    # one compiled forward and backward per dtype: no recompiles for new shapes or options
    if numba.config.DISABLE_JIT:
        return  # plain Python functions: nothing compiled
    for kernel in (lstm_numba._forward_rows_ts, lstm_numba._forward_rows,
                   lstm_numba._gates_forward_step_ts, lstm_numba._gates_forward_step,
                   lstm_numba._backward_rows_ts, lstm_numba._backward_rows,
                   lstm_numba._gates_backward_step_ts, lstm_numba._gates_backward_step):
        assert len(kernel.signatures) <= 2, kernel


# -- bad input -------------------------------------------------------------------------------


def test_integer_input_is_a_type_error():
    case = make_case(0, np.float32, 1, 2, 1, 2)
    with pytest.raises(TypeError, match="expected float32 or float64 arrays, received x of"):
        lstm_numba.lstm_forward(np.ones((1, 2, 1), dtype=np.int64), case["h0"], case["c0"],
                                case["kernel"], case["recurrent_kernel"], case["bias"])


def test_unknown_activation_is_a_value_error():
    case = make_case(0, np.float32, 1, 2, 1, 2)
    with pytest.raises(ValueError, match="activation 'gelu' has no Numba code"):
        lstm_numba.lstm_forward(case["x"], case["h0"], case["c0"], case["kernel"],
                                case["recurrent_kernel"], case["bias"], activation="gelu")


@pytest.mark.parametrize("module", [lstm_numba, lstm_reference], ids=["numba", "reference"])
@pytest.mark.parametrize("blas", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("batch", [1, 5])
def test_inference_returns_the_forward_outputs(module, blas, go_backwards, batch):
    # lstm_inference keeps no cache; its outputs are those of lstm_forward, bit for bit
    case = make_case(11, np.float32, batch, 6, 3, 9)
    args = (case["x"], case["h0"], case["c0"], case["kernel"], case["recurrent_kernel"],
            case["bias"], "tanh", "sigmoid", go_backwards)
    with blas_path(blas):
        forward = module.lstm_forward(*args)
        inference = module.lstm_inference(*args)
    assert len(inference) == 3
    for got, expected in zip(inference, forward[:3], strict=True):
        assert got.dtype == expected.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("batch, timesteps", [(1, 1), (3, 1), (2, 3)])
def test_a_streamed_step_runs_the_row_kernel_directly_with_the_general_paths_results(
        batch, timesteps):
    # fewer rows than a tile and timesteps than _BLAS_MIN_STEPS: _run_forward calls the row
    # kernel without _forward_blocks; the results are the general path's bit for bit and
    # the reference's within rounding, forward and backward
    from npylstm.ops.numba import lstm as core

    rng = np.random.default_rng(batch * 10 + timesteps)
    units, features = 7, 3
    args = [rng.normal(0, 0.5, size=s).astype("float32") for s in [
        (batch, timesteps, features), (batch, units), (batch, units),
        (features, 4 * units), (units, 4 * units), (4 * units,)]]
    with mock.patch.object(core, "_forward_blocks", wraps=core._forward_blocks) as blocks:
        fast = lstm_numba.lstm_forward(*args)
        assert not blocks.called
        with mock.patch.object(core, "_BLAS_MIN_STEPS", 1):  # the general path for the same
            general = lstm_numba.lstm_forward(*args)
        assert blocks.called
    for a, b in zip(fast[:3], general[:3], strict=True):
        np.testing.assert_array_equal(a, b)
    expected = lstm_reference.lstm_forward(*args)
    for a, b in zip(fast[:3], expected[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    dh = rng.normal(size=(batch, timesteps, units)).astype("float32")
    got = lstm_numba.lstm_backward(dh, None, None, fast[3])
    want = lstm_reference.lstm_backward(dh, None, None, expected[3])
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _stream_args(seed, dtype, batch, timesteps, features, units, scale=0.5):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, scale, size=s).astype(dtype) for s in [
        (batch, timesteps, features), (batch, units), (batch, units),
        (features, 4 * units), (units, 4 * units), (4 * units,)]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, timesteps, features, units", [
    (1, 1, 1, 50), (3, 1, 9, 7), (2, 3, 2, 20), (1, 2, 16, 127)])
def test_lstm_inference_of_a_streamed_step_is_one_compiled_call_with_the_general_results(
        dtype, batch, timesteps, features, units):
    # ready arrays, few rows and steps: lstm_inference calls _stream_step_ts and nothing of
    # _run_forward; the outputs are _run_forward's bit for bit (fresh, C-contiguous arrays
    # of the dtype, h_last a copy, not a view of h_seq) and the reference's within rounding
    args = _stream_args(batch + units, dtype, batch, timesteps, features, units)
    with mock.patch.object(lstm_core, "_run_forward", wraps=lstm_core._run_forward) as general:
        fast = lstm_numba.lstm_inference(*args)
        assert not general.called
    slow = lstm_core._run_forward(*args, "tanh", "sigmoid", False, keep=False)[:3]
    for a, b in zip(fast, slow, strict=True):
        assert a.dtype == dtype and a.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
    for i, a in enumerate(fast):  # no output shares memory with another or with an input
        assert not any(np.shares_memory(a, b) for b in [*fast[:i], *fast[i + 1:], *args])
    expected = lstm_reference.lstm_inference(*args)
    for a, b in zip(fast, expected, strict=True):
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype])


def test_a_streamed_step_on_other_arrays_takes_the_general_path_with_the_same_results():
    # a list, another dtype, a transposed (non-contiguous) kernel, no bias, go_backwards,
    # another activation, a tile's worth of rows: no fast path, the general path's results
    x, h0, c0, kernel, recurrent, bias = _stream_args(3, np.float32, 1, 1, 3, 5)
    base = lstm_core._run_forward(x, h0, c0, kernel, recurrent, bias, "tanh", "sigmoid",
                                  False, keep=False)[:3]
    kernel_t = np.ascontiguousarray(kernel.T).T  # the same values, Fortran order
    variants = {
        "list h0": ((x, h0.tolist(), c0, kernel, recurrent, bias), {}),
        "float64 c0": ((x, h0, c0.astype(np.float64), kernel, recurrent, bias), {}),
        "transposed kernel": ((x, h0, c0, kernel_t, recurrent, bias), {}),
    }
    for name, (args, kwargs) in variants.items():
        with mock.patch.object(lstm_core, "_run_forward",
                               wraps=lstm_core._run_forward) as general:
            got = lstm_numba.lstm_inference(*args, **kwargs)
            assert general.called, name
        for a, b in zip(got, base, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    for args, kwargs in [((x, h0, c0, kernel, recurrent, None), {}),
                         ((x, h0, c0, kernel, recurrent, bias), {"go_backwards": True}),
                         ((x, h0, c0, kernel, recurrent, bias), {"activation": "relu"}),
                         (_stream_args(4, np.float32, 4, 1, 3, 5), {})]:
        with mock.patch.object(lstm_core, "_stream_step_ts") as fast:
            got = lstm_numba.lstm_inference(*args, **kwargs)
            assert not fast.called
        expected = lstm_reference.lstm_inference(*args, **kwargs)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, **TOLERANCE[np.float32])


@pytest.mark.parametrize("special", [np.nan, np.inf, 1e30])
def test_a_streamed_step_whose_carry_leaves_the_fast_range_is_rerun_on_the_general_path(
        special):
    # the compiled step reports it stopped; the general path (whose exact kernel finishes
    # the row) gives the reference's values, NaN where the reference has NaN
    x, h0, c0, kernel, recurrent, bias = _stream_args(5, np.float32, 2, 1, 2, 6)
    c0[1, 3] = special
    with mock.patch.object(lstm_core, "_run_forward", wraps=lstm_core._run_forward) as general:
        got = lstm_numba.lstm_inference(x, h0, c0, kernel, recurrent, bias)
        assert general.called
    expected = lstm_reference.lstm_inference(x, h0, c0, kernel, recurrent, bias)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, **TOLERANCE[np.float32])  # NaN where NaN


@pytest.mark.parametrize("streamed", [True, False])
@pytest.mark.parametrize("name, shape, message", [
    ("kernel", (2, 20), r"expected kernel of shape \(3, 20\) for x of shape \(B, T, 3\) and 5 "
                        r"units, received \(2, 20\)"),
    ("recurrent_kernel", (5, 16), r"expected recurrent_kernel of shape \(5, 20\) .* received "
                                  r"\(5, 16\)"),
    ("h0", (4, 5), r"expected h0 of shape \(B, 5\) .* received \(4, 5\)"),
    ("c0", (1, 6), r"expected c0 of shape \(B, 5\) .* received \(1, 6\)"),
    ("bias", (21,), r"expected bias of shape \(20,\) .* received \(21,\)"),
])
def test_wrong_shapes_are_value_errors_naming_the_argument(streamed, name, shape, message):
    # the compiled kernels index without bounds checks: a wrong shape must fail before them
    # (a (2, 20) kernel for 3 features used to return numbers read past the array)
    batch, timesteps = (1, 1) if streamed else (6, 7)
    args = dict(zip(["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"],
                    _stream_args(0, np.float32, batch, timesteps, 3, 5), strict=True))
    args[name] = np.zeros(shape, np.float32)
    message = message.replace(r"\(B, T, 3\)", rf"\({batch}, {timesteps}, 3\)").replace(
        r"\(B, 5\)", rf"\({batch}, 5\)")
    for function in (lstm_numba.lstm_inference, lstm_numba.lstm_forward):
        with pytest.raises(ValueError, match="lstm_numba: " + message):
            function(*args.values())


@pytest.mark.parametrize("shape", [(2, 3), (1, 2, 3, 1)])
def test_an_x_that_is_not_3d_is_a_value_error(shape):
    _, h0, c0, kernel, recurrent, bias = _stream_args(0, np.float32, 1, 1, 3, 5)
    for function in (lstm_numba.lstm_inference, lstm_numba.lstm_forward):
        with pytest.raises(ValueError, match=r"lstm_numba: expected x of shape \(batch, "
                                             rf"timesteps, input_dim\), received shape "
                                             rf"{re.escape(str(shape))}"):
            function(np.ones(shape, np.float32), h0, c0, kernel, recurrent, bias)


def test_wrong_gradient_shapes_are_value_errors_naming_the_argument():
    args = _stream_args(0, np.float32, 2, 3, 3, 5)
    cache = lstm_numba.lstm_forward(*args)[3]
    good = {"dh_seq": np.ones((2, 3, 5), np.float32), "dh_last": np.ones((2, 5), np.float32),
            "dc_last": np.ones((2, 5), np.float32)}
    for name, shape in [("dh_seq", (2, 4, 5)), ("dh_last", (1, 5)), ("dc_last", (2, 6))]:
        grads = dict(good, **{name: np.ones(shape, np.float32)})
        expected = {"dh_seq": (2, 3, 5)}.get(name, (2, 5))
        with pytest.raises(ValueError, match=rf"lstm_numba: expected {name} of shape "
                                             rf"{re.escape(str(expected))} \(the forward's "
                                             rf"output\), received {re.escape(str(shape))}"):
            lstm_numba.lstm_backward(*grads.values(), cache)
