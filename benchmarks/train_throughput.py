"""Training throughput: our trainer's step against a plain eager fp32 loop, on the same model.

    python benchmarks/train_throughput.py --preset small-classic   # a few minutes on 2 cores
    python benchmarks/train_throughput.py --preset tiny --no-compile --json

Both sides train the same GPT on the same batches (random token ids: speed does not depend on the
text). "trainer" is ``tinygpt_tui.trainer.Trainer.train_step`` itself — the path ``tinygpt train``
runs: autocast in the chosen dtype (bf16 by default), fused AdamW, clipping, optional torch.compile.
"eager fp32" is the loop most minimal GPT trainers run on a CPU: fp32, no autocast, default AdamW.
MFU is reported against matmul peaks measured in this run, in bf16 and in fp32, never a spec sheet.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinygpt_tui import device  # noqa: E402
from tinygpt_tui.config import EOT  # noqa: E402
from tinygpt_tui.model import GPT  # noqa: E402
from tinygpt_tui.presets import PRESETS, preset_config  # noqa: E402
from tinygpt_tui.shards import BatchSampler, ShardSet  # noqa: E402
from tinygpt_tui.trainer import Trainer  # noqa: E402


class RandomTokens:
    """The few tokenizer methods the trainer touches while stepping (no text is involved here)."""

    kind = "bench"

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.eot_id = 0
        self.special_tokens = {EOT: 0}

    def byte_lengths(self) -> np.ndarray:
        return np.ones(self.vocab_size, dtype=np.int64)

    def fingerprint(self) -> str:
        return f"random-{self.vocab_size}"

    def decode(self, ids) -> str:
        return ""


def random_shards(vocab_size: int, n_tokens: int = 2_000_000) -> ShardSet:
    rng = np.random.default_rng(0)
    data = rng.integers(0, vocab_size, size=n_tokens, dtype=np.int64).astype(np.uint16 if vocab_size < 65536
                                                                              else np.uint32)
    return ShardSet(Path("."), {"vocab_size": vocab_size}, data, data[: n_tokens // 10])


class Variant:
    """One way of training: a ``step(i) -> loss`` closure and the tokens each step consumes."""

    def __init__(self, name: str, dtype: str, tokens_per_step: int, step, threads: int):
        self.name, self.dtype, self.tokens_per_step, self.step = name, dtype, tokens_per_step, step
        self.threads = threads  # torch's thread count is global: each variant sets its own
        self.times: list[float] = []
        self.first_step_s = 0.0
        self.loss = float("nan")
        self.i = 0

    def run(self, timed: bool) -> None:
        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        self.loss = self.step(self.i)
        dt = time.perf_counter() - t0
        if self.i == 0:
            self.first_step_s = dt
        if timed:
            self.times.append(dt)
        self.i += 1


def trainer_variant(cfg, shards, dtype: str, compile_: bool) -> Variant:
    cfg = copy.deepcopy(cfg)
    cfg.train.dtype, cfg.train.compile, cfg.train.device = dtype, compile_, "cpu"
    # a run folder that is never written to (the benchmark checkpoints nothing; peaks are kept beside it)
    trainer = Trainer(Path(tempfile.gettempdir()) / "tinygpt-bench" / "bench", cfg, RandomTokens(cfg.model.vocab_size), shards, lambda e: None,
                            threading.Event(), None)

    def step(i: int) -> float:
        loss, _, _ = trainer.train_step()
        trainer.step += 1
        return loss

    name = f"trainer ({device.dtype_name(trainer.dtype)}{', compiled' if compile_ else ''})"
    return Variant(name, device.dtype_name(trainer.dtype), trainer.tokens_per_step, step, torch.get_num_threads())


def eager_variant(cfg, shards) -> Variant:
    torch.manual_seed(cfg.train.seed)
    model = GPT(cfg.model)
    opt = torch.optim.AdamW(model.optimizer_groups(cfg.train.weight_decay), lr=cfg.train.lr,
                            betas=(cfg.train.beta1, cfg.train.beta2))
    sampler = BatchSampler(shards, cfg.model.block_size, cfg.train.batch_size, cfg.train.seed)
    tokens = cfg.train.batch_size * cfg.model.block_size * cfg.train.grad_accum

    def step(i: int) -> float:
        total = 0.0
        for micro in range(cfg.train.grad_accum):
            x, y = sampler.get("train", i * cfg.train.grad_accum + micro)
            loss = model(x, y).loss / cfg.train.grad_accum
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return total

    return Variant("eager fp32 loop", "float32", tokens, step, device.available_cores())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="small-classic", choices=list(PRESETS))
    p.add_argument("--dtype", default="bfloat16", help="the trainer's dtype (default bfloat16; auto to let it pick)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                   help="also time the trainer with torch.compile (default on; its compile is untimed)")
    p.add_argument("--steps", type=int, default=6, help="timed steps per variant (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    load_at_start = os.getloadavg()  # a shared machine's load skews every figure below: reported
    threads = device.set_threads()  # every core; the trainer may probe and use fewer
    overrides = {"train": {"batch_size": args.batch_size, "grad_accum": 1}}
    cfg = preset_config(args.preset, "bench", overrides)
    cfg.model.vocab_size = {"gpt2": 50304}.get(cfg.tokenizer.kind, cfg.tokenizer.vocab_size)
    cfg.model.dropout = 0.0
    shards = random_shards(cfg.model.vocab_size)
    cpu = torch.device("cpu")
    peaks = {"bfloat16": device.measure_peak_flops(cpu, torch.bfloat16, cache=False),
             "float32": device.measure_peak_flops(cpu, torch.float32, cache=False)}
    flops_per_token = GPT(cfg.model).flops_per_token(cfg.model.block_size)

    variants = [eager_variant(cfg, shards), trainer_variant(cfg, shards, args.dtype, False)]
    if args.compile:
        variants.append(trainer_variant(cfg, shards, args.dtype, True))
    for v in variants:  # first steps (allocation, compilation) and warmup, untimed
        for _ in range(args.warmup):
            v.run(timed=False)
    # interleaved rounds: on a shared machine, load that comes and goes hits every variant alike
    for _ in range(args.steps):
        for v in variants:
            v.run(timed=True)
    results = []
    for v in variants:
        per_step = statistics.median(v.times)
        results.append({"name": v.name, "dtype": v.dtype, "threads": v.threads, "seconds_per_step": per_step,
                        "first_step_s": v.first_step_s, "tokens_per_s": v.tokens_per_step / per_step,
                        "final_loss": v.loss})
    base = results[0]["tokens_per_s"]
    for r in results:
        r["speedup"] = r["tokens_per_s"] / base
        achieved = r["tokens_per_s"] * flops_per_token
        r["mfu_vs_bf16_peak"] = achieved / peaks["bfloat16"]
        r["mfu_vs_fp32_peak"] = achieved / peaks["float32"]
        r["mfu_vs_own_peak"] = achieved / peaks[r["dtype"]]

    report = {"preset": args.preset, "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(), "params": GPT(cfg.model).num_params(), "block_size": cfg.model.block_size,
              "batch_size": cfg.train.batch_size, "vocab_size": cfg.model.vocab_size, "threads": threads,
              "torch": torch.__version__, "device": device.device_label(cpu),
              "peak_flops": peaks, "flops_per_token": flops_per_token, "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"preset {args.preset}: {report['params'] / 1e6:.2f}M params, batch {cfg.train.batch_size} x "
          f"{cfg.model.block_size} tokens, vocab {cfg.model.vocab_size}, {threads} threads, torch {torch.__version__}")
    print(f"load average (1, 5, 15 min) at start {tuple(round(x, 2) for x in load_at_start)}, at end "
          f"{tuple(round(x, 2) for x in report['load_average_at_end'])}")
    print(f"measured matmul peak: bf16 {peaks['bfloat16'] / 1e9:.0f} GFLOP/s, fp32 {peaks['float32'] / 1e9:.0f} "
          f"GFLOP/s   ({report['device']})")
    head = f"{'variant':<30} {'threads':>7} {'tok/s':>9} {'speedup':>8} {'s/step':>8} {'1st step':>9} {'MFU/own':>8} " \
           f"{'MFU/bf16':>9} {'MFU/fp32':>9}"
    print(head)
    print("-" * len(head))
    for r in results:
        print(f"{r['name']:<30} {r['threads']:>7} {r['tokens_per_s']:>9.0f} {r['speedup']:>7.2f}x {r['seconds_per_step']:>8.3f} "
              f"{r['first_step_s']:>8.1f}s {100 * r['mfu_vs_own_peak']:>7.1f}% {100 * r['mfu_vs_bf16_peak']:>8.1f}% "
              f"{100 * r['mfu_vs_fp32_peak']:>8.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
