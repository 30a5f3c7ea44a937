"""``npylstm predict``: run a model file on inputs from ``.npy`` or ``.csv``.

One ``--input`` per model input and one ``--output`` per model output, by position or as
``name=path`` (:mod:`npylstm.cli._specs`); every output path is checked before the model
runs, and each output is written atomically (:func:`npylstm.cli._common.write_array`).
"""

from __future__ import annotations

from ._common import EXIT_OK, fmt_shape, out, write_array
from ._load import load_any_model
from ._specs import is_functional, output_paths, read_inputs

__all__ = ["cmd_predict"]


def cmd_predict(args) -> int:
    model = load_any_model(args.file, args.config)
    xs = read_inputs(model, args.input)
    outputs = output_paths(model, args.output)
    y = model.predict(xs if len(xs) > 1 else xs[0], batch_size=args.batch_size, verbose=0)
    # a model defined with a dict of outputs predicts a dict, in the order of its outputs
    ys = list(y.values()) if isinstance(y, dict) else y if isinstance(y, list) else [y]
    for path, array in zip(outputs, ys, strict=True):
        write_array(path, array)
    if len(xs) == 1 and len(ys) == 1 and not is_functional(model):
        out(f"Predicted {len(xs[0])} sample(s) of shape {xs[0].shape[1:]} -> {outputs[0]} "
            f"{ys[0].shape}")
        return EXIT_OK
    names = model.input_names
    shown = ", ".join(f"{n} {fmt_shape(x.shape[1:])} {x.dtype.name}"
                      for n, x in zip(names, xs, strict=True))
    written = ", ".join(f"{n} -> {p} {a.shape}"
                        for n, p, a in zip(model.output_names, outputs, ys, strict=True))
    out(f"Predicted {len(xs[0])} sample(s) of {shown}: {written}")
    return EXIT_OK
