"""Train a run: ``train_run(workspace, name)`` and the process entry ``python -m tinygpt_tui.train``.

``train_run`` takes a run created by :func:`tinygpt_tui.runs.create_run`, checks the device it asks
for (preflight.py), takes the run's lock, checks its resume point and builds what is missing (corpus,
tokenizer, token shards: prepare.py, across ranks: train_dist.py), then trains it with
:class:`~tinygpt_tui.trainer.Trainer`.

Every event (events.py: ``stage``, ``progress``, ``start``, ``step``, ``eval``, ``sample``,
``story``, ``checkpoint``, ``done``, ``error``) goes to ``metrics.jsonl`` and to the ``on_event`` callback as its
JSON dict; run as a process (``python -m tinygpt_tui.train --run NAME``, or under torchrun) each event
is also printed as one JSON line, and SIGINT/SIGTERM finish the step, save and exit 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import distributed, preflight, runs, train_dist
from .config import TinyGPTError, valid_run_name
from .device import dtype_name
from .distributed import DistContext
from .events import Done, Error, Event, Stage
from .prepare import Interrupted
from .trainer import Trainer
from .workspace import Workspace

# --------------------------------------------------------------------------------------------------
# orchestration


def train_run(workspace: Workspace, name: str, on_event: Callable[[dict[str, Any]], None] | None = None,
              stop: threading.Event | None = None, ctx: DistContext | None = None) -> dict[str, Any]:
    """Prepare whatever is missing for run ``name`` of ``workspace`` and train it (or resume it). Returns the final
    ``done`` event as a dict (with the best and last validation figures and the elapsed time added).
    Raises TinyGPTError (after emitting an ``error`` event) on a user-fixable problem.

    With ``ctx`` of several processes (torchrun), every rank calls this: rank 0 prepares the data while
    the others wait, then all train; rank 0 alone writes metrics and checkpoints and reports events.
    """
    ctx = ctx or DistContext()
    stop = stop or threading.Event()
    stage = ["corpus"]  # the stage in progress, for a stop before training began

    def emit(event: Event) -> None:
        if isinstance(event, Stage):
            stage[0] = event.stage
        if not ctx.is_main:
            if isinstance(event, Error):  # rank 0 says it too; a rank's own problem goes to its stderr
                print(f"rank {ctx.rank}: {event.message}", file=sys.stderr)
            return
        wire = event.to_dict()
        if valid_run_name(name) and runs.run_exists(workspace.models / name):
            runs.append_metric(workspace.models / name, wire)
        if on_event:
            on_event(wire)

    locked = False
    try:
        run = runs.run_dir(workspace.models, name)
        cfg = runs.load_run_config(run)
        # a device or dtype this machine lacks fails now, not after minutes of data preparation
        device = preflight.check_run(cfg, ctx, workspace.models)
        distributed.init(ctx, device.type)
        if ctx.is_main:
            runs.acquire_lock(run)
            locked = True
    except TinyGPTError as err:
        emit(Error(message=err.message, hint=err.hint))
        train_dist.gate(ctx, err)
        raise
    try:
        cfg, tok, shard_set, resume, corpus = train_dist.prepare_across_ranks(run, workspace.data, cfg, ctx, emit,
                                                                              stop)
        if not ctx.enabled:  # several processes keep the shape they were given (no rank fits alone)
            cfg, fitted = preflight.fit_to_machine(run, cfg, device, workspace.models, len(shard_set.train))
            if fitted:
                emit(Stage(stage="model", message=fitted))
        start_point = bool(resume and resume[1].get("start_point"))  # an imported run's first training
        emit(Stage(stage="model", message="building the model" + (
            " from its imported weights" if start_point else " and restoring the checkpoint" if resume else "")))
        note = train_dist.world_change_note(int(resume[1].get("world_size", 1)), ctx.world_size, cfg) \
            if resume and not start_point else None
        if note:
            emit(Stage(stage="model", message=note))
        trainer = Trainer(run, cfg, tok, shard_set, emit, stop, resume, ctx, corpus_fingerprint=corpus)
        del resume  # the trainer holds what it needs
        where = (f" in {ctx.world_size} processes ({distributed.backend_for(trainer.device.type)})"
                 if ctx.enabled else "")
        emit(Stage(stage="training", message=f"training on {trainer.device.type}{where} in {dtype_name(trainer.dtype)}"
                                             + (" with torch.compile" if cfg.train.compile else "")))
        if trainer.optimizer_note:
            emit(Stage(stage="training", message=trainer.optimizer_note))
        done = trainer.run()
        emit(done)
        return done.to_dict() | {"best_val_loss": trainer.best_val_loss, "best_val_bpb": trainer.best_val_bpb,
                                 "val_loss": trainer.last_val_loss, "elapsed_s": trainer.elapsed}
    except Interrupted:
        done = Done(step=0, reason="interrupted", resumable=True, began=False, stage=stage[0])
        emit(done)
        return done.to_dict()
    except TinyGPTError as err:
        emit(Error(message=err.message, hint=err.hint))
        raise
    finally:
        if locked:
            runs.release_lock(run)


# --------------------------------------------------------------------------------------------------
# process entry: python -m tinygpt_tui.train --run NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygpt_tui.train",
                                     description="Train one run, printing one JSON event per line.")
    parser.add_argument("--run", required=True, help="the run's name (models/NAME must have a config.json)")
    parser.add_argument("--models-dir", help="where runs live (default ./models or $TINYGPT_MODELS)")
    parser.add_argument("--data-dir", help="where datasets live (default ./data or $TINYGPT_DATA)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--"]:  # torchrun ... -m tinygpt_tui.train -- --run NAME, where a launcher keeps the "--"
        argv = argv[1:]
    args = parser.parse_args(argv)
    workspace = Workspace.from_env(args.models_dir, args.data_dir)
    try:
        ctx = distributed.context_from_env()
    except TinyGPTError as err:
        print(json.dumps(Error(message=err.message, hint=err.hint).to_dict()))
        return 2

    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()  # finish the current step, save, exit 0 (every rank agrees on the step: Trainer._agree)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def print_event(event: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away; training and metrics.jsonl go on
            pass

    clean = False
    try:
        train_run(workspace, args.run, on_event=print_event, stop=stop, ctx=ctx)
        clean = True
    except TinyGPTError:
        return 2  # train_run printed the error event
    except Exception as err:
        if not ctx.enabled:
            raise
        # a peer died mid-collective (gloo/nccl say so at once); torchrun stops the rest of the group
        print(f"rank {ctx.rank}: training stopped because another process of the group failed "
              f"({type(err).__name__}: {str(err)[:200]})", file=sys.stderr)
        return 1
    finally:
        distributed.shutdown(clean)
    return 0


if __name__ == "__main__":
    sys.exit(main())
