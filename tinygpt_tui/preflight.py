"""What is checked before a run prepares any data or allocates a tensor: the device and dtype exist
on this machine, the shape fits in its memory, the batch divides across the processes.

Each failure is one sentence and a hint, said in a second rather than after minutes of preparation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import distributed, runs
from .config import RunConfig, TinyGPTError
from .device import available_memory, peak_table_path, resolve_device, resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .distributed import DistContext


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


def check_run(cfg: RunConfig, ctx: DistContext, models: Path) -> torch.device:
    """The device this rank trains ``cfg`` on, after every check that needs no data; raises
    TinyGPTError for a device or dtype this machine lacks, a shape too big for its memory, or a
    gradient accumulation that does not divide across the processes."""
    device = resolve_device(distributed.rank_device(cfg.train.device, ctx))
    if cfg.train.dtype != "auto":
        resolve_dtype(cfg.train.dtype, device, peak_table_path(models))
    check_memory(cfg, device)
    distributed.split_accum(cfg.train.grad_accum, ctx.world_size)
    return device
