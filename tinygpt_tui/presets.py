"""The named presets: a model shape plus the training defaults that suit it, and the two recipes they
are built from (modern, classic). ``preset_config`` turns a preset and a user's overrides into a
checked ``RunConfig``."""

from __future__ import annotations

import math
from typing import Any

from .config import ConfigError, RunConfig

# The modern recipe (see model.py and optim.py): every option the speedruns found free per step.
MODERN_MODEL: dict[str, Any] = dict(position="rotary", norm="rmsnorm", qk_norm=True, activation="relu2",
                                    zero_init=True, logit_softcap=15.0, tie_weights=False)
# Muon for the blocks' matrices, AdamW for embeddings and head, warmup-stable-decay down to zero.
MODERN_TRAIN: dict[str, Any] = dict(optimizer="muon", muon_lr=0.02, lr=0.008, min_lr=0.0, weight_decay=0.0,
                                    schedule="wsd", cooldown=0.4, grad_clip=1.0)
# GPT-2 as nanoGPT writes it, for the presets that reproduce a predecessor and for comparisons
CLASSIC_MODEL: dict[str, Any] = dict(position="learned", norm="layernorm", qk_norm=False, activation="gelu",
                                     zero_init=False, logit_softcap=0.0, tie_weights=True)

# The shapes of the time-budgeted CPU presets. Each is fitted to a compute budget: the seconds of the
# budget times the matmul rate of the machine in the dtype it trains in (device.measure_peak_flops).
# ``max_steps`` is the plan (what the shape did in that compute): a run far short of it says so, and
# with a time budget it sets the warmup's share.
#
# ten minutes of a machine whose bf16 matmuls ran at 442 GFLOP/s (two cores of an AMD EPYC with
# AVX-512 bf16), 265 TFLOP: benchmarks/sweep.py at that budget (README: the sweep table). On the
# 3.4 MB TinyStories sample such a run sees its text five to eight times, and without dropout it
# memorises it (train loss 1.3 against validation 2.6 nats). Dropout 0.1 took held-out bits/byte from
# 0.966 to 0.888 at this shape; widths 128 and 256 at the same time scored 0.903 and 0.900; a 4096-token
# vocabulary beat 2048 (0.965 against 0.993). The dropout on attention probabilities costs 1.14x per
# step on a CPU (benchmarks/dropout_cost.py) while the residual one is free: residual dropout 0.2 alone
# scored 0.889 in the same steps, so in the same wall time it beats 0.1 on both (which gets about a
# fifth fewer steps). Around that, Muon's rate 0.02 beat 0.01 and 0.04, AdamW's 0.008 beat 0.004 and
# 0.016, and Muon's weight decay 0.1 (0.885) beat 0, 0.05 and 0.2 (0.889, 0.886, 0.891). Value
# residuals then scored 0.873 against 0.885 (seed 1) and 0.880 against 0.894 (seed 2); the embedding
# shortcut (x0_mix) 0.886, no gain. With them, on two cores of an Intel Xeon with AMX (bf16 peak
# 2,735 GFLOP/s, though its steps ran no faster than the EPYC's), the speedrun's run of this shape did
# 700 steps and scored 0.889 (benchmarks/results/speedrun-amx.json)
CPU_10M: dict[str, dict[str, Any]] = {
    "model": dict(n_layer=4, n_head=3, n_embd=192, dropout=0.2, attn_dropout=0.0, value_residual=True),
    "train": dict(batch_size=32, max_steps=950, warmup_steps=20, eval_interval=200),
}
# An hour takes the same shape, with a plan scaled to its compute: on the TinyStories sample an hour
# of one core each, two runs at once (780 TFLOP by the peak), scored 0.882 held-out bits/byte with
# 4 x 192 (1,484 steps) and 0.887 with 6 x 256 (798 steps; benchmarks/speedrun.py --preset cpu-1h
# --minutes 60, README). Such a run reads the 3.4 MB sample 9 to 16 times, so the data, not the
# model's size, is what limits it there.
# ten minutes of a machine without fast bf16 (two cores of an AMD EPYC with AVX2 only: float32
# matmuls at 73 GFLOP/s, bf16 slower than that by fifty times), 44 TFLOP: benchmarks/speedrun.py
# --recipes modern there. The 4 x 192 shape did 50 steps (1.379 held-out bits/byte); 4 x 128 with
# batch 32 did 137 (1.100) and with batch 16 238 (1.079). A run sees its text about once, so no dropout.
# On a second AVX2 machine (float32 at 150 GFLOP/s, 90 TFLOP) the shape did 290 steps in ten minutes;
# step-based at 290 in float32 (benchmarks/sweep.py, benchmarks/results/sweep-avx2.jsonl), value
# residuals scored 1.037 against 1.044 (seed 1) and 1.034 against 1.049 (seed 2), at no cost per step
CPU_SLOW: dict[str, dict[str, Any]] = {
    "model": dict(n_layer=4, n_head=2, n_embd=128, dropout=0.0, attn_dropout=0.0, value_residual=True),
    "train": dict(batch_size=16, max_steps=240, warmup_steps=5, eval_interval=50),
}
# the quick start (built-in stories, 140 s), on the same two machines: 62 TFLOP on the bf16 one, where
# 4 x 192 did 798 steps (validation loss 0.513); 10 TFLOP on the AVX2 one, where 4 x 192 did 42 steps
# (2.886) and 4 x 128 126 (1.429; with batch 8, 139 steps and 1.924). Value residuals, on a third
# machine (a Xeon with AMX, benchmarks/quickstart.py alternating with and without, two of each):
# validation loss 0.470 and 0.487 against 0.628 and 0.573, in 646 and 570 steps against 638 and 610
# (benchmarks/results/quickstart-amx-*.json). TINY_SLOW takes them unmeasured at its own budget: at
# its shape they won on the ten-minute budget (CPU_SLOW), and they cost nothing per step
TINY: dict[str, dict[str, Any]] = {
    "model": dict(n_layer=4, n_head=3, n_embd=192, value_residual=True),
    "train": dict(batch_size=16, max_steps=1000, warmup_steps=20, eval_interval=100),
}
TINY_SLOW: dict[str, dict[str, Any]] = {
    "model": dict(n_layer=4, n_head=2, n_embd=128, value_residual=True),
    "train": dict(batch_size=16, max_steps=130, warmup_steps=3, eval_interval=13),
}
# The two AVX2 rungs (CPU_SLOW, TINY_SLOW) were measured while Muon's Newton-Schulz iteration ran in
# bf16 there, which took most of each step; it runs in float32 there now (optim.Float32Muon: steps
# 4 to 7 times faster, benchmarks/muon_cost.py), so those rungs are due to be measured again.
# (compute in FLOP at which a shape was fitted, its settings), by compute, for each preset that fits
# (train.fit_to_machine). A run takes the one whose compute is nearest its own on a log scale (the
# boundaries are the geometric means: 25 TFLOP for the quick start, 108 TFLOP for the others).
CPU_FITS: list[tuple[float, dict[str, dict[str, Any]]]] = [
    (600 * 73e9, CPU_SLOW),
    (600 * 442e9, CPU_10M),
]
MACHINE_FITS: dict[str, list[tuple[float, dict[str, dict[str, Any]]]]] = {
    "tiny": [(140 * 73e9, TINY_SLOW), (140 * 442e9, TINY)],
    "cpu-10m": CPU_FITS,
    "cpu-1h": CPU_FITS,
}


def machine_fit(compute: float, preset: str = "cpu-10m") -> dict[str, dict[str, Any]]:
    """The settings of ``preset`` fitted to ``compute`` FLOP of budget: the shape measured at the
    nearest compute, its planned steps, warmup and evaluation interval scaled to this compute (its own
    times the ratio of the computes)."""
    fitted, settings = min(MACHINE_FITS[preset], key=lambda r: abs(math.log(max(compute, 1.0) / r[0])))
    out = {section: dict(values) for section, values in settings.items()}
    scale = compute / fitted
    for key, least in (("max_steps", 10), ("warmup_steps", 0), ("eval_interval", 1)):
        out["train"][key] = max(least, round(settings["train"][key] * scale))
    return out


# Dropout pays only on text a run reads many times: a fitted run keeps the whole of its shape's
# dropout from DROPOUT_EPOCHS[1] passes over its training tokens on, none at DROPOUT_EPOCHS[0] or
# fewer, and a share between (on a log scale). Measured at 4 x 192 on the TinyStories sample
# (benchmarks/results/sweep-dropout.jsonl): residual dropout 0, 0.1 and 0.2 scored 1.165, 1.191 and
# 1.217 held-out bits/byte after one pass, 0.983, 0.995 and 1.015 after 2.5, and 0.966, 0.896 and
# 0.889 after 7.4 (the ten-minute sweep).
DROPOUT_EPOCHS = (2.5, 7.0)


def dropout_share(epochs: float) -> float:
    """The share of a shape's dropout a run keeps when its plan reads its training text ``epochs`` times."""
    none, whole = DROPOUT_EPOCHS
    if epochs <= none:
        return 0.0
    if epochs >= whole:
        return 1.0
    return math.log(epochs / none) / math.log(whole / none)


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # seconds on a laptop: for tests
    "micro": {
        "model": dict(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.0, bias=False),
        "train": dict(batch_size=8, max_steps=50, lr=3e-3, min_lr=3e-4, warmup_steps=5,
                      eval_interval=25, eval_iters=2, log_interval=5, sample_tokens=16),
        "tokenizer": dict(vocab_size=512),
    },
    # the quick start: story-like English in about three minutes on two CPU cores (the built-in
    # stories); 140 s of training (final evaluation included) leave time for corpus, tokenizer and
    # shards (~5 s) and start-up on a busy machine
    "tiny": {
        "model": dict(**TINY["model"], block_size=128, dropout=0.0, bias=False, **MODERN_MODEL),
        "train": dict(**TINY["train"], max_time=140.0, eval_iters=10, log_interval=10, fit_to_machine=True,
                      **MODERN_TRAIN),
        "tokenizer": dict(vocab_size=2048),
        "data": dict(max_bytes=10_000_000),
    },
    # ten minutes of two CPU cores on real text, fitted to the machine (see MACHINE_FITS)
    "cpu-10m": {
        "model": dict(**CPU_10M["model"], block_size=256, bias=False, **MODERN_MODEL),
        "train": dict(**CPU_10M["train"], max_time=600.0, eval_iters=20, compile=True, fit_to_machine=True,
                      **{**MODERN_TRAIN, "weight_decay": 0.1}),
        "tokenizer": dict(vocab_size=4096),
    },
    # an hour of two CPU cores on real text, fitted to the machine (see MACHINE_FITS): cpu-10m's shape
    # with six times its plan
    "cpu-1h": {
        "model": dict(**CPU_10M["model"], block_size=256, bias=False, **MODERN_MODEL),
        "train": dict(**{**CPU_10M["train"], "max_steps": 6 * CPU_10M["train"]["max_steps"], "warmup_steps": 100,
                         "eval_interval": 500}, max_time=3600.0, eval_iters=20, compile=True, fit_to_machine=True,
                      **{**MODERN_TRAIN, "weight_decay": 0.1}),
        "tokenizer": dict(vocab_size=4096),
    },
    # about 7M parameters, the modern recipe on a step budget (a GPU, or a long CPU run)
    "small": {
        "model": dict(n_layer=4, n_head=4, n_embd=256, block_size=256, dropout=0.0, bias=False, **MODERN_MODEL),
        # compiled: a one-off 20-35 s compile buys ~1.3x on every step of a long run (benchmarks/)
        "train": dict(batch_size=32, max_steps=5000, warmup_steps=50, eval_interval=250, eval_iters=20,
                      compile=True, **MODERN_TRAIN),
        "tokenizer": dict(vocab_size=8192),
    },
    # the same shape as GPT-2 as nanoGPT writes it, AdamW and cosine: the recipe before the modern one
    "small-classic": {
        "model": dict(n_layer=4, n_head=4, n_embd=256, block_size=256, dropout=0.0, bias=False, **CLASSIC_MODEL),
        "train": dict(batch_size=32, max_steps=5000, lr=1e-3, min_lr=1e-4, warmup_steps=100,
                      eval_interval=250, eval_iters=20, compile=True),
        "tokenizer": dict(vocab_size=8192),
    },
    # the well-known TinyStories recipe
    "slm-30m": {
        "model": dict(n_layer=6, n_head=6, n_embd=384, block_size=128, dropout=0.1, bias=True, **CLASSIC_MODEL),
        "train": dict(batch_size=32, grad_accum=4, max_steps=20000, lr=1e-4, min_lr=1e-5,
                      warmup_steps=1000, eval_interval=500, eval_iters=50, compile=True),
        "tokenizer": dict(kind="gpt2"),
    },
    # as a predecessor project ran it: GPT-2's vocabulary plus three chat tokens, context 512, AdamW 3e-4
    "llm-8x512": {
        "model": dict(n_layer=8, n_head=8, n_embd=512, block_size=512, dropout=0.0, bias=False, **CLASSIC_MODEL),
        "train": dict(batch_size=16, grad_accum=4, max_steps=20000, lr=3e-4, min_lr=3e-5,
                      warmup_steps=1000, eval_interval=500, eval_iters=50, compile=True),
        "tokenizer": dict(kind="gpt2", special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]),
    },
    "gpt2-124m": {
        "model": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.0, bias=True, **CLASSIC_MODEL),
        "train": dict(batch_size=8, grad_accum=8, max_steps=50000, lr=6e-4, min_lr=6e-5,
                      warmup_steps=2000, eval_interval=1000, eval_iters=100, compile=True),
        "tokenizer": dict(kind="gpt2"),
    },
}


def preset_config(preset: str, name: str = "run", overrides: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """Build a RunConfig from a named preset, then apply ``{"model": {...}, "train": {...}}`` overrides."""
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset '{preset}'.", f"choose one of {', '.join(PRESETS)}.")
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in PRESETS[preset].items()}
    for section, values in (overrides or {}).items():
        merged.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    d: dict[str, Any] = {"name": name, "preset": preset, **merged}
    return RunConfig.from_dict(d)
