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
from rich.table import Table
from rich.text import Text

from ..compare import RunSeries, compare_runs
from ..units import duration, human_count
from .common import workspace


def register(sub: Any) -> None:
    p = sub.add_parser("compare", help="runs side by side: a table and their validation curves",
                       description="Compare runs: preset, parameters, tokens seen, best validation bits per "
                                   "byte, time, and a chart of their validation curves.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="runs to compare (names under the models folder)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON instead")
    p.add_argument("--no-chart", action="store_true", help="the table only")
    p.set_defaults(func=cmd_compare)


def comparison_table(series: list[RunSeries]) -> Table:
    table = Table(title="runs compared", title_justify="left")
    for name, justify in (("run", "left"), ("preset", "left"), ("params", "right"), ("tokens seen", "right"),
                          ("best val bits/byte", "right"), ("time", "right"), ("evaluations", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    best = min((s.best_val_bpb for s in series if s.best_val_bpb is not None), default=None)
    for s in series:
        bpb = Text("-") if s.best_val_bpb is None else Text(
            f"{s.best_val_bpb:.4f}", style="bold green" if s.best_val_bpb == best and len(series) > 1 else "")
        table.add_row(Text(s.name), Text(s.preset), human_count(s.params) if s.params else "-",
                      human_count(s.tokens) if s.tokens else "-", bpb,
                      duration(s.elapsed_s) if s.elapsed_s else "-", str(len(s.val)))
    return table


def validation_chart(series: list[RunSeries], width: int, height: int = 16) -> str:
    """The runs' validation bits per byte against the tokens seen, as terminal text."""
    import plotext as plt

    plt.clear_figure()
    plt.plot_size(width, height)
    plt.theme("clear")  # no background colours: the chart is read in any terminal, and piped
    plt.title("validation bits per byte")
    plt.xlabel("tokens seen")
    for s in series:
        if s.val:
            plt.plot([t for _, t, _ in s.val], [b for _, _, b in s.val], label=s.name, marker="braille")
    return plt.build()


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
