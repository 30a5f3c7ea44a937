"""Models from the files the command is given: every format through
:func:`npylstm.io.load_any`, its errors in the command's words (``--config``)."""

from __future__ import annotations

import os

from ._common import CLIError, existing

__all__ = ["load_any_model"]

# What to say when weights come without the layers they belong to (ConfigRequiredError.reason).
_NEEDS_CONFIG = {
    "weights_only": "'{path}' holds weights only (no model config): pass --config CONFIG, a "
    ".keras/.h5 model file or a JSON config (keras_model.to_json())",
    "state_dict": "'{path}' is a PyTorch-style state dict, which holds only the LSTM / GRU "
    "weights: pass --config MODEL (a .keras/.h5 file or a JSON config) for the layers",
    "state_dict_partial": "'{path}' holds only LSTM weights; the model's {missing} need "
    "theirs: pass --config a .keras/.h5 model file (its weights fill those layers)",
}


def load_any_model(path: str | os.PathLike, config: str | None = None):
    """An npylstm model from a Keras file, or from weights (Keras or PyTorch) plus ``config``.

    Parameters
    ----------
    path : a ``.keras``, legacy ``.h5``, ``.weights.h5``, ``.npz`` or ``.pt`` file
    config : a ``.keras``/``.h5`` model file or a JSON config; required for weights-only files

    Returns
    -------
    npylstm.Sequential
    """
    from .. import io

    path = existing(path)
    if config is not None:
        config = existing(config, "config file")
    try:
        return io.load_any(path, config)
    except io.ConfigRequiredError as exc:
        message = _NEEDS_CONFIG[exc.reason].format(path=exc.path, missing=exc.missing)
        raise CLIError(message) from exc
    except io.ConfigFileError as exc:
        raise CLIError(f"--config '{exc.path}'{exc.detail}") from exc
