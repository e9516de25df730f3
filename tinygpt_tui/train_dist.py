"""The training loop's glue across processes (torchrun + DDP): what each rank does differently, and
the collectives that keep every rank taking the same decisions.

- rank 0 prepares the data while the others wait, and its verdict on the set-up is everyone's
  (:func:`prepare_across_ranks`, :func:`gate`);
- the model is wrapped in DistributedDataParallel (:func:`wrap`), which averages the gradients;
- one all-reduce per step agrees on the loss and on whether any rank was asked to stop
  (:func:`agree`); rank 0's clock ends a time budget at the same step everywhere
  (:func:`rank0_seconds`);
- every rank's dropout RNG state is gathered into rank 0's resume point and given back on resume
  (:func:`rng_bytes`, :func:`add_rank_rngs`, :func:`rank_rng`).

With a world of one every function here is the single-process behaviour. distributed.py holds what
needs no training (the launcher's variables, the process group, the batch split).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from . import checkpoint, distributed, runs
from .atomic import remove_orphaned_temp_files
from .config import RunConfig, TinyGPTError
from .device import available_cores, probe_threads, set_threads
from .distributed import DistContext
from .events import Event
from .prepare import Interrupted, prepare_data

if TYPE_CHECKING:  # pragma: no cover
    from .shards import ShardSet
    from .tokenizer import Tokenizer

INTERRUPTED = TinyGPTError("interrupted")
"""The gate's word for a stop during rank 0's preparation."""


def gate(ctx: DistContext, failure: TinyGPTError | None) -> None:
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
    if verdict[0] == INTERRUPTED.message:
        raise Interrupted
    raise TinyGPTError(*verdict)


def prepare_across_ranks(run: Path, data: Path, cfg: RunConfig, ctx: DistContext, emit: Callable[[Event], None],
                         stop: threading.Event) -> tuple[RunConfig, Tokenizer, ShardSet, Any, str | None]:
    """Check the resume point and build what is missing (corpus, tokenizer, shards): rank 0 does it
    while the others wait (it may train a tokenizer for minutes), then they read what it made.
    Returns (config, tokenizer, shards, resume point or None, the corpus's fingerprint)."""
    from .tokenizer import load_tokenizer

    if not ctx.is_main:
        gate(ctx, None)
        cfg = runs.load_run_config(run)  # rank 0 may have set the vocabulary size
        tok = load_tokenizer(run / runs.TOKENIZER)
        resume = checkpoint.check_resume_point(run, cfg, tok)
        tok, shard_set = prepare_data(run, data, cfg, tok, resumed=resume is not None, emit=emit,
                                      stop=threading.Event())
        return cfg, tok, shard_set, resume, None
    failure: TinyGPTError | None = None
    try:
        remove_orphaned_temp_files(run)  # left by a process killed mid-write
        tok = load_tokenizer(run / runs.TOKENIZER) if (run / runs.TOKENIZER).exists() else None
        resume = checkpoint.check_resume_point(run, cfg, tok, data)
        tok, shard_set = prepare_data(run, data, cfg, tok, resumed=resume is not None, emit=emit, stop=stop)
        if stop.is_set():
            raise Interrupted
        corpus = checkpoint.check_corpus(run.name, resume[1] if resume else {}, data, cfg)  # a rebuilt one too
        return cfg, tok, shard_set, resume, corpus
    except Interrupted:
        failure = INTERRUPTED
        raise
    except TinyGPTError as err:
        failure = err
        raise
    except Exception as err:
        failure = TinyGPTError(f"The data preparation of rank 0 failed ({type(err).__name__}: {err}).")
        raise
    finally:
        gate(ctx, failure)


def choose_threads(device: torch.device, dtype: torch.dtype, ctx: DistContext, saved_threads: int | None,
                   max_time: float) -> tuple[int, bool]:
    """Set this rank's torch threads; returns (cores it may use, whether the loop re-probes the count).

    All cores, or one when the machine is busy enough that one is faster (probed). The processes of
    one machine share its cores (``$TINYGPT_THREADS`` is per process and wins). A resumed step-based
    run keeps the count it started with (``saved_threads``): a different count sums in a different
    order, and the resume would no longer repeat the uninterrupted run exactly. Time-based runs
    promise no such thing and re-probe as they go.
    """
    cores = available_cores()
    fixed = bool(os.environ.get("TINYGPT_THREADS"))
    if ctx.enabled and not fixed:
        cores = max(1, cores // ctx.local_world_size)
        set_threads(cores)
    probing = device.type == "cpu" and cores > 1 and not fixed and not ctx.enabled
    if probing and saved_threads and not max_time:
        set_threads(min(int(saved_threads), cores))
    elif probing:
        set_threads(probe_threads(dtype, cores))
    return cores, probing


def wrap(module: torch.nn.Module, device: torch.device, ctx: DistContext) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when there are several processes: it averages the
    gradients across ranks during the backward of each step's last micro-batch."""
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else ctx.local_rank] if device.type == "cuda" else None
    # the model's buffers (rotary tables) are constants: nothing to broadcast at every forward. The
    # keyword is recent (older PyTorch calls it broadcast_buffers).
    import inspect

    params = inspect.signature(DistributedDataParallel.__init__).parameters
    keyword = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return DistributedDataParallel(module, device_ids=ids, **{keyword: False})


def agree(loss: float, stop: bool, device: torch.device, ctx: DistContext) -> tuple[float, bool]:
    """The step's loss averaged over ranks, and whether any rank was asked to stop: one all-reduce,
    so every rank takes the same decisions (skip a non-finite step, stop and save)."""
    if not ctx.enabled:
        return loss, stop
    import torch.distributed as dist

    vec = torch.tensor([loss, float(stop)], dtype=torch.float64, device=device)
    dist.all_reduce(vec)
    return float(vec[0].item()) / ctx.world_size, bool(vec[1].item() > 0)


def rank0_seconds(seconds: float, device: torch.device, ctx: DistContext) -> float:
    """Rank 0's clock on every rank, so that time budgets end at the same step everywhere."""
    if not ctx.enabled:
        return seconds
    import torch.distributed as dist

    t = torch.tensor([seconds], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def rng_bytes(device: torch.device) -> dict[str, bytes]:
    """This rank's dropout RNG states as bytes, to be gathered into rank 0's resume point."""
    out = {"rng.torch": torch.get_rng_state().numpy().tobytes()}
    if device.type == "cuda":
        out["rng.cuda"] = torch.cuda.get_rng_state(device).numpy().tobytes()
    return out


def add_rank_rngs(tensors: dict[str, torch.Tensor], rngs: list[dict[str, bytes]]) -> None:
    """Put the gathered RNG states of ranks 1.. into rank 0's resume point tensors (``key.rankN``)."""
    for rank, states in enumerate(rngs[1:], start=1):
        for key, raw in states.items():
            tensors[f"{key}.rank{rank}"] = torch.frombuffer(bytearray(raw), dtype=torch.uint8)


def rank_rng(tensors: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
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
