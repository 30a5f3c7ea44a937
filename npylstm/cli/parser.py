"""The ``npylstm`` argument parser: one sub-command per job, each handled by its module."""

from __future__ import annotations

import argparse

from .bench import cmd_bench
from .convert import cmd_convert
from .crosscheck import cmd_crosscheck
from .demo import cmd_demo
from .gates import cmd_gates
from .info import cmd_info
from .predict import cmd_predict
from .summary import cmd_summary

__all__ = ["build_parser", "split_bench"]


def _whole_number(text: str, minimum: int, expected: str) -> int:
    """``text`` as an int >= ``minimum``, else argparse's error saying ``expected``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, received {text!r}")
    return value


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _whole_number(text, 1, "a positive whole number")


def _threads(text: str) -> int:
    """argparse type of --threads: 0 (leave BLAS alone) or a positive whole number."""
    return _whole_number(text, 0, "0 (leave BLAS alone) or a positive number of threads")


def _count(text: str) -> int:
    """argparse type: a whole number >= 0 (an index)."""
    return _whole_number(text, 0, "a whole number >= 0")


def _tolerance(text: str) -> float:
    """argparse type of --atol: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, received {text!r}")
    return value


def _common(sub: bool) -> argparse.ArgumentParser:
    """--debug and --threads, accepted before or after the command."""
    parser = argparse.ArgumentParser(add_help=False)
    suppress = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error", **suppress)
    parser.add_argument("--threads", type=_threads, metavar="N",
                        help="BLAS threads (default 1: fastest for LSTM-sized matrices; "
                        "0 leaves BLAS alone)", **({} if sub else {"default": 1}) | suppress)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``npylstm`` argument parser (one sub-command per job)."""
    parser = argparse.ArgumentParser(
        prog="npylstm",
        description="A from-scratch LSTM engine with Keras's weight layout: train the demo, "
        "read, run, convert and cross-check Keras LSTM models without Keras.",
        parents=[_common(sub=False)],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_common(sub=True)]

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=common)
        sub.set_defaults(handler=handler)
        return sub

    def add_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", metavar="CONFIG",
                         help="model config for a weights-only FILE: a .keras/.h5 model file "
                         "or a JSON config (keras_model.to_json())")

    demo = add("demo", cmd_demo, "train the seeds' damped-sine stacked LSTM, save and check it")
    demo.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the weights and shuffling")
    demo.add_argument("--out", default="npylstm_demo",
                      help="folder for damped_sine.keras and the plots (default ./npylstm_demo)")
    demo.add_argument("--samples", type=int, default=1000,
                      help="rows of data, a multiple of 5 (default 1000; fewer train faster)")
    demo.add_argument("--batch-size", type=_positive_int, default=32, help="default 32")
    demo.add_argument("--no-keras", action="store_true",
                      help="skip loading the saved file in real Keras")

    summary = add("summary", cmd_summary, "Keras-style summary with each layer's param formula")
    summary.add_argument("file", metavar="FILE", help=".keras, .h5 or (with --config) .weights.h5")
    add_config(summary)

    predict = add("predict", cmd_predict, "run a model file on inputs from .npy or .csv")
    predict.add_argument("file", metavar="FILE")
    predict.add_argument("--input", required=True, metavar="X", action="append",
                         help=".npy (samples, timesteps, features) or .csv (one sample a row); "
                         "one per model input, in order or as NAME=X")
    predict.add_argument("--output", required=True, metavar="Y", action="append",
                         help=".npy or .csv; one per model output, in order or as NAME=Y")
    predict.add_argument("--batch-size", type=_positive_int, default=32)
    add_config(predict)

    cross = add("crosscheck", cmd_crosscheck,
                "run a file in real Keras and in npylstm, compare every layer; exit 1 over --atol")
    cross.add_argument("file", metavar="FILE")
    cross.add_argument("--samples", type=int, default=8, help="random input samples (default 8)")
    cross.add_argument("--timesteps", type=_positive_int, default=10,
                       help="timesteps of random input when the model accepts any (default 10)")
    cross.add_argument("--input", metavar="X", action="append",
                       help="use these inputs (.npy/.csv) instead; one per model input, in "
                       "order or as NAME=X")
    cross.add_argument("--grad", action="store_true",
                       help="compare gradients too (weights and input; JAX backend)")
    cross.add_argument("--atol", type=_tolerance, default=1e-5, help="tolerance (default 1e-5)")
    cross.add_argument("--seed", type=int, default=0)
    add_config(cross)

    convert = add("convert", cmd_convert,
                  "convert between .keras, .weights.h5, legacy .h5, .npz and .pt state dicts")
    convert.add_argument("src", metavar="SRC")
    convert.add_argument("dst", metavar="DST")
    convert.add_argument("--weights-only", action="store_true",
                         help="write a legacy weights-only file for a DST ending in .h5")
    add_config(convert)

    gates = add("gates", cmd_gates, "trace the gates over time (and plot them)")
    gates.add_argument("file", metavar="FILE")
    gates.add_argument("--input", required=True, metavar="X", action="append",
                       help=".npy or .csv inputs; one per model input, in order or as NAME=X")
    gates.add_argument("--plot", metavar="PNG", help="save heatmaps of the gates (per direction)")
    gates.add_argument("--layer", help="recurrent layer name (default: the first)")
    gates.add_argument("--sample", type=_count, default=0, help="which input sample (default 0)")
    add_config(gates)

    info = add("info", cmd_info, "versions, backend, threads, BLAS, and where the Numba "
               "kernels' cache is")
    info.add_argument("--json", action="store_true", help="print it as one JSON object")

    bench = commands.add_parser(
        "bench", help="run the benchmark harness benchmarks/run.py (options pass through: "
        "--quick, --threads, --configs ...; npylstm bench --help lists them)",
        add_help=False,
    )
    bench.set_defaults(handler=cmd_bench, rest=[])
    return parser


def split_bench(argv: list[str]) -> tuple[list[str], list[str]]:
    """``[..., "bench", *rest]`` -> (``[..., "bench"]``, rest): everything after ``bench``
    belongs to benchmarks/run.py (which has its own ``--threads`` and ``--help``)."""
    for index, token in enumerate(argv):
        if token == "bench":
            return argv[: index + 1], argv[index + 1:]
        if not token.startswith("-") and argv[index - 1: index] != ["--threads"]:
            break  # another command (or a value): nothing to split
    return argv, []
