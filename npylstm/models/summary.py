"""``model.summary()``: the table Keras 3 prints, for any model built on
:class:`npylstm.models.Model`.

The table is written against the model base only: its rows come from the model's
``_layer_output_shapes()`` hook (each layer with its output shape, in display order), so a
functional model reuses it unchanged (and may add Keras's "Connected to" column).

>>> from npylstm import Input, Sequential
>>> from npylstm.layers import LSTM, Dense
>>> model = Sequential([Input((50, 1)), LSTM(20), Dense(5)], name="m")
>>> lines = []
>>> model.summary(print_fn=lines.append)
>>> "Total params: 1,865" in lines[0]
True
"""

from __future__ import annotations

import rich.console
import rich.markup
import rich.table

__all__ = ["print_summary"]


def _format_shape(shape) -> str:
    """``(None, 50, 20)`` as Keras prints it."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def _readable_size(nbytes: float) -> str:
    """Keras's summary memory size: ``20.10 KB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def print_summary(model, line_length: int | None = None, print_fn=None,
                  show_param_formulas: bool = False) -> None:
    """Print a table like Keras 3's ``model.summary()``.

    Parameters
    ----------
    model : a built :class:`npylstm.models.Model` (its ``name``, ``built``,
        ``_layer_output_shapes()`` and ``_not_built_error()`` are all that is used)
    line_length : table width (default 88 columns, as Keras)
    print_fn : called once with the whole text instead of printing to the terminal
    show_param_formulas : add a column with each LSTM's count written out,
        ``4 × 20 × (1 + 20 + 1) = 1,760``
    """
    if not model.built:
        raise model._not_built_error("summary()")
    line_length = line_length or (120 if show_param_formulas else 88)
    positions = [0.30, 0.55, 0.68, 1.0] if show_param_formulas else [0.45, 0.80, 1.0]
    header = ["Layer (type)", "Output Shape", "Param #"]
    justify = ["left", "left", "right"]
    if show_param_formulas:
        header.append("Param formula")
        justify.append("left")
    widths, current = [], 0
    for pos in positions:
        widths.append(int(pos * line_length) - current)
        current += widths[-1]
    table = rich.table.Table(
        *[rich.table.Column(h, justify=j, width=w)
          for h, j, w in zip(header, justify, widths, strict=True)],
        width=line_length,
        show_lines=True,
    )
    total, nbytes = 0, 0
    for layer, shape in model._layer_output_shapes():
        count = layer.count_params()
        total += count
        nbytes += sum(w.value.nbytes for w in layer.weights)
        row = [
            f"{rich.markup.escape(layer.name)} ({type(layer).__name__})",
            _format_shape(shape),
            f"{count:,}",
        ]
        if show_param_formulas:
            formula = getattr(layer, "param_formula", None)
            row.append(formula() if formula is not None else "")
        table.add_row(*row)
    if print_fn is None:
        console = rich.console.Console(highlight=False, width=line_length + 4)
    else:
        console = rich.console.Console(
            highlight=False, force_terminal=False, color_system=None, width=line_length + 4
        )
        console.begin_capture()
    console.print(f'[bold]Model: "{rich.markup.escape(model.name)}"[/bold]')
    console.print(table)
    console.print(f"[bold] Total params: [/bold]{total:,} ({_readable_size(nbytes)})")
    console.print(f"[bold] Trainable params: [/bold]{total:,} ({_readable_size(nbytes)})")
    console.print("[bold] Non-trainable params: [/bold]0 (0.00 B)")
    if print_fn is not None:
        print_fn(console.end_capture())
