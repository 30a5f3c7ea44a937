"""``npylstm summary``: Keras's summary table of a model file, with each layer's parameter
formula, and for a Keras 2 file the Keras 2 rules it was read with
(:func:`npylstm.cli._rules.keras_rules`)."""

from __future__ import annotations

import contextlib

from ._common import EXIT_OK, existing, out
from ._load import load_any_model
from ._rules import file_keras_version, is_keras2, keras_rules

__all__ = ["cmd_summary"]

_FORMAT_NAMES = {
    "keras": "Keras 3 .keras archive",
    "legacy_h5": "legacy HDF5 model",
    "weights.h5": "Keras 3 .weights.h5",
    "legacy_weights_h5": "legacy HDF5 weights",
}


def cmd_summary(args) -> int:
    import npylstm
    from npylstm import io

    path = existing(args.file)
    model = load_any_model(path, args.config)
    origin = ""
    with contextlib.suppress(io.KerasFileError, FileNotFoundError):
        if io.file_kind(path) not in io.STATE_DICTS:
            saved = (io.read_model_file(path) if args.config is None
                     else io.read_model_weights(model, path))
            origin = _FORMAT_NAMES.get(saved.format, saved.format)
            if saved.format != "weights.h5":  # a Keras 3 weights file does not say its version
                origin += f", Keras {saved.keras_version}"
    out(f"{path}" + (f" ({origin})" if origin else ""))
    version = file_keras_version(path, args.config)
    if is_keras2(version):  # say how the Keras 2 meanings were read
        for line in keras_rules(model, version):
            out(line)
    model.summary()
    out("Where the counts come from:")
    out(str(npylstm.explain_params(model)))
    return EXIT_OK
