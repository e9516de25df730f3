"""Training across processes, GPUs and nodes with PyTorch's own engine (torchrun + DDP).

A run trains in ``world_size`` processes started by ``torchrun`` (or ``python -m
torch.distributed.run``), which sets ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` for each. This module
holds what the trainer needs to know about that, and nothing about training itself:

- :func:`context_from_env` reads the launcher's variables (a plain process is a world of one);
- :func:`init` joins the process group: ``nccl`` on CUDA, ``gloo`` on the CPU;
- :func:`split_accum` divides the configured gradient accumulation across ranks, so the global batch
  stays ``batch_size x grad_accum`` whatever the world size (one sentence when it does not divide);
- :func:`launch_command` is the ``torchrun`` command line the faces start for ``--nproc N``.

Failure propagation is torchrun's: when a rank exits with an error, its agent stops the others
(SIGTERM, then SIGKILL). A rank whose peer died mid-collective gets an error from gloo/nccl at once;
the process group's timeout (``$TINYGPT_DIST_TIMEOUT``, default 1800 s, long enough for rank 0 to
prepare a corpus while the others wait) is only the last resort.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .config import TinyGPTError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands among the training processes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, metrics and samples, and prints events."""
        return self.rank == 0


def context_from_env(env: dict[str, str] | None = None) -> DistContext:
    """The launcher's ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``; a world of one
    when they are absent."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", "0"))
        local_world = int(env.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        raise TinyGPTError("RANK, LOCAL_RANK or WORLD_SIZE is not a number.",
                           "start distributed training with torchrun or tinygpt train --nproc N.") from None
    if world < 1 or not 0 <= rank < world:
        raise TinyGPTError(f"RANK {rank} is not inside WORLD_SIZE {world}.",
                           "start distributed training with torchrun or tinygpt train --nproc N.")
    return DistContext(rank=rank, local_rank=local_rank, world_size=world, local_world_size=max(1, local_world))


def backend_for(device_type: str) -> str:
    """``nccl`` between CUDA GPUs, ``gloo`` between CPU processes."""
    return "nccl" if device_type == "cuda" else "gloo"


def rank_device(name: str, ctx: DistContext, cuda_available: bool | None = None) -> str:
    """The device name one rank trains on: with several processes on CUDA, each takes the GPU of its
    ``LOCAL_RANK`` (``auto``/``cuda`` become ``cuda:LOCAL_RANK``)."""
    import torch

    if not ctx.enabled:
        return name
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if name == "cuda" or (name == "auto" and cuda):
        return f"cuda:{ctx.local_rank}"
    if name == "auto":
        return "cpu"  # gloo; MPS has no collective backend
    return name


def split_accum(grad_accum: int, world_size: int) -> int:
    """Micro-batches per rank and step, so that the global batch is what the configuration says."""
    if grad_accum % world_size:
        raise TinyGPTError(
            f"grad_accum {grad_accum} does not divide across {world_size} processes, so the global batch "
            f"(batch_size x grad_accum) cannot be kept.",
            f"set --grad-accum to a multiple of {world_size}, or train with a number of processes that divides "
            f"{grad_accum}.")
    return grad_accum // world_size


def timeout() -> timedelta:
    return timedelta(seconds=float(os.environ.get("TINYGPT_DIST_TIMEOUT", "1800")))


def init(ctx: DistContext, device_type: str) -> None:
    """Join the process group of this world (a no-op for a world of one)."""
    import torch
    import torch.distributed as dist

    if not ctx.enabled or dist.is_initialized():
        return
    if device_type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    dist.init_process_group(backend=backend_for(device_type), timeout=timeout())


def shutdown(clean: bool = True) -> None:
    """Leave the process group. Whatever still holds the group's work (the DDP wrapper, its buckets)
    is collected first, while the interpreter is whole: freed during interpreter shutdown instead,
    gloo's threads abort the process ("terminate called without an active exception"). After a
    clean run the ranks also wait for each other, so that none tears down while rank 0 still writes."""
    import gc

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    gc.collect()
    if clean:
        try:
            dist.barrier()
        except Exception:  # a peer already gone: nothing left to wait for
            pass
    dist.destroy_process_group()
    gc.collect()


def broadcast(value: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` on every rank (a small picklable value between our own processes)."""
    import torch.distributed as dist

    if not ctx.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather(value: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``value``, in rank order."""
    import torch.distributed as dist

    if not ctx.enabled:
        return [value]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def launch_command(nproc: int, module_args: list[str], python: str | None = None) -> list[str]:
    """The command that trains with ``nproc`` processes on this machine: PyTorch's launcher
    (``torchrun``'s module, so the same interpreter and environment) in standalone mode, running
    ``python -m tinygpt_tui.train`` with ``module_args``. One process needs no launcher."""
    python = python or sys.executable
    if nproc <= 1:
        return [python, "-m", "tinygpt_tui.train", *module_args]
    # ``--`` ends the launcher's own options: without it, its parser reads ``--run`` as an ambiguous
    # abbreviation of its ``--run-path``
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "tinygpt_tui.train", "--", *module_args]


def check_nproc(nproc: int, grad_accum: int) -> None:
    """Refuse a process count before anything is started."""
    if nproc < 1:
        raise TinyGPTError(f"--nproc must be at least 1, not {nproc}.")
    split_accum(grad_accum, nproc)
