"""``npylstm demo``: the seeds' damped-sine stacked LSTM, trained, evaluated, saved,
plotted, and loaded back in real Keras."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._common import EXIT_OK, CLIError, import_keras, out, quiet_keras

__all__ = ["cmd_demo"]


def cmd_demo(args) -> int:
    """The seeds' damped-sine stacked LSTM, trained, evaluated, saved, plotted, cross-checked."""
    import npylstm
    from npylstm import datasets, io
    from npylstm.layers import LSTM, Dense

    started = time.perf_counter()
    if args.epochs < 1:
        raise CLIError(f"--epochs: expected an integer >= 1, received {args.epochs}")
    if args.samples < 5 or args.samples % 5:
        raise CLIError(
            f"--samples: expected a multiple of 5 (five wave patterns), >= 5, received "
            f"{args.samples}"
        )
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"--out '{out_dir}' exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)

    # 1. Data: five damped sine waves (seed 004's np.random.seed(1234) draws), 50 steps in,
    #    the next 5 out; the last 20% of rows, one whole pattern, are held out for validation.
    x, y = datasets.damped_sine(n_samples=args.samples)
    split = int(len(x) * 0.8)
    x_val, y_val = x[split:], y[split:]
    out(f"npylstm demo: the damped-sine stacked LSTM of seeds 001/004 (weights seed {args.seed})")
    out(f"Data: {len(x)} damped sine waves in 5 patterns, x {x.shape} -> y {y.shape} "
        f"(50 steps in, the next 5 out); validation: the last {len(x) - split} rows, "
        "a pattern never trained on")
    out()

    # 2. The model of seed 004: LSTM(20, return_sequences=True) + LSTM(20) + Dense(5).
    npylstm.set_random_seed(args.seed)
    model = npylstm.Sequential(
        [npylstm.Input((50, 1)), LSTM(20, return_sequences=True), LSTM(20), Dense(5)],
        name="damped_sine",
    )
    model.compile(optimizer="adam", loss="mae")
    model.summary()
    out("Where the counts come from:")
    out(str(npylstm.explain_params(model)))
    out()

    # 3. Train with a progress bar, as the seed's model.fit(X, Y, epochs=20, validation_split=0.2).
    out(f"Training {args.epochs} epoch(s): adam, loss mae, batch size {args.batch_size} "
        "(the very first run also compiles the Numba kernels, then caches them)")
    train_start = time.perf_counter()
    history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=0.2, verbose=1)
    train_seconds = time.perf_counter() - train_start
    val_mae = float(model.evaluate(x_val, y_val, verbose=0))
    y_pred = model.predict(x_val, verbose=0)
    out()
    out(f"Validation MAE: {val_mae:.4f} ({len(x_val)} rows, after {args.epochs} epoch(s) and "
        f"{train_seconds:.1f} s of training)")

    # 4. Save the model as Keras 3 does, and a picture of predictions against the truth.
    model_path = io.save_model(model, out_dir / "damped_sine.keras")
    out(f"Saved the model: {model_path}")
    _save_demo_plots(model, x, y, split, history, out_dir)

    # 5. Real Keras reads the file and must predict the same numbers.
    _demo_keras_check(model_path, x_val, y_pred, args.no_keras)
    out(f"Done in {time.perf_counter() - started:.1f} s.")
    return EXIT_OK


def _save_demo_plots(model, x, y, split: int, history, out_dir: Path) -> None:
    try:
        from npylstm import plots

        patterns = len(x) // 5
        rows = [p * patterns for p in range(5)]  # one row of each wave pattern
        fig = plots.plot_predictions(y, model.predict(x, verbose=0), x=x, samples=rows)
    except ImportError:
        out("Plots skipped: matplotlib is not installed (pip install \"npylstm[plot]\")")
        return
    for ax, row in zip(fig.axes, rows, strict=False):
        part = "validation" if row >= split else "training"
        ax.set_title(f"pattern {row // patterns + 1} ({part}): {ax.get_title().split(': ')[-1]}",
                     fontsize=10)
    fig.suptitle("Damped sine: the next 5 steps, predicted (x) against the truth (o)")
    plots.save_figure(fig, out_dir / "predictions.png", dpi=100)  # atomic
    out(f"Saved the plot of predictions against the truth: {out_dir / 'predictions.png'}")
    curves = plots.plot_history(history)
    plots.save_figure(curves, out_dir / "history.png", dpi=100)
    out(f"Saved the training curves: {out_dir / 'history.png'}")


def _demo_keras_check(model_path: Path, x_val, y_pred, skip: bool) -> None:
    if skip:
        out("Keras check skipped (--no-keras).")
        return
    try:
        keras = import_keras("the Keras check")
    except CLIError:
        out('Keras is not installed: skipped loading the file in Keras (pip install keras '
            '"jax[cpu]" to see it).')
        return
    with quiet_keras():
        keras_model = keras.saving.load_model(model_path, compile=False)
        keras_pred = np.asarray(keras_model.predict(x_val, verbose=0))
    diff = float(np.max(np.abs(keras_pred - y_pred)))
    out(f"Loaded {model_path.name} in Keras {keras.__version__} ({keras.backend.backend()} "
        f"backend): largest |npylstm - Keras| difference over {len(x_val)} validation "
        f"predictions: {diff:.2e}")
