"""The ``tinygpt`` command line: one subcommand per step, thin over the core modules."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..config import TinyGPTError, parse_size


def build_parser() -> argparse.ArgumentParser:
    from . import data, sampling, tokens, training

    parser = argparse.ArgumentParser(
        prog="tinygpt",
        description="Train and inspect tiny GPT language models: data, tokenizer, train, eval, generate, demo.",
    )
    parser.add_argument("--version", action="version", version=f"tinygpt {__version__}")
    parser.add_argument("--models-dir", help="where runs live (default: ./models or $TINYGPT_MODELS)")
    parser.add_argument("--data-dir", help="where prepared datasets live (default: ./data or $TINYGPT_DATA)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in (data, tokens, training, sampling):
        area.register(sub)
    return parser


def size_arg(text: str) -> int | None:
    """An argparse ``type`` for byte counts (``5MB``): a bad value becomes a usage error, not a traceback."""
    try:
        return parse_size(text)
    except TinyGPTError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def print_error(err: TinyGPTError) -> None:
    """The CLI's error, on stderr (see :func:`tinygpt_tui.cli.render.print_error`)."""
    from rich.console import Console

    from .render import print_error as render_error

    render_error(Console(stderr=True, highlight=False), err)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.models_dir:
        os.environ["TINYGPT_MODELS"] = args.models_dir
    if args.data_dir:
        os.environ["TINYGPT_DATA"] = args.data_dir
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


if __name__ == "__main__":
    sys.exit(main())
