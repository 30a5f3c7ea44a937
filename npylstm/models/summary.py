"""``model.summary()``: the table Keras 3 prints, for any model built on
:class:`npylstm.models.Model`.

Follows Keras 3.15's ``keras/src/utils/summary_utils.py`` (``print_summary``,
``format_layer_shape``) line by line, with the same ``rich`` markup, so the text is
Keras's for the same model:

- a Sequential, or a functional model whose graph is a chain ("sequential-like": one node
  per depth, each with one input tensor, no layer called twice), gets the columns
  "Layer (type)", "Output Shape", "Param #" (88 columns by default); any other functional
  model adds "Connected to" (108 columns), each inbound node of the layer in this model
  listed as ``layer_name[node_index][tensor_index]`` for every input tensor of the call
  (keyword tensors such as ``initial_state=`` included), ``-`` for an input;
- the default width is capped at the terminal's width minus 4 (``shutil``), as Keras;
- a layer's output shape is that of its last call (Keras's loop over
  ``_inbound_nodes``); a layer with several outputs shows ``[(None, 4), (None, 4)]``;
- the totals count ``model.trainable_weights`` (none of a frozen layer) and
  ``model.non_trainable_weights`` (BatchNormalization's moving statistics and every weight
  of a frozen layer), with their sizes in bytes from each weight's dtype, and, once a
  compiled model's optimizer has taken a step, the optimizer's variables (its slots, its
  iteration counter and learning rate) as Keras's "Optimizer params".

``show_param_formulas=True`` (npylstm's own) adds a column with each layer's count written
out (``param_formula()``, else ``param_rule()``).

>>> from npylstm import Input, Sequential
>>> from npylstm.layers import LSTM, Dense
>>> model = Sequential([Input((50, 1)), LSTM(20), Dense(5)], name="m")
>>> lines = []
>>> model.summary(print_fn=lines.append)
>>> "Total params: 1,865" in lines[0]
True
"""

from __future__ import annotations

import math
import re
import shutil

import rich.console
import rich.markup
import rich.table

__all__ = ["print_summary"]


def _format_shape(shape) -> str:
    """``(None, 50, 20)`` as Python prints a tuple (for error messages)."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def _readable_size(nbytes: float) -> str:
    """Keras's ``readable_memory_size``: ``20.10 KB``."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    for unit in units:
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} {units[-1]}"


# -- Keras's rich markup (invisible without colours, identical text) ------------------------
def _number(x) -> str:
    """Keras's ``highlight_number``."""
    return f"[color(45)]{x}[/]" if x is None else f"[color(34)]{x}[/]"


def _symbol(x) -> str:
    """Keras's ``highlight_symbol``."""
    return f"[color(33)]{x}[/]"


def _bold(x, color=None) -> str:
    """Keras's ``bold_text``."""
    return f"[bold][color({color})]{x}[/][/]" if color else f"[bold]{x}[/]"


def _shape_markup(shape) -> str:
    """Keras's ``format_shape``: ``(None, 5)``, and ``(None)`` for one axis."""
    return f"({', '.join(_number(d) for d in shape)})"


def _shapes_markup(shapes: list) -> str:
    """One shape, or several as Keras prints the list (``str`` without the quotes)."""
    texts = [_shape_markup(s) for s in shapes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


# -- the model's graph ---------------------------------------------------------------------
def _nodes(model) -> list | None:
    """A functional model's nodes (Keras's ``_nodes_by_depth`` values, with the inputs
    no output depends on), or None for a model without a graph of nodes (Sequential)."""
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        return None
    nodes = list(nodes)
    for tensor in getattr(model, "inputs", []):
        if tensor.node is not None and not any(tensor.node is n for n in nodes):
            nodes.insert(0, tensor.node)
    return nodes


def _node_depths(nodes: list) -> dict[int, int]:
    """Each node's depth (Keras's ``map_graph``: the longest path to an output, a shared
    layer's nodes at least as deep as its later ones)."""
    in_graph = {id(n) for n in nodes}
    node_depth, layer_depth = {}, {}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.parents():
            if id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    return node_depth


def _sequential_like(nodes: list | None, layers: list) -> bool:
    """Keras's test: one node per depth, none with several input tensors, no layer with
    two nodes in the model."""
    if nodes is None:
        return True
    depths, by_depth = _node_depths(nodes), {}
    for node in nodes:
        by_depth.setdefault(depths[id(node)], []).append(node)
    for group in by_depth.values():
        if len(group) > 1 or len(group[0].input_tensors) > 1:
            return False
    own = {id(n) for n in nodes}
    return all(sum(id(n) in own for n in _inbound_nodes(layer)) <= 1 for layer in layers)


def _inbound_nodes(layer) -> list:
    return layer.__dict__.get("_inbound_nodes", [])


def _connections(layer, relevant: set[int]) -> str:
    """Keras's ``get_connections``: ``encoder[0][1], encoder[0][2]``, or ``-``."""
    parts = []
    for node in _inbound_nodes(layer):
        if relevant and id(node) not in relevant:
            continue  # a call made for another model
        for tensor in node.input_tensors:
            parts.append(f"{tensor.node.layer.name}[{_number(tensor.node.index)}]"
                         f"[{_number(tensor.index)}]")
    return ", ".join(parts) if parts else "-"


def _rows(model) -> list[tuple]:
    """``(layer, output shape markup)`` per layer of ``model``, in its display order."""
    rows, graph = [], _nodes(model) is not None
    for layer, shape in model._layer_output_shapes():
        nodes = _inbound_nodes(layer) if graph else []
        if nodes:  # the last call's outputs, as Keras's loop over _inbound_nodes leaves it
            text = _shapes_markup([t.shape for t in nodes[-1].outputs])
        elif shape is None or (isinstance(shape, list) and not shape):
            text = "?"
        else:
            several = isinstance(shape, list) and shape and isinstance(shape[0], tuple | list)
            text = _shapes_markup(shape if several else [shape])
        rows.append((layer, text))
    return rows


def _param_formula(layer) -> str:
    """The layer's count written out: its ``param_formula()``, else its ``param_rule()``
    (a model: its layers' counts added); empty for a layer without weights."""
    if not layer.weights:
        return ""
    formula = getattr(layer, "param_formula", None)
    if formula is not None:
        return formula()
    rule = getattr(layer, "param_rule", None)
    if rule is not None:
        return rule()[1]
    counts = [sub.count_params() for sub in layer.layers if sub.count_params()]
    return f"{' + '.join(f'{c:,}' for c in counts)} = {layer.count_params():,}"


def _layer_range(layers: list, layer_range) -> tuple[int, int]:
    """Keras's ``get_layer_index_bound_by_layer_name``."""
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError(
            "layer_range must be a list or tuple of length 2. Received: "
            f"layer_range = {layer_range} of length {len(layer_range)}")
    if not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError("Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


# -- counts and sizes ----------------------------------------------------------------------
def _count(arrays) -> int:
    return int(sum(math.prod(a.shape) for a in arrays))


def _nbytes(arrays) -> float:
    """Keras's ``weight_memory_size``: each array once."""
    unique = {id(a): a for a in arrays}.values()
    return float(sum(math.prod(a.shape) * a.dtype.itemsize for a in unique))


def _optimizer_arrays(model) -> list | None:
    """A compiled model's optimizer variables once the optimizer is built (Keras's
    ``optimizer.variables``: the iteration count, the learning rate unless a schedule sets
    it, the slots, EMA / accumulation variables), else None."""
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None or \
            not getattr(optimizer, "built", False):
        return None
    return optimizer.variables


# -- the table -----------------------------------------------------------------------------
def print_summary(model, line_length: int | None = None, positions=None, print_fn=None,
                  expand_nested: bool = False, show_trainable: bool = False,
                  layer_range=None, show_param_formulas: bool = False) -> None:
    """Print a table like Keras 3's ``model.summary()`` (its arguments, as
    ``keras.utils.summary_utils.print_summary``).

    Parameters
    ----------
    model : a built :class:`npylstm.models.Model`
    line_length : table width (default 88 columns, 108 with "Connected to", at most the
        terminal's width minus 4, as Keras)
    positions : where each column ends, as fractions of ``line_length`` (Keras's)
    print_fn : called once with the whole text instead of printing to the terminal
    expand_nested : also list the layers of nested models (``└`` rows)
    show_trainable : add Keras's "Trainable" column (``Y`` / ``N``, ``-`` without weights)
    layer_range : two layer-name patterns: print that slice of the layers only
    show_param_formulas : add a column with each layer's count written out,
        ``4 × 20 × (1 + 20 + 1) = 1,760`` (npylstm's own; 120 / 140 columns)
    """
    if not model.built:
        raise model._not_built_error("summary()")
    nodes = _nodes(model)
    sequential_like = _sequential_like(nodes, model.layers if nodes is not None else [])
    relevant = {id(n) for n in nodes} if nodes is not None else set()
    if sequential_like:
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
        header, justify = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        justify = ["left", "left", "right", "left"]
    positions = positions or default_positions
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header.append("Trainable")
        justify.append("center")
    console_width = None
    if show_param_formulas:
        # npylstm's column: a wider table the terminal does not squeeze
        default_length += 32
        positions = [p * 0.68 for p in positions] + [1.0]
        header.append("Param formula")
        justify.append("left")
        line_length = line_length or default_length
        console_width = line_length + 4
    else:
        default_length = min(default_length, shutil.get_terminal_size().columns - 4)
        line_length = line_length or default_length
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    table = rich.table.Table(
        *[rich.table.Column(h, justify=j, width=w)
          for h, j, w in zip(header, justify, widths, strict=True)],
        width=line_length,
        show_lines=True,
    )

    def fields(layer, shape_text, prefix=""):
        name = rich.markup.escape(f"{prefix}{layer.name}")
        name += f" ({_symbol(rich.markup.escape(type(layer).__name__))})"
        if not layer.built:
            params = f"{_number(0)} (unbuilt)"
        else:
            params = _number(f"{layer.count_params():,}")
        row = [name, shape_text, params]
        if not sequential_like:
            row.append(_connections(layer, relevant))
        if show_trainable:
            if layer.weights:
                row.append(_bold("Y", 34) if layer.trainable else _bold("N", 9))
            else:
                row.append(_bold("-"))
        if show_param_formulas:
            row.append(_param_formula(layer) if layer.built else "")
        return row

    def layer_rows(layer, shape_text, level=0):
        rows = [fields(layer, shape_text, "   " * level + "└ " if level else "")]
        if expand_nested and hasattr(layer, "_layer_output_shapes") and layer.layers:
            for inner, text in _rows(layer):
                rows.extend(layer_rows(inner, text, level + 1))
        return rows

    rows = _rows(model)
    start, stop = _layer_range([layer for layer, _ in rows], layer_range)
    for layer, text in rows[start:stop]:
        for row in layer_rows(layer, text):
            table.add_row(*row)

    trainable = [w.value for w in model.trainable_weights]
    frozen = [w.value for w in model.non_trainable_weights]
    optimizer = _optimizer_arrays(model)
    counts = [_count(trainable), _count(frozen), _count(optimizer or [])]
    sizes = [_nbytes(trainable), _nbytes(frozen), _nbytes(optimizer or [])]
    if print_fn is None:
        console = rich.console.Console(highlight=False, width=console_width)
    else:
        console = rich.console.Console(highlight=False, force_terminal=False,
                                       color_system=None, width=console_width)
        console.begin_capture()
    console.print(_bold(f'Model: "{rich.markup.escape(model.name)}"'))
    console.print(table)
    totals = [(" Total params: ", sum(counts), sum(sizes)),
              (" Trainable params: ", counts[0], sizes[0]),
              (" Non-trainable params: ", counts[1], sizes[1])]
    if optimizer is not None:
        totals.append((" Optimizer params: ", counts[2], sizes[2]))
    for label, count, size in totals:
        console.print(_bold(label) + _number(f"{count:,}") + f" ({_readable_size(size)})")
    if print_fn is not None:
        print_fn(console.end_capture())
