"""Hostile JSON model configs given as a config file (``npylstm.io.model_from_config``, the
CLI's ``--config``): deep nesting, wrong-typed values and pipes are the config file's error,
naming the path — never a raw RecursionError, AttributeError or a blocked read."""

from __future__ import annotations

import json
import os

import pytest

import npylstm
from npylstm.io import ConfigFileError, KerasFileError


def _dense_config() -> dict:
    model = npylstm.Sequential([npylstm.Input((3,)), npylstm.layers.Dense(2)])
    return {"class_name": "Sequential", "config": model.get_config()}


def test_deeply_nested_json_is_refused_by_the_depth_limit(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 5000 + "]" * 5000)  # json.loads raises RecursionError here
    with pytest.raises(ConfigFileError, match=r"deep\.json.*deeper than Python's recursion "
                                              r"limit, more than the limit MAX_JSON_DEPTH"):
        npylstm.io.model_from_config(path)


def test_nesting_past_the_depth_limit_is_a_limit_error(tmp_path):
    path = tmp_path / "nested.json"
    path.write_text("[" * 300 + "]" * 300)  # parseable, but 300 levels > MAX_JSON_DEPTH
    with pytest.raises(KerasFileError, match=r"declares 300 levels of nesting, more than the "
                                             r"limit MAX_JSON_DEPTH = 200"):
        npylstm.io.model_from_config(path)


@pytest.mark.parametrize("dtype", [{"class_name": "DTypePolicy", "config": [1]},
                                   {"class_name": "DTypePolicy", "config": "float32"}])
def test_a_wrong_typed_dtype_policy_is_the_config_files_error(tmp_path, dtype):
    config = _dense_config()
    config["config"]["layers"][1]["config"]["dtype"] = dtype
    path = tmp_path / "bad_dtype.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigFileError, match=r"bad_dtype\.json': cannot build the model: "
                                              r"expected a dtype name or a DTypePolicy config"):
        npylstm.io.model_from_config(path)


def test_a_wrong_typed_layer_value_is_the_config_files_error(tmp_path):
    config = _dense_config()
    config["config"]["layers"][1]["config"]["kernel_initializer"] = ["glorot_uniform"]
    path = tmp_path / "bad_init.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigFileError, match=r"bad_init\.json': cannot build the model"):
        npylstm.io.model_from_config(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs only")
def test_a_fifo_config_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)  # reading it would block until a writer appears
    with pytest.raises(ConfigFileError, match=r"config\.json"):
        npylstm.io.model_from_config(fifo)
