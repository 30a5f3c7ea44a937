"""``python -m npylstm``: build the seed 003 stack, show its shapes and parameters, run it."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .cli import main as cli_main
    except ImportError:  # the full command line lands later; until then, the seed demo
        cli_main = None
    if cli_main is not None:
        return cli_main(argv)
    return _seed_stack_demo()


def _seed_stack_demo() -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from . import set_random_seed
    from .layers import LSTM

    set_random_seed(0)
    timesteps, features, batch = 10, 2, 32
    stack = [LSTM(64, return_sequences=True), LSTM(32)]  # seed 003
    x = np.random.default_rng(0).normal(size=(batch, timesteps, features)).astype("float32")

    table = Table(title="Seed 003: LSTM(64, return_sequences=True) + LSTM(32)")
    for column in ("Layer (type)", "Output Shape", "Param #", "Formula"):
        table.add_column(column)
    y, shape = x, (None, timesteps, features)
    for layer in stack:
        y = layer(y)
        shape = layer.compute_output_shape(shape)
        table.add_row(f"{layer.name} (LSTM)", str(shape), f"{layer.count_params():,}",
                      layer.param_formula())
    console = Console()
    console.print(table)
    console.print(f"Total params: {sum(layer.count_params() for layer in stack):,}")
    console.print(f"Ran a batch of {batch}: output shape {y.shape}, first row {np.round(y[0, :4], 4)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
