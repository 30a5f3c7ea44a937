import numpy as np
import pytest

from npylstm import initializers


def test_glorot_uniform_limit_and_seed():
    init = initializers.GlorotUniform(seed=3)
    w = init((40, 80))
    limit = np.sqrt(6 / (40 + 80))
    assert w.dtype == np.float32 and w.shape == (40, 80)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
    np.testing.assert_array_equal(w, initializers.GlorotUniform(seed=3)((40, 80)))
    assert not np.array_equal(w, initializers.GlorotUniform(seed=4)((40, 80)))


@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (16, 16)])
def test_orthogonal_is_orthogonal(shape):
    w = initializers.Orthogonal(seed=0)(shape, dtype="float64")
    if shape[0] <= shape[1]:
        np.testing.assert_allclose(w @ w.T, np.eye(shape[0]), atol=1e-12)
    else:
        np.testing.assert_allclose(w.T @ w, np.eye(shape[1]), atol=1e-12)


def test_constant_zeros_ones():
    assert initializers.get("zeros")((2,)).tolist() == [0, 0]
    assert initializers.get("ones")((2,)).tolist() == [1, 1]
    assert initializers.get(0.5)((2,)).tolist() == [0.5, 0.5]
    config = {"class_name": "Constant", "config": {"value": 2}}
    assert initializers.get(config)((1,)).tolist() == [2]


def test_unit_forget_bias_sets_forget_block_to_one():
    b = initializers.unit_forget_bias(initializers.Constant(0.03), 2)
    np.testing.assert_allclose(b, [0.03, 0.03, 1, 1, 0.03, 0.03, 0.03, 0.03])


def test_global_seed_reproducible():
    initializers.set_random_seed(7)
    a = initializers.get("glorot_uniform")((3, 4))
    initializers.set_random_seed(7)
    b = initializers.get("glorot_uniform")((3, 4))
    np.testing.assert_array_equal(a, b)


def test_unknown_initializer():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'.*glorot_uniform"):
        initializers.get("glorot")
