"""Tokenizer commands: ``tokenizer train``, ``tokenizer info``, ``tokenize`` and ``vocab``.

Tables and progress bars use rich (progress on stderr); ``--json`` prints machine-readable JSON on
stdout only. Errors a user can cause surface as TinyGPTError, which ``cli.main`` prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config import EOT, TinyGPTError, TokenizerConfig
from ..undertrained import EXPLANATION
from .common import workbench

UNDER_TRAINED_HELP = (
    "With --run of a trained run, the most under-trained tokens are listed (and under 'under_trained' "
    "in --json): " + EXPLANATION + " Columns: count (in the run's training shards), emb (embedding row "
    "distance over the median), head (the same for an untied output head; '-' when tied).")


def register(sub: Any) -> None:
    """Add ``tokenizer``, ``tokenize`` and ``vocab`` to the ``tinygpt`` subcommands."""
    p = sub.add_parser("tokenizer", help="train or describe a tokenizer",
                       description="Train a tokenizer on a prepared dataset or a corpus file, or describe one.")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])

    t = tsub.add_parser("train", help="train a tokenizer (bpe, char) or fetch gpt2",
                        description="Train a byte-level BPE or a character-level tokenizer on a corpus.")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="DATASET", help="a prepared dataset under the data folder")
    src.add_argument("--corpus", metavar="FILE", type=Path,
                     help="a corpus file: documents each followed by a line <|endoftext|>")
    t.add_argument("--kind", choices=("bpe", "char", "gpt2"), default="bpe", help="tokenizer kind (default bpe)")
    t.add_argument("--vocab-size", type=int, default=8192, help="BPE vocabulary size, specials included")
    t.add_argument("--min-frequency", type=int, default=2, help="a pair must occur this often to merge")
    t.add_argument("--special", action="append", default=[], metavar="TOKEN",
                   help="an extra special token, e.g. '<|im_start|>' (repeatable)")
    t.add_argument("--train-bytes", default="50MB",
                   help="train BPE on a sample of at most this much text (default 50MB; 'all' for no cap)")
    t.add_argument("--out", type=Path, help="output file (default: beside the corpus, <corpus name>.tokenizer.json; "
                   "training again replaces it)")
    t.add_argument("--json", action="store_true", help="print the result as JSON")
    t.set_defaults(func=cmd_train)

    i = tsub.add_parser("info", help="describe a tokenizer file or a run's tokenizer")
    isrc = i.add_mutually_exclusive_group(required=True)
    isrc.add_argument("path", nargs="?", type=Path, help="a tokenizer file")
    isrc.add_argument("--run", metavar="NAME", help="the tokenizer of a run")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    k = sub.add_parser("tokenize", help="show how a text splits into tokens",
                       description="Show a text's tokens: a Token ID | Token | Hex table, then the text cut into "
                       "[boundaries] and the raw pieces.")
    k.add_argument("text", help="the text to tokenize ('-' reads standard input)")
    _tokenizer_options(k, allow_gpt2=True)
    k.add_argument("--json", action="store_true", help="print JSON")
    k.set_defaults(func=cmd_tokenize)

    v = sub.add_parser("vocab", help="vocabulary statistics (token frequencies with --data)",
                       description="Vocabulary size, special tokens, token lengths, longest tokens; with "
                       "--data also the most and least frequent tokens and bytes per token on the corpus; "
                       "with --run of a trained run also its most under-trained tokens.",
                       epilog=UNDER_TRAINED_HELP)
    _tokenizer_options(v, allow_gpt2=True)
    v.add_argument("--data", metavar="DATASET",
                   help="count tokens in this dataset's shards (with --run: the run's dataset by default)")
    v.add_argument("--top", type=int, default=15, help="rows per list (default 15)")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.set_defaults(func=cmd_vocab)


def _tokenizer_options(p: argparse.ArgumentParser, allow_gpt2: bool) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tokenizer", type=Path, metavar="PATH", help="a tokenizer file")
    g.add_argument("--run", metavar="NAME", help="the tokenizer of a run")
    if allow_gpt2:
        g.add_argument("--kind", choices=("gpt2",), help="a built-in tokenizer (the default is gpt2)")


# --------------------------------------------------------------------------------------------------
# Resolving inputs


def resolve_tokenizer(args: argparse.Namespace):  # -> Tokenizer
    from ..tokenizer import gpt2_tokenizer, load_tokenizer

    if getattr(args, "tokenizer", None):
        return load_tokenizer(args.tokenizer)
    if getattr(args, "run", None):
        return load_tokenizer(workbench(args).run_tokenizer_path(args.run))
    return gpt2_tokenizer()


# --------------------------------------------------------------------------------------------------
# tokenizer train / info


def cmd_train(args: argparse.Namespace) -> int:
    from ..tokenizer_training import train_tokenizer

    # TokenizerConfig validates (vocab smaller than bytes + specials, bad sizes) with ConfigError,
    # a TinyGPTError, so the message reaches the user through cli.main.
    cfg = TokenizerConfig(kind=args.kind, vocab_size=args.vocab_size, min_frequency=args.min_frequency,
                          special_tokens=[EOT, *args.special], train_bytes=args.train_bytes)
    if args.data:
        corpus = workbench(args).dataset_dir(args.data) / "corpus.txt"
        if not corpus.is_file():
            raise TinyGPTError(f"The dataset '{args.data}' has no corpus.txt.",
                               "prepare it with `tinygpt data prepare`.")
    else:
        corpus = args.corpus
    out = args.out or default_tokenizer_path(corpus)

    if args.json or not sys.stderr.isatty():
        tok = train_tokenizer(cfg, corpus, out=out)
    else:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                      console=Console(stderr=True)) as bar:
            task = bar.add_task(f"training {cfg.kind} tokenizer", total=None)
            tok = train_tokenizer(cfg, corpus, out=out,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    info = {**tok.describe(), "path": str(out), "corpus": str(corpus)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info, title=f"Saved {out}")
    return 0


def default_tokenizer_path(corpus: Path) -> Path:
    """Where ``tokenizer train`` saves a corpus's tokenizer: ``corpus.tokenizer.json`` for ``corpus.txt``.

    One name per corpus, whatever the kind and size: training again (a new vocabulary size, a rebuilt
    corpus) replaces the file in one atomic rename, so a folder never holds an old tokenizer beside
    the new one (a name per kind and size left the earlier one there, disagreeing with the corpus)."""
    return corpus.with_name(f"{corpus.stem}.tokenizer.json")


def cmd_info(args: argparse.Namespace) -> int:
    from ..tokenizer import load_tokenizer

    path = args.path if args.path else workbench(args).run_tokenizer_path(args.run)
    tok = load_tokenizer(path)
    info = {**tok.describe(), "path": str(path)}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info, title=str(path))
    return 0


def _print_info(info: dict[str, Any], title: str) -> None:
    from rich.console import Console

    from ..render import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("kind", info["kind"])
    table.add_row("vocab size", f"{info['vocab_size']:,}")
    table.add_row("special tokens", ", ".join(f"{s} ({i})" for s, i in info["special_tokens"].items()))
    table.add_row("fingerprint", info["fingerprint"])
    if "corpus" in info:
        table.add_row("corpus", info["corpus"])
    Console(highlight=False).print(table)


# --------------------------------------------------------------------------------------------------
# tokenize


def cmd_tokenize(args: argparse.Namespace) -> int:
    from ..vocab import breakdown

    text = sys.stdin.read() if args.text == "-" else args.text
    tok = resolve_tokenizer(args)
    rows = breakdown(tok, text)
    boundaries = "".join(f"[{r['text']}]" for r in rows)
    pieces = " ".join(r["piece"] for r in rows)
    if args.json:
        print(json.dumps({"tokenizer": tok.describe(), "text": text, "count": len(rows), "tokens": rows,
                          "boundaries": boundaries, "pieces": pieces}, indent=2, ensure_ascii=False))
        return 0

    from rich.console import Console
    from rich.text import Text

    from ..render import Table

    console = Console(highlight=False)
    table = Table(title=f"{len(rows)} tokens ({tok.kind}, vocab {tok.vocab_size:,})", title_justify="left")
    table.add_column("Token ID", justify="right", style="cyan")
    table.add_column("Token", style="green")
    table.add_column("Hex", style="magenta")  # the app's name; its "Visualization" is the token in context
    for r in rows:
        table.add_row(str(r["id"]), repr(r["text"]), r["hex"])  # the table shows strings as text
    console.print(table)
    console.print(Text(boundaries), soft_wrap=True)
    console.print(Text(pieces), soft_wrap=True)
    return 0


# --------------------------------------------------------------------------------------------------
# vocab


def cmd_vocab(args: argparse.Namespace) -> int:
    from ..shards import shards_dir
    from ..vocab import vocab_stats

    tok = resolve_tokenizer(args)
    shards = None
    if args.run and not args.data:
        shards = workbench(args).run_shards(args.run, tok)  # the run's own training shards, when they exist
    if args.data:
        shards = shards_dir(workbench(args).dataset_dir(args.data), tok)
        if not (shards / "meta.json").is_file():
            raise TinyGPTError(f"The dataset '{args.data}' has no token shards for this tokenizer "
                               f"({tok.kind}, fingerprint {tok.fingerprint()[:16]}).",
                               "prepare them with `tinygpt data prepare`, or train a run on this dataset.")
    if args.top < 0:
        raise TinyGPTError(f"--top {args.top} must be 0 or more.", "e.g. --top 20.")
    counts = None
    if shards is not None:
        from ..shards import open_shards
        from ..vocab import count_tokens

        counts = count_tokens(open_shards(shards, tok).train, tok.vocab_size)  # once, for both uses
    stats = vocab_stats(tok, shards, top=args.top, counts=counts)
    if args.run and workbench(args).has_weights(args.run):
        from ..undertrained import under_trained, under_trained_rows

        model, _tok, _cfg = workbench(args).read_model(args.run)
        under = under_trained(model)
        stats["under_trained"] = {"explanation": EXPLANATION, "tied": under.tied,
                                  "tokens": under_trained_rows(tok, under, counts, top=args.top)}
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
        return 0
    _print_vocab(stats)
    return 0


def _print_vocab(stats: dict[str, Any]) -> None:
    from rich.console import Console

    from ..render import Table
    from ..vocab import histogram_rows

    console = Console(highlight=False)
    head = Table(title="Vocabulary", show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    head.add_row("kind", stats["kind"])
    head.add_row("size", f"{stats['vocab_size']:,}")
    head.add_row("special tokens", ", ".join(f"{s} ({i})" for s, i in stats["special_tokens"].items()))
    head.add_row("mean token length", f"{stats['mean_token_bytes']:.2f} bytes")
    if "tokens" in stats:
        head.add_row("tokens counted", f"{stats['tokens']:,} (train split of {stats['shards']})")
        head.add_row("bytes per token", f"{stats['bytes_per_token']:.3f}")
        head.add_row("never seen", f"{stats['never_seen']:,} of {stats['vocab_size']:,} tokens")
    console.print(head)

    hist = Table(title="Token length (bytes)", title_justify="left")
    hist.add_column("bytes", justify="right")
    hist.add_column("tokens", justify="right")
    hist.add_column("")
    rows = histogram_rows(stats["length_histogram"])
    peak = max((count for _, count in rows), default=1)
    for n, count in rows:
        hist.add_row(n, f"{count:,}", "█" * max(1, round(30 * count / peak)))
    console.print(hist)

    def token_table(title: str, rows: list[dict[str, Any]], with_count: bool) -> None:
        t = Table(title=title, title_justify="left")
        t.add_column("Token ID", justify="right", style="cyan")
        t.add_column("Token", style="green")
        t.add_column("bytes", justify="right")
        if with_count:
            t.add_column("count", justify="right")
            t.add_column("share", justify="right")
        for r in rows:
            cells = [str(r["id"]), repr(r["text"]), str(r["bytes"])]
            if with_count:
                cells += [f"{r['count']:,}", f"{100 * r['share']:.3f}%"]
            t.add_row(*cells)
        console.print(t)

    token_table("Longest tokens", stats["longest"], False)
    if "most_frequent" in stats:
        token_table("Most frequent", stats["most_frequent"], True)
        token_table("Least frequent (seen at least once)", stats["least_frequent"], True)
        if stats["never_seen_examples"]:
            token_table(f"Never seen ({stats['never_seen']:,}; first by id)", stats["never_seen_examples"], False)
    if "under_trained" in stats:
        under = stats["under_trained"]
        t = Table(title="Most under-trained (by the weights" + (", tied head)" if under["tied"] else ")"),
                  title_justify="left")
        for label in ("Token ID", "Token", "count", "emb", "head", "score"):
            t.add_column(label, justify="left" if label == "Token" else "right")
        for r in under["tokens"]:
            t.add_row(str(r["id"]), repr(r["text"]), "-" if r["count"] is None else f"{r['count']:,}",
                      f"{r['embedding_ratio']:.2f}", "-" if r["head_ratio"] is None else f"{r['head_ratio']:.2f}",
                      f"{r['score']:.2f}")
        console.print(t)
        console.print(under["explanation"], style="dim", markup=False)
