"""``tinygpt runs``: list, rename and delete runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import TinyGPTError
from .common import workbench

EPILOG = """examples:
  tinygpt runs list
  tinygpt runs rename quick stories-1
  tinygpt runs delete stories-1 --yes     # no question asked (for scripts)
"""


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list, rename or delete runs",
                       description="List the runs of the models folder, rename one, or delete one with its "
                       "files. A run being trained is never renamed or deleted.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION")
    ls = rsub.add_parser("list", help="every run, newest first")
    ls.add_argument("--json", action="store_true", help="one JSON object per run")
    ls.set_defaults(func=cmd_list)
    ren = rsub.add_parser("rename", help="rename a run (not while it trains)")
    ren.add_argument("old", metavar="RUN")
    ren.add_argument("new", metavar="NEW_NAME")
    ren.set_defaults(func=cmd_rename)
    rm = rsub.add_parser("delete", help="delete a run and all its files (asks first, unless --yes)")
    rm.add_argument("run", metavar="RUN")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask (for scripts)")
    rm.set_defaults(func=cmd_delete)
    p.set_defaults(func=cmd_list, json=False)


def cmd_list(args: argparse.Namespace) -> int:
    infos = workbench(args).list_runs()
    if args.json:
        for r in infos:
            sys.stdout.write(json.dumps({"name": r.name, "preset": r.preset, "tokenizer": r.tokenizer,
                                         "params": r.params, "step": r.step, "best_val_bpb": r.best_val_bpb,
                                         "training": r.training, "history": r.history,
                                         "history_bytes": r.history_bytes, "problem": r.problem}) + "\n")
        return 0
    from rich.console import Console

    from ..render_tables import runs_table

    Console(highlight=False).print(runs_table(infos))
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    workbench(args).rename_run(args.old, args.new)
    sys.stdout.write(f"Renamed run '{args.old}' to '{args.new}'.\n")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ..units import human_bytes

    bench = workbench(args)
    size = bench.run_footprint(args.run)
    what = f"run '{args.run}' ({size.files} files, {human_bytes(size.bytes)})"
    if not args.yes:
        if not sys.stdin.isatty():
            raise TinyGPTError(f"Deleting {what} needs a yes, and there is no terminal to ask.",
                               f"add --yes: tinygpt runs delete {args.run} --yes")
        answer = input(f"Delete {what}? This cannot be undone. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            sys.stdout.write(f"Kept run '{args.run}'.\n")
            return 1
    bench.delete_run(args.run)
    sys.stdout.write(f"Deleted {what}.\n")
    return 0
