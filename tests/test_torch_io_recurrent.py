"""nn.GRU, multi-layer and bidirectional nn.LSTM / nn.GRU state dicts, both directions,
against torch's own outputs (the oracle: the same weights and input through PyTorch).

torch is an optional peer: these tests skip without it.
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm.io import torch as tio
from npylstm.layers import GRU, LSTM, Bidirectional, Dense, Dropout

torch = pytest.importorskip("torch")

ATOL = 1e-5
T, D, H = 6, 3, 4
MODULES = {"lstm": (LSTM, torch.nn.LSTM), "gru": (GRU, torch.nn.GRU)}


def torch_state(sd: dict[str, np.ndarray]) -> dict:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def run_torch(module, x: np.ndarray):
    with torch.no_grad():
        out, h_n = module(torch.from_numpy(x))
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # nn.LSTM: (h_n, c_n)
    return out.numpy(), h_n.numpy()


def stack(kind, num_layers, bidirectional=False, last_sequences=True, use_bias=True, **kw):
    """npylstm Sequential of ``num_layers`` LSTM/GRU (or Bidirectional of them) layers."""
    cls = MODULES[kind][0]
    layers = []
    for k in range(num_layers):
        seq = last_sequences or k < num_layers - 1
        layer = cls(H, return_sequences=seq, use_bias=use_bias, name=f"{kind}{k}", **kw)
        layers.append(Bidirectional(layer, name=f"bi{k}") if bidirectional else layer)
    return npylstm.Sequential([npylstm.Input((T, D)), *layers])


def randomize(model, rng):
    model.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()]
    )
    return model


def torch_module(kind, num_layers, bidirectional=False, bias=True, seed=0):
    torch.manual_seed(seed)
    module = MODULES[kind][1](D, H, num_layers=num_layers, bidirectional=bidirectional,
                              bias=bias, batch_first=True)
    with torch.no_grad():  # biases well away from zero, so a misplaced one shows
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return module


CASES = [("gru", 1, False), ("gru", 2, False), ("lstm", 2, True), ("gru", 2, True)]


@pytest.mark.parametrize(("kind", "num_layers", "bidirectional"), CASES)
def test_export_matches_torch(rng, kind, num_layers, bidirectional):
    model = randomize(stack(kind, num_layers, bidirectional), rng)
    x = rng.normal(size=(2, T, D)).astype("float32")
    sd = tio.to_torch_state_dict(model)
    module = MODULES[kind][1](D, H, num_layers=num_layers, bidirectional=bidirectional,
                              batch_first=True)
    module.load_state_dict(torch_state(sd))  # strict: exactly the module's keys and shapes
    out, _ = run_torch(module, x)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=ATOL, rtol=0)
    signature = tio.module_signature(tio.torch_layers(model))
    assert signature == (f"nn.{kind.upper()}(input_size={D}, hidden_size={H}, num_layers="
                         f"{num_layers}{', bidirectional=True' if bidirectional else ''}, "
                         "batch_first=True)")


@pytest.mark.parametrize(("kind", "num_layers", "bidirectional"), CASES)
def test_import_from_a_pt_file_matches_torch(rng, tmp_path, kind, num_layers, bidirectional):
    module = torch_module(kind, num_layers, bidirectional)
    path = tmp_path / "module.pt"
    torch.save(module.state_dict(), path)
    x = rng.normal(size=(3, T, D)).astype("float32")
    out, h_n = run_torch(module, x)
    model = stack(kind, num_layers, bidirectional)
    tio.load_state_dict_file(model, path, has_weights=False)
    np.testing.assert_allclose(model.predict(x, verbose=0), out, atol=ATOL, rtol=0)
    # The last layer without return_sequences: Keras's last output is PyTorch's h_n (the
    # backward direction's h after reading x_1: its output at t = 0, not at t = T - 1).
    last = stack(kind, num_layers, bidirectional, last_sequences=False)
    tio.load_torch_state_dict(last, tio.read_state_dict(path))
    top = np.concatenate([h_n[-2], h_n[-1]], axis=-1) if bidirectional else h_n[-1]
    np.testing.assert_allclose(last.predict(x, verbose=0), top, atol=ATOL, rtol=0)
    if bidirectional:
        np.testing.assert_allclose(h_n[-1], out[:, 0, H:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_round_trip_is_exact_and_gru_biases_keep_their_rows(rng, kind):
    model = randomize(stack(kind, 2, bidirectional=True), rng)
    other = stack(kind, 2, bidirectional=True)
    tio.load_torch_state_dict(other, tio.to_torch_state_dict(model))
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    if kind == "gru":  # b_hn is the recurrent bias row's candidate block, as torch reads it
        sd = tio.to_torch_state_dict(model)
        bias = model.layers[0].forward_layer.bias  # (2, 3H): [input row, recurrent row]
        np.testing.assert_array_equal(sd["bias_hh_l0"][2 * H:], bias[1, 2 * H:])
        np.testing.assert_array_equal(sd["bias_ih_l0"][:H], bias[0, H:2 * H])  # r first


def test_gru_without_bias_is_nn_gru_bias_false(rng):
    model = randomize(stack("gru", 2, use_bias=False), rng)
    x = rng.normal(size=(2, T, D)).astype("float32")
    sd = tio.to_torch_state_dict(model)
    assert "bias_ih_l0" not in sd
    module = torch.nn.GRU(D, H, num_layers=2, bias=False, batch_first=True)
    module.load_state_dict(torch_state(sd))
    np.testing.assert_allclose(run_torch(module, x)[0], model.predict(x, verbose=0),
                               atol=ATOL, rtol=0)
    back = stack("gru", 2, use_bias=False)
    tio.load_torch_state_dict(back, module.state_dict())
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=0, rtol=0)


def test_dropout_between_is_one_module_other_layers_split_it(rng):
    layers = [LSTM(H, return_sequences=True), Dropout(0.3), LSTM(H, return_sequences=True)]
    model = randomize(npylstm.Sequential([npylstm.Input((T, D)), *layers]), rng)
    x = rng.normal(size=(2, T, D)).astype("float32")
    module = torch.nn.LSTM(D, H, num_layers=2, dropout=0.3, batch_first=True).eval()
    module.load_state_dict(torch_state(tio.to_torch_state_dict(model)))
    np.testing.assert_allclose(run_torch(module, x)[0], model.predict(x, verbose=0),
                               atol=ATOL, rtol=0)
    mixed = npylstm.Sequential([npylstm.Input((T, D)), LSTM(H, return_sequences=True),
                                Dense(H), LSTM(H, return_sequences=True),
                                GRU(H, return_sequences=True)])
    assert [len(run) for run in tio.torch_modules(mixed)] == [1, 1, 1]
    with pytest.raises(ValueError, match=r"LSTM '.*' and LSTM '.*' are not consecutive: "
                                         r"\[\"Dense '.*'\"\] lie between"):
        tio.to_torch_state_dict(mixed)


def test_separate_modules_for_a_mixed_stack(rng):
    model = randomize(npylstm.Sequential([
        npylstm.Input((T, D)), Bidirectional(LSTM(H, return_sequences=True)),
        GRU(H, return_sequences=True)]), rng)
    x = rng.normal(size=(2, T, D)).astype("float32")
    with pytest.raises(ValueError, match=r"differ in \(module, hidden size, directions\): "
                                         r"\('nn.LSTM', 4, 'bidirectional'\) vs "
                                         r"\('nn.GRU', 4, 'one direction'\)"):
        tio.to_torch_state_dict(model)
    first, second = tio.to_torch_state_dicts(model)
    m1 = torch.nn.LSTM(D, H, bidirectional=True, batch_first=True)
    m2 = torch.nn.GRU(2 * H, H, batch_first=True)
    m1.load_state_dict(torch_state(first))
    m2.load_state_dict(torch_state(second))
    with torch.no_grad():
        out = m2(m1(torch.from_numpy(x))[0])[0].numpy()
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=ATOL, rtol=0)
    back = npylstm.Sequential([npylstm.Input((T, D)), Bidirectional(LSTM(H, return_sequences=True)),
                               GRU(H, return_sequences=True)])
    tio.load_torch_state_dict(back, [m1.state_dict(), m2.state_dict()])
    np.testing.assert_allclose(back.predict(x, verbose=0), out, atol=ATOL, rtol=0)


# -- bad input --------------------------------------------------------------------------------


def test_reset_after_false_is_refused_both_ways():
    model = stack("gru", 1, reset_after=False)
    message = (r"GRU 'gru0': nn.GRU applies the reset gate after the recurrent product .*"
               r"received reset_after=False, which has no PyTorch equivalent")
    with pytest.raises(ValueError, match=message):
        tio.to_torch_state_dict(model)
    with pytest.raises(ValueError, match=message):
        tio.load_torch_state_dict(model, torch.nn.GRU(D, H).state_dict())
    bi = stack("gru", 1, bidirectional=True, reset_after=False)
    with pytest.raises(ValueError, match=r"GRU 'forward_gru0': nn.GRU applies the reset gate"):
        tio.to_torch_state_dicts(bi)


def test_gru_and_bidirectional_options_torch_lacks():
    with pytest.raises(ValueError, match=r"GRU 'gru0': nn.GRU computes with activation='tanh'"
                                         r".*received 'relu'"):
        tio.to_torch_state_dict(stack("gru", 1, activation="relu"))
    with pytest.raises(ValueError, match="GRU 'gru0': nn.GRU has no go_backwards"):
        tio.to_torch_state_dict(stack("gru", 1, go_backwards=True))
    summed = npylstm.Sequential([npylstm.Input((T, D)),
                                 Bidirectional(GRU(H), merge_mode="sum", name="bs")])
    with pytest.raises(ValueError, match=r"Bidirectional 'bs': a bidirectional nn.GRU "
                                         r"concatenates .* received merge_mode='sum'"):
        tio.to_torch_state_dict(summed)
    odd = npylstm.Sequential([npylstm.Input((T, D)), Bidirectional(
        LSTM(H), backward_layer=LSTM(H + 1, go_backwards=True, name="bw"), name="odd")])
    with pytest.raises(ValueError, match=r"Bidirectional 'odd': both directions .* same kind "
                                         r"and size.*LSTM 'bw' \(5 units\)"):
        tio.to_torch_state_dict(odd)


def test_proj_size_is_refused():
    model = stack("lstm", 1)
    with pytest.raises(ValueError, match=r"key 'weight_hr_l0': nn.LSTM with proj_size has no "
                                         r"Keras equivalent"):
        tio.load_torch_state_dict(model, torch.nn.LSTM(D, H, proj_size=2).state_dict())


def test_kind_direction_and_shape_mismatches_name_the_layer():
    gru = stack("gru", 1)
    with pytest.raises(ValueError, match=r"GRU 'gru0': the state dict's layer l0 is a "
                                         r"one-direction nn.LSTM layer; expected a one-direction "
                                         r"nn.GRU layer"):
        tio.load_torch_state_dict(gru, torch.nn.LSTM(D, H).state_dict())
    with pytest.raises(ValueError, match=r"GRU 'gru0': the state dict's layer l0 is a "
                                         r"bidirectional .*wrap the layer in Bidirectional"):
        tio.load_torch_state_dict(gru, torch.nn.GRU(D, H, bidirectional=True).state_dict())
    bi = stack("gru", 1, bidirectional=True)
    with pytest.raises(ValueError, match=r"Bidirectional 'bi0': .* one-direction nn.GRU layer; "
                                         r"expected a bidirectional nn.GRU"):
        tio.load_torch_state_dict(bi, torch.nn.GRU(D, H).state_dict())
    with pytest.raises(ValueError, match=r"GRU 'forward_gru0': expected weight shapes "
                                         r"\[\(3, 12\), \(4, 12\), \(2, 12\)\].*received "
                                         r"\[\(5, 12\), \(4, 12\), \(2, 12\)\]"):
        tio.load_torch_state_dict(bi, torch.nn.GRU(D + 2, H, bidirectional=True).state_dict())
    unbuilt = [GRU(H + 1, name="g5")]
    with pytest.raises(ValueError, match=r"GRU 'g5': expected hidden size 5, the state dict has 4"):
        tio.load_torch_state_dict(unbuilt, torch.nn.GRU(D, H).state_dict())
    with pytest.raises(ValueError, match=r"model has 1 GRU layers \['gru0'\].*hold 2 nn.GRU"):
        tio.load_torch_state_dict(gru, torch.nn.GRU(D, H, num_layers=2).state_dict())
    no_bias = stack("gru", 1, use_bias=False)
    with pytest.raises(ValueError, match="GRU 'gru0' has use_bias=False but the nn.GRU layer "
                                         "has non-zero biases"):
        tio.load_torch_state_dict(no_bias, torch_module("gru", 1).state_dict())


def test_inconsistent_state_dicts():
    sd = {k: v.numpy() for k, v in torch.nn.GRU(D, H, num_layers=2,
                                                bidirectional=True).state_dict().items()}
    with pytest.raises(ValueError, match=r"expected layers l0 .. l1 in 2 direction\(s\), "
                                         r"found none of \['l1_reverse'\]"):
        tio.read_torch_module({k: v for k, v in sd.items() if not k.endswith("l1_reverse")})
    wrong = dict(sd, weight_ih_l1=np.zeros((12, H), "float32"))  # layer 1 reads 2H features
    with pytest.raises(ValueError, match=r"'weight_ih_l1': expected \(12, 8\) for nn.GRU layer "
                                         r"1 \(hidden size 4\), received \(12, 4\)"):
        tio.read_torch_module(wrong)
    with pytest.raises(ValueError, match=r"'bias_hh_l0_reverse': expected \(12,\).*received "
                                         r"\(9,\)"):
        tio.read_torch_module(dict(sd, bias_hh_l0_reverse=np.zeros(9, "float32")))
    with pytest.raises(ValueError, match=r"'weight_hh_l0': expected \(4H, H\) \(nn.LSTM\) or "
                                         r"\(3H, H\) \(nn.GRU\), received \(4, 4\)"):
        tio.read_torch_module(torch.nn.RNN(D, H).state_dict())
    no_bias_l1 = {k: v for k, v in sd.items() if not k.startswith("bias") or "l0" in k}
    with pytest.raises(ValueError, match="some layers have biases and some not"):
        tio.read_torch_module(no_bias_l1)


# -- the command line -------------------------------------------------------------------------


def run_cli(capsys, *args) -> tuple[int, str, str]:
    from npylstm import cli

    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_converts_a_bidirectional_gru_stack_to_pt_and_back(rng, capsys, tmp_path):
    model = randomize(npylstm.Sequential([
        npylstm.Input((T, D)), Bidirectional(GRU(H, return_sequences=True)),
        Bidirectional(GRU(H)), Dense(2, name="head")]), rng)
    src = tmp_path / "model.keras"
    npylstm.io.save_model(model, src)
    pt = tmp_path / "gru.pt"
    code, out, err = run_cli(capsys, "convert", src, pt)
    assert code == 0, err
    assert (f"one nn.GRU(input_size={D}, hidden_size={H}, num_layers=2, bidirectional=True, "
            "batch_first=True)") in out and "not written: ['head']" in out
    module = torch.nn.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)
    module.load_state_dict(torch.load(pt, weights_only=True))
    x = rng.normal(size=(2, T, D)).astype("float32")
    _, h_n = run_torch(module, x)
    recurrent = npylstm.Sequential([npylstm.Input((T, D)), *model.layers[:2]])
    np.testing.assert_allclose(recurrent.predict(x, verbose=0),
                               np.concatenate([h_n[-2], h_n[-1]], axis=-1), atol=ATOL, rtol=0)
    other = randomize(npylstm.Sequential([
        npylstm.Input((T, D)), Bidirectional(GRU(H, return_sequences=True)),
        Bidirectional(GRU(H)), Dense(2, name="head")]), np.random.default_rng(7))
    other.layers[2].set_weights(model.layers[2].get_weights())
    template = tmp_path / "template.keras"
    npylstm.io.save_model(other, template)
    back = tmp_path / "back.keras"
    code, _, err = run_cli(capsys, "convert", pt, back, "--config", template)
    assert code == 0, err
    np.testing.assert_allclose(npylstm.io.load_model(back).predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=ATOL, rtol=0)


def test_cli_refuses_reset_after_false_naming_the_layer(rng, capsys, tmp_path):
    model = randomize(stack("gru", 1, reset_after=False), rng)
    src = tmp_path / "old_gru.keras"
    npylstm.io.save_model(model, src)
    code, _, err = run_cli(capsys, "convert", src, tmp_path / "gru.npz")
    assert code == 2
    assert "GRU 'gru0': nn.GRU applies the reset gate" in err and "Traceback" not in err
    assert not (tmp_path / "gru.npz").exists()


def test_cli_writes_one_module_per_layer_for_a_mixed_stack(rng, capsys, tmp_path):
    model = randomize(npylstm.Sequential([
        npylstm.Input((T, D)), LSTM(H, return_sequences=True, name="enc"),
        GRU(H, return_sequences=True, name="dec")]), rng)
    src = tmp_path / "mixed.keras"
    npylstm.io.save_model(model, src)
    npz = tmp_path / "mixed.npz"
    code, out, err = run_cli(capsys, "convert", src, npz)
    assert code == 0, err
    assert "one nn.GRU / nn.LSTM per layer (one module cannot hold the stack)" in out
    x = rng.normal(size=(2, T, D)).astype("float32")
    with np.load(npz) as data:
        state = {k: torch.from_numpy(data[k]) for k in data.files}
    lstm, gru = torch.nn.LSTM(D, H, batch_first=True), torch.nn.GRU(H, H, batch_first=True)
    lstm.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("enc.")})
    gru.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("dec.")})
    with torch.no_grad():
        expected = gru(lstm(torch.from_numpy(x))[0])[0].numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL, rtol=0)
