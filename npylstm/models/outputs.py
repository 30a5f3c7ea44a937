"""Losses and metrics of a model with several outputs, as Keras 3 compiles them
(``keras/src/trainers/compile_utils.py``: ``CompileLoss`` and ``CompileMetrics``).

* ``loss``: a list (one loss per output, in the outputs' order) or a dict by output name
  (an output left out, or given None, is not trained); ``loss_weights`` the same shape.
  The total loss is ``Σ weight_i · loss_i``.
* The logs hold ``loss`` (the total), then ``<output>_loss`` for each output (unweighted,
  averaged over the batches by batch size, as Keras's loss trackers), then each output's
  metrics named ``<output>_<metric>`` (``metrics``: a list of lists, a list with one entry
  per output, or a dict by output name).

>>> import numpy as np
>>> from npylstm import losses, metrics
>>> both = OutputLosses([losses.get("mse"), losses.get("mae")], [1.0, 0.5], ["a", "b"])
>>> value, grads = both([np.ones((2, 1)), np.ones((2, 1))], [np.zeros((2, 1)),
...                                                      np.zeros((2, 1))])
>>> float(value)  # 1.0 * mse + 0.5 * mae
1.5
"""

from __future__ import annotations

from .. import losses
from .. import metrics as metrics_module

__all__ = ["OutputLossMetric", "OutputLosses", "OutputMetric", "compile_outputs"]


class OutputLosses:
    """One loss per output, weighted and summed: ``__call__(ys, y_preds, mask) ->
    (total, [dy_i])`` (``mask``: a list of output masks, or None)."""

    name = "loss"

    def __init__(self, output_losses: list, weights: list[float], names: list[str]):
        self.losses, self.weights, self.names = output_losses, weights, names

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        masks = mask if isinstance(mask, list) else [None] * len(self.losses)
        weights = sample_weight if isinstance(sample_weight, list) else [None] * len(
            self.losses)
        total, grads = 0.0, []
        for loss, weight, yt, yp, m, sw in zip(self.losses, self.weights, y_true, y_pred,
                                               masks, weights, strict=True):
            if loss is None:  # an output without a loss: no gradient from it
                grads.append(None)
                continue
            value, dy = loss(yt, yp, sw, mask=m)
            total += weight * value
            grads.append(dy * dy.dtype.type(weight))
        return total, grads


class OutputMetric:
    """A metric of one output, named ``<output>_<metric>`` as Keras names it."""

    def __init__(self, metric, index: int, output_name: str, weighted: bool = False):
        self.metric, self.index, self.weighted = metric, index, weighted
        self.name = f"{output_name}_{metric.name}"

    def update(self, y_true, y_pred, sample_weight=None, mask=None):
        m = None if mask is None else mask[self.index]
        sw = None if sample_weight is None else sample_weight[self.index]
        self.metric.update(y_true[self.index], y_pred[self.index], sw, mask=m)

    def result(self):
        return self.metric.result()

    def reset(self):
        self.metric.reset()


class OutputLossMetric:
    """The unweighted loss of one output, averaged over batches by batch size (Keras's
    per-output loss tracker, logged as ``<output>_loss``)."""

    weighted = True  # Keras's tracker records the loss with the sample weights

    def __init__(self, loss, index: int, output_name: str):
        self.loss, self.index = loss, index
        self.name = f"{output_name}_loss"
        self.reset()

    def update(self, y_true, y_pred, sample_weight=None, mask=None):
        m = None if mask is None else mask[self.index]
        sw = None if sample_weight is None else sample_weight[self.index]
        value, _ = self.loss(y_true[self.index], y_pred[self.index], sw, mask=m)
        batch = len(y_pred[self.index])
        self._sum += float(value) * batch
        self._count += batch

    def result(self):
        return self._sum / self._count if self._count else 0.0

    def reset(self):
        self._sum, self._count = 0.0, 0


def _per_output(spec, names: list[str], what: str, label: str, single_ok: bool) -> list:
    """``spec`` (a list in output order, a dict by output name, or — when ``single_ok`` —
    one entry for every output) as one entry per output."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"{label}: {what} names unknown outputs {unknown}; the "
                             f"outputs are {names}")
        return [spec.get(n) for n in names]
    if isinstance(spec, list | tuple):
        if len(spec) != len(names):
            raise ValueError(f"{label}: expected {what} with one entry per output {names}, "
                             f"received {len(spec)}")
        return list(spec)
    if single_ok:
        return [spec] * len(names)
    raise ValueError(f"{label}: expected {what} as a list or a dict by output name "
                     f"{names}, received {type(spec).__name__}")


def compile_outputs(loss, metrics, loss_weights, names: list[str], label: str,
                    weighted_metrics=None):
    """``(OutputLosses, [loss trackers..., output metrics..., weighted metrics...])`` for
    outputs ``names`` (weighted metrics get the sample weights; one named like an
    unweighted metric is logged ``<output>_weighted_<metric>``, Keras's rule)."""
    output_losses = [None if spec is None else losses.get(spec)
                     for spec in _per_output(loss, names, "loss", label, single_ok=True)]
    if all(loss_fn is None for loss_fn in output_losses):
        raise ValueError(f"{label}: expected a loss for at least one output {names}")
    weights = [1.0] * len(names) if loss_weights is None else [
        1.0 if w is None else float(w)
        for w in _per_output(loss_weights, names, "loss_weights", label, single_ok=False)]
    compiled = OutputLosses(output_losses, weights, names)
    trackers = [OutputLossMetric(loss_fn, i, name)
                for i, (loss_fn, name) in enumerate(zip(output_losses, names, strict=True))
                if loss_fn is not None]
    per_output = [[]] * len(names) if not metrics else _per_output(
        metrics, names, "metrics", label, single_ok=False)
    output_metrics = []
    for i, (specs, name) in enumerate(zip(per_output, names, strict=True)):
        if specs is None:
            continue
        for spec in specs if isinstance(specs, list | tuple) else [specs]:
            output_metrics.append(OutputMetric(metrics_module.get(spec), i, name))
    per_output = [[]] * len(names) if not weighted_metrics else _per_output(
        weighted_metrics, names, "weighted_metrics", label, single_ok=False)
    taken = {m.name for m in output_metrics}
    for i, (specs, name) in enumerate(zip(per_output, names, strict=True)):
        for spec in [] if specs is None else specs if isinstance(specs, list | tuple) else [
                specs]:
            metric = OutputMetric(metrics_module.get(spec), i, name, weighted=True)
            if metric.name in taken:
                metric.name = f"{name}_weighted_{metric.metric.name}"
            taken.add(metric.name)
            output_metrics.append(metric)
    found = [m.name for m in trackers + output_metrics]
    if len(set(found)) != len(found):
        raise ValueError(f"{label}: metric names must be unique, received {found}")
    return compiled, trackers + output_metrics

