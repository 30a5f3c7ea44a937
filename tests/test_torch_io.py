"""PyTorch nn.LSTM state dicts, both directions, against torch's own outputs.

torch is an optional peer: these tests skip without it (CI installs torch==2.13.0).
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import torch_io

torch = pytest.importorskip("torch")

ATOL = 1e-5


def torch_state(sd: dict[str, np.ndarray]) -> dict:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def run_torch(module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out, _ = module(torch.from_numpy(x))
    return out.numpy()


def random_stack(rng, units=(4, 4), input_dim=3, use_bias=(True, True), timesteps=6):
    layers = []
    for k, (u, b) in enumerate(zip(units, use_bias, strict=True)):
        layers.append(npylstm.layers.LSTM(u, use_bias=b, return_sequences=True, name=f"lstm{k}"))
    model = npylstm.Sequential([npylstm.Input((timesteps, input_dim)), *layers])
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
    )
    return model


@pytest.mark.parametrize("use_bias", [(True, True), (False, False), (True, False)])
def test_export_stack_as_one_nn_lstm(rng, use_bias):
    model = random_stack(rng, use_bias=use_bias)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    sd = torch_io.to_torch_state_dict(model)
    has_bias = any(use_bias)
    module = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bias=has_bias)
    module.load_state_dict(torch_state(sd))  # strict: exactly nn.LSTM's keys and shapes
    np.testing.assert_allclose(run_torch(module, x), model.predict(x, verbose=0), atol=ATOL, rtol=0)


def test_export_separate_modules_with_different_units(rng):
    model = random_stack(rng, units=(5, 2), use_bias=(True, False))
    x = rng.normal(size=(3, 6, 3)).astype("float32")
    first, second = torch_io.to_torch_state_dicts(model)
    m1 = torch.nn.LSTM(3, 5, batch_first=True)
    m2 = torch.nn.LSTM(5, 2, batch_first=True, bias=False)
    m1.load_state_dict(torch_state(first))
    m2.load_state_dict(torch_state(second))
    with torch.no_grad():
        out = m2(m1(torch.from_numpy(x))[0])[0].numpy()
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=ATOL, rtol=0)


def test_import_one_nn_lstm_with_layers(rng):
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4, num_layers=3, batch_first=True)
    model = npylstm.Sequential(
        [npylstm.Input((7, 3))] + [npylstm.layers.LSTM(4, return_sequences=True) for _ in range(3)]
    )
    torch_io.load_torch_state_dict(model, module.state_dict())
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), run_torch(module, x), atol=ATOL, rtol=0)
    # The two PyTorch biases arrive summed in Keras's single bias.
    sd = module.state_dict()
    np.testing.assert_allclose(
        model.layers[1].get_weights()[2], (sd["bias_ih_l1"] + sd["bias_hh_l1"]).numpy(), rtol=1e-6
    )


def test_import_separate_modules_and_prefix(rng):
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.LSTM(2, 6, batch_first=True)
            self.decoder = torch.nn.LSTM(6, 3, batch_first=True, bias=False)

    net = Net()
    model = npylstm.Sequential(
        [
            npylstm.Input((5, 2)),
            npylstm.layers.LSTM(6, return_sequences=True),
            npylstm.layers.LSTM(3, return_sequences=True, use_bias=False),
        ]
    )
    sd = net.state_dict()
    enc = {k: v for k, v in sd.items() if k.startswith("encoder.")}
    dec = {k: v for k, v in sd.items() if k.startswith("decoder.")}
    torch_io.load_torch_state_dict(model.layers[:1], enc, prefix="encoder.")
    torch_io.load_torch_state_dict(model.layers[1:], dec, prefix="decoder.")
    x = rng.normal(size=(4, 5, 2)).astype("float32")
    with torch.no_grad():
        expected = net.decoder(net.encoder(torch.from_numpy(x))[0])[0].numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL, rtol=0)


def test_round_trip_is_exact(rng):
    model = random_stack(rng)
    sd = torch_io.to_torch_state_dict(model)
    other = random_stack(np.random.default_rng(99))
    torch_io.load_torch_state_dict(other, sd)
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_refuses_bidirectional_into_one_direction_and_proj_size():
    # A bidirectional nn.LSTM loads into Bidirectional(LSTM) (tests/test_torch_io_recurrent.py)
    model = npylstm.Sequential([npylstm.Input((5, 2)), npylstm.layers.LSTM(4, name="one")])
    with pytest.raises(
        ValueError, match="LSTM 'one': the state dict's layer l0 is a bidirectional .*"
        "wrap the layer in Bidirectional"
    ):
        torch_io.load_torch_state_dict(model, torch.nn.LSTM(2, 4, bidirectional=True).state_dict())
    with pytest.raises(ValueError, match="proj_size has no Keras equivalent"):
        torch_io.load_torch_state_dict(model, torch.nn.LSTM(2, 4, proj_size=2).state_dict())


def test_import_mismatches_name_the_layer():
    model = npylstm.Sequential([npylstm.Input((5, 2)), npylstm.layers.LSTM(4, name="enc")])
    with pytest.raises(
        ValueError,
        match=r"LSTM 'enc': expected weight shapes \[\(2, 16\), \(4, 16\), \(16,\)\].*"
        r"received \[\(3, 16\), \(4, 16\), \(16,\)\]",
    ):
        torch_io.load_torch_state_dict(model, torch.nn.LSTM(3, 4).state_dict())
    with pytest.raises(
        ValueError, match=r"model has 1 LSTM layers \['enc'\].*hold 2 nn.LSTM layers"
    ):
        torch_io.load_torch_state_dict(model, torch.nn.LSTM(2, 4, num_layers=2).state_dict())
    no_bias = npylstm.Sequential(
        [npylstm.Input((5, 2)), npylstm.layers.LSTM(4, use_bias=False, name="nb")]
    )
    with pytest.raises(
        ValueError, match="LSTM 'nb' has use_bias=False but the nn.LSTM layer has non-zero biases"
    ):
        torch_io.load_torch_state_dict(no_bias, torch.nn.LSTM(2, 4).state_dict())


def test_export_refusals():
    def model_with(**kwargs):
        return npylstm.Sequential(
            [npylstm.Input((5, 2)), npylstm.layers.LSTM(4, name="x", **kwargs)]
        )

    with pytest.raises(ValueError, match="LSTM 'x': nn.LSTM has no go_backwards"):
        torch_io.to_torch_state_dict(model_with(go_backwards=True))
    with pytest.raises(
        ValueError, match="LSTM 'x': nn.LSTM computes with activation='tanh'.*'relu'"
    ):
        torch_io.to_torch_state_dict(model_with(activation="relu"))
    mixed = npylstm.Sequential(
        [
            npylstm.Input((5, 2)),
            npylstm.layers.LSTM(4, return_sequences=True),
            npylstm.layers.LSTM(3),
        ]
    )
    with pytest.raises(ValueError, match=r"same hidden size.*\[4, 3\].*to_torch_state_dicts"):
        torch_io.to_torch_state_dict(mixed)
    with pytest.raises(ValueError, match="at least one LSTM, GRU or Bidirectional"):
        torch_io.to_torch_state_dict([npylstm.layers.Dense(2)])


def test_state_dict_key_errors():
    with pytest.raises(ValueError, match="key 'fc.weight': expected nn.LSTM keys"):
        torch_io.from_torch_state_dict({"fc.weight": np.zeros((2, 2), "float32")})
    with pytest.raises(ValueError, match="no nn.LSTM weights found"):
        torch_io.from_torch_state_dict({"fc.weight": np.zeros(2, "float32")}, prefix="lstm.")
    with pytest.raises(ValueError, match="layer l0 has no 'weight_hh_l0'"):
        torch_io.from_torch_state_dict({"weight_ih_l0": np.zeros((8, 2), "float32")})
    with pytest.raises(TypeError, match="'weight_ih_l0': expected floats, received dtype int64"):
        torch_io.from_torch_state_dict({"weight_ih_l0": np.zeros((8, 2), "int64")})
