"""Which Keras version's rules a model file was read with, in words, for ``npylstm
summary`` and ``npylstm crosscheck``: Keras 2's ``hard_sigmoid`` (``clip(0.2x + 0.5, 0,
1)``, not Keras 3's ``clip(x/6 + 0.5, 0, 1)``) and GRU's ``reset_after`` default (False in
a Keras <= 2.2 config without the key, True in Keras 3)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["file_keras_version", "is_keras2", "keras_rules"]

KERAS2_HARD_SIGMOID_RULE = "clip(0.2x + 0.5, 0, 1)"
KERAS3_HARD_SIGMOID_RULE = "clip(x/6 + 0.5, 0, 1)"


def file_keras_version(path: Path, config: str | None) -> str | None:
    """The keras_version of the file holding the model config (``--config`` when given)."""
    import json

    from .. import io

    source = Path(config) if config is not None else path
    try:
        if source.suffix.lower() == ".json":
            # Keras 3's to_json() (and a .keras file's config.json) has no keras_version:
            # unknown, read with Keras 3 rules (not str(None), which read as Keras 2)
            version = json.loads(source.read_text(encoding="utf-8")).get("keras_version")
            return None if version is None else str(version)
        return io.read_model_file(source).keras_version
    except (ValueError, OSError, io.KerasFileError):
        return None


def _walk_layers(layer_configs, prefix: str = ""):
    """``(label, layer config)`` for every layer config, nested ones too (a Bidirectional's
    ``layer`` and ``backward_layer``: labelled ``bidirectional/forward_lstm``)."""
    for layer in layer_configs:
        label = prefix + str((layer.get("config") or {}).get("name"))
        yield label, layer
        for value in (layer.get("config") or {}).values():
            if isinstance(value, dict) and "class_name" in value and "config" in value:
                yield from _walk_layers([value], label + "/")


def is_keras2(version: str | None) -> bool:
    from ..io.model_file import keras_major_version

    return version is not None and keras_major_version(version) < 3


def keras_rules(model, keras_version: str | None) -> list[str]:
    """What the file's Keras version decided, in words: which ``hard_sigmoid`` each
    activation key holds, and (for GRU layers) ``reset_after`` with the default applied
    to a Keras 2 config that lacks the key (``npylstm.layers.GRU.KERAS2_DEFAULTS``).

    >>> from npylstm import Input, Sequential
    >>> from npylstm.layers import GRU
    >>> model = Sequential([Input((3, 2)), GRU(2, recurrent_activation="hard_sigmoid_keras2",
    ...                                        reset_after=False)])
    >>> for line in keras_rules(model, "2.21.0"):
    ...     print(line)
    Keras 2 file (keras_version 2.21.0): Keras 2 rules
      "hard_sigmoid" read as Keras 2's clip(0.2x + 0.5, 0, 1) in gru.recurrent_activation
      GRU reset_after as the file says, False where absent (Keras <= 2.2's default): gru False
    """
    from .. import io, registry
    from ..io.model_file import KERAS2_HARD_SIGMOID, keras_major_version

    if keras_version is None:
        return ["Keras version of the file unknown: read with Keras 3 rules"]
    keras2 = keras_major_version(keras_version) < 3
    layers = list(_walk_layers(model.get_config()["layers"]))
    lines = [f"Keras {'2' if keras2 else '3'} file (keras_version {keras_version}): "
             f"Keras {'2' if keras2 else '3'} rules"]
    keras2_keys, keras3_keys, resets = [], [], []
    for label, layer in layers:
        class_name, config = layer["class_name"], layer["config"]
        if class_name not in io.supported_layers():
            continue
        for key in registry.get(class_name).ACTIVATION_KEYS:
            where = f"{label}.{key}"
            if config.get(key) == KERAS2_HARD_SIGMOID:
                keras2_keys.append(where)
            elif config.get(key) == "hard_sigmoid":
                keras3_keys.append(where)
        if class_name == "GRU":
            resets.append(f"{label} {config.get('reset_after')}")
    if keras2_keys:
        lines.append(f'  "hard_sigmoid" read as Keras 2\'s {KERAS2_HARD_SIGMOID_RULE} in '
                     + ", ".join(keras2_keys))
    if keras3_keys:
        lines.append(f'  "hard_sigmoid" is Keras 3\'s {KERAS3_HARD_SIGMOID_RULE} in '
                     + ", ".join(keras3_keys))
    if resets:
        default = ("as the file says, False where absent (Keras <= 2.2's default)" if keras2
                   else "as the file says (Keras 3's default True)")
        lines.append(f"  GRU reset_after {default}: " + ", ".join(resets))
    return lines
