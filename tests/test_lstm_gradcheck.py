"""Central-difference checks, in float64, of every gradient ``lstm_backward`` returns.

The loss is ``sum(h_seq * u_seq) + sum(h_last * u_h) + sum(c_last * u_c)`` with fixed random
upstream arrays ``u``: its analytic gradient with respect to each input must equal
``(L(p + eps) - L(p - eps)) / (2 eps)``: normwise relative error below 1e-6, and entrywise
within rtol 1e-6 / atol 1e-8.
"""

from __future__ import annotations

import numpy as np
import pytest

from npylstm.ops import BACKENDS

EPS = 1e-6


def _problem(rng, batch, timesteps, input_dim, units, use_bias):
    params = {
        "x": rng.normal(size=(batch, timesteps, input_dim)),
        "h0": rng.normal(scale=0.5, size=(batch, units)),
        "c0": rng.normal(scale=0.5, size=(batch, units)),
        "kernel": rng.normal(scale=0.5, size=(input_dim, 4 * units)),
        "recurrent_kernel": rng.normal(scale=0.5, size=(units, 4 * units)),
        "bias": rng.normal(scale=0.5, size=4 * units) if use_bias else None,
    }
    upstream = (
        rng.normal(size=(batch, timesteps, units)),
        rng.normal(size=(batch, units)),
        rng.normal(size=(batch, units)),
    )
    return params, upstream


def _loss(ops, params, upstream, **kw):
    h_seq, h_last, c_last, _ = ops.lstm_forward(**params, **kw)
    u_seq, u_h, u_c = upstream
    return np.sum(h_seq * u_seq) + np.sum(h_last * u_h) + np.sum(c_last * u_c)


def _relative_error(analytic, numeric):
    """Normwise ``|a - n| / (|a| + |n|)``: entrywise ratios of gradients near zero measure only
    the finite-difference round-off (~1e-16 * |L| / EPS ~ 1e-10 absolute here)."""
    return np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric))


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize(
    ("activation", "recurrent_activation", "go_backwards", "use_bias"),
    [
        ("tanh", "sigmoid", False, True),
        ("tanh", "sigmoid", True, False),
        ("softsign", "hard_sigmoid", False, True),
        ("elu", "sigmoid", True, True),
        ("swish", "softsign", False, True),
        ("selu", "tanh", False, False),
        ("softplus", "sigmoid", True, True),
        ("linear", "hard_sigmoid_keras2", False, True),
        ("relu", "sigmoid", False, True),
        ("exponential", "sigmoid", False, True),
    ],
)
def test_every_gradient_matches_central_differences(
    name, activation, recurrent_activation, go_backwards, use_bias
):
    ops = BACKENDS[name]
    rng = np.random.default_rng(abs(hash((activation, recurrent_activation))) % 2**32)
    params, upstream = _problem(rng, batch=2, timesteps=4, input_dim=3, units=3, use_bias=use_bias)
    if activation == "exponential":
        params = {k: None if v is None else v * 0.3 for k, v in params.items()}
    kw = {"activation": activation, "recurrent_activation": recurrent_activation,
          "go_backwards": go_backwards}

    _, _, _, cache = ops.lstm_forward(**params, **kw)
    grads = dict(
        zip(("x", "h0", "c0", "kernel", "recurrent_kernel", "bias"),
            ops.lstm_backward(*upstream, cache), strict=True)
    )
    assert (grads["bias"] is None) == (not use_bias)

    for pname, value in params.items():
        if value is None:
            continue
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            original = value[idx]
            value[idx] = original + EPS
            plus = _loss(ops, params, upstream, **kw)
            value[idx] = original - EPS
            minus = _loss(ops, params, upstream, **kw)
            value[idx] = original
            numeric[idx] = (plus - minus) / (2 * EPS)
        err = _relative_error(grads[pname], numeric)
        assert err < 1e-6, f"d{pname}: relative error {err:.2e}"
        # and entrywise, up to the round-off of the differences
        np.testing.assert_allclose(grads[pname], numeric, rtol=1e-6, atol=1e-8)
