"""Training commands: ``tinygpt train`` (create or resume a run and train it) and ``tinygpt eval``.

``train`` runs the trainer in this process and draws its events as a rich progress bar on stderr
(loss, learning rate, tokens/s, MFU, ETA, gradient norm) with evaluation lines and samples above it;
``--json`` prints the raw events instead, one JSON object per line on stdout. Ctrl-C finishes the
current step, saves a checkpoint and exits 0; a second Ctrl-C aborts.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ..config import PRESETS, RunConfig, TinyGPTError
from ..units import duration, human_count
from ..workspace import Workspace
from .common import size_arg, workbench, workspace

# (flag, section, field, type, help)
OVERRIDES: list[tuple[str, str, str, Any, str]] = [
    ("--source", "data", "source", str, "text source: storybook, hf:ID, a .txt/.jsonl/.parquet path, a mixture"),
    ("--dataset", "data", "dataset", str, "name of the prepared dataset folder (default: from the source)"),
    ("--max-bytes", "data", "max_bytes", size_arg, "cap on the corpus size, e.g. 20MB"),
    ("--tokenizer", "tokenizer", "kind", str, "tokenizer kind: bpe, char or gpt2"),
    ("--vocab-size", "tokenizer", "vocab_size", int, "BPE vocabulary size, specials included"),
    ("--n-layer", "model", "n_layer", int, "transformer blocks"),
    ("--n-head", "model", "n_head", int, "attention heads"),
    ("--n-embd", "model", "n_embd", int, "width of the residual stream"),
    ("--block-size", "model", "block_size", int, "context length in tokens"),
    ("--dropout", "model", "dropout", float, "dropout while training"),
    ("--batch-size", "train", "batch_size", int, "sequences per micro-batch"),
    ("--grad-accum", "train", "grad_accum", int, "micro-batches per optimizer step"),
    ("--lr", "train", "lr", float, "peak learning rate"),
    ("--min-lr", "train", "min_lr", float, "floor of the cosine decay"),
    ("--warmup-steps", "train", "warmup_steps", int, "linear warmup steps (a share of --max-time when set)"),
    ("--weight-decay", "train", "weight_decay", float, "AdamW weight decay on matrices"),
    ("--grad-clip", "train", "grad_clip", float, "clip the gradient norm (0: off)"),
    ("--eval-interval", "train", "eval_interval", int, "evaluate, sample and checkpoint every N steps"),
    ("--eval-iters", "train", "eval_iters", int, "batches per evaluation"),
    ("--log-interval", "train", "log_interval", int, "report every N steps"),
    ("--sample-tokens", "train", "sample_tokens", int, "tokens in each evaluation sample"),
    ("--device", "train", "device", str, "auto, cpu, cuda or mps"),
    ("--dtype", "train", "dtype", str, "auto, float32, bfloat16 or float16"),
    ("--seed", "train", "seed", int, "seed for initialisation, batches and dropout"),
]


def register(sub: Any) -> None:
    """Add ``train`` and ``eval`` to the ``tinygpt`` subcommands."""
    t = sub.add_parser(
        "train", help="train a run (creating it, and its data and tokenizer, when missing; resuming otherwise)",
        description="Train run NAME. A new run is built from --preset (default tiny) plus any overrides; "
                    "the corpus, tokenizer and token shards are prepared when missing. An existing run "
                    "resumes from its checkpoint; settings that change the model's shape are refused there.")
    t.add_argument("--run", required=True, metavar="NAME", help="the run's name (a folder under models/)")
    t.add_argument("--preset", choices=list(PRESETS), help="model size and training defaults for a new run "
                   "(default tiny: story-like English in about three minutes on two CPU cores)")
    limit = t.add_mutually_exclusive_group()
    limit.add_argument("--max-steps", type=int, help="train for this many optimizer steps")
    limit.add_argument("--max-time", type=float, metavar="SECONDS",
                       help="train for this wall-clock budget; the learning-rate schedule fits itself to it")
    for flag, _section, _field, typ, help_text in OVERRIDES:
        t.add_argument(flag, type=typ, help=help_text)
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="wrap the model in torch.compile (a one-off compile of 20-60 s, faster steps)")
    t.add_argument("--json", action="store_true", help="print the training events as JSON lines on stdout")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="loss and bits per byte of a run's model on a text file",
                       description="Score a text file (or any source the data commands read) with a run's "
                                   "model: loss per token and bits per byte, sliding over long documents.")
    e.add_argument("--run", required=True, metavar="NAME", help="the run to evaluate")
    e.add_argument("--data", required=True, metavar="FILE", help="a .txt/.jsonl/.parquet file or folder")
    e.add_argument("--which", choices=("best", "latest"), default="best", help="which weights (default best)")
    e.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    e.add_argument("--batch-size", type=int, default=16, help="windows scored at once")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=cmd_eval)


# --------------------------------------------------------------------------------------------------
# building the run's configuration


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"data": {}, "tokenizer": {}, "model": {}, "train": {}}
    for flag, section, field_name, _typ, _help in OVERRIDES:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            out[section][field_name] = value
    if args.compile is not None:
        out["train"]["compile"] = args.compile
    if args.max_steps is not None:
        out["train"].update(max_steps=args.max_steps, max_time=None)
    if args.max_time is not None:
        out["train"]["max_time"] = args.max_time
    return out


def prepare_config(args: argparse.Namespace) -> tuple[RunConfig, list[str]]:
    """The run's configuration after the command line's changes, and notes for the user
    (see :func:`tinygpt_tui.forms.configure_run`)."""
    from ..forms import configure_run

    return configure_run(workspace(args).models, args.run, args.preset, _overrides(args))


# --------------------------------------------------------------------------------------------------
# train


def done_message(event: dict[str, Any], how: str = "run the same command again") -> str:
    """A ``done`` event's sentence and, when the run can go on (the core states ``resumable``), what to
    do: ``how`` is this face's way of training the run again."""
    message = str(event.get("message", ""))
    if not event.get("resumable"):
        return message
    if event.get("stage", "training") == "training":
        return f"{message} {how[:1].upper()}{how[1:]} to resume."
    return f"{message.rstrip('.')}; {how} to continue."  # stopped while preparing: nothing to resume yet


def cmd_train(args: argparse.Namespace) -> int:
    from .. import train

    cfg, notes = prepare_config(args)
    stop = threading.Event()
    presses = [0]

    def on_sigint(signum, frame) -> None:
        presses[0] += 1
        if presses[0] > 1:
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)...", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        if args.json:
            def print_event(event: dict[str, Any]) -> None:
                sys.stdout.write(json.dumps(event) + "\n")
                sys.stdout.flush()

            done = train.train_run(workspace(args), args.run, on_event=print_event, stop=stop)
        else:
            done = _train_with_display(workspace(args), args.run, cfg, notes, stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 0 if done.get("reason") in ("finished", "time", "interrupted") else 1


def _train_with_display(ws: Workspace, name: str, cfg: RunConfig, notes: list[str], stop: threading.Event) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .. import train

    console = Console(stderr=True, highlight=False)
    for note in notes:
        console.print(f"[dim]{note}[/]")
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=30),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False)
    state: dict[str, Any] = {"task": None, "stage_task": None, "start": None}

    def on_event(ev: dict[str, Any]) -> None:
        kind = ev["event"]
        if kind == "stage":
            if state["stage_task"] is not None:
                progress.update(state["stage_task"], completed=progress.tasks[state["stage_task"]].total or 1,
                                total=progress.tasks[state["stage_task"]].total or 1)
                progress.stop_task(state["stage_task"])
                state["stage_task"] = None
            if ev["stage"] in ("corpus", "tokenizer", "shards"):
                state["stage_task"] = progress.add_task(ev["message"], total=None, info="")
            else:
                console.print(f"[dim]{ev['message']}[/]")
        elif kind == "progress" and state["stage_task"] is not None:
            total = ev.get("total")
            info = f"{human_count(ev['done'])}B" + (f" / {human_count(total)}B" if total else "")
            progress.update(state["stage_task"], completed=ev["done"], total=total, info=info)
        elif kind == "start":
            state["start"] = ev
            res = "resumed at step {}".format(ev["step"]) if ev["resumed"] else "new"
            console.print(f"[bold]{name}[/]: {ev['params'] / 1e6:.2f}M parameters, {ev['tokens_per_step']} tokens"
                          f"/step, {ev['device']} {ev['dtype']}, {ev['threads']} threads, peak "
                          f"{ev['peak_flops'] / 1e9:.0f} GFLOP/s (measured), {res}")
            if ev["max_time"]:
                state["task"] = progress.add_task("training", total=ev["max_time"], completed=ev["elapsed_s"],
                                                  info="")
            else:
                state["task"] = progress.add_task("training", total=ev["max_steps"], completed=ev["step"], info="")
        elif kind == "step" and state["task"] is not None:
            start = state["start"]
            done = ev["elapsed_s"] if start["max_time"] else ev["step"]
            mfu = f"{100 * ev['mfu']:.1f}%" if ev.get("mfu") is not None else "-"
            loss = f"{ev['loss']:.4f}" if ev.get("loss") is not None else "nan"
            grad = f"{ev['grad_norm']:.2f}" if ev.get("grad_norm") is not None else "-"
            info = (f"step {ev['step']}  loss {loss}  lr {ev['lr']:.2e}  {human_count(ev['tokens_per_s'])} tok/s  "
                    f"MFU {mfu}  |g| {grad}  ETA {duration(ev['eta_s'])}")
            progress.update(state["task"], completed=done, info=info)
        elif kind == "eval":
            star = " [green]best[/]" if ev["best"] else ""
            console.print(f"step {ev['step']:>6}: train loss {ev['train_loss']:.4f}  val loss {ev['val_loss']:.4f}"
                          f"  val {ev['val_bpb']:.3f} bits/byte{star}")
        elif kind == "sample":
            text = ev["text"].strip().replace("\n", " ")
            console.print(f"         [italic cyan]{text[:300]}[/]", markup=True)
        elif kind == "done":
            console.print(f"[bold green]done[/] ({ev['reason']}): {done_message(ev)}")

    with progress:
        return train.train_run(ws, name, on_event=on_event, stop=stop)


# --------------------------------------------------------------------------------------------------
# eval


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from .. import sources
    from ..evaluate import evaluate_documents

    path = Path(args.data)
    if not path.exists():
        raise TinyGPTError(f"{path} does not exist.", "give a .txt, .jsonl or .parquet file, or a folder of them.")
    model, tok, cfg = workbench(args).read_model(args.run, which=args.which, device=args.device)
    source = sources.open_source(str(path))
    result = evaluate_documents(model, tok, source.iter_documents(), device=args.device,
                                dtype=torch.float32, batch_size=args.batch_size)
    result = {"run": args.run, "checkpoint": args.which, "data": str(path), **result,
              "perplexity": math.exp(min(result["loss"], 50.0))}
    if args.json:
        print(json.dumps(result))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.run} ({args.which}) on {path.name}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (("documents", f"{result['documents']:,}"), ("tokens scored", f"{result['tokens']:,}"),
                         ("bytes", f"{result['bytes']:,}"), ("loss / token", f"{result['loss']:.4f} nats"),
                         ("perplexity", f"{result['perplexity']:.2f}"),
                         ("bits / byte", f"{result['bpb']:.4f}")):
        table.add_row(label, value)
    Console().print(table)
    return 0
