"""``Model``: what every model kind shares, whatever its graph.

A model owns a list of layers and the graph that connects them; training
(:class:`npylstm.models.training.Trainer`, which ``Model`` inherits as Keras's
``Model(Trainer, Layer)``) and the summary (:mod:`npylstm.models.summary`) are written
against the hooks below, so a new model kind implements only its graph:

``_forward(x, training) -> (y_pred, caches, activity, activity_grads, output_mask)``
    the forward pass keeping what backward needs, with the activity-regularization
    penalty (a float) and its gradients (one entry per layer call, None without one), and
    the output's time mask (None without one): the loss and the metrics honour it
``_backward(dy, caches, activity_grads) -> grads``
    backpropagation from ``dL/dy_pred``; ``grads`` in :attr:`Model.trainable_weights`
    order (:meth:`Model._layer_grads`), weight-regularization gradients included
``_infer(x, training=False) -> (y_pred, activity, output_mask)``
    a forward pass that keeps nothing for backward (the layers' ``__call__``)
``input_shape``, ``output_shape``, ``build(input_shape)``
    shapes with the batch axis; ``_prepare_x`` builds an unbuilt model from the first data
``_layer_output_shapes() -> [(layer, output_shape), ...]``
    the summary's rows, in display order
``_build_from_weights(weights)``
    build an unbuilt model from the weight shapes alone (for :meth:`Model.set_weights`)
``_prepare_x(x)``, ``_prepare_y(y, x)``
    coerce and check data (defaults here, written against ``input_shape``/``output_shape``)
``get_config()`` / ``from_config(config)``
    the Keras config of the model

The weights of a model are those of its layers, layer by layer in ``_layers`` order (Keras's
``get_weights()`` order).
"""

from __future__ import annotations

import numpy as np

from .. import losses
from ..layers import inputs
from ..layers.base import Layer, _name_counts
from .summary import _format_shape, print_summary
from .training import Trainer, _limit_blas_threads

__all__ = ["Model"]


class Model(Trainer):
    """The model base: name, layers, weights, data coercion, the whole-model gradient and
    the file facades; a subclass (:class:`npylstm.Sequential`) defines the graph hooks
    listed in :mod:`npylstm.models.model`.

    Parameters
    ----------
    name : the model's name (default: ``_DEFAULT_NAME``, then ``_DEFAULT_NAME_1``, ...)
    trainable : recorded in the config (every weight is trained)
    """

    # The model kind in error messages and the repr ("Sequential 'sequential': ...").
    _KIND = "Model"
    # The base of automatic names (Keras: "sequential", "functional").
    _DEFAULT_NAME = "model"
    # How to build an unbuilt model, completing "count_params() needs a built model: ...".
    _BUILD_HINT = "call build()"

    def __new__(cls, *args, **kwargs):
        """``Model(inputs, outputs)`` makes a :class:`~npylstm.models.Functional`, as
        ``keras.Model(inputs, outputs)`` does."""
        if cls is Model and (len(args) >= 2 or "outputs" in kwargs or "inputs" in kwargs):
            from .functional import Functional

            return super().__new__(Functional)  # Python then runs Functional.__init__
        return super().__new__(cls)

    def __init__(self, name: str | None = None, trainable: bool = True):
        if name is None:
            n = _name_counts[self._DEFAULT_NAME]
            _name_counts[self._DEFAULT_NAME] += 1
            name = self._DEFAULT_NAME if n == 0 else f"{self._DEFAULT_NAME}_{n}"
        self.name = inputs.check_name(name, self._KIND)
        self._layers: list[Layer] = []
        self.trainable = bool(trainable)
        self.built = False
        Trainer.__init__(self)

    # -- errors -----------------------------------------------------------------------------
    def _label(self) -> str:
        return f"{self._KIND} '{self.name}'"

    def _error(self, message: str) -> ValueError:
        return ValueError(f"{self._label()}: {message}")

    def _not_built_error(self, what: str) -> ValueError:
        return self._error(f"{what} needs a built model: {self._BUILD_HINT}")

    # -- the graph: hooks a model kind implements --------------------------------------------
    @property
    def input_shape(self) -> tuple | None:  # pragma: no cover - abstract
        """The input shape with the batch axis, e.g. ``(None, 50, 1)``; None if unknown."""
        raise NotImplementedError

    @property
    def output_shape(self) -> tuple:  # pragma: no cover - abstract
        """The output shape with the batch axis (needs a built model)."""
        raise NotImplementedError

    def build(self, input_shape=None) -> None:  # pragma: no cover - abstract
        """Build every layer for ``input_shape`` (with the batch axis)."""
        raise NotImplementedError

    def _build_from_weights(self, weights: list) -> None:
        """Build an unbuilt model from the shapes of ``weights`` (get_weights() order), or
        raise: the default cannot tell."""
        raise self._error("set_weights() needs a built model: build it or add an Input")

    def _forward(self, x: np.ndarray, training: bool):  # pragma: no cover - abstract
        """Returns ``(y_pred, caches, activity_penalty, activity_grads)``."""
        raise NotImplementedError

    def _backward(self, dy, caches, activity_grads) -> list:  # pragma: no cover - abstract
        """The gradient of every weight, in :meth:`get_weights` order."""
        raise NotImplementedError

    def _infer(self, x, training: bool = False) -> tuple:  # pragma: no cover - abstract
        """``(y_pred, activity_penalty)`` without keeping what backward needs."""
        raise NotImplementedError

    def _layer_output_shapes(self) -> list[tuple[Layer, tuple]]:  # pragma: no cover - abstract
        """Each layer with its output shape, in the summary's order."""
        raise NotImplementedError

    # -- layers -----------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (or unfreeze) the model and every layer in it, as Keras's setter does
        (a frozen BatchNormalization then runs in inference mode inside ``fit``)."""
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = self._trainable

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the input (as Keras's ``model.layers``)."""
        return list(self._layers)

    # -- weights ----------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        """The weights training updates, layer by layer: none of a frozen layer (or a frozen
        model), no BatchNormalization moving statistics (as Keras)."""
        if not self.trainable:
            return []
        return [w for layer in self._layers for w in layer.trainable_weights]

    def _build_optimizer(self) -> None:
        """Build the optimizer on the trainable weights, named by their paths (Keras's
        ``optimizer.build(model.trainable_variables)``); nothing when it is built already.
        ``fit`` calls it before the first update, and loading a file with optimizer state
        before restoring it."""
        weights = self.trainable_weights
        self.optimizer.build([w.value for w in weights],
                             names=[f"{self.name}/{w.path}" for w in weights])

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def _layer_grads(self, layer: Layer, grads: list) -> list:
        """A layer's share of the model's gradient: its ``backward`` grads plus its weight
        penalties' gradients, kept only for the weights training updates."""
        if not (self.trainable and layer.trainable):
            return []
        if all(reg is None for reg in layer.weight_regularizers()):
            return grads  # no penalty on any weight: backward's own list (never mutated)
        reg = layer.regularization_grads()
        return [g if r is None else g + r for g, r in zip(grads, reg, strict=True)]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight array, in Keras's order (layer by layer)."""
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight from a list in :meth:`get_weights` order, e.g.
        ``model.set_weights(keras_model.get_weights())``.

        All or nothing: the count, and every array's kind (numbers: float, integer or bool;
        complex, text, objects refused; NaN accepted, as Keras) and shape, layer by layer,
        are checked before any weight is assigned, so a refusal (of the last layer's bias,
        say) leaves every weight bit for bit as it was. Keras's ``Layer.set_weights``
        (``keras/src/layers/layer.py``, 3.15.1) assigns as it checks.
        """
        weights = [inputs.as_numeric_array(w, self._label(), f"numeric weights (array {i})")
                   for i, w in enumerate(weights)]
        if not self.built:
            self._build_from_weights(weights)
        own = self.weights
        if len(weights) != len(own):
            raise self._error(
                f"set_weights expected {len(own)} arrays "
                f"({[w.path for w in own]}), received {len(weights)}"
            )
        parts, start = [], 0
        for layer in self._layers:  # check every layer's share first ...
            n = len(layer.weights)
            parts.append(inputs.check_weight_arrays(layer.weights, weights[start:start + n],
                                                    layer._label()))
            start += n
        for layer, arrays in zip(self._layers, parts, strict=True):  # ... then assign
            if arrays:
                layer.set_weights(arrays)

    def count_params(self) -> int:
        if not self.built:
            raise self._not_built_error("count_params()")
        return int(sum(layer.count_params() for layer in self._layers))

    def _regularization(self) -> float:
        return float(sum(layer.regularization_loss() for layer in self._layers))

    # -- summary ----------------------------------------------------------------------------
    def summary(self, line_length: int | None = None, positions=None, print_fn=None,
                expand_nested: bool = False, show_trainable: bool = False, layer_range=None,
                show_param_formulas: bool = False) -> None:
        """Print a table like Keras 3's ``model.summary()`` (its arguments).

        Parameters
        ----------
        line_length : table width (default: Keras's, capped at the terminal's)
        positions : relative or absolute column ends, as Keras
        print_fn : called once with the whole text instead of printing to the terminal
        expand_nested : show the layers of nested models
        show_trainable : add a column saying whether each layer is trainable
        layer_range : ``[first_name, last_name]``: only these layers
        show_param_formulas : add a column with each layer's count written out,
            ``4 × 20 × (1 + 20 + 1) = 1,760``
        """
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range, show_param_formulas=show_param_formulas)

    # -- data -------------------------------------------------------------------------------
    def _dtype(self) -> np.dtype:
        return self._layers[0].dtype if self._layers else np.dtype("float32")

    def _input_dtype(self) -> np.dtype:
        """The dtype input data is converted to (the model's float dtype; an integer dtype
        for integer ids: see :meth:`_as_array`)."""
        return self._dtype()

    def _as_array(self, data, what: str, dtype=None) -> np.ndarray:
        """Lists, float64 and int arrays become arrays of the model's float dtype (Keras
        converts numeric inputs to floatx the same way), or of ``dtype``: for an integer
        dtype (an input of integer ids), integers within its range, and floats only when
        they are whole numbers (Keras casts them; a fraction would be truncated and a
        too-large id wrapped, silently). The boundary of every fit / evaluate / predict /
        ``*_on_batch`` / ``__call__`` array (x, y, sample_weight): complex numbers, text,
        objects, dates and records are refused (:mod:`npylstm.layers.inputs`; Keras's
        ``predict`` drops a complex input's imaginary part with a warning)."""
        dtype = self._dtype() if dtype is None else np.dtype(dtype)
        if data is None:
            raise self._error(f"expected {what} data, received None")
        if (type(data) is np.ndarray and data.dtype == dtype and data.ndim > 0
                and data.flags.c_contiguous):
            return data  # already what the layers take (the fast path for small batches)
        array = inputs.as_numeric_array(  # "numeric x data", "numeric input 'ids'"
            data, self._label(), f"numeric {what}" + ("" if " " in what else " data"))
        if array.ndim == 0:
            raise self._error(f"expected {what} with a batch axis, received a scalar")
        if np.issubdtype(dtype, np.integer) and not np.issubdtype(array.dtype, np.integer):
            whole = np.isfinite(array) & (array == np.round(array)) if array.size else array
            if array.dtype != bool and not np.all(whole):
                bad = array[~whole].flat[0]
                raise self._error(
                    f"{what} holds integer ids (dtype {dtype}), received non-integer values "
                    f"such as {bad!r}"
                )
        if np.issubdtype(dtype, np.integer) and array.size and array.dtype != bool:
            info, low, high = np.iinfo(dtype), array.min(), array.max()
            if low < info.min or high > info.max:
                bad = (low if low < info.min else high).item()
                raise self._error(f"{what} holds integer ids (dtype {dtype}), received {bad!r}, "
                                  f"outside its range [{info.min}, {info.max}]")
        return np.ascontiguousarray(array, dtype=dtype)

    def _prepare_x(self, x) -> np.ndarray:
        """``x`` as an array of the model's dtype and input shape; builds an unbuilt model
        for ``x``'s shape."""
        if not self._layers:
            raise self._error("the model has no layers: add layers before using it")
        x = self._as_array(x, "x", self._input_dtype())
        if not self.built:
            self.build((None, *x.shape[1:]))
        inputs.check_input_shape(x, self.input_shape, self._label(), "x")
        return x

    def _prepare_y(self, y, x: np.ndarray, loss=None) -> np.ndarray:
        """``y`` as an array matching the output shape (``x`` already prepared); ``loss``
        (default: the compiled one) tells whether class ids are expected."""
        return self._check_target(y, x, self.output_shape, "y", loss or self.loss)

    def _check_target(self, y, x: np.ndarray, out: tuple, what: str, loss=None) -> np.ndarray:
        """Targets ``y`` for one output of shape ``out`` as an array (``x``: an input).
        With a loss of class ids (``SPARSE_TARGETS``: sparse categorical crossentropy),
        ``y`` has the output's shape without its class axis (or with 1 there)."""
        y = self._as_array(y, what)
        if len(y) != len(x):
            raise self._error(
                f"x and {what} must have the same number of samples, received x with "
                f"{len(x)} and {what} with {len(y)}"
            )
        out_tail, tail = tuple(out[1:]), tuple(y.shape[1:])
        if getattr(loss, "SPARSE_TARGETS", False) and len(out_tail) >= 1:
            ids_tail = out_tail[:-1]  # integer class ids: the output's shape without classes
            for wanted in (ids_tail, (*ids_tail, 1)):
                if len(tail) == len(wanted) and all(
                    o is None or o == t for o, t in zip(wanted, tail, strict=True)
                ):
                    return y
        if len(tail) == len(out_tail) and all(
            o is None or o == t for o, t in zip(out_tail, tail, strict=True)
        ):
            return y
        if out_tail[-1:] == (1,) and tail == out_tail[:-1]:
            return y.reshape(*y.shape, 1)  # Keras also accepts (batch,) for an output (batch, 1)
        raise self._error(
            f"{what} has shape {y.shape} but the model's output has shape "
            f"{_format_shape(out)}: each sample must have shape {out_tail}"
        )

    # -- loss and gradients -----------------------------------------------------------------
    # -- stateful layers --------------------------------------------------------------------
    def reset_states(self) -> None:
        """Forget the carried states of every ``stateful`` layer (tf_keras's
        ``Model.reset_states``; in Keras 3, each layer's ``reset_states()``)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()

    def __call__(self, x, training: bool = False) -> np.ndarray:
        return self._infer(self._prepare_x(x), training)[0]

    @_limit_blas_threads
    def loss_and_gradients(self, x, y, loss=None, training: bool = False):
        """The loss on ``(x, y)`` and its gradient for every weight.

        Parameters
        ----------
        x : (batch, timesteps, features) array_like
        y : (batch, ...) targets matching the model's output
        loss : a loss name or object; default: the compiled loss
        training : run dropout (False: deterministic, as ``model(x)``)

        Returns
        -------
        loss : float, the loss plus every weight and activity regularization penalty
            (what Keras's ``train_step`` differentiates)
        grads : list of arrays in :attr:`trainable_weights` order (the :meth:`get_weights`
            order without frozen layers and moving statistics)
        """
        loss_fn = self._loss_fn(loss)
        x = self._prepare_x(x)
        y = self._prepare_y(y, x, loss_fn)
        value, grads, _, _ = self._loss_and_grads(x, y, loss_fn, training)
        return value, grads

    def _loss_fn(self, loss=None):
        if loss is not None:
            return losses.get(loss)
        if self.loss is None:
            raise self._error(
                "no loss: call compile(optimizer, loss=...) first or pass loss= here"
            )
        return self.loss

    def _loss_and_grads(self, x, y, loss_fn, training: bool, sample_weight=None):
        """``(loss, grads, y_pred, output_mask)``: the loss honours the output's mask and
        the sample weights (one array, or one per output)."""
        y_pred, caches, activity, activity_grads, mask = self._forward(x, training)
        # without weights, the call of a loss written before sample weights still works
        value, dy = (loss_fn(y, y_pred, mask=mask) if sample_weight is None
                     else loss_fn(y, y_pred, sample_weight, mask=mask))
        value = value + activity + self._regularization()
        grads = self._backward(dy, caches, activity_grads)
        return float(value), grads, y_pred, mask

    # -- files and Keras (thin wrappers over npylstm.keras_io, imported on first use) -------
    def save(self, filepath):
        """Write ``.keras`` (Keras 3) or, for a ``.h5`` name, a legacy HDF5 model file."""
        from .. import keras_io

        return keras_io.save_model(self, filepath)

    def save_weights(self, filepath):
        """Write ``.weights.h5`` (Keras 3) or, for another ``.h5`` name, legacy HDF5 weights."""
        from .. import keras_io

        return keras_io.save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        """Load weights from a ``.weights.h5``, ``.keras`` or legacy ``.h5`` file."""
        from .. import keras_io

        keras_io.load_weights(self, filepath)

    def to_keras(self):
        """This model as a Keras model (a ``keras.Sequential`` for a Sequential) with the same
        config and weights."""
        from .. import keras_io

        return keras_io.to_keras(self)

    def __repr__(self) -> str:
        return f"<{self._KIND} name={self.name}, layers={[layer.name for layer in self._layers]}>"
