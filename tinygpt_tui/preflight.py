"""What is checked before a run prepares any data or allocates a tensor: the device and dtype exist
on this machine, the shape fits in its memory, the batch divides across the processes; and, once its data is
prepared, a new time-budgeted CPU run's shape, fitted to the compute its budget gives on this machine
and to the size of that data.

Each failure is one sentence and a hint, said in a second rather than after minutes of preparation.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import distributed, runs
from .config import RunConfig, TinyGPTError
from .device import (
    autocast,
    available_memory,
    dtype_name,
    measure_peak_flops,
    peak_table_path,
    resolve_device,
    resolve_dtype,
)
from .presets import MACHINE_FITS, dropout_share, machine_fit, preset_config

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


# the model settings a fit chooses together: a user who set one of them chose the shape
FIT_SHAPE = {("model", "n_layer"), ("model", "n_head"), ("model", "n_embd"), ("model", "dropout"),
             ("model", "attn_dropout"), ("train", "batch_size")}
DROPOUTS = {("model", "dropout"), ("model", "attn_dropout")}


def measure_step_seconds(cfg: RunConfig, device: torch.device, dtype: torch.dtype, rounds: int = 5,
                         within: float = 8.0, warmup: int = 2) -> float:
    """Seconds one eager training step of ``cfg``'s model takes here: forward and backward of
    ``grad_accum`` batches of random tokens and the optimizer's step. After ``warmup`` steps that pay for
    the allocations and the kernels' first calls (the first two ran twice as long as the rest), the
    fastest of up to ``rounds`` (at least two; no more once ``within`` seconds have gone): on a shared
    machine single steps of one shape varied by up to two times. A compiled run steps
    somewhat faster and a run's evaluations take some of its budget, so this is an estimate of the
    steps a budget holds, good to a few tens of percent."""
    import torch

    from .model import GPT
    from .optim import make_optimizer, ns_dtype_for

    m, t = cfg.model, cfg.train
    seconds = float("inf")
    with torch.random.fork_rng(devices=[]):  # the run's own seeding sees the generator as it was
        model = GPT(replace(m, dropout=0.0, attn_dropout=None if m.attn_dropout is None else 0.0)).to(device)
        optimizer, _ = make_optimizer(model, t, ns_dtype_for(device, dtype))
        ids = torch.randint(m.vocab_size, (t.batch_size, m.block_size + 1), device=device)
        began = None
        for k in range(warmup + rounds):
            start = time.perf_counter()
            for _ in range(t.grad_accum):
                with autocast(device, dtype):
                    loss = model(ids[:, :-1], ids[:, 1:]).loss
                loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if k < warmup:
                began = time.perf_counter()
                continue
            seconds = min(seconds, time.perf_counter() - start)
            if k >= warmup + 1 and time.perf_counter() - began >= within:
                break
    return seconds


def fit_to_machine(run: Path, cfg: RunConfig, device: torch.device, models: Path,
                   train_tokens: int | None = None) -> tuple[RunConfig, str | None]:
    """``cfg`` fitted to this machine and its data, and a sentence saying so (None when nothing was fitted).

    Only a run whose configuration asks for it (``train.fit_to_machine``), on a CPU, with a time budget,
    that has not trained yet. The compute of its budget is this machine's measured matmul rate in the
    dtype the run trains in times ``max_time``; :func:`presets.machine_fit` gives the shape its preset
    measured at the nearest compute. That shape's step is timed here (:func:`measure_step_seconds`),
    and when the budget holds fewer of its steps than the compute plans, the compute is lowered to what
    those steps amount to: the plan follows them, and a shape too slow here gives way to a smaller
    one. With ``train_tokens`` (the training shard's length) the dropout
    follows how many times the plan reads them (:func:`presets.dropout_share`): a corpus larger than a
    run can read gets none. What the user set by hand stays: a shape set by hand is kept whole (its
    dropout still follows the data unless that was set too), and a warmup or evaluation interval set
    by hand is kept. The fitted configuration is written to the run's ``config.json`` with
    ``fit_to_machine`` off, so a resumed or continued run keeps its shape.
    """
    tc = cfg.train
    if not (tc.fit_to_machine and tc.max_time and device.type == "cpu" and cfg.preset in MACHINE_FITS):
        return cfg, None
    if (run / runs.WEIGHTS).exists() or (run / runs.STATE).exists():
        return cfg, None
    table = peak_table_path(models)
    dtype = resolve_dtype(tc.dtype, device, table)
    rate = measure_peak_flops(device, dtype, table=table)
    compute = rate * tc.max_time
    settings = machine_fit(compute, cfg.preset)
    have = cfg.to_dict()
    preset = preset_config(cfg.preset).to_dict()  # every preset in MACHINE_FITS is one
    by_hand = {(section, key) for section, key in FIT_SHAPE if have[section].get(key) != preset[section].get(key)}
    timing = ""
    same_accum = have["train"]["grad_accum"] == preset["train"]["grad_accum"]  # the plan's steps are alike
    if not by_hand and same_accum:
        # the peak of one large matmul can flatter a machine, and a run's small matmuls fall short of
        # it by different factors on different machines: on an AVX2 one a quick start's 4 x 192 did 51
        # of its 435 planned steps and wrote word salad; on one with AMX the peak came out six times
        # the step rate. So the shape the peak chose is timed, and the plan follows the steps it does:
        # a shape that would do too few steps here to be chosen at its compute gives way to the
        # smaller one those steps call for.
        trial = RunConfig.from_dict({**have, "model": {**have["model"], **settings["model"]},
                                     "train": {**have["train"], **settings["train"]}})
        planned = settings["train"]["max_steps"]
        step_s = measure_step_seconds(trial, device, dtype)
        steps = tc.max_time / max(step_s, 1e-9)
        timed = machine_fit(compute * min(1.0, steps / planned), cfg.preset)
        m = trial.model
        timing = f" (a step of {m.n_layer} layers × {m.n_embd} timed at {step_s:.2f} s"
        if timed["model"] != settings["model"]:
            timing += f": it would do about {steps:,.0f} of its {planned:,} steps"
        elif steps < planned:
            timing += f": about {steps:,.0f} of the {planned:,} steps its compute plans"
        timing += ")"
        settings = timed
    for section, values in settings.items():
        for key, value in values.items():
            if (section, key) in FIT_SHAPE and by_hand:
                continue
            if (section, key) not in FIT_SHAPE and have[section].get(key) != preset[section].get(key):
                continue  # set by hand
            have[section][key] = value
    have["train"]["fit_to_machine"] = False
    fitted = RunConfig.from_dict(have)
    m, t = fitted.model, fitted.train
    reads = t.max_steps * fitted.tokens_per_step / train_tokens if train_tokens else None
    if reads is not None and not by_hand & DROPOUTS:
        share = dropout_share(reads)  # in [0, 1]: a valid dropout stays valid
        m.dropout = round(m.dropout * share, 3)
        if m.attn_dropout is not None:  # None follows the residual one
            m.attn_dropout = round(m.attn_dropout * share, 3)
    runs.save_run_config(run, fitted)
    read = f" (the plan reads its {train_tokens:,} training tokens {reads:,.1f} times)" if reads is not None else ""
    shape = ("the shape you set" if by_hand else f"{m.n_layer} layers × {m.n_embd}") + \
        f", dropout {m.dropout:g}{read}, batch {t.batch_size}"
    return fitted, (f"fitted to this machine: {dtype_name(dtype)} matmuls at {rate / 1e9:,.0f} GFLOP/s × "
                    f"{tc.max_time:g} s = {rate * tc.max_time / 1e12:,.0f} TFLOP{timing}: {shape}, "
                    f"{t.max_steps:,} steps planned (--no-fit-to-machine keeps the preset's own)")
