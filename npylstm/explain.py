"""Where a model's parameter counts come from, layer by layer, with the numbers filled in.

An LSTM layer has four gates (i, f, c, o); each has a kernel column block
``(input_dim, units)``, a recurrent block ``(units, units)`` and a bias ``(units,)``, so::

    count = 4 × units × (input_dim + units + 1)

``input_dim`` is the feature size of whatever feeds the layer: the data for the first
layer, the previous layer's ``units`` for a stacked one (which is why ``input_shape`` on a
later layer changes nothing). A Dense layer has ``units × (input_dim + 1)``.

A GRU has three gates (z, r, h) and, with ``reset_after=True`` (Keras 3's default), two
biases per gate — one added to the input product, one to the recurrent product, a ``(2,
3U)`` bias — so ``3 × units × (input_dim + units + 2)``; with ``reset_after=False`` one
bias, ``+ 1``. A SimpleRNN has ``units × (input_dim + units + 1)``. A ``Bidirectional``
wrapper holds two layers and counts both: ``forward + backward``.

>>> import npylstm
>>> from npylstm.layers import LSTM
>>> npylstm.clear_session()  # layer names from lstm, lstm_1, ...
>>> model = npylstm.Sequential([npylstm.Input((5, 2)), LSTM(64, return_sequences=True),
...                             LSTM(32)])
>>> print(npylstm.explain_params(model))
lstm (LSTM)      4 × units × (input_dim + units + 1) = 4 × 64 × (2 + 64 + 1) = 17,152
                 kernel (2, 256) + recurrent_kernel (64, 256) + bias (256,)
lstm_1 (LSTM)    4 × units × (input_dim + units + 1) = 4 × 32 × (64 + 32 + 1) = 12,416
                 kernel (64, 128) + recurrent_kernel (32, 128) + bias (128,)
Total            29,568
>>> from npylstm.layers import GRU, Bidirectional
>>> model = npylstm.Sequential([npylstm.Input((5, 2)), Bidirectional(GRU(4))])
>>> print(npylstm.explain_params(model).layers[0].formula)
3 × 4 × (2 + 4 + 2) + 3 × 4 × (2 + 4 + 2) = 96 + 96 = 192
"""

from __future__ import annotations

from dataclasses import dataclass

from .layers.base import Layer

__all__ = ["LayerParams", "ParamReport", "explain_params"]


@dataclass(frozen=True)
class LayerParams:
    """One layer's count: ``rule`` in symbols, ``formula`` with numbers, the ``weights``
    it is made of as ``(name, shape)``, and ``count``."""

    name: str
    kind: str
    rule: str
    formula: str
    weights: tuple[tuple[str, tuple[int, ...]], ...]
    count: int


@dataclass(frozen=True)
class ParamReport:
    """Every layer's :class:`LayerParams` and the total; ``str()`` gives the printed table."""

    layers: tuple[LayerParams, ...]
    total: int

    def __str__(self) -> str:
        labels = [f"{p.name} ({p.kind})" for p in self.layers]
        width = max([len(label) for label in labels] + [len("Total")]) + 4
        lines = []
        for label, p in zip(labels, self.layers, strict=True):
            text = f"{p.rule} = {p.formula}" if p.rule else p.formula
            lines.append(f"{label:<{width}}{text}")
            if p.weights:
                parts = " + ".join(f"{wname} {shape}" for wname, shape in p.weights)
                lines.append(f"{'':<{width}}{parts}")
        lines.append(f"{'Total':<{width}}{self.total:,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _expression(formula: str) -> str:
    """``"3 × 4 × (2 + 4 + 2) = 96"`` -> ``"3 × 4 × (2 + 4 + 2)"``."""
    return formula.rsplit(" = ", 1)[0]


def _explain_model(model) -> LayerParams:
    """A model inside a model (a nested functional model): its layers' counts added."""
    counts = [layer.count_params() for layer in model.layers if layer.count_params()]
    count = model.count_params()
    formula = f"{' + '.join(f'{c:,}' for c in counts) or '0'} = {count:,}"
    weights = tuple((f"{layer.name}/{w.name}", tuple(w.value.shape))
                    for layer in model.layers for w in layer.weights)
    return LayerParams(model.name, type(model).__name__, "sum of its layers", formula,
                       weights, count)


def _explain_layer(layer: Layer) -> LayerParams:
    if not isinstance(layer, Layer) and isinstance(getattr(layer, "layers", None), list):
        return _explain_model(layer)
    kind = type(layer).__name__
    count = layer.count_params()
    rule, formula = layer.param_rule()
    directions = [getattr(layer, f"{d}_layer", None) for d in ("forward", "backward")]
    if all(isinstance(d, Layer) for d in directions):
        # a Bidirectional wrapper: each direction's count, then their sum
        counts = [d.count_params() for d in directions]
        expressions = [_expression(d.param_rule()[1]) for d in directions]
        formula = (f"{expressions[0]} + {expressions[1]} = {counts[0]:,} + {counts[1]:,} "
                   f"= {count:,}")
        weights = tuple((f"{d.name}/{w.name}", tuple(w.value.shape))
                        for d in directions for w in d.weights)
    else:
        weights = tuple((w.name, tuple(w.value.shape)) for w in layer.weights)
    return LayerParams(layer.name, kind, rule, formula, weights, count)


def explain_params(model_or_layer) -> ParamReport:
    """Each layer's parameter count written out, e.g. ``4 × 64 × (2 + 64 + 1) = 17,152``.

    Parameters
    ----------
    model_or_layer : a built model (Sequential or functional: its layers in order, the
        InputLayers with no weights, a nested model as the sum of its layers), or a built
        layer

    Returns
    -------
    ParamReport
        ``.layers`` (one :class:`LayerParams` each) and ``.total``; print it for a table.
        ``model.summary(show_param_formulas=True)`` shows the same formulas in the summary.
    """
    if isinstance(model_or_layer, Layer):
        layers = [model_or_layer]
    elif isinstance(getattr(model_or_layer, "layers", None), list):
        layers = model_or_layer.layers
    else:
        raise TypeError(
            "explain_params: expected an npylstm Sequential or functional model or a layer, "
            f"received {type(model_or_layer).__name__}"
        )
    for layer in layers:
        if not layer.built:
            raise ValueError(
                f"explain_params: layer '{layer.name}' is not built: its input size is unknown "
                "(give the model an Input or call it on data first)"
            )
    explained = tuple(_explain_layer(layer) for layer in layers)
    return ParamReport(explained, sum(p.count for p in explained))
