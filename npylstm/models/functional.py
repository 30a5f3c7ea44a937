"""Functional models: ``npylstm.Model(inputs, outputs)`` over a graph of layer calls.

Follows Keras 3's ``keras/src/models/functional.py`` and ``keras/src/ops/function.py``:
the graph is found by walking from the outputs back to the inputs (``_build_map``, a
depth-first search), each layer's depth is its longest distance to an output
(``map_graph``), and ``model.layers`` lists the layers from the inputs on, by decreasing
depth and then in the order the search met them — the order of ``get_weights()``, the
summary and the config. A layer called twice (shared) is one layer with two nodes; a
layer may return several tensors (``return_state=True``) and take tensors as keyword
arguments (``initial_state=[h, c]``); a model is itself a layer inside another model.

Forward runs the nodes in topological order, each through its layer's
``graph_forward`` (masks flow along the graph: a node's output masks are its layer's
``graph_output_mask``); backward runs them in reverse, summing the gradients of a tensor
used twice and the weight gradients of a shared layer.

>>> import numpy as np, npylstm
>>> from npylstm.layers import LSTM, Dense
>>> series = npylstm.Input((None, 2), name="series")
>>> h, state_h, state_c = LSTM(4, return_state=True)(series)
>>> model = npylstm.Model(series, [Dense(1, name="y")(h), state_c])
>>> [layer.name for layer in model.layers], model.output_names
(['series', 'lstm', 'y'], ['y', 'lstm'])
>>> [out.shape for out in model.predict(np.ones((2, 5, 2)), verbose=0)]
[(2, 1), (2, 4)]
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .. import registry
from ..layers import inputs
from ..layers.base import _has_mask
from ..layers.graph import KerasTensor, Node, flatten, has_symbolic, map_structure
from ..layers.graph import symbolic_call as _symbolic_call
from ..layers.input import InputLayer
from .model import Model
from .outputs import compile_outputs
from .summary import _format_shape

__all__ = ["Functional"]


def _build_map(inputs: list[KerasTensor], outputs: list[KerasTensor]):
    """``(nodes, operation_indices)``: the graph's nodes in topological order (inputs
    first) and each layer's index in the depth-first search (Keras's ``_build_map``)."""
    finished, in_progress, ordered, indices = set(), set(), [], {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor: KerasTensor):
        node = tensor.node
        if node is None or id(node) in finished:
            return
        if not node.is_input and id(tensor) in input_ids:
            finished.add(id(node))  # a declared input made by a layer: outside the graph
            return
        if id(node) in in_progress:
            raise ValueError(f"tensor {tensor.name!r} of layer '{node.layer.name}' is part "
                             "of a cycle")
        indices.setdefault(node.layer, len(indices))
        in_progress.add(id(node))
        if not node.is_input:
            for parent in node.input_tensors:
                visit(parent)
        finished.add(id(node))
        in_progress.discard(id(node))
        ordered.append(node)

    for output in outputs:
        visit(output)
    return ordered, indices


def _layers_by_depth(nodes: list[Node], indices: dict, inputs: list[KerasTensor]) -> list:
    """The layers from the inputs on: by decreasing depth, then by search order
    (Keras's ``map_graph``)."""
    in_graph = {id(n) for n in nodes}
    node_depth, layer_depth = {}, {}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[id(node)] = depth
        for parent in node.parents():
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for tensor in inputs:  # inputs no output depends on still belong to the model
        if tensor.node.is_input and tensor.node.layer not in layer_depth:
            layer_depth[tensor.node.layer] = 0
            indices[tensor.node.layer] = -1
    return sorted(layer_depth, key=lambda lay: (-layer_depth[lay], indices[lay]))


def _shapes(structure) -> list[tuple]:
    """The shapes in a structure of shapes (a shape: a tuple of ints and None)."""
    if isinstance(structure, dict):
        return [s for key in sorted(structure) for s in _shapes(structure[key])]
    if isinstance(structure, list | tuple) and any(isinstance(d, list | tuple | dict)
                                                   for d in structure):
        return [s for item in structure for s in _shapes(item)]
    return [tuple(structure)]


class _NodeCache:
    """What backward needs of one node: the layer's cache and the outputs' shapes."""

    __slots__ = ("cache", "output_shapes", "output_dtypes")

    def __init__(self, cache, outputs):
        self.cache = cache
        self.output_shapes = [np.shape(o) for o in outputs]
        self.output_dtypes = [np.asarray(o).dtype for o in outputs]


class _Run:
    """One forward pass: every tensor's value and mask, and each node's cache."""

    def __init__(self):
        self.values: dict[int, np.ndarray] = {}
        self.masks: dict[int, np.ndarray | None] = {}
        self.caches: dict[int, _NodeCache] = {}
        self.activity = 0.0
        self.activity_grads: dict[int, list] = {}


@registry.register("Functional")
class Functional(Model):
    """A model defined by its input and output tensors, as ``keras.Model(inputs,
    outputs)`` (Keras names the class ``Functional``).

    Parameters
    ----------
    inputs : an Input tensor, or a list / dict of them
    outputs : a tensor made from the inputs by layer calls, or a list / dict of them
    name : the model's name (default ``functional``, ``functional_1``, ...)
    """

    KERAS_MODULE = "keras.src.models.functional"
    _KIND = "Functional"
    _DEFAULT_NAME = "functional"

    def __init__(self, inputs, outputs, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs = self._tensors(inputs, "inputs")
        self.outputs = self._tensors(outputs, "outputs")
        self._nodes, indices = _build_map(self.inputs, self.outputs)
        self._check_connected()
        # every operation of the graph (Keras's mask ops too, for the config); the layers
        # (model.layers, the weights) are those that are not keras.ops operations
        self._operations = _layers_by_depth(self._nodes, indices, self.inputs)
        self._layers = [op for op in self._operations if not getattr(op, "IS_OPERATION", False)]
        names = [layer.name for layer in self._operations]
        for layer_name in names:
            if names.count(layer_name) > 1:
                raise self._error(f"all layer names must be unique; '{layer_name}' is used "
                                  f"{names.count(layer_name)} times")
        self.output_names = [t.node.layer.name for t in self.outputs]
        self.input_names = [t.node.layer.name for t in self.inputs]
        # the names data (and per-output losses) are keyed by: a dict's keys, as Keras
        self._input_keys = sorted(inputs) if isinstance(inputs, dict) else self.input_names
        self._output_keys = sorted(outputs) if isinstance(outputs, dict) else self.output_names
        if not trainable:
            self.trainable = False  # now that the layers are known: freeze them all
        self.built = True

    # -- the graph ----------------------------------------------------------------------------
    def _tensors(self, structure, what: str) -> list[KerasTensor]:
        flat = flatten(structure)
        if not flat:
            raise self._error(f"expected at least one tensor in {what}, received {structure!r}")
        for t in flat:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"{self._label()}: every entry of {what} must be a symbolic tensor (from "
                    f"npylstm.Input or a layer called on one), received {type(t).__name__}"
                )
        return flat

    def _check_connected(self) -> None:
        """Every node's inputs must come from the model's inputs (Keras: "Graph
        disconnected")."""
        known = {id(t) for t in self.inputs}
        for node in self._nodes:
            if node.is_input:
                if id(node.outputs[0]) not in known:
                    raise self._error(
                        f"graph disconnected: the output needs input '{node.layer.name}' "
                        f"(shape {_format_shape(node.layer.batch_shape)}), which is not in "
                        f"the model's inputs {[t.name for t in self.inputs]}"
                    )
                continue
            for tensor in node.input_tensors:
                if id(tensor) not in known:
                    raise self._error(
                        f"graph disconnected: layer '{node.layer.name}' needs tensor "
                        f"{tensor.name!r}, which cannot be computed from the inputs"
                    )
            known.update(id(t) for t in node.outputs)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def build(self, input_shape=None) -> None:
        """A functional model is built when it is made (its layers were built by the calls)."""

    def _layer_output_shapes(self):
        rows = []
        for layer in self._layers:
            nodes = [n for n in layer.__dict__.get("_inbound_nodes", []) if self._owns(n)]
            shapes = [t.shape for t in nodes[0].outputs] if nodes else []
            rows.append((layer, shapes[0] if len(shapes) == 1 else shapes))
        return rows

    def _owns(self, node: Node) -> bool:
        return any(node is n for n in self._nodes)

    # -- data ---------------------------------------------------------------------------------
    def _dtype(self) -> np.dtype:
        floats = [lay.dtype for lay in self._layers if not isinstance(lay, InputLayer)
                  and getattr(lay, "dtype", None) is not None]
        return floats[0] if floats else np.dtype("float32")

    def _structure_to_list(self, data, names: list[str], what: str) -> list:
        """Data for several tensors (a list in order, or a dict by name) as a list."""
        if isinstance(data, dict):
            missing = [n for n in names if n not in data]
            unknown = [k for k in data if k not in names]
            if missing or unknown:
                raise self._error(
                    f"{what} as a dict must have the keys {names}, received {list(data)}"
                )
            return [data[n] for n in names]
        if len(names) == 1:
            if isinstance(data, list | tuple) and len(data) == 1 and not np.isscalar(data[0]) \
                    and np.ndim(data[0]) >= 1 and self._looks_like_tensors(data):
                return [data[0]]
            return [data]
        if not isinstance(data, list | tuple) or not self._looks_like_tensors(data):
            raise self._error(
                f"expected {what} for {len(names)} tensors {names} (a list in that order or "
                f"a dict by name), received one {type(data).__name__}"
            )
        if len(data) != len(names):
            raise self._error(f"expected {what} for {len(names)} tensors {names}, received "
                              f"{len(data)}")
        return list(data)

    @staticmethod
    def _looks_like_tensors(data) -> bool:
        """Whether a list holds one array per tensor (not the rows of one array)."""
        return all(isinstance(d, np.ndarray) for d in data) or len({
            np.shape(d) for d in data}) > 1

    def _prepare_x(self, x) -> list[np.ndarray]:
        xs = self._structure_to_list(x, self._input_keys, "x")
        prepared = []
        for tensor, data in zip(self.inputs, xs, strict=True):
            array = self._as_array(data, f"input '{tensor.name}'", tensor.dtype)
            inputs.check_input_shape(array, tensor.shape, self._label(), f"input '{tensor.name}'")
            prepared.append(array)
        sizes = {len(a) for a in prepared}
        if len(sizes) > 1:
            raise self._error(f"every input needs the same number of samples, received "
                              f"{[len(a) for a in prepared]}")
        return prepared

    def _prepare_y(self, y, x, loss=None) -> list[np.ndarray]:
        ys = self._structure_to_list(y, self._output_keys, "y")
        loss = loss or self.loss
        per_output = getattr(loss, "losses", [loss] * len(ys))  # OutputLosses: one each
        prepared = []
        for tensor, data, loss_i in zip(self.outputs, ys, per_output, strict=True):
            prepared.append(self._check_target(data, x[0], tensor.shape,
                                               f"y for output '{tensor.node.layer.name}'",
                                               loss_i))
        return prepared[0] if len(prepared) == 1 else prepared

    # -- outputs as the model was defined: a dict of outputs predicts a dict ------------------
    def _as_output_structure(self, outputs):
        """``outputs`` (one array, or a list in output order) in the structure the model's
        outputs were given in: a dict of outputs gives a dict by key, as Keras."""
        if isinstance(self._outputs_struct, dict):
            flat = outputs if isinstance(outputs, list) else [outputs]
            return dict(zip(self._output_keys, flat, strict=True))
        return outputs

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps=None,
                callbacks=None):
        return self._as_output_structure(super().predict(
            x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks))

    def predict_on_batch(self, x):
        return self._as_output_structure(super().predict_on_batch(x))

    # -- training -------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None) -> None:
        """As :meth:`Sequential.compile`; with several outputs, ``loss`` /
        ``loss_weights`` / ``metrics`` per output (lists in output order or dicts by output
        name, :mod:`npylstm.models.outputs`), logged as Keras logs them
        (``<output>_loss``, ``<output>_<metric>``)."""
        if len(self.outputs) == 1:
            if loss_weights is not None:
                raise self._error("loss_weights is for models with several outputs; scale "
                                  "the loss itself for one output")
            return super().compile(optimizer, loss=loss, metrics=metrics,
                                   weighted_metrics=weighted_metrics)
        super().compile(optimizer, loss=None, metrics=None)
        if loss is not None:
            self.loss, self.compiled_metrics = compile_outputs(
                loss, metrics, loss_weights, self._output_keys, self._label(),
                weighted_metrics)
        return None

    def _loss_fn(self, loss=None):
        """A loss given to ``loss_and_gradients`` applies per output, as in compile."""
        if loss is None or len(self.outputs) == 1:
            return super()._loss_fn(loss)
        return compile_outputs(loss, None, None, self._output_keys, self._label())[0]

    # -- forward and backward -------------------------------------------------------------------
    def _run(self, xs: list, training: bool, keep: bool, masks=None) -> _Run:
        run = _Run()
        for i, (tensor, value) in enumerate(zip(self.inputs, xs, strict=True)):
            run.values[id(tensor)] = value
            run.masks[id(tensor)] = None if masks is None else masks[i]
        for node in self._nodes:
            if node.is_input:
                continue
            layer = node.layer

            def value(t, run=run):
                return run.values[id(t)] if isinstance(t, KerasTensor) else t

            def mask(t, run=run):
                return run.masks.get(id(t)) if isinstance(t, KerasTensor) else None

            args = map_structure(value, node.args)
            kwargs = map_structure(value, node.kwargs)
            arg_masks = map_structure(mask, node.args)
            if keep:
                out, cache = layer.graph_forward(args, kwargs, arg_masks, training)
            else:
                out, cache = layer.graph_call(args, kwargs, arg_masks, training), None
            outs = list(out) if len(node.outputs) > 1 else [out]
            out_masks = layer.graph_output_mask(args, arg_masks, out)
            if len(node.outputs) > 1 and not isinstance(out_masks, list | tuple):
                out_masks = [out_masks] + [None] * (len(node.outputs) - 1)
            elif len(node.outputs) == 1:
                out_masks = [out_masks[0] if isinstance(out_masks, list | tuple)
                             else out_masks]
            if layer.CLEARS_INPUT_MASKS:
                for tensor in node.input_tensors:
                    run.masks[id(tensor)] = None
            for tensor, v, m in zip(node.outputs, outs, out_masks, strict=True):
                run.values[id(tensor)] = v
                run.masks[id(tensor)] = m
            if isinstance(layer, Model):
                run.activity += layer._last_activity
            else:
                penalty, grad = layer.activity_loss(out)
                run.activity += penalty
                if grad is not None:
                    run.activity_grads[id(node)] = grad if len(outs) > 1 else [grad]
            if keep:
                run.caches[id(node)] = _NodeCache(cache, outs)
        return run

    def _outputs_of(self, run: _Run):
        ys = [run.values[id(t)] for t in self.outputs]
        masks = [run.masks.get(id(t)) for t in self.outputs]
        if len(ys) == 1:
            return ys[0], masks[0]
        return ys, masks

    def _forward(self, x, training: bool):
        run = self._run(x, training, keep=True)
        y, mask = self._outputs_of(run)
        return y, run, run.activity, run.activity_grads, mask

    def _infer(self, x, training: bool = False):
        run = self._run(x, training, keep=False)
        y, mask = self._outputs_of(run)
        return y, run.activity, mask

    def _backward_run(self, dys: list, run: _Run):
        """``(grads by layer, input gradients)`` from the outputs' gradients."""
        grads: dict[int, np.ndarray] = {}

        def add(tensor, g):
            if g is None or not isinstance(tensor, KerasTensor):
                return
            key = id(tensor)
            grads[key] = g if key not in grads else grads[key] + g

        for tensor, dy in zip(self.outputs, dys, strict=True):
            add(tensor, dy)
        layer_grads: dict = defaultdict(lambda: None)
        for node in reversed(self._nodes):
            if node.is_input:
                continue
            layer, cached = node.layer, run.caches[id(node)]
            douts = [grads.pop(id(t), None) for t in node.outputs]
            extra = run.activity_grads.get(id(node))
            if extra is not None:
                douts = [d if e is None else (e if d is None else d + e)
                         for d, e in zip(douts, extra, strict=True)]
            if all(d is None for d in douts):
                continue  # nothing reaches this call: no gradient for its weights or inputs
            douts = [np.zeros(s, dtype=dt) if d is None else d for d, s, dt in
                     zip(douts, cached.output_shapes, cached.output_dtypes, strict=True)]
            dy = douts if len(node.outputs) > 1 else douts[0]
            dargs, dkwargs, wgrads = layer.graph_backward(dy, cached.cache)
            self._scatter(node.args, dargs, add)
            for key, d in dkwargs.items():
                self._scatter(node.kwargs.get(key), d, add)
            previous = layer_grads[layer]
            layer_grads[layer] = list(wgrads) if previous is None else [
                a + b for a, b in zip(previous, wgrads, strict=True)]
        return layer_grads, [grads.get(id(t)) for t in self.inputs]

    @staticmethod
    def _scatter(structure, gradients, add) -> None:
        """Add each gradient to the tensor at the same place in the call's arguments."""
        if gradients is None or structure is None:
            return
        if isinstance(structure, KerasTensor):
            add(structure, gradients)
        elif isinstance(structure, list | tuple):
            for s, g in zip(structure, gradients, strict=False):
                Functional._scatter(s, g, add)
        elif isinstance(structure, dict):
            for key, s in structure.items():
                Functional._scatter(s, gradients.get(key), add)

    def _backward(self, dy, run: _Run, activity_grads) -> list:
        dys = list(dy) if len(self.outputs) > 1 else [dy]
        layer_grads, _ = self._backward_run(dys, run)
        return self._collect(layer_grads)

    def _collect(self, layer_grads) -> list:
        """The gradient of every trainable weight, layer by layer (zeros where none
        reached a layer)."""
        out = []
        for layer in self._layers:
            grads = layer_grads.get(layer) if layer in layer_grads else None
            if isinstance(layer, Model):
                if grads is None:
                    grads = [np.zeros_like(w.value) for w in layer.trainable_weights]
                out.extend(grads if self.trainable else [])
                continue
            if grads is None:
                grads = [np.zeros_like(w.value) for w in layer.parameter_weights]
            out.extend(self._layer_grads(layer, grads))
        return out

    # -- a model as a layer of another model ---------------------------------------------------
    _last_activity = 0.0
    CLEARS_INPUT_MASKS = False

    @property
    def dtype(self) -> np.dtype:
        return self._dtype()

    def regularization_loss(self) -> float:
        return self._regularization()

    def graph_build(self, arg_shapes, kwargs):
        """The output shapes of a call on inputs of ``arg_shapes``: the call's shapes pushed
        through the inner graph (a model built for ``(None, None, 3)`` called on
        ``(None, 5, 3)`` gives 5 steps, as Keras)."""
        given = _shapes(arg_shapes[0] if len(arg_shapes) == 1 else arg_shapes)
        shapes = {id(t): s for t, s in zip(self.inputs, given, strict=False)}
        for node in self._nodes:
            if node.is_input:
                continue

            def shape(t):
                return shapes.get(id(t), t.shape) if isinstance(t, KerasTensor) else t

            static = {k: v for k, v in node.kwargs.items() if not has_symbolic([v], {})}
            out = node.layer.graph_build(map_structure(shape, node.args), static)
            outs = [tuple(s) for s in out] if len(node.outputs) > 1 else [tuple(out)]
            shapes.update((id(t), s) for t, s in zip(node.outputs, outs, strict=True))
        result = [shapes[id(t)] for t in self.outputs]
        return result if len(result) > 1 else result[0]

    def _flat_args(self, args) -> list:
        return flatten(args[0]) if len(args) == 1 else flatten(args)

    def graph_forward(self, args, kwargs, masks, training):
        run = self._run(self._flat_args(args), training, keep=True,
                        masks=self._flat_args(masks) if _has_mask(masks) else None)
        self._last_activity = run.activity
        y, _ = self._outputs_of(run)
        return y, run

    def graph_call(self, args, kwargs, masks, training):
        run = self._run(self._flat_args(args), training, keep=False,
                        masks=self._flat_args(masks) if _has_mask(masks) else None)
        self._last_activity = run.activity
        self._last_run_masks = [run.masks.get(id(t)) for t in self.outputs]
        return self._outputs_of(run)[0]

    def graph_output_mask(self, args, masks, outputs):
        run_masks = getattr(self, "_last_run_masks", None)
        return run_masks if run_masks is not None and len(run_masks) > 1 else (
            run_masks[0] if run_masks else None)

    def graph_backward(self, dy, run: _Run):
        dys = list(dy) if len(self.outputs) > 1 else [dy]
        layer_grads, dxs = self._backward_run(dys, run)
        return [dxs if len(dxs) > 1 else dxs[0]], {}, self._collect(layer_grads)

    def activity_loss(self, outputs):
        return self._last_activity, None

    def __call__(self, *args, training: bool = False, **kwargs):
        """On symbolic tensors: the model as one layer of a bigger graph; on data: the
        model's output (as ``model(x)``)."""
        if has_symbolic(args, kwargs):
            return _symbolic_call(self, args, kwargs)
        x = args[0] if len(args) == 1 else list(args)
        return self._as_output_structure(self._infer(self._prepare_x(x), training)[0])

    # -- configs ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's functional config: each layer with its ``inbound_nodes`` (the call's
        ``args`` / ``kwargs``, tensors as ``__keras_tensor__`` entries with their
        ``keras_history``), and the ``input_layers`` / ``output_layers``."""
        own = {id(n) for n in self._nodes}
        renumber = {}
        for layer in self._operations:
            kept = 0  # a nested model's calls too: Keras 3.15 writes [inner, 0, 0]
            for node in layer.__dict__.get("_inbound_nodes", []):
                if id(node) in own:
                    renumber[id(node)] = kept
                    kept += 1

        def tensor_config(t):
            if not isinstance(t, KerasTensor):
                return t
            return {"class_name": "__keras_tensor__", "config": {
                "shape": list(t.shape), "dtype": t.dtype,
                "keras_history": [t.node.layer.name, renumber[id(t.node)], t.index]}}

        layers = []
        for layer in self._operations:
            entry = registry.serialize(layer) if not getattr(layer, "IS_OPERATION", False) else {
                "module": layer.KERAS_MODULE, "class_name": layer.keras_class_name,
                "config": layer.get_config(), "registered_name": None}
            entry["name"] = layer.name
            entry["inbound_nodes"] = [
                {"args": map_structure(tensor_config, node.args),
                 "kwargs": map_structure(tensor_config, node.kwargs)}
                for node in layer.__dict__.get("_inbound_nodes", [])
                if id(node) in own and not node.is_input
            ]
            if not isinstance(layer, InputLayer | Model) and layer.weights and not getattr(
                    layer, "IS_OPERATION", False):
                entry["build_config"] = layer.build_config()
            layers.append(entry)

        def history(t):
            return [t.node.layer.name, renumber[id(t.node)], t.index]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": map_structure(history, self._inputs_struct),
            "output_layers": map_structure(history, self._outputs_struct),
        }

    @classmethod
    def from_config(cls, config: dict) -> Functional:
        """Rebuild a functional model from its Keras 3 config (see
        :mod:`npylstm.models.functional_config`)."""
        from .functional_config import functional_from_config

        return functional_from_config(cls, config)

    def __repr__(self) -> str:
        return (f"<Functional name={self.name}, inputs={self.input_names}, "
                f"outputs={self.output_names}>")

