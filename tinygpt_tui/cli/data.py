"""Data commands: ``data prepare``, ``data info`` and ``data sample``.

``prepare`` turns a source spec (see :mod:`tinygpt_tui.sources`) into ``data/<dataset>/corpus.txt``
with a progress bar on stderr (an interrupted preparation, Ctrl-C or SIGTERM or a kill, is resumed by
running the same command again); ``info`` lists prepared datasets or describes one; ``sample`` prints a
few documents of a source so you can see what a model would learn from. ``--json`` prints
machine-readable JSON on stdout only. This module never imports torch.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.text import Text

from ..config import DataConfig, TinyGPTError, parse_size
from .common import workspace


def register(sub: Any) -> None:
    """Add ``data prepare|info|sample`` to the ``tinygpt`` subcommands."""
    p = sub.add_parser("data", help="prepare, list and preview training text",
                       description="Prepare a corpus from a source, list prepared datasets, or preview a source.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])

    prep = dsub.add_parser(
        "prepare", help="write data/<name>/corpus.txt from a source",
        description="Read documents from a source and write them to data/<name>/corpus.txt, each followed by "
                    "a line <|endoftext|>. Sources: storybook (built in, offline), tinystories, hf:DATASET_ID"
                    "[?split=..&column=..&config=..&streaming=1], a .txt/.jsonl/.parquet file or folder, or a "
                    "mixture like '0.7*storybook + 0.3*data/wiki.jsonl'. Options for any source: sample=0.1, "
                    "max_stories=N, seed=N.")
    prep.add_argument("--source", default="storybook", metavar="SPEC", help="where the text comes from (default: storybook)")
    prep.add_argument("--name", default="", help="dataset folder name (default: derived from the source)")
    prep.add_argument("--max-bytes", default=None, metavar="SIZE",
                      help="cap the corpus, e.g. 5MB or 200k (default: everything; 5MB for storybook)")
    prep.add_argument("--seed", type=int, default=1337, help="seed for the storybook and for sample= (default 1337)")
    prep.add_argument("--val-fraction", type=float, default=0.01,
                      help="share of documents a run holds out for validation; checked here, applied when the "
                           "corpus is tokenized (default 0.01)")
    prep.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    prep.set_defaults(func=cmd_prepare)

    info = dsub.add_parser("info", help="list prepared datasets, or describe one",
                           description="Without NAME: a table of prepared datasets. With NAME: its details.")
    info.add_argument("name", nargs="?", help="a prepared dataset")
    info.add_argument("--json", action="store_true", help="print JSON on stdout")
    info.set_defaults(func=cmd_info)

    sample = dsub.add_parser("sample", help="print a few documents from a source",
                             description="Print the first documents a source gives (nothing is written).")
    sample.add_argument("--source", default="storybook", metavar="SPEC", help="source spec (default: storybook)")
    sample.add_argument("-n", "--count", type=int, default=3, help="how many documents (default 3)")
    sample.add_argument("--seed", type=int, default=1337, help="seed for the storybook and for sample=")
    sample.add_argument("--json", action="store_true", help="print a JSON list of strings on stdout")
    sample.set_defaults(func=cmd_sample)


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:,.2f} MB"


def cmd_prepare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    from .. import corpora

    cfg = DataConfig(source=args.source, dataset=args.name, max_bytes=parse_size(args.max_bytes),
                     val_fraction=args.val_fraction, seed=args.seed)
    name = corpora.dataset_name(cfg)
    err = Console(stderr=True, highlight=False)
    with Progress(TextColumn("{task.description}", style="bold", markup=False), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=args.json) as bar:
        task = bar.add_task(f"corpus {name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        def notice(text: str) -> None:  # "resuming the corpus at ...": the user's spec inside, so as text
            if not args.json:
                bar.console.print(text, markup=False, style="yellow")

        # naming the dataset is asking for it: --name replaces a dataset made from another source
        before = corpora.dataset_source(workspace(args).data, name) if args.name else None
        with _sigterm_as_interrupt():
            try:
                result = corpora.prepare(workspace(args).data, cfg, progress, replace=bool(args.name), notice=notice)
            except KeyboardInterrupt:
                if not args.json:
                    bar.stop()
                    err.print("stopped: the corpus written so far is kept; the same command resumes it",
                              markup=False)
                raise
    info = result.info
    if args.json:
        print(json.dumps({"path": str(result.path), "corpus": str(result.path / "corpus.txt"),
                          "reused": result.reused, "seconds": round(result.seconds, 3), **info}))
        return 0
    out = Console(highlight=False)
    verb = "Already prepared" if result.reused else "Prepared"
    if before is not None and before != args.source and not result.reused:
        verb = f"Replaced (it was made from {before})"  # asked for by name, and said
    # names, sources and paths are the user's text: printed as text, never as markup
    if info.get("resumed_from") and not result.reused:
        verb += f" (resumed at {info['resumed_from']['documents']:,} documents)"
    out.print(Text.assemble((verb, "bold green"), " ", (str(info["name"]), "bold"),
                            f": {info['documents']:,} documents, {_mb(info['bytes'])}"
                            + ("" if result.reused else f" in {result.seconds:.1f} s")))
    out.print(f"  source  {info.get('description', info['spec'])}", markup=False)
    if info.get("capped"):
        out.print(f"  capped at {_mb(info.get('max_bytes'))} (use --max-bytes to change)", markup=False)
    for part in info.get("parts") or []:
        out.print(f"  part    {part['source']}: {part['documents']:,} documents, {_mb(part['bytes'])} "
                  f"({part['share']:.1%} of bytes, asked {part['weight']:.1%})", markup=False)
    out.print(f"  corpus  {result.path / 'corpus.txt'}", markup=False)
    return 0


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a timeout, docker stop) stops a preparation as Ctrl-C does: what is written is kept."""
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _unfinished(partial: dict[str, Any] | None) -> Text:
    if not partial:
        return Text("no", style="red")
    return Text(f"no, resumable at {partial.get('documents', 0):,} documents, {_mb(partial.get('bytes'))}",
                style="yellow")


def cmd_info(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .. import corpora
    from ..render import Table

    out = Console(highlight=False)
    if args.name:
        info = corpora.dataset_info(workspace(args).data, args.name)
        if args.json:
            print(json.dumps(info))
            return 0
        table = Table(title=f"dataset {args.name}", show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")  # paths and hashes wrap instead of being cut
        rows = [("spec", info.get("spec", "?")), ("source", info.get("description", "")),
                ("complete", "yes" if info["complete"] else
                 _unfinished(info.get("partial")) if info.get("partial") else Text("no (prepare it again)", style="red")),
                ("documents", f"{info['documents']:,}" if info.get("documents") is not None else "?"),
                ("size", _mb(info.get("bytes"))), ("seed", str(info.get("seed"))),
                ("byte cap", _mb(info["max_bytes"]) if info.get("max_bytes") else "none"),
                ("sha256", str(info.get("sha256", "?"))), ("created", str(info.get("created", "?"))),
                ("corpus", info["corpus"])]
        for part in info.get("parts") or []:
            rows.append(("part", f"{part['source']}: {part['documents']:,} docs, {_mb(part['bytes'])} "
                                 f"({part['share']:.1%}, asked {part['weight']:.1%})"))
        for s in info["shards"]:
            meta = s.get("meta") or {}
            files = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(s["files"].items())) or "no files"
            state = "" if s["complete"] else (" (incomplete)", "yellow")
            tokenizer = f" {meta['tokenizer_kind']}" if "tokenizer_kind" in meta else ""
            rows.append(("shards", Text.assemble(f"{s['fingerprint']}{tokenizer}: {files}", state)))
        for label, value in rows:
            table.add_row(label, value)
        out.print(table)
        return 0
    datasets = corpora.list_datasets(workspace(args).data)
    if args.json:
        print(json.dumps(datasets))
        return 0
    if not datasets:
        out.print(f"No prepared datasets in {workspace(args).data}. Make one with: tinygpt data prepare --source "
                  "storybook", markup=False)
        return 0
    table = Table(title=f"datasets in {workspace(args).data}")
    for col, justify in (("name", "left"), ("spec", "left"), ("documents", "right"), ("MB", "right"),
                         ("shards", "right"), ("complete", "left")):
        table.add_column(col, justify=justify, no_wrap=col == "name",  # type: ignore[arg-type]
                         overflow="fold" if col == "spec" else "ellipsis")
    for d in datasets:
        table.add_row(d["name"], d["spec"], f"{d['documents']:,}" if d["documents"] is not None else "?",
                      f"{d['bytes'] / 1e6:,.2f}" if d["bytes"] is not None else "?", str(len(d["shards"])),
                      "yes" if d["complete"] else
                      Text("no, resumable", style="yellow") if d.get("partial") else Text("no", style="red"))
    out.print(table)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .. import sources

    if args.count < 1:
        raise TinyGPTError(f"-n {args.count} asks for no documents.", "use -n 1 or more.")
    source = sources.open_source(args.source, args.seed)
    docs = list(itertools.islice(source.iter_documents(), args.count))
    if args.json:
        print(json.dumps(docs))
        return 0
    if not docs:
        raise TinyGPTError(f"The source '{args.source}' gave no documents.", "check the file or dataset.")
    out = Console(highlight=False)
    for i, doc in enumerate(docs, 1):
        out.rule(Text(f"{i}/{len(docs)} · {len(doc.split())} words", style="dim"))
        out.print(doc, markup=False)
    out.rule(Text(source.describe(), style="dim"))
    return 0
