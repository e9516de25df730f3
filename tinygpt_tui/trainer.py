"""One run's training loop (:class:`Trainer`): model, optimizer, data, steps, evaluations, samples
and checkpoints, each reported as a typed event. :mod:`tinygpt_tui.train` builds it.

- builds the GPT and its optimizer (optim.py: Muon for the blocks' matrices or AdamW) and, when a
  resume point exists, restores weights, optimizer moments, step, elapsed time and RNG states;
- trains: the learning-rate schedule (warmup, then cosine or warmup-stable-decay, over steps or over
  a wall-clock budget with ``max_time``), gradient accumulation, clipping, bf16/fp16 autocast,
  optional ``torch.compile``;
- every ``eval_interval`` steps measures validation loss and bits per byte (evaluate.py), writes a
  sample (generate.py's sampler), scores the validation story (story.py) and writes a checkpoint,
  keeping the best-by-validation weights beside the latest, and a thinned history of past
  evaluations' weights for the time-lapse (history.py).

Exact resume: batch ``i`` of the training stream is a pure function of (seed, i) (shards.BatchSampler),
the global torch RNG is consumed only by dropout inside training steps (evaluation and samples use
their own generators), and the resume point holds that RNG state. So on CPU in fp32 a resumed
step-based run repeats the uninterrupted run's losses exactly. A time-based run (``max_time``) resumes
with its elapsed time, so the schedule continues where it was; its learning rate depends on measured
time, so its losses are not bit-for-bit those of an uninterrupted run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import checkpoint, distributed, history, outcome, runs, train_dist
from .config import RunConfig, SamplingConfig
from .device import (
    autocast,
    dtype_name,
    gpu_memory_total,
    gpu_usage,
    measure_peak_flops,
    peak_table_path,
    probe_threads,
    resolve_device,
    resolve_dtype,
    set_threads,
)
from .distributed import DistContext
from .evaluate import byte_lengths_tensor, estimate_loss
from .events import Checkpoint, Done, Eval, Event, Sample, Stage, Start, Step, Story
from .meter import StepMeter
from .model import GPT
from .optim import lr_factor, make_optimizer, ns_dtype_for, set_lr_factor
from .story import pick_story, score_story

if TYPE_CHECKING:  # pragma: no cover
    from .shards import ShardSet
    from .tokenizer import Tokenizer

PROBE_EVERY = 30.0
"""Seconds of a time-budget run between two probes of the fastest thread count."""

# --------------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """One run's training: model, optimizer, data and the loop. Built by :func:`train_run`."""

    def __init__(self, run: Path, cfg: RunConfig, tok: Tokenizer, shard_set: ShardSet,
                 emit: Callable[[Event], None], stop: threading.Event,
                 resume: tuple[dict[str, torch.Tensor], dict[str, Any]] | None, ctx: DistContext | None = None,
                 corpus_fingerprint: str | None = None):
        from .shards import BatchSampler

        self.name, self.cfg, self.tok, self.emit, self.stop = run.name, cfg, tok, emit, stop
        self.ctx = ctx = ctx or DistContext()
        self.dir = run
        self.corpus_fingerprint = corpus_fingerprint  # the corpus's sha256, kept in the resume point
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
            resolve_dtype(_resume_dtype(tc.dtype, resume, self.device), self.device, self.peak_table)
            if ctx.is_main else None, ctx)
        saved_threads = resume[1].get("threads") if resume is not None else None
        self.cores, self.probing = train_dist.choose_threads(self.device, self.dtype, ctx, saved_threads, tc.max_time)
        self.autocast = autocast(self.device, self.dtype)
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None

        torch.manual_seed(tc.seed)
        self.model = GPT(cfg.model).to(self.device)
        self.optimizer, self.optimizer_note = make_optimizer(self.model, tc, ns_dtype_for(self.device, self.dtype))
        # on CUDA, batches go through pinned memory and are copied without blocking the host
        self.sampler = BatchSampler(shard_set, cfg.model.block_size, tc.batch_size, tc.seed,
                                    device=str(self.device), pin_memory=self.device.type == "cuda")
        self.byte_lengths = byte_lengths_tensor(tok, self.device)
        # the validation story scored at each evaluation (rank 0's business; the others never score)
        self.story_ids = pick_story(shard_set.val, tok.eot_id, cfg.model.block_size) if ctx.is_main else []

        self.step = 0  # optimizer steps done
        self.elapsed = 0.0  # seconds of training so far, across resumes
        # seconds of elapsed that went into compiling (each session's first compiled step): the
        # budget counts them, the learning-rate schedule does not, or a 30 s compile would eat the
        # warmup of a time-budget run before its second step
        self.compile_s = 0.0
        self.decay_step: int | None = None  # where a warmup-stable-decay schedule began its decay
        # (step, learning-rate factor) where a continued run warms up again: a run given more steps
        # after its rate decayed climbs back to the schedule over warmup_steps instead of jumping
        self.rewarm: tuple[int, float] | None = None
        self.tokens_seen = 0
        self.best_val_loss: float | None = None
        self.best_val_bpb: float | None = None
        self.best_step: int | None = None
        self.last_val_loss: float | None = None
        self.val_history: list[tuple[int, float]] = []  # (step, val loss) of the evaluations
        self.eval_seconds = 0.0  # how long the last evaluation + sample + checkpoint took
        # an imported run's start point (hf_import) holds weights only: the run starts from them as a
        # fresh run does (its step-0 evaluation, its own seeding), not as a resumed one
        self.resumed = resume is not None and not resume[1].get("start_point")
        if resume is not None:
            self._restore(*resume)

        self.compiled_ok = False  # set once a compiled step has run
        self.compiling = tc.compile
        # only the training forward is compiled (and wrapped in DDP); evaluation and sampling use the
        # plain module, on rank 0 alone
        self.train_model = train_dist.wrap(torch.compile(self.model) if tc.compile else self.model, self.device, ctx)
        self.tokens_per_step = cfg.tokens_per_step  # global
        self.flops_per_token = self.model.flops_per_token(cfg.model.block_size)
        # MFU is rank 0's business: only it measures the device's peak (the same device on every rank)
        self.peak_flops = distributed.broadcast(
            measure_peak_flops(self.device, self.dtype, table=self.peak_table) if ctx.is_main else None, ctx)
        # the RNG that dropout draws from starts from a known state, whatever setup consumed; each
        # rank has its own (rank 0's is the single-process one)
        saved_world = int(resume[1].get("world_size", 1)) if resume is not None else None
        if self.resumed and (ctx.rank == 0 or saved_world == ctx.world_size):
            checkpoint.restore_rng(train_dist.rank_rng(resume[0], ctx.rank), resume[1], self.device)
        else:
            torch.manual_seed(tc.seed + 1 + ctx.rank + 1_000_003 * self.step)

    # ---------------------------------------------------------------------------------------------
    # resume point

    def _restore(self, tensors: dict[str, torch.Tensor], s: dict[str, Any]) -> None:
        path = self.dir / runs.STATE
        checkpoint.restore_training_state(self.model, self.optimizer, self.scaler, tensors, s, path)
        self.step = int(s["step"])
        self.elapsed = float(s.get("elapsed", 0.0))
        self.compile_s = float(s.get("compile_s", 0.0))
        self.decay_step = s.get("decay_step")
        rewarm = s.get("rewarm")
        if isinstance(rewarm, list) and len(rewarm) == 2:
            self.rewarm = (int(rewarm[0]), float(rewarm[1]))
        elif isinstance(s.get("lr"), (int, float)) and self.tc.lr > 0:
            # the rate this run stopped at, against what its (perhaps extended) schedule asks now
            was = float(s["lr"]) / self.tc.lr
            now = lr_factor(self.tc, self.step, max(0.0, self.elapsed - self.compile_s))
            if now > 2 * was + 0.05:
                self.rewarm = (self.step, was)
        self.tokens_seen = int(s.get("tokens_seen", 0))
        self.best_val_loss = s.get("best_val_loss")
        self.best_val_bpb = s.get("best_val_bpb")
        self.best_step = s.get("best_step")
        self.last_val_loss = s.get("val_loss")
        past = s.get("val_history") or []
        self.val_history = [(int(a), float(b)) for a, b in past
                            if isinstance(a, int) and isinstance(b, (int, float))][-8:]

    def _scalars(self) -> dict[str, Any]:
        """The loop's own numbers for the resume point (the codec adds optimizer and RNG states)."""
        return {
            "step": self.step, "elapsed": self.elapsed, "compile_s": self.compile_s, "decay_step": self.decay_step, "tokens_seen": self.tokens_seen,
            "rewarm": list(self.rewarm) if self.rewarm else None,
            "best_val_loss": self.best_val_loss, "best_val_bpb": self.best_val_bpb, "best_step": self.best_step,
            "val_loss": self.last_val_loss, "val_history": [list(p) for p in self.val_history[-8:]],
            "data_position": self.step * self.tc.grad_accum,  # next training batch index
            "vocab_size": self.cfg.model.vocab_size, "tokenizer_fingerprint": self.tok.fingerprint(),
            "model": dict(vars(self.cfg.model)), "dtype": dtype_name(self.dtype), "device": self.device.type,
            "threads": torch.get_num_threads(), "lr": self.tc.lr * self.lr_factor(),
            "world_size": self.ctx.world_size, "batch_size": self.tc.batch_size, "grad_accum": self.tc.grad_accum,
            "seed": self.tc.seed, "corpus_sha256": self.corpus_fingerprint,
        }

    def save(self, best: bool = False) -> Path | None:
        """Checkpoint: best weights (when improved), then the resume point, then the latest weights.
        Called on every rank (the ranks' RNG states are gathered); rank 0 alone writes. Weights that
        are not all finite are never written: the previous checkpoint stays."""
        with torch.no_grad():
            finite = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        if not finite:  # the same on every rank: DDP keeps their weights equal
            self._diverged(float("nan"), what="weights")
        rngs = distributed.all_gather(train_dist.rng_bytes(self.device), self.ctx)
        if not self.ctx.is_main:
            return None
        tensors, scalars = checkpoint.pack_training_state(self.model, self.optimizer, self.scaler, self.device,
                                                          self._scalars())
        train_dist.add_rank_rngs(tensors, rngs)
        d = checkpoint.save_checkpoint(self.dir, self.model, tensors, scalars, best=best)
        self.emit(Checkpoint(step=self.step, path=str(d), best=best))
        return d

    # ---------------------------------------------------------------------------------------------
    # one step, evaluation, sample

    @property
    def schedule_elapsed(self) -> float:
        """Training seconds as the learning-rate schedule counts them: compile time left out."""
        return max(0.0, self.elapsed - self.compile_s)

    def finished(self) -> str | None:
        """Why training is over, or None."""
        if self.tc.max_time:
            # stop early enough that the final evaluation still fits in the budget
            return "time" if self.elapsed + self.eval_seconds >= self.tc.max_time else None
        return "finished" if self.step >= self.tc.max_steps else None

    def lr_factor(self) -> float:
        """The schedule's factor of the peak rates for the next step; a continued run's re-warmup
        climbs linearly from where it stopped to the schedule over ``warmup_steps``."""
        factor = lr_factor(self.tc, self.step, self.schedule_elapsed)
        if self.rewarm is not None:
            start, was = self.rewarm
            done = (self.step - start + 1) / max(1, self.tc.warmup_steps)
            if done < 1.0:
                return was + (factor - was) * max(done, 0.0)
        return factor

    def train_step(self) -> tuple[float, float, float]:
        """One optimizer step over ``grad_accum`` micro-batches; returns (loss, lr, grad norm)."""
        tc = self.tc
        scheduled = lr_factor(tc, self.step, self.schedule_elapsed)
        factor = self.lr_factor()
        lr = tc.lr * factor
        set_lr_factor(self.optimizer, factor)
        if tc.schedule == "wsd" and self.decay_step is None and self.step >= tc.warmup_steps and scheduled < 1.0:
            self.decay_step = self.step
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
                self.train_model = train_dist.wrap(self.model, self.device, self.ctx)
                self.optimizer.zero_grad(set_to_none=True)
                self.emit(Stage(stage="training",
                                message=f"torch.compile failed here ({type(err).__name__}); training without it"))
                return self.train_step()
            total += loss.item()
        self.compiled_ok = True
        if ddp:
            total, self._stop_agreed = train_dist.agree(total, self.stop.is_set(), self.device, self.ctx)
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

    def _stopping(self) -> bool:
        return self._stop_agreed if self.ctx.enabled else self.stop.is_set()

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
        self.emit_story()
        self.save(best=best)
        self.save_history(m["val_loss"])

    def save_history(self, val_loss: float | None) -> None:
        """Add this evaluation's weights to the run's thinned history (history.py; rank 0 alone, after
        the resume point, drawing no random number)."""
        if self.ctx.is_main and self.tc.history > 0:
            history.save_frame(self.dir, self.model, step=self.step, tokens=self.tokens_seen, val_loss=val_loss,
                               bound=self.tc.history)

    def emit_story(self) -> None:
        """Score the validation story and send it (rank 0, at each evaluation). Scoring draws no
        random number, so the global RNG that exact resume relies on is left as it was."""
        if not self.story_ids:
            return
        tokens, bits = score_story(self.model, self.tok, self.story_ids)  # leaves the model in train mode
        self.emit(Story(step=self.step, tokens=tokens, bits=bits))

    # ---------------------------------------------------------------------------------------------
    # the loop

    def run(self) -> Done:
        """Train until the budget is spent or a stop is asked for; returns the ``done`` event."""
        tc = self.tc
        self.emit(Start(step=self.step, max_steps=tc.max_steps, max_time=tc.max_time,
                        params=self.model.num_params(), tokens_per_step=self.tokens_per_step,
                        device=self.device.type, dtype=dtype_name(self.dtype), resumed=self.resumed,
                        compile=tc.compile, threads=torch.get_num_threads(), peak_flops=self.peak_flops,
                        elapsed_s=self.elapsed, world_size=self.ctx.world_size,
                        gpu_mem_total=gpu_memory_total(self.device)))
        reason = self.finished()
        if reason:
            return outcome.already_trained(self.name, reason, self.step, tc)
        self.meter = StepMeter(self.tokens_per_step, self.resumed)
        if self.step == 0 and not self.resumed:
            # the untrained model's loss: the curve starts at step 0 (not a best, no checkpoint)
            m = self.evaluate()
            self.emit(Eval(step=0, train_loss=m["train_loss"], val_loss=m["val_loss"], val_bpb=m["val_bpb"],
                           best=False))
            self.emit_story()  # the untrained model's story: every later one is compared with it
            self.save_history(m["val_loss"])  # the time-lapse starts from the untrained model
        saved_step = self.step if self.resumed else -1
        next_probe = self.elapsed + PROBE_EVERY
        while True:
            if self.probing and tc.max_time and self.elapsed >= next_probe:
                # the load of a shared machine changes; a time budget is best spent on the faster count
                set_threads(probe_threads(self.dtype, self.cores))
                next_probe = self.elapsed + PROBE_EVERY
            t0 = time.perf_counter()
            compiling = self.compiling and not self.compiled_ok  # this session's first compiled step
            loss, lr, grad_norm = self.train_step()
            if not math.isfinite(loss):
                self._diverged(loss)
            dt = train_dist.rank0_seconds(time.perf_counter() - t0, self.device, self.ctx)
            self.step += 1
            self.elapsed += dt
            if compiling and self.compiled_ok:
                self.compile_s += dt
            self.tokens_seen += self.tokens_per_step
            reason = self.finished()
            self._account(dt, loss, lr, grad_norm, log=self.step % tc.log_interval == 0 or bool(reason)
                          or self._stopping())
            if self.step % tc.eval_interval == 0 or reason:
                t1 = time.perf_counter()
                self.eval_sample_checkpoint()
                saved_step = self.step
                # evaluations are part of the wall-clock budget
                self.eval_seconds = train_dist.rank0_seconds(time.perf_counter() - t1, self.device, self.ctx)
                self.elapsed += self.eval_seconds
                reason = reason or self.finished()
            elif tc.checkpoint_interval and self.step % tc.checkpoint_interval == 0:
                t1 = time.perf_counter()
                self.save()  # a resume point between evaluations, part of the budget too
                saved_step = self.step
                self.elapsed += train_dist.rank0_seconds(time.perf_counter() - t1, self.device, self.ctx)
            if reason:
                return self._finished(reason)
            if self._stopping():
                if saved_step != self.step:
                    self.save()
                return Done(step=self.step, reason="interrupted", resumable=True, path=str(self.dir))

    def _account(self, dt: float, loss: float, lr: float, grad_norm: float, *, log: bool) -> None:
        """Fold one step's time into the meter; emit a ``step`` event when ``log``."""
        self.meter.add(self.step, dt)
        if log:
            tps, eta = self.meter.read(self.step, self.elapsed, dt, self.tc)
            mfu = tps * self.flops_per_token / (self.peak_flops * self.ctx.world_size)
            gpu_util, gpu_mem = gpu_usage(self.device)
            self.emit(Step(step=self.step, loss=loss, lr=lr, tokens_per_s=tps, mfu=mfu, elapsed_s=self.elapsed,
                           eta_s=eta, grad_norm=grad_norm, tokens=self.tokens_seen, threads=torch.get_num_threads(),
                           gpu_util=gpu_util, gpu_mem=gpu_mem))

    def _finished(self, reason: str) -> Done:
        return outcome.finished(self.dir, reason, self.step, self.elapsed, self.tokens_seen, self.tc,
                                self.val_history, self.best_val_loss, self.best_val_bpb, self.decay_step)

    def _diverged(self, value: float, what: str = "loss") -> None:
        raise outcome.diverged(self.dir, value, self.step + 1, what)


def _resume_dtype(name: str, resume: tuple[Any, dict[str, Any]] | None, device: torch.device) -> str:
    """``auto`` resumes in the dtype its run was trained in on this kind of device (re-measuring could
    switch a CPU run between float32 and bfloat16 halfway); any other name is the user's choice."""
    saved = resume[1].get("dtype") if resume is not None else None
    if name == "auto" and isinstance(saved, str) and resume[1].get("device") == device.type:
        return saved
    return name
