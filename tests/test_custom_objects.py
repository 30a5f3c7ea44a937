"""Custom objects, safely: a user's npylstm layer class for a custom Keras class in a file
(``load_model(path, custom_objects=...)``, Keras's argument), and ``Lambda`` layers refused
without running their code.

The Keras side registers its own ``Scale`` layer (``register_keras_serializable``) and
writes the file; npylstm loads it with an equivalent NumPy layer and must give Keras's
predictions and train.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import npylstm
from npylstm import io, registry
from npylstm.layers import Layer

pytestmark = pytest.mark.keras


class NumpyScale(Layer):
    """``y = x * scale`` per feature: the npylstm twin of the test's Keras ``Scale``."""

    WEIGHT_NAMES = ("scale",)

    def build(self, input_shape):
        self.scale = self.add_weight("scale", np.ones(input_shape[-1]))
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x, training=False, rng=None):
        x = self._as_float_array(x)
        return x * self.scale.value, x

    def backward(self, dy, x):
        return dy * self.scale.value, [np.sum(dy * x, axis=tuple(range(dy.ndim - 1)))]

    def get_config(self):
        return super().get_config()


@pytest.fixture(scope="module")
def keras_scale_file(keras, tmp_path_factory):
    @keras.saving.register_keras_serializable(package="demo")
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                         name="scale")

        def call(self, x):
            return x * self.scale

    model = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(5, return_sequences=True),
                              Scale(name="scale"), keras.layers.LSTM(2)])
    rng = np.random.default_rng(0)
    model.layers[1].scale.assign(rng.normal(size=5).astype("float32"))
    x = rng.normal(size=(6, 4, 3)).astype("float32")
    path = tmp_path_factory.mktemp("custom") / "custom.keras"
    with warnings.catch_warnings():  # Keras 3.15's saver warns under NumPy 2 (its Variable)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        model.save(path)
        expected = np.asarray(model.predict(x, verbose=0))
    return path, x, expected


def test_a_custom_class_loads_with_custom_objects_and_trains(keras_scale_file, tmp_path):
    path, x, expected = keras_scale_file
    for key in ("Scale", "demo>Scale"):  # by class name or by Keras's registered name
        model = npylstm.load_model(path, custom_objects={key: NumpyScale})
        assert isinstance(model.layers[1], NumpyScale)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    y = np.zeros((len(x), 2), dtype="float32")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=15, batch_size=6, verbose=0).history["loss"]
    assert history[-1] < 0.9 * history[0]
    with registry.custom_object_scope({"Scale": NumpyScale}):  # saving needs the class too
        model.save(tmp_path / "again.keras")
        again = npylstm.load_model(tmp_path / "again.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_class_neither_registered_nor_supplied_names_the_class_the_layer_and_the_fix(
        keras_scale_file):
    path, _, _ = keras_scale_file
    with pytest.raises(io.KerasFileError, match=r"unsupported layer classes \['Scale'\] "
                                                r"\(layers 'scale' \(Scale\)\).*custom_objects="
                                                r"\{'Scale': YourLayer\}"):
        npylstm.load_model(path)


def test_custom_objects_must_be_npylstm_layer_classes(keras_scale_file):
    path, _, _ = keras_scale_file
    with pytest.raises(TypeError, match=r"custom_objects\['Scale'\]: expected an npylstm "
                                        r"layer class .*received <built-in function print>"):
        npylstm.load_model(path, custom_objects={"Scale": print})
    with pytest.raises(ValueError, match=r"safe_mode=False: npylstm never runs code"):
        npylstm.load_model(path, safe_mode=False)


def test_a_lambda_layer_is_refused_without_running_its_code(keras, tmp_path):
    sentinel = tmp_path / "ran.txt"

    # a lambda (Keras stores its bytecode) that leaves a file behind when it runs
    side_effect = eval(  # noqa: S307 - the test's own code, the kind a file must not run
        "lambda x: (__import__('pathlib').Path(" + repr(str(sentinel)) + ").write_text('ran'),"
        " x)[1]")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(side_effect),
                              keras.layers.Dense(1)])
    sentinel.unlink()  # Keras ran it once while building
    path = tmp_path / "lambda.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    with pytest.raises(io.KerasFileError, match=r"'lambda' \(Lambda\).*a Lambda layer holds "
                                                r"Python code, which npylstm never runs"):
        npylstm.load_model(path)
    assert not sentinel.exists()
    # the check can fail: Keras itself, told to run the file's code, writes the sentinel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.saving.load_model(path, safe_mode=False).predict(np.ones((1, 3)), verbose=0)
    assert sentinel.read_text() == "ran"
