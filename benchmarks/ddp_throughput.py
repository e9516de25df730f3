"""Training throughput in 1 and 2 processes (DDP over gloo, one thread each) and the scaling efficiency.

    python benchmarks/ddp_throughput.py                 # about two minutes on 2 cores
    python benchmarks/ddp_throughput.py --rounds 3 --steps 40 --json

Each measurement is a real ``python -m tinygpt_tui.train`` (through ``torch.distributed.run`` for 2
processes) on the same run configuration (same global batch: ``batch_size x grad_accum`` sequences per
step), with ``TINYGPT_THREADS=1`` so that each process owns one core. Tokens per second is the
global figure the trainer reports in its ``step`` events (rank 0's clock), the median over the steps
after the first few (start-up, allocator warm-up). The two configurations alternate, round after round,
because a shared machine's load drifts: the efficiency is reported per round (2-process tokens/s over
twice the 1-process tokens/s of the same round) and as the median of those ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinygpt_tui import distributed, runs  # noqa: E402
from tinygpt_tui.presets import preset_config  # noqa: E402

SKIP = 5
"""Steps left out of each median (process start-up, first allocations)."""


def make_run(models: Path, name: str, steps: int, args: argparse.Namespace) -> None:
    overrides = {"data": {"source": "storybook", "max_bytes": 2_000_000}, "tokenizer": {"vocab_size": 512},
                 "model": {"n_layer": args.n_layer, "n_embd": args.n_embd, "n_head": 4, "block_size": args.block_size,
                           "dropout": 0.0},
                 "train": {"dtype": "float32", "device": "cpu", "batch_size": args.batch_size, "grad_accum": 4,
                           "max_steps": steps, "eval_interval": 10_000, "log_interval": 1, "compile": False}}
    runs.create_run(models, preset_config("micro", name, overrides), overwrite=True)


def measure(ws: Path, nproc: int, name: str, steps: int, args: argparse.Namespace) -> float:
    models, data = ws / "models", ws / "data"
    make_run(models, name, steps, args)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TINYGPT_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = distributed.launch_command(nproc, ["--run", name, "--models-dir", str(models), "--data-dir", str(data)])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{nproc} process(es) failed:\n{out.stderr[-3000:]}")
    rates = [e["tokens_per_s"] for e in map(json.loads, filter(lambda s: s.startswith("{"), out.stdout.splitlines()))
             if e["event"] == "step" and e["step"] > SKIP]
    return statistics.median(rates)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    result: dict[str, list[float]] = {"1": [], "2": [], "efficiency": []}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        (ws / "models").mkdir()
        (ws / "data").mkdir()
        measure(ws, 1, "warm", SKIP + 2, args)  # prepares the corpus once, outside the timings
        for r in range(args.rounds):
            order = (1, 2) if r % 2 == 0 else (2, 1)
            got = {n: measure(ws, n, f"p{n}r{r}", args.steps, args) for n in order}
            result["1"].append(got[1])
            result["2"].append(got[2])
            result["efficiency"].append(got[2] / (2 * got[1]))
            if not args.json:
                print(f"round {r + 1}: 1 process {got[1]:,.0f} tok/s, 2 processes {got[2]:,.0f} tok/s, "
                      f"speed-up {got[2] / got[1]:.2f}x, efficiency {100 * got[2] / (2 * got[1]):.0f}%", flush=True)
    summary = {"tokens_per_s_1": statistics.median(result["1"]), "tokens_per_s_2": statistics.median(result["2"]),
               "efficiency_median": statistics.median(result["efficiency"]), "rounds": result,
               "config": {k: getattr(args, k) for k in ("n_layer", "n_embd", "block_size", "batch_size")}
               | {"grad_accum": 4, "dtype": "float32", "threads_per_process": 1}}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"median: 1 process {summary['tokens_per_s_1']:,.0f} tok/s, 2 processes "
              f"{summary['tokens_per_s_2']:,.0f} tok/s, scaling efficiency "
              f"{100 * summary['efficiency_median']:.0f}% (median of the per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
