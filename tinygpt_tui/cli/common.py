"""What every ``tinygpt`` subcommand shares: argument types, the error printer, the workbench."""

from __future__ import annotations

import argparse
import sys

from ..config import TinyGPTError, parse_size
from ..workbench import Workbench
from ..workspace import Workspace


def size_arg(text: str) -> int | None:
    """An argparse ``type`` for byte counts (``5MB``): a bad value becomes a usage error, not a traceback."""
    try:
        return parse_size(text)
    except TinyGPTError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def read_text_arg(args: argparse.Namespace, missing: TinyGPTError, empty_is_missing: bool = False) -> str:
    """The text a command reads: ``--file``'s contents (UTF-8), standard input for ``-``, else the
    text given; ``missing`` is raised when there is none (an empty text too, with ``empty_is_missing``)."""
    if args.file is not None:
        try:
            return args.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TinyGPTError(f"There is no file {args.file}.", "check the path.") from None
        except (OSError, UnicodeDecodeError) as e:
            raise TinyGPTError(f"Cannot read {args.file} as UTF-8 text ({type(e).__name__}).") from None
    if args.text == "-":
        return sys.stdin.read()
    if args.text is None or (empty_is_missing and not args.text):
        raise missing
    return args.text


def print_error(err: TinyGPTError) -> None:
    """The CLI's error, on stderr (see :func:`tinygpt_tui.render.print_error`)."""
    from rich.console import Console

    from ..render import print_error as render_error

    render_error(Console(stderr=True, highlight=False), err)


def workspace(args: argparse.Namespace) -> Workspace:
    """The workspace ``cli.main`` read from the flags and the environment (the entry point's)."""
    ws = getattr(args, "workspace", None)
    if ws is None:  # a subcommand's parser used on its own: the same reading as cli.main's
        ws = Workspace.from_env(getattr(args, "models_dir", None), getattr(args, "data_dir", None))
        args.workspace = ws
    return ws


def workbench(args: argparse.Namespace) -> Workbench:
    """The facade over this command's workspace."""
    return Workbench(workspace(args))
