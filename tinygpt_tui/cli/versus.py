"""``tinygpt versus``: one text under two runs side by side, and where they disagree most."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config import TinyGPTError
from .common import read_text_arg, workbench

VERSUS_EPILOG = """\
how to read it: each run reads the text as tinygpt score does (teacher forcing, the text as a fresh
document). With one tokenizer the rows are tokens: bits of surprisal under A and under B, and B - A
(positive: B was more surprised). With different tokenizers tokens do not line up, so each token's
bits are spread over the bytes it covers and the rows are words (a word with the space before it):
bits under each run, B - A, and each word's bits per byte. Colours are the surprisal scale of
tinygpt score (green <1 bit ... red >=6 bits); B - A is coloured by the size of the disagreement.

--json prints {run_a, run_b, unit, bytes, tokens_a, tokens_b, bits_per_byte_a, bits_per_byte_b,
notes, rows: [{index, text, start, bytes, bits_a, bits_b, diff}]} with rows in text order.

examples:
  tinygpt versus quick other --text "Once upon a time there was a fox."
  tinygpt versus quick other --file story.txt --top 30 --json
"""


def register(sub: Any) -> None:
    """Add ``versus`` to the ``tinygpt`` subcommands."""
    v = sub.add_parser(
        "versus", help="score one text under two runs side by side: where do they disagree?",
        description="Read one text under two trained runs and show each token's (or, when their "
        "tokenizers differ, each word's) surprisal under both, the difference, and the places they "
        "disagree most.", epilog=VERSUS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("run_a", metavar="RUN_A", help="the first run")
    v.add_argument("run_b", metavar="RUN_B", help="the second run")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--text", help="the text to read ('-' reads standard input)")
    src.add_argument("--file", type=Path, help="read the text from this file")
    v.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                   help="best-by-validation weights (default) or the latest ones, for both runs")
    v.add_argument("--top", type=int, default=20, help="rows in the disagreement table (default 20)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(func=cmd_versus)


def cmd_versus(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise TinyGPTError(f"--top {args.top} must be 0 or more.", "e.g. --top 20.")
    text = read_text_arg(args, TinyGPTError("There is no text to compare the runs on.",
                                             "pass --text \"...\" or --file PATH."), empty_is_missing=True)
    result = workbench(args).versus(args.run_b, text, run_a=args.run_a, which=args.checkpoint)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return 0
    from rich.console import Console
    from rich.text import Text

    from ..render import legend
    from ..render_study import versus_summary, versus_table, versus_text

    console = Console(highlight=False)
    for side, name in (("a", result.run_a), ("b", result.run_b)):
        console.print(Text(f"{side.upper()} {name}", style="bold"))
        console.print(versus_text(result, side))
    console.print(legend("surprisal"))
    if args.top:
        console.print(versus_table(result, args.top))
    console.print(versus_summary(result))
    return 0
