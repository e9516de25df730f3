"""The training loop: train or resume a run, reporting every step as a typed event.

``train_run(workspace, name)`` takes a run created by :func:`tinygpt_tui.runs.create_run` and

1. checks its resume point, if any (checkpoint.py), and builds what is missing: corpus, tokenizer,
   token shards (prepare.py);
2. builds the GPT, AdamW (no decay on norms, biases and embeddings) and, when a resume point exists,
   restores weights, optimizer moments, step, elapsed time and RNG states from it;
3. trains: warmup then cosine decay to ``min_lr`` (over steps, or over a wall-clock budget with
   ``max_time``), gradient accumulation, clipping, bf16/fp16 autocast, optional ``torch.compile``;
4. every ``eval_interval`` steps measures validation loss and bits per byte (evaluate.py), writes a
   sample (generate.py's sampler) and a checkpoint, keeping the best-by-validation weights beside the
   latest.

Every event (events.py: ``stage``, ``progress``, ``start``, ``step``, ``eval``, ``sample``,
``checkpoint``, ``done``, ``error``) goes to ``metrics.jsonl`` and to the ``on_event`` callback as its
JSON dict; run as a process (``python -m tinygpt_tui.train --run NAME``) each event is also printed as
one JSON line.

Exact resume: batch ``i`` of the training stream is a pure function of (seed, i) (shards.BatchSampler),
the global torch RNG is consumed only by dropout inside training steps (evaluation and samples use
their own generators), and the resume point holds that RNG state. So on CPU in fp32 a resumed
step-based run repeats the uninterrupted run's losses exactly. A time-based run (``max_time``) resumes
with its elapsed time, so the schedule continues where it was; its learning rate depends on measured
time, so its losses are not bit-for-bit those of an uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import checkpoint, distributed, runs
from .atomic import remove_orphaned_temp_files
from .config import RunConfig, SamplingConfig, TinyGPTError, valid_run_name
from .device import (
    autocast,
    available_cores,
    available_memory,
    dtype_name,
    measure_peak_flops,
    peak_table_path,
    probe_threads,
    resolve_device,
    resolve_dtype,
    set_threads,
)
from .distributed import DistContext
from .evaluate import byte_lengths_tensor, estimate_loss
from .events import Checkpoint, Done, Error, Eval, Event, Sample, Stage, Start, Step
from .model import GPT
from .optim import learning_rate, lr_factor, make_optimizer, set_lr_factor
from .prepare import Interrupted, prepare_data
from .workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover
    from .shards import ShardSet
    from .tokenizer import Tokenizer

PROBE_EVERY = 30.0
"""Seconds of a time-budget run between two probes of the fastest thread count."""

STILL_FALLING = 0.02
"""A validation loss that fell by more than this share over the last evaluation interval was still
falling fast: the run ended while the model was learning (under-trained)."""

SHORT_OF_PLAN = 0.5
"""A time-budget run that did fewer than this share of its planned ``max_steps`` is under-trained."""


def undertrained(val_history: list[tuple[int, float]], step: int, tc: Any) -> str:
    """Why a run that ended at ``step`` is under-trained, from what the trainer measured, or "".

    ``val_history``: (step, validation loss) of its evaluations, oldest first. Two facts say so: the
    validation loss still fell fast over the last evaluation interval (more than STILL_FALLING of its
    value), or a time budget ended after less than SHORT_OF_PLAN of the planned steps (a slow or busy
    machine).
    """
    if tc.max_time and step < SHORT_OF_PLAN * tc.max_steps:
        return f"it ran {step:,} of the {tc.max_steps:,} steps planned in its {tc.max_time:g} s budget"
    finite = [(s, v) for s, v in val_history if v is not None and math.isfinite(v)]
    if len(finite) >= 2:
        (s0, v0), (s1, v1) = finite[-2], finite[-1]
        if v0 > 0 and s1 > s0 and (v0 - v1) / v0 > STILL_FALLING:
            return (f"the validation loss was still falling fast: {v0:.3f} at step {s0:,}, "
                    f"{v1:.3f} at step {s1:,}")
    return ""


# --------------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """One run's training: model, optimizer, data and the loop. Built by :func:`train_run`."""

    def __init__(self, run: Path, cfg: RunConfig, tok: Tokenizer, shard_set: ShardSet,
                 emit: Callable[[Event], None], stop: threading.Event,
                 resume: tuple[dict[str, torch.Tensor], dict[str, Any]] | None, ctx: DistContext | None = None):
        from .shards import BatchSampler

        self.name, self.cfg, self.tok, self.emit, self.stop = run.name, cfg, tok, emit, stop
        self.ctx = ctx = ctx or DistContext()
        self.dir = run
        self.peak_table = peak_table_path(run.parent)  # kept beside the runs
        tc = cfg.train
        self.tc = tc
        # several processes: the configured micro-batches per step divide across them (global batch kept)
        self.accum = distributed.split_accum(tc.grad_accum, ctx.world_size)
        self._stop_agreed = False
        set_threads()
        self.device = resolve_device(distributed.rank_device(tc.device, ctx))
        # every rank must autocast to the same dtype: rank 0's choice (auto may time matmuls) is everyone's
        self.dtype = distributed.broadcast(
            resolve_dtype(tc.dtype, self.device, self.peak_table) if ctx.is_main else None, ctx)
        # threads: all cores, or one when the machine is busy enough that one is faster (probed).
        # A resumed step-based run keeps the count it started with: a different count sums in a
        # different order, and the resume would no longer repeat the uninterrupted run exactly.
        # Time-based runs promise no such thing and re-probe as they go.
        self.cores = available_cores()
        if ctx.enabled and not os.environ.get("TINYGPT_THREADS"):
            # the processes of one machine share its cores ($TINYGPT_THREADS is per process)
            self.cores = max(1, self.cores // ctx.local_world_size)
            set_threads(self.cores)
        self.probing = (self.device.type == "cpu" and self.cores > 1 and not os.environ.get("TINYGPT_THREADS")
                        and not ctx.enabled)
        saved_threads = resume[1].get("threads") if resume is not None else None
        if self.probing and saved_threads and not tc.max_time:
            set_threads(min(int(saved_threads), self.cores))
        elif self.probing:
            set_threads(probe_threads(self.dtype, self.cores))
        self.autocast = autocast(self.device, self.dtype)
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None

        torch.manual_seed(tc.seed)
        self.model = GPT(cfg.model).to(self.device)
        self.optimizer, self.optimizer_note = make_optimizer(self.model, tc)
        # on CUDA, batches go through pinned memory and are copied without blocking the host
        self.sampler = BatchSampler(shard_set, cfg.model.block_size, tc.batch_size, tc.seed,
                                    device=str(self.device), pin_memory=self.device.type == "cuda")
        self.byte_lengths = byte_lengths_tensor(tok, self.device)

        self.step = 0  # optimizer steps done
        self.elapsed = 0.0  # seconds of training so far, across resumes
        self.tokens_seen = 0
        self.best_val_loss: float | None = None
        self.best_val_bpb: float | None = None
        self.best_step: int | None = None
        self.last_val_loss: float | None = None
        self.val_history: list[tuple[int, float]] = []  # (step, val loss) of the evaluations
        self.eval_seconds = 0.0  # how long the last evaluation + sample + checkpoint took
        self.resumed = resume is not None
        if resume is not None:
            self._restore(*resume)

        self.compiled_ok = False  # set once a compiled step has run
        self.compiling = tc.compile
        # only the training forward is compiled (and wrapped in DDP); evaluation and sampling use the
        # plain module, on rank 0 alone
        self.train_model = self._wrap(torch.compile(self.model) if tc.compile else self.model)
        self.tokens_per_step = tc.batch_size * tc.grad_accum * cfg.model.block_size  # global
        self.flops_per_token = self.model.flops_per_token(cfg.model.block_size)
        # MFU is rank 0's business: only it measures the device's peak (the same device on every rank)
        self.peak_flops = distributed.broadcast(
            measure_peak_flops(self.device, self.dtype, table=self.peak_table) if ctx.is_main else None, ctx)
        # the RNG that dropout draws from starts from a known state, whatever setup consumed; each
        # rank has its own (rank 0's is the single-process one)
        saved_world = int(resume[1].get("world_size", 1)) if resume is not None else None
        if resume is not None and (ctx.rank == 0 or saved_world == ctx.world_size):
            checkpoint.restore_rng(_rank_rng(resume[0], ctx.rank), resume[1], self.device)
        else:
            torch.manual_seed(tc.seed + 1 + ctx.rank + 1_000_003 * self.step)

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in DistributedDataParallel when there are several processes: it averages the
        gradients across ranks during the backward of each step's last micro-batch."""
        if not self.ctx.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index if self.device.index is not None else self.ctx.local_rank] \
            if self.device.type == "cuda" else None
        # the model's buffers (rotary tables) are constants: nothing to broadcast at every forward
        return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)

    # ---------------------------------------------------------------------------------------------
    # resume point

    def _restore(self, tensors: dict[str, torch.Tensor], s: dict[str, Any]) -> None:
        path = self.dir / runs.STATE
        checkpoint.restore_training_state(self.model, self.optimizer, self.scaler, tensors, s, path)
        self.step = int(s["step"])
        self.elapsed = float(s.get("elapsed", 0.0))
        self.tokens_seen = int(s.get("tokens_seen", 0))
        self.best_val_loss = s.get("best_val_loss")
        self.best_val_bpb = s.get("best_val_bpb")
        self.best_step = s.get("best_step")
        self.last_val_loss = s.get("val_loss")
        history = s.get("val_history") or []
        self.val_history = [(int(a), float(b)) for a, b in history
                            if isinstance(a, int) and isinstance(b, (int, float))][-8:]

    def _scalars(self) -> dict[str, Any]:
        """The loop's own numbers for the resume point (the codec adds optimizer and RNG states)."""
        return {
            "step": self.step, "elapsed": self.elapsed, "tokens_seen": self.tokens_seen,
            "best_val_loss": self.best_val_loss, "best_val_bpb": self.best_val_bpb, "best_step": self.best_step,
            "val_loss": self.last_val_loss, "val_history": [list(p) for p in self.val_history[-8:]],
            "data_position": self.step * self.tc.grad_accum,  # next training batch index
            "vocab_size": self.cfg.model.vocab_size, "tokenizer_fingerprint": self.tok.fingerprint(),
            "model": dict(vars(self.cfg.model)), "dtype": dtype_name(self.dtype), "device": self.device.type,
            "threads": torch.get_num_threads(), "lr": learning_rate(self.tc, self.step, self.elapsed),
            "world_size": self.ctx.world_size,
        }

    def save(self, best: bool = False) -> Path | None:
        """Checkpoint: best weights (when improved), then the resume point, then the latest weights.
        Called on every rank (the ranks' RNG states are gathered); rank 0 alone writes. Weights that
        are not all finite are never written: the previous checkpoint stays."""
        with torch.no_grad():
            finite = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        if not finite:  # the same on every rank: DDP keeps their weights equal
            self._diverged(float("nan"), what="weights")
        rngs = distributed.all_gather(_rng_bytes(self.device), self.ctx)
        if not self.ctx.is_main:
            return None
        tensors, scalars = checkpoint.pack_training_state(self.model, self.optimizer, self.scaler, self.device,
                                                          self._scalars())
        for rank, states in enumerate(rngs[1:], start=1):
            for key, raw in states.items():
                tensors[f"{key}.rank{rank}"] = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        d = checkpoint.save_checkpoint(self.dir, self.model, tensors, scalars, best=best)
        self.emit(Checkpoint(step=self.step, path=str(d), best=best))
        return d

    # ---------------------------------------------------------------------------------------------
    # one step, evaluation, sample

    def finished(self) -> str | None:
        """Why training is over, or None."""
        if self.tc.max_time:
            # stop early enough that the final evaluation still fits in the budget
            return "time" if self.elapsed + self.eval_seconds >= self.tc.max_time else None
        return "finished" if self.step >= self.tc.max_steps else None

    def train_step(self) -> tuple[float, float, float]:
        """One optimizer step over ``grad_accum`` micro-batches; returns (loss, lr, grad norm)."""
        tc = self.tc
        lr = learning_rate(tc, self.step, self.elapsed)
        set_lr_factor(self.optimizer, lr_factor(tc, self.step, self.elapsed))
        self.train_model.train()
        total = 0.0
        ddp = self.ctx.enabled
        for micro in range(self.accum):
            # rank r takes its own slice of the step's micro-batches: together the ranks read exactly
            # the batches one process would (batch i is a pure function of (seed, i))
            x, y = self.sampler.get("train", self.step * tc.grad_accum + self.ctx.rank * self.accum + micro)
            # DDP averages gradients once per step, in the backward of the last micro-batch
            sync = nullcontext() if not ddp or micro == self.accum - 1 else self.train_model.no_sync()
            try:
                with sync:
                    loss = self._forward_backward(x, y)
            except Exception as err:
                if not self.compiling or self.compiled_ok:
                    raise
                # torch.compile needs a working C++ compiler (Triton on CUDA); where the first
                # compiled step fails, train eagerly instead of failing the run (every rank fails alike)
                self.compiling = False
                self.train_model = self._wrap(self.model)
                self.optimizer.zero_grad(set_to_none=True)
                self.emit(Stage(stage="training",
                                message=f"torch.compile failed here ({type(err).__name__}); training without it"))
                return self.train_step()
            total += loss.item()
        self.compiled_ok = True
        if ddp:
            total = self._agree(total)
        if not math.isfinite(total):
            self.optimizer.zero_grad(set_to_none=True)
            return total, lr, float("nan")
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        clip = tc.grad_clip if tc.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        if not math.isfinite(grad_norm) and not self.scaler:
            # a finite loss can still have inf/NaN gradients; applied, they poison every weight.
            # (With fp16 the scaler skips such a step itself and lowers its scale.)
            self.optimizer.zero_grad(set_to_none=True)
            self._diverged(grad_norm, what="gradient norm")
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, lr, grad_norm

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of one micro-batch (scaled for accumulation), with its gradients accumulated."""
        with self.autocast:
            loss = self.train_model(x, y).loss / self.accum
        if self.scaler:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        return loss

    def _agree(self, loss: float) -> float:
        """The step's loss averaged over ranks, and whether any rank was asked to stop: one all-reduce,
        so every rank takes the same decisions (skip a non-finite step, stop and save)."""
        import torch.distributed as dist

        vec = torch.tensor([loss, float(self.stop.is_set())], dtype=torch.float64, device=self.device)
        dist.all_reduce(vec)
        self._stop_agreed = bool(vec[1].item() > 0)
        return float(vec[0].item()) / self.ctx.world_size

    def _stopping(self) -> bool:
        return self._stop_agreed if self.ctx.enabled else self.stop.is_set()

    def _rank0_seconds(self, seconds: float) -> float:
        """Rank 0's clock on every rank, so that time budgets end at the same step everywhere."""
        if not self.ctx.enabled:
            return seconds
        import torch.distributed as dist

        t = torch.tensor([seconds], dtype=torch.float64, device=self.device)
        dist.broadcast(t, src=0)
        return float(t.item())

    def evaluate(self) -> dict[str, float]:
        """Mean loss on fixed train and validation batches, and validation bits per byte."""
        out = estimate_loss(self.model, self.sampler, self.tc.eval_iters, self.byte_lengths, self.autocast)
        self.model.train()
        return out

    def sample(self) -> str:
        """A short sample from ``<|endoftext|>`` by the product's one sampler, seeded by the step: its
        own generator leaves the global RNG alone, so a resumed run repeats the uninterrupted one."""
        from .generate import collect_text, generate

        params = SamplingConfig(temperature=0.8, top_k=40, top_p=1.0, max_new_tokens=max(1, self.tc.sample_tokens),
                                seed=self.tc.seed + self.step)
        return collect_text(list(generate(self.model, self.tok, "", params, inspect=False)))

    def eval_sample_checkpoint(self) -> None:
        if not self.ctx.is_main:
            self.save()  # the other ranks only hand rank 0 their RNG states
            return
        m = self.evaluate()
        self.last_val_loss = m["val_loss"]
        self.val_history.append((self.step, m["val_loss"]))
        best = self.best_val_loss is None or m["val_loss"] < self.best_val_loss
        if best:
            self.best_val_loss, self.best_val_bpb, self.best_step = m["val_loss"], m["val_bpb"], self.step
        self.emit(Eval(step=self.step, train_loss=m["train_loss"], val_loss=m["val_loss"], val_bpb=m["val_bpb"],
                       best=best))
        self.emit(Sample(step=self.step, text=self.sample()))
        self.save(best=best)

    # ---------------------------------------------------------------------------------------------
    # the loop

    def run(self) -> Done:
        """Train until the budget is spent or a stop is asked for; returns the ``done`` event."""
        tc = self.tc
        self.emit(Start(step=self.step, max_steps=tc.max_steps, max_time=tc.max_time,
                        params=self.model.num_params(), tokens_per_step=self.tokens_per_step,
                        device=self.device.type, dtype=dtype_name(self.dtype), resumed=self.resumed,
                        compile=tc.compile, threads=torch.get_num_threads(), peak_flops=self.peak_flops,
                        elapsed_s=self.elapsed, world_size=self.ctx.world_size))
        reason = self.finished()
        if reason:
            what = f"{tc.max_time:g} s" if tc.max_time else f"{tc.max_steps} steps"
            return Done(step=self.step, reason=reason,
                        message=f"run '{self.name}' has already trained for {what}; raise --max-steps or "
                                f"--max-time to train it further.")
        self._window_time, self._window_steps = 0.0, 0
        self._step_time_avg: float | None = None
        if self.step == 0 and not self.resumed:
            # the untrained model's loss: the curve starts at step 0 (not a best, no checkpoint)
            m = self.evaluate()
            self.emit(Eval(step=0, train_loss=m["train_loss"], val_loss=m["val_loss"], val_bpb=m["val_bpb"],
                           best=False))
        saved_step = self.step if self.resumed else -1
        next_probe = self.elapsed + PROBE_EVERY
        while True:
            if self.probing and tc.max_time and self.elapsed >= next_probe:
                # the load of a shared machine changes; a time budget is best spent on the faster count
                set_threads(probe_threads(self.dtype, self.cores))
                next_probe = self.elapsed + PROBE_EVERY
            t0 = time.perf_counter()
            loss, lr, grad_norm = self.train_step()
            if not math.isfinite(loss):
                self._diverged(loss)
            dt = self._rank0_seconds(time.perf_counter() - t0)
            self.step += 1
            self.elapsed += dt
            self.tokens_seen += self.tokens_per_step
            reason = self.finished()
            self._account(dt, loss, lr, grad_norm, log=self.step % tc.log_interval == 0 or bool(reason)
                          or self._stopping())
            if self.step % tc.eval_interval == 0 or reason:
                t1 = time.perf_counter()
                self.eval_sample_checkpoint()
                saved_step = self.step
                # evaluations are part of the wall-clock budget
                self.eval_seconds = self._rank0_seconds(time.perf_counter() - t1)
                self.elapsed += self.eval_seconds
                reason = reason or self.finished()
            if reason:
                return self._finished(reason)
            if self._stopping():
                if saved_step != self.step:
                    self.save()
                return Done(step=self.step, reason="interrupted", resumable=True,
                            message=f"stopped at step {self.step}; checkpoint saved in {self.dir}.")

    def _account(self, dt: float, loss: float, lr: float, grad_norm: float, *, log: bool) -> None:
        """Fold one step's time into the throughput window and the ETA's average; emit a ``step``
        event when ``log``."""
        self._window_time += dt
        self._window_steps += 1
        # the first step (and a compile) is slow: keep it out of the average that feeds the ETA
        if self.step > 1 or self.resumed:
            avg = self._step_time_avg
            self._step_time_avg = dt if avg is None else 0.9 * avg + 0.1 * dt
        if not log:
            return
        tc = self.tc
        tps = self._window_steps * self.tokens_per_step / max(self._window_time, 1e-9)
        if tc.max_time:
            eta = max(0.0, tc.max_time - self.elapsed)
        else:
            eta = (tc.max_steps - self.step) * (self._step_time_avg or dt)
        self.emit(Step(step=self.step, loss=loss, lr=lr, tokens_per_s=tps,
                       mfu=tps * self.flops_per_token / (self.peak_flops * self.ctx.world_size), elapsed_s=self.elapsed, eta_s=eta,
                       grad_norm=grad_norm, tokens=self.tokens_seen, threads=torch.get_num_threads()))
        self._window_time, self._window_steps = 0.0, 0

    def _finished(self, reason: str) -> Done:
        best = f", best validation loss {self.best_val_loss:.4f} ({self.best_val_bpb:.3f} bits/byte)" \
            if self.best_val_loss is not None else ""
        why = undertrained(self.val_history, self.step, self.tc)
        return Done(step=self.step, reason=reason,
                    message=f"trained {self.step} steps in {self.elapsed:.0f} s{best}; weights in "
                            f"{self.dir}.", best_val_bpb=self.best_val_bpb, tokens=self.tokens_seen,
                    elapsed_s=self.elapsed, undertrained=bool(why), undertrained_why=why)

    def _diverged(self, value: float, what: str = "loss") -> None:
        kept = runs.state_summary(self.dir)
        where = f"the checkpoint of step {kept['step']} is kept" if kept else "no checkpoint was written"
        raise TinyGPTError(f"The {what} became {value} at step {self.step + 1}, so training stopped; {where}.",
                           "lower the learning rate (--lr) or train in float32 (--dtype float32), then resume.")


def _rng_bytes(device: torch.device) -> dict[str, bytes]:
    """This rank's dropout RNG states as bytes, to be gathered into rank 0's resume point."""
    out = {"rng.torch": torch.get_rng_state().numpy().tobytes()}
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device).numpy().tobytes()
    return out


def _rank_rng(tensors: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    """The RNG tensors of ``rank`` in a resume point under the names :func:`checkpoint.restore_rng` reads."""
    if rank == 0:
        return tensors
    return {key: tensors[f"{key}.rank{rank}"] for key in ("rng.torch", "rng.cuda") if f"{key}.rank{rank}" in tensors}


def world_change_note(saved: int, now: int, cfg: RunConfig) -> str | None:
    """What a resume with another number of processes does, in one sentence (None when it is the same)."""
    if saved == now:
        return None
    tc = cfg.train
    return (f"this run was trained with {saved} process{'es' if saved > 1 else ''} and resumes with {now}: the "
            f"global batch stays {tc.batch_size} x {tc.grad_accum} sequences, now {tc.grad_accum // now} "
            f"micro-batch{'es' if tc.grad_accum // now > 1 else ''} per process (was {tc.grad_accum // saved}); the "
            f"batches are the same, so the losses follow the {saved}-process run within rounding, not bit for bit"
            + ("; dropout draws new masks" if cfg.model.dropout > 0 else "") + ".")


# --------------------------------------------------------------------------------------------------
# orchestration


def check_memory(cfg: RunConfig, device: torch.device) -> None:
    """Refuse, before any data is prepared or memory allocated, a shape whose training cannot fit
    in the memory ``device`` has free (estimated by :func:`runs.training_memory`)."""
    need = runs.training_memory(cfg)
    have = available_memory(device)
    if have is not None and need > have:
        raise TinyGPTError(
            f"Training run '{cfg.name}' needs about {need / 1e9:,.1f} GB of memory on {device.type}, "
            f"and {have / 1e9:,.1f} GB is free.",
            "use a smaller --n-layer, --n-embd, --block-size or --batch-size (and --grad-accum to keep the "
            "tokens per step).")


def train_run(workspace: Workspace, name: str, on_event: Callable[[dict[str, Any]], None] | None = None,
              stop: threading.Event | None = None, ctx: DistContext | None = None) -> dict[str, Any]:
    """Prepare whatever is missing for run ``name`` of ``workspace`` and train it (or resume it). Returns the final
    ``done`` event as a dict (with the best and last validation figures and the elapsed time added).
    Raises TinyGPTError (after emitting an ``error`` event) on a user-fixable problem.

    With ``ctx`` of several processes (torchrun), every rank calls this: rank 0 prepares the data while
    the others wait, then all train; rank 0 alone writes metrics and checkpoints and reports events.
    """
    from .tokenizer import load_tokenizer

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
        device = resolve_device(distributed.rank_device(cfg.train.device, ctx))
        if cfg.train.dtype != "auto":
            resolve_dtype(cfg.train.dtype, device, peak_table_path(workspace.models))
        check_memory(cfg, device)
        distributed.split_accum(cfg.train.grad_accum, ctx.world_size)
        distributed.init(ctx, device.type)
        if ctx.is_main:
            runs.acquire_lock(run)
            locked = True
    except TinyGPTError as err:
        emit(Error(message=err.message, hint=err.hint))
        _gate(ctx, err)
        raise
    try:
        d = run
        resume = None
        failure: TinyGPTError | None = None
        if ctx.is_main:
            try:
                remove_orphaned_temp_files(d)  # left by a process killed mid-write
                tok = load_tokenizer(d / runs.TOKENIZER) if (d / runs.TOKENIZER).exists() else None
                resume = checkpoint.check_resume_point(run, cfg, tok)
                tok, shard_set = prepare_data(run, workspace.data, cfg, tok, resumed=resume is not None, emit=emit,
                                              stop=stop)
                if stop.is_set():
                    raise Interrupted
            except Interrupted:
                failure = _INTERRUPTED
                raise
            except TinyGPTError as err:
                failure = err
                raise
            except Exception as err:
                failure = TinyGPTError(f"The data preparation of rank 0 failed ({type(err).__name__}: {err}).")
                raise
            finally:
                _gate(ctx, failure)
        else:
            # wait for rank 0 to prepare (it may train a tokenizer for minutes), then read what it made
            _gate(ctx, None)
            cfg = runs.load_run_config(run)  # rank 0 may have set the vocabulary size
            tok = load_tokenizer(d / runs.TOKENIZER)
            resume = checkpoint.check_resume_point(run, cfg, tok)
            tok, shard_set = prepare_data(run, workspace.data, cfg, tok, resumed=resume is not None, emit=emit,
                                          stop=threading.Event())
        emit(Stage(stage="model", message="building the model" + (" and restoring the checkpoint" if resume else "")))
        note = world_change_note(int(resume[1].get("world_size", 1)), ctx.world_size, cfg) if resume else None
        if note:
            emit(Stage(stage="model", message=note))
        trainer = Trainer(run, cfg, tok, shard_set, emit, stop, resume, ctx)
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
        done = Done(step=0, reason="interrupted", message="stopped before training began.", resumable=True,
                    stage=stage[0])
        emit(done)
        return done.to_dict()
    except TinyGPTError as err:
        emit(Error(message=err.message, hint=err.hint))
        raise
    finally:
        if locked:
            runs.release_lock(run)


_INTERRUPTED = TinyGPTError("interrupted")
"""The gate's word for a stop during rank 0's preparation."""


def _gate(ctx: DistContext, failure: TinyGPTError | None) -> None:
    """Rank 0's verdict on the set-up, on every rank: the others raise the same error (or stop) as
    rank 0, rather than wait for a training that will not come."""
    if not ctx.enabled:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        return  # the set-up failed before the group was joined: every rank fails alike
    verdict = distributed.broadcast(None if failure is None else (failure.message, failure.hint), ctx)
    if verdict is None or ctx.is_main:
        return
    if verdict[0] == _INTERRUPTED.message:
        raise Interrupted
    raise TinyGPTError(*verdict)


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

    try:
        train_run(workspace, args.run, on_event=print_event, stop=stop, ctx=ctx)
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
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
