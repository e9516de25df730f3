"""Training commands: ``tinygpt train`` (create or resume a run and train it) and ``tinygpt eval``.

``train`` runs the trainer in this process and draws its events as a rich progress bar on stderr
(loss, learning rate, tokens/s, MFU, ETA, gradient norm) with evaluation lines and samples above it;
``--json`` prints the raw events instead, one JSON object per line on stdout. Ctrl-C finishes the
current step, saves a checkpoint and exits 0; a second Ctrl-C aborts. ``--nproc N`` trains in N
processes (DistributedDataParallel) started through PyTorch's launcher (``torchrun``); the events of
rank 0 are drawn the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from rich.text import Text

from .. import events
from ..config import EOT, RunConfig, TinyGPTError, parse_settings, parse_special_tokens
from ..events import EventError, TrainingState
from ..present import ended_sentence, error_line
from ..presets import PRESETS
from ..render import result_line
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
    ("--attn-dropout", "model", "attn_dropout", float, "dropout on attention probabilities (default: --dropout)"),
    ("--batch-size", "train", "batch_size", int, "sequences per micro-batch"),
    ("--grad-accum", "train", "grad_accum", int, "micro-batches per optimizer step"),
    ("--lr", "train", "lr", float, "peak learning rate"),
    ("--min-lr", "train", "min_lr", float, "floor of the cosine decay"),
    ("--warmup-steps", "train", "warmup_steps", int, "linear warmup steps (a share of --max-time when set)"),
    ("--weight-decay", "train", "weight_decay", float, "AdamW weight decay on matrices"),
    ("--grad-clip", "train", "grad_clip", float, "clip the gradient norm (0: off)"),
    ("--eval-interval", "train", "eval_interval", int, "evaluate, sample and checkpoint every N steps"),
    ("--checkpoint-interval", "train", "checkpoint_interval", int, "also checkpoint every N steps between evaluations"),
    ("--history", "train", "history", int, "keep at most N past checkpoints for the time-lapse (0: none)"),
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
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="settings",
                   help="any other setting of a new run's config.json, e.g. --set model.value_residual=true "
                        "--set train.schedule=cosine (SECTION: data, tokenizer, model or train; repeatable; "
                        "applied after the flags)")
    t.add_argument("--special", metavar="TOKENS",
                   help="extra special tokens besides <|endoftext|>, e.g. --special '<|im_start|> <|im_end|> <|pad|>'")
    t.add_argument("--more", metavar="N|TIME", help="train an existing run further from its checkpoint: N more "
                   "steps (--more 500) or more time (--more 2m, 90s, 1h)")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="wrap the model in torch.compile (a one-off compile of 20-60 s, faster steps)")
    t.add_argument("--fit-to-machine", action=argparse.BooleanOptionalAction, default=None,
                   help="a new CPU run with a time budget takes the model shape measured at the compute that "
                        "budget gives on this machine (on for tiny, cpu-10m and cpu-1h)")
    t.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train in N processes on this machine (DDP through torchrun: one per GPU, or CPU "
                        "processes with gloo); grad_accum must be a multiple of N, the global batch is kept")
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
    if getattr(args, "special", None):
        out["tokenizer"]["special_tokens"] = [EOT] + [t for t in parse_special_tokens(args.special) if t != EOT]
    if args.compile is not None:
        out["train"]["compile"] = args.compile
    if args.fit_to_machine is not None:
        out["train"]["fit_to_machine"] = args.fit_to_machine
    if args.max_steps is not None:
        out["train"].update(max_steps=args.max_steps, max_time=None)
    if args.max_time is not None:
        out["train"]["max_time"] = args.max_time
    for section, values in parse_settings(getattr(args, "settings", None) or []).items():
        out[section].update(values)
    if "max_steps" in out["train"] and "max_time" not in out["train"]:
        out["train"]["max_time"] = None  # a number of steps is the budget, as with --max-steps
    return out


def prepare_config(args: argparse.Namespace,
                   overrides: dict[str, dict[str, Any]] | None = None) -> tuple[RunConfig, list[str]]:
    """The run's configuration after the command line's changes (``overrides``, default: read from
    ``args``), and notes for the user (see :func:`tinygpt_tui.forms.configure_run`)."""
    from ..corpora import dataset_source
    from ..forms import configure_run

    overrides = _overrides(args) if overrides is None else overrides
    data = overrides["data"]
    if data.get("dataset") and "source" not in data:
        # --dataset alone names a prepared dataset: train on it as it is, never rebuild it from the
        # preset's default source
        spec = dataset_source(workspace(args).data, str(data["dataset"]).strip())
        if spec is not None:
            data["source"] = spec
    return configure_run(workspace(args).models, args.run, args.preset, overrides)


# --------------------------------------------------------------------------------------------------
# train


def done_message(state: TrainingState, how: str = "run the same command again") -> str:
    """How training ended (the state's sentence) and, when the run can go on (the core states
    ``resumable``), what to do: ``how`` is this face's way of training the run again."""
    message = ended_sentence(state.done) if state.done is not None else state.message or ""
    if state.status != "done" or not state.resumable:
        return message
    if (state.ended_in or "training") == "training":
        return f"{message} {how[:1].upper()}{how[1:]} to resume."
    return f"{message.rstrip('.')}; {how} to continue."  # stopped while preparing: nothing to resume yet


def cmd_train(args: argparse.Namespace) -> int:
    from .. import train
    from ..distributed import check_nproc

    check_nproc(args.nproc, args.nproc if args.grad_accum is None else args.grad_accum)  # before any write
    overrides = _overrides(args)  # a bad --set is refused before any write too
    if args.more is not None:
        from ..forms import check_changes
        from ..units import parse_budget

        check_changes(workspace(args).models, args.run, overrides)  # a refused setting changes nothing
        try:
            steps, seconds = parse_budget(args.more)
        except ValueError:
            raise TinyGPTError(f"--more {args.more} is neither a number of steps nor a time.",
                               "for example --more 500 (steps) or --more 2m (90s, 1h).") from None
        if not workbench(args).run_exists(args.run):
            raise TinyGPTError(f"There is no run named '{args.run}' to train further.",
                               f"train it first: tinygpt train --run {args.run}")
        added = workbench(args).extend_run(args.run, steps=steps, seconds=seconds)
        print(f"{args.run}: training {added}, from its checkpoint.", file=sys.stderr)
    cfg, notes = prepare_config(args, overrides)
    check_nproc(args.nproc, cfg.train.grad_accum)
    if args.nproc > 1:
        return _train_distributed(args, cfg, notes)
    stop = threading.Event()
    presses = [0]
    broken = [False]

    def on_signal(signum, frame) -> None:
        # SIGINT (Ctrl-C) and SIGTERM (a timeout, docker stop, a batch scheduler) both save first
        presses[0] += 1
        if presses[0] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        if presses[0] == 1:
            try:
                print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)...",
                      file=sys.stderr)
            except OSError:
                pass

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        if args.json:
            def print_event(event: dict[str, Any]) -> None:
                if broken[0]:
                    return
                try:
                    sys.stdout.write(json.dumps(event) + "\n")
                    sys.stdout.flush()
                except BrokenPipeError:
                    # the reader went away (| head): stop as on Ctrl-C, saving a checkpoint, and say so
                    # in the exit status; later writes go nowhere instead of raising again
                    broken[0] = True
                    stop.set()
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                    os.close(devnull)

            done = train.train_run(workspace(args), args.run, on_event=print_event, stop=stop)
        else:
            done = _train_with_display(workspace(args), args.run, cfg, notes, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if broken[0]:
        return 1
    return 0 if done.get("reason") in ("finished", "time", "interrupted") else 1


def _train_distributed(args: argparse.Namespace, cfg: RunConfig, notes: list[str]) -> int:
    """Train with ``--nproc`` processes: PyTorch's launcher runs ``python -m tinygpt_tui.train`` once per
    rank; rank 0's event lines are read from its stdout and drawn (or printed with ``--json``).
    Ctrl-C asks the launcher to stop (it passes SIGTERM on: every rank finishes the step, rank 0
    saves); a second Ctrl-C kills the group."""
    import os
    import subprocess

    from ..distributed import launch_command

    ws = workspace(args)
    cmd = launch_command(args.nproc, ["--run", args.run, *ws.as_args()])
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
                            text=True, encoding="utf-8", errors="replace", bufsize=1,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    presses = [0]

    def on_sigint(signum, frame) -> None:
        presses[0] += 1
        try:
            if presses[0] > 1:
                os.killpg(proc.pid, signal.SIGKILL)
                return
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            return
        print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)...", file=sys.stderr)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    last: dict[str, Any] = {}
    try:
        display = None
        if not args.json:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            console = Console(stderr=True, highlight=False)
            for note in notes:
                console.print(f"[dim]{note}[/]")
            progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=30),
                                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)
            display = TrainingDisplay(args.run, console, progress)
            progress.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                wire = json.loads(line)
            except ValueError:
                continue
            if isinstance(wire, dict) and wire.get("event") in ("done", "error"):
                last = wire
            if args.json:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            elif display is not None:
                display.on_event(wire)
        proc.wait()
        if display is not None:
            display.progress.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if last.get("event") == "error":
        return 2
    if last.get("reason") in ("finished", "time", "interrupted"):
        return 0
    raise TinyGPTError(f"The {args.nproc} training processes exited with code {proc.returncode} without finishing.",
                       "read the messages above; the last checkpoint is kept, and the same command resumes.")


def _num(value: float | None, spec: str, missing: str = "nan") -> str:
    return missing if value is None else format(value, spec)


class TrainingDisplay:
    """Draws one run's training on a rich console: a bar per preparation stage, a training bar with
    the latest numbers, and evaluation lines and samples above it.

    Each event is read once (:func:`events.read`) and folded into :attr:`state`; what is drawn comes
    from that state. The event's kind only says which part to redraw.
    """

    def __init__(self, name: str, console: Any, progress: Any) -> None:
        self.name, self.console, self.progress = name, console, progress
        self.state = TrainingState(run=name)
        self.task: Any = None
        self.stage_task: Any = None

    def on_event(self, wire: dict[str, Any]) -> None:
        """``train_run``'s callback: fold the wire event, then redraw what it changed."""
        event = events.read(wire)
        if event is None:
            return
        self.state = events.reduce(self.state, event)
        if isinstance(event, EventError):
            self.console.print(error_line(event), style="red", markup=False)
        elif isinstance(event, events.Stage):
            self._stage()
        elif isinstance(event, events.Progress) and self.stage_task is not None:
            self._stage_progress()
        elif isinstance(event, events.Start):
            self._start()
        elif isinstance(event, events.Step) and self.task is not None:
            self._step()
        elif isinstance(event, events.Eval):
            self._eval()
        elif isinstance(event, events.Sample) and self.state.samples:
            self._sample()
        elif isinstance(event, events.Done):
            self.console.print(Text.assemble(("done", "bold green"),
                                             f" ({self.state.reason}): {done_message(self.state)}"))
            result = result_line(self.state, f"`tinygpt train --run {self.name} --more 2m` trains it more.")
            if result:
                self.console.print(result, style="yellow" if self.state.undertrained else "", markup=False)

    def _stage(self) -> None:
        progress, s = self.progress, self.state
        if self.stage_task is not None:
            total = progress.tasks[self.stage_task].total or 1
            progress.update(self.stage_task, completed=total, total=total)
            progress.stop_task(self.stage_task)
            self.stage_task = None
        if s.stage in ("corpus", "tokenizer", "shards"):
            self.stage_task = progress.add_task(s.stage_message, total=None, info="")
        else:
            self.console.print(Text(s.stage_message or "", style="dim"))

    def _stage_progress(self) -> None:
        s = self.state
        done, total = s.progress_done or 0, s.progress_total
        info = f"{human_count(done)}B" + (f" / {human_count(total)}B" if total else "")
        self.progress.update(self.stage_task, completed=done, total=total, info=info)

    def _start(self) -> None:
        s = self.state
        res = f"resumed at step {s.step}" if s.resumed else "new"
        world = f" x {s.world_size} processes" if s.world_size > 1 else ""
        self.console.print(Text.assemble((self.name, "bold"),
                                         f": {(s.params or 0) / 1e6:.2f}M parameters, {s.tokens_per_step} "
                                         f"tokens/step, {s.device} {s.dtype}, {s.threads} threads{world}, peak "
                                         f"{(s.peak_flops or 0) / 1e9:.0f} GFLOP/s (measured), {res}"))
        if s.max_time:
            self.task = self.progress.add_task("training", total=s.max_time, completed=s.elapsed_s, info="")
        else:
            self.task = self.progress.add_task("training", total=s.max_steps, completed=s.step, info="")

    def _step(self) -> None:
        s = self.state
        mfu = "-" if s.mfu is None else f"{100 * s.mfu:.1f}%"
        speed = "warming up" if s.warming_up else (f"{human_count(s.tokens_per_s)} tok/s  MFU {mfu}  "
                                                   f"|g| {_num(s.grad_norm, '.2f', '-')}  ETA {duration(s.eta_s)}")
        info = f"step {s.step}  loss {_num(s.loss, '.4f')}  lr {_num(s.lr, '.2e')}  {speed}"
        self.progress.update(self.task, completed=s.elapsed_s if s.max_time else s.step, info=info)

    def _sample(self) -> None:
        text = self.state.samples[-1][1].strip().replace("\n", " ")
        # a sample is foreign text: shown as it is, never read as markup
        self.console.print(Text.assemble("         ", (text[:300], "italic cyan")))

    def _eval(self) -> None:
        s = self.state
        star = (" best", "green") if s.best_step == s.step else ""
        self.console.print(Text.assemble(f"step {s.step:>6}: train loss {_num(s.train_loss, '.4f')}  val loss "
                                         f"{_num(s.val_loss, '.4f')}  val {_num(s.val_bpb, '.3f')} bits/byte", star))


def _train_with_display(ws: Workspace, name: str, cfg: RunConfig, notes: list[str], stop: threading.Event) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .. import train

    console = Console(stderr=True, highlight=False)
    for note in notes:
        console.print(Text(note, style="dim"))
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}", style="bold", markup=False), BarColumn(bar_width=30),
                        TextColumn("{task.fields[info]}", markup=False), TimeElapsedColumn(), console=console, transient=False)
    display = TrainingDisplay(name, console, progress)
    with progress:
        return train.train_run(ws, name, on_event=display.on_event, stop=stop)


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

    from ..render import Table

    table = Table(title=Text(f"{args.run} ({args.which}) on {path.name}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (("documents", f"{result['documents']:,}"), ("tokens scored", f"{result['tokens']:,}"),
                         ("bytes", f"{result['bytes']:,}"), ("loss / token", f"{result['loss']:.4f} nats"),
                         ("perplexity", f"{result['perplexity']:.2f}"),
                         ("bits / byte", f"{result['bpb']:.4f}")):
        table.add_row(label, value)
    Console().print(table)
    return 0
