"""Shared fixtures: random generators, the kernel backends, and real Keras as the oracle."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Keras picks its backend at import; the oracle tests use JAX on the CPU.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from npylstm.ops import BACKENDS  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    """Every ops/layer test runs once per kernel backend."""
    return request.param


def import_keras():
    """Real Keras, or a skip; with NPYLSTM_REQUIRE_KERAS=1 (CI) a missing Keras is a failure."""
    if os.environ.get("NPYLSTM_REQUIRE_KERAS") == "1":
        import keras

        return keras
    return pytest.importorskip("keras")


@pytest.fixture(scope="session")
def keras():
    return import_keras()
