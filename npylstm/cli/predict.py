"""``npylstm predict``: run a model file on inputs from ``.npy`` or ``.csv``."""

from __future__ import annotations

from ._common import (
    EXIT_OK,
    INPUT_SUFFIXES,
    CLIError,
    fit_input,
    out,
    read_array,
    writable,
    write_array,
)
from ._load import load_any_model

__all__ = ["cmd_predict"]


def cmd_predict(args) -> int:
    model = load_any_model(args.file, args.config)
    output = writable(args.output)
    if output.suffix.lower() not in INPUT_SUFFIXES:
        raise CLIError(f"--output '{output}': expected a .npy or .csv file name")
    x = fit_input(read_array(args.input), model, f"--input '{args.input}'")
    y = model.predict(x, batch_size=args.batch_size, verbose=0)
    write_array(output, y)
    out(f"Predicted {len(x)} sample(s) of shape {x.shape[1:]} -> {output} {y.shape}")
    return EXIT_OK
