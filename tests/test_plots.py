"""npylstm.plots: every figure renders to a non-trivial PNG; bad input is refused clearly."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import npylstm  # noqa: E402
from npylstm import plots  # noqa: E402
from npylstm.layers import LSTM, Dense  # noqa: E402

# A PNG of a blank figure this size is a few kB; a drawn one is tens of kB.
MIN_PNG_BYTES = 10_000


@pytest.fixture(scope="module")
def model_and_data():
    npylstm.set_random_seed(0)
    model = npylstm.Sequential(
        [
            npylstm.Input((30, 1)),
            LSTM(12, return_sequences=True),
            LSTM(6, go_backwards=True),
            Dense(5),
        ]
    )
    x, y = npylstm.datasets.damped_sine(n_samples=20, n_steps=30)
    return model, x, y


def _save(fig, path) -> int:
    fig.savefig(path, dpi=80)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return len(data)


def _distinct_colours(path) -> int:
    from matplotlib.image import imread

    image = imread(path)  # (H, W, 4) floats
    return len(np.unique(image.reshape(-1, image.shape[-1]), axis=0))


def test_plot_gates_png(model_and_data, tmp_path):
    model, x, _ = model_and_data
    traces = npylstm.trace(model, x[:3])
    for name, t in traces.items():
        fig = plots.plot_gates(t, sample=1)
        visible = [ax for ax in fig.axes if ax.get_visible() and ax.images]
        assert len(visible) == 6  # i, f, g, o, c, h
        assert [ax.get_title() for ax in visible][:2] == [
            "input gate i = σ(z_i)",
            "forget gate f = σ(z_f)",
        ]
        # the forget-gate heatmap shows exactly the traced values, units on the y axis
        np.testing.assert_array_equal(visible[1].images[0].get_array(), t.f[1].T)
        path = tmp_path / f"gates_{name}.png"
        assert _save(fig, path) > MIN_PNG_BYTES
        assert _distinct_colours(path) > 50


def test_plot_gates_subset_and_units(model_and_data, tmp_path):
    model, x, _ = model_and_data
    t = npylstm.trace(model, x[:1])[model.layers[0].name]
    fig = plots.plot_gates(t, fields=("f", "c"), max_units=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.images[0].get_array().shape for ax in shown] == [(4, 30), (4, 30)]
    assert _save(fig, tmp_path / "subset.png") > MIN_PNG_BYTES // 2


def test_plot_kernel_png(model_and_data, tmp_path):
    model, _, _ = model_and_data
    layer = model.layers[1]  # input_dim 12, units 6
    fig = plots.plot_kernel(layer)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 3
    np.testing.assert_array_equal(heatmaps[0].images[0].get_array(), layer.kernel)
    # the gate boundaries are drawn at columns units, 2 units, 3 units
    lines = sorted(line.get_xdata()[0] for line in heatmaps[0].lines)
    assert lines == [5.5, 11.5, 17.5]
    labels = [t.get_text() for t in heatmaps[1].get_xticklabels()]
    assert labels == ["input (i)", "forget (f)", "candidate (c)", "output (o)"]
    path = tmp_path / "kernel.png"
    assert _save(fig, path) > MIN_PNG_BYTES
    assert _distinct_colours(path) > 50


def test_plot_predictions_and_history_png(model_and_data, tmp_path):
    model, x, y = model_and_data
    model.compile(optimizer="adam", loss="mae")
    history = model.fit(x, y, epochs=2, batch_size=10, validation_split=0.2, verbose=0)
    fig = plots.plot_history(history)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["loss", "val_loss"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), history.history["loss"])
    assert _save(fig, tmp_path / "history.png") > MIN_PNG_BYTES // 2
    y_pred = model.predict(x, verbose=0)
    fig = plots.plot_predictions(y, y_pred, x, samples=[0, 5])
    drawn = [ax for ax in fig.axes if ax.get_visible()]
    assert len(drawn) == 2
    np.testing.assert_array_equal(drawn[0].lines[2].get_ydata(), y_pred[0])
    assert _save(fig, tmp_path / "predictions.png") > MIN_PNG_BYTES


def test_plots_reject_bad_input(model_and_data):
    model, x, y = model_and_data
    t = npylstm.trace(model, x[:2])[model.layers[0].name]
    with pytest.raises(TypeError, match="plot_gates: expected an LSTMTrace"):
        plots.plot_gates({"i": 1})
    with pytest.raises(ValueError, match=r"plot_gates: expected fields from .* received \('z',\)"):
        plots.plot_gates(t, fields=("z",))
    with pytest.raises(
        ValueError, match=r"expected sample in \[0, 2\) for a batch of 2, received 7"
    ):
        plots.plot_gates(t, sample=7)
    with pytest.raises(TypeError, match="plot_kernel: expected a built npylstm LSTM layer"):
        plots.plot_kernel(LSTM(3))
    with pytest.raises(TypeError, match="received Dense"):
        plots.plot_kernel(model.layers[-1])
    with pytest.raises(ValueError, match=r"same shape .* received \(20, 5\) and \(20, 4\)"):
        plots.plot_predictions(y, y[:, :4])
    with pytest.raises(ValueError, match=r"expected x of shape \(samples, timesteps\[, 1\]\)"):
        plots.plot_predictions(y, y, x[:3])
    with pytest.raises(ValueError, match=r"sample indices in \[0, 20\), received \[99\]"):
        plots.plot_predictions(y, y, samples=[99])
    with pytest.raises(ValueError, match="plot_history: expected a History"):
        plots.plot_history({})


def test_missing_matplotlib_says_how_to_install(monkeypatch, model_and_data):
    model, x, y = model_and_data
    t = npylstm.trace(model, x[:1])[model.layers[0].name]
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # every matplotlib import now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.ticker", None)
    calls = [
        lambda: plots.plot_gates(t),
        lambda: plots.plot_kernel(model.layers[0]),
        lambda: plots.plot_predictions(y, y),
        lambda: plots.plot_history({"loss": [1.0, 0.5]}),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r'pip install "npylstm\[plot\]"'):
            call()
