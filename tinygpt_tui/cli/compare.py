"""``tinygpt compare RUN RUN...``: runs side by side, a table and their validation curves.

The table holds each run's preset, parameters, tokens seen, best validation bits per byte and training
time; the chart (plotext) their validation bits per byte against the tokens seen. ``--json`` prints
the same facts (compare.py's :class:`RunSeries`) as one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
from typing import Any

from rich.console import Console
from rich.text import Text

from ..compare import compare_runs
from ..render_tables import comparison_table, validation_chart
from .common import workspace


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help="runs side by side: a table and their validation curves",
                       description="Compare runs: preset, parameters, tokens seen, best validation bits per "
                                   "byte, time, and a chart of their validation curves.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="runs to compare (names under the models folder)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON instead")
    p.add_argument("--no-chart", action="store_true", help="the table only")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    series = compare_runs(workspace(args).models, list(args.runs))
    if args.json:
        print(json.dumps({"runs": [s.to_dict() for s in series]}))
        return 0
    console = Console(highlight=False)
    console.print(comparison_table(series))
    for s in series:
        if s.unreadable:
            console.print(Text(f"{s.name}: {s.unreadable} lines of its metrics could not be read and were skipped.",
                               style="yellow"))
    if not args.no_chart:
        if any(s.val for s in series):
            width = min(120, max(40, shutil.get_terminal_size((100, 24)).columns))
            print(validation_chart(series, width))
        else:
            console.print("No run has been evaluated yet: there is no validation curve to draw.")
    return 0
