"""``main``: parse, run the command's handler under the BLAS thread limit, and turn every
error into one line on stderr with exit status 2 (``--debug`` shows the traceback)."""

from __future__ import annotations

import contextlib
import os
import sys

from ._common import EXIT_ERROR, CLIError, blas_threads, one_line
from .parser import build_parser, split_bench

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``npylstm`` command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, bench_args = split_bench(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    if args.command == "bench":
        args.rest = bench_args
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        with blas_threads(args.threads):
            return int(args.handler(args))
    except BrokenPipeError:  # `npylstm ... | head`: the reader left, nothing more to say
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1  # as rich's Console does when it meets a closed pipe
    except KeyboardInterrupt:
        print("npylstm: interrupted", file=sys.stderr)
        return 130
    except (CLIError, OSError, ValueError, TypeError, ImportError, KeyError) as exc:
        if args.debug:
            raise
        print(f"npylstm {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, with the way to the traceback
        if args.debug:
            raise
        print(f"npylstm {args.command}: unexpected {type(exc).__name__}: {one_line(exc)} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
