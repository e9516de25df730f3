"""The ``tinygpt`` command line: one subcommand per step, thin over the core modules."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..config import TinyGPTError
from ..present import os_error
from ..workspace import Workspace
from .common import print_error, size_arg

__all__ = ["build_parser", "main", "print_error", "size_arg"]


def build_parser() -> argparse.ArgumentParser:
    from . import compare, data, export, runs, sampling, timelapse, tokens, training, versus

    parser = argparse.ArgumentParser(
        prog="tinygpt",
        description="Train and inspect tiny GPT language models: data, tokenizer, train, eval, generate, demo.",
    )
    parser.add_argument("--version", action="version", version=f"tinygpt {__version__}")
    parser.add_argument("--models-dir", help="where runs live (default: ./models or $TINYGPT_MODELS)")
    parser.add_argument("--data-dir", help="where prepared datasets live (default: ./data or $TINYGPT_DATA)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in (data, tokens, training, compare, timelapse, sampling, export, versus, runs):
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the entry point: flags, else $TINYGPT_MODELS/$TINYGPT_DATA, else ./models and ./data
    args.workspace = Workspace.from_env(args.models_dir, args.data_dir)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TinyGPTError as err:
        print_error(err)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:  # disk full, read-only folder, permission denied: one sentence naming the path
        print_error(TinyGPTError(*os_error(err)))
        return 2
    except UnicodeDecodeError as err:  # text on stdin or in a file that is not UTF-8
        print_error(TinyGPTError(f"The input is not valid UTF-8 (byte {err.start}).",
                                 "give UTF-8 text, or convert it first (iconv -t UTF-8)."))
        return 2


if __name__ == "__main__":
    sys.exit(main())
