"""Speedrun: three training recipes, the same wall-clock budget each, on real TinyStories text.

The TinyStories sample (``../shared/data/tinystories/sample.txt``) is split by story, a fixed 90/10:
every tenth story is held out. Each recipe trains on the 90% through the real command line
(``tinygpt train --json``), one after another in this one invocation so that all three meet the same
machine, for the same budget (``--minutes``, 10 by default; evaluations count against it, as they do
for a user). Then each run's best weights are scored on the held-out 10% (``tinygpt eval``).

1. ``classic``: the recipe as people run it on a CPU, nanoGPT-style: learned positions, LayerNorm,
   GELU, AdamW (lr 1e-3, betas 0.9/0.95, weight decay 0.1) with warmup and cosine decay, fp32,
   eager, in the ``small`` shape of before (4 layers x 256, context 256, batch 32, 8192-token BPE);
2. ``default``: that same model and optimizer with this trainer's defaults, bf16 autocast (where the
   machine's bf16 matmuls are fast; float32 elsewhere) and torch.compile, the ``small`` preset as it
   was before the modern recipe;
3. ``modern``: the ``cpu-10m`` preset, whatever shape and recipe it holds, fitted to this machine as
   the trainer fits it (``--preset`` names another,
   e.g. ``--recipes modern --preset cpu-1h --minutes 60`` measures the one-hour preset alone).

It prints each run's validation curve (bits per byte on the trainer's own held-out documents,
identical for all three) against training seconds, how long ``modern`` took to reach each other
recipe's final value, and every final value; the curves go to JSON and, with matplotlib, to a plot.

    python benchmarks/speedrun.py [--minutes 10] [--out benchmarks/results/speedrun]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinygpt_tui.config import EOT, RunConfig, TinyGPTError, parse_settings  # noqa: E402
from tinygpt_tui.presets import preset_config  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "tinystories" / "sample.txt"
EVALS_PER_RUN = 15  # points on each curve; evaluations are part of the budget, alike for all recipes

def split_stories(path: Path, folder: Path) -> tuple[Path, Path, int, int]:
    """Write the fixed 90/10 split by story: every tenth story is held out."""
    stories = [s.strip() for s in path.read_text(encoding="utf-8").split(EOT) if s.strip()]
    train = [s for i, s in enumerate(stories) if i % 10 != 9]
    held = [s for i, s in enumerate(stories) if i % 10 == 9]
    train_path, val_path = folder / "train.txt", folder / "heldout.txt"
    train_path.write_text("".join(f"{s}\n{EOT}\n" for s in train), encoding="utf-8")
    val_path.write_text("".join(f"{s}\n{EOT}\n" for s in held), encoding="utf-8")
    return train_path, val_path, len(train), len(held)


def recipe_config(recipe: str, train_path: Path, seconds: float,
                  settings: dict[str, dict[str, Any]] | None = None, preset: str = "cpu-10m") -> RunConfig:
    data = {"source": str(train_path), "dataset": "speedrun-train", "val_fraction": 0.05}
    if recipe == "modern":
        overrides = {k: dict(v) for k, v in (settings or {}).items()}
        overrides.setdefault("data", {}).update(data)
        overrides.setdefault("train", {})["max_time"] = seconds
        if "tokenizer" in overrides:  # a vocabulary of its own: its own dataset folder
            overrides["data"]["dataset"] = f"speedrun-train-{overrides['tokenizer'].get('vocab_size', 'x')}"
        cfg = preset_config(preset, recipe, overrides)
    else:
        # the small-classic preset is the small preset as it was: 4 x 256, AdamW, cosine, 8192-token BPE
        # default: the trainer's own dtype choice (bf16 where this machine's bf16 matmuls are fast)
        train = {"max_time": seconds, "dtype": "float32" if recipe == "classic" else "auto",
                 "compile": recipe == "default"}
        cfg = preset_config("small-classic", recipe, {"data": data, "train": train})
    return cfg


def steps_per_second(cfg: RunConfig, dtype: Any) -> float:
    """A short measurement of the recipe's step rate as it will train (its dtype, compiled when it
    compiles, dropout on), to space its evaluations evenly in time."""
    import torch

    from tinygpt_tui.model import GPT
    from tinygpt_tui.optim import make_optimizer

    model = GPT(cfg.model)
    opt, _ = make_optimizer(model, cfg.train)
    forward = torch.compile(model) if cfg.train.compile else model
    x = torch.randint(0, cfg.model.vocab_size, (cfg.train.batch_size, cfg.model.block_size))
    ctx = torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32)
    times = []
    for _ in range(6):  # the first steps compile and warm up
        t0 = time.perf_counter()
        with ctx:
            loss = forward(x, x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return 1.0 / min(times[2:])


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygpt_tui", *args], env=env, cwd=cwd, capture_output=True,
                          text=True)


def train_recipe(recipe: str, cfg: RunConfig, home: Path, env: dict[str, str], val_path: Path) -> dict[str, Any]:
    run_dir = home / "models" / recipe
    run_dir.mkdir(parents=True)
    seconds = float(cfg.train.max_time or 0)
    # what the trainer would do first: prepare the data, fit the shape to this machine and the data
    # (cpu-10m, cpu-1h) and choose the dtype, so that the step rate measured here is the run's own
    import threading

    import torch

    from tinygpt_tui.device import peak_table_path, resolve_dtype
    from tinygpt_tui.preflight import fit_to_machine
    from tinygpt_tui.prepare import prepare_data

    _, shard_set = prepare_data(run_dir, home / "data", cfg, None, resumed=False, emit=lambda event: None,
                                stop=threading.Event())
    cpu = torch.device("cpu")
    cfg, fitted = fit_to_machine(run_dir, cfg, cpu, home / "models", len(shard_set.train))
    if fitted:
        print(f"{recipe}: {fitted}", flush=True)
    dtype = resolve_dtype(cfg.train.dtype, cpu, peak_table_path(home / "models"))
    cfg.train.eval_interval = max(5, round(steps_per_second(cfg, dtype) * seconds / EVALS_PER_RUN))
    cfg.train.eval_iters = 10
    (run_dir / "config.json").write_text(cfg.to_json(), encoding="utf-8")
    t0 = time.perf_counter()
    proc = run_cli(["train", "--run", recipe, "--json"], env, home)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{recipe} failed:\n{proc.stderr[-3000:]}")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    # the last step trained: the done event's (step events come every log_interval steps only)
    last = max((e["step"] for e in events if e["event"] in ("step", "eval", "done")), default=0)
    start = next(e for e in events if e["event"] == "start")
    # wall seconds since training began (compilation, warm-up and evaluations included)
    curve = [{"step": e["step"], "seconds": round(e["time"] - start["time"], 1), "val_bpb": e["val_bpb"],
              "val_loss": e["val_loss"], "train_loss": e.get("train_loss")} for e in events if e["event"] == "eval"]
    samples = [e["text"] for e in events if e["event"] == "sample"]
    scored = run_cli(["eval", "--run", recipe, "--data", str(val_path), "--json"], env, home)
    if scored.returncode != 0:
        raise SystemExit(f"evaluating {recipe} failed:\n{scored.stderr[-3000:]}")
    held = json.loads(scored.stdout.strip().splitlines()[-1])
    return {"recipe": recipe, "params": start.get("params"), "steps": last,
            "tokens": start.get("tokens_per_step", 0) * last, "wall_s": round(wall, 1),
            "eval_interval": cfg.train.eval_interval, "curve": curve,
            "final_curve_bpb": curve[-1]["val_bpb"] if curve else None,
            "heldout_bpb": held["bpb"], "heldout_loss": held["loss"], "last_sample": samples[-1] if samples else "",
            "fitted": fitted, "config": cfg.to_dict()}


def time_to_reach(curve: list[dict[str, Any]], target: float) -> float | None:
    """Training seconds at which the curve first reaches ``target`` bits per byte, interpolated."""
    prev = None
    for point in curve:
        if point["seconds"] is None:
            continue
        if point["val_bpb"] <= target:
            if prev is None:
                return point["seconds"]
            (t0, b0), (t1, b1) = (prev["seconds"], prev["val_bpb"]), (point["seconds"], point["val_bpb"])
            return t0 + (t1 - t0) * (b0 - target) / max(b0 - b1, 1e-12)
        prev = point
    return None


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for r in results:
        pts = [(p["seconds"], p["val_bpb"]) for p in r["curve"] if p["seconds"] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=r["recipe"])
    ax.set_xlabel("wall seconds since training began")
    ax.set_ylabel("validation bits per byte")
    ax.set_ylim(top=min(2.5, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Same wall-clock budget on 2 CPU cores, TinyStories sample 90/10")
    fig.tight_layout()
    fig.savefig(path)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="budget per recipe (default 10)")
    parser.add_argument("--recipes", default="classic,default,modern")
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="change the modern recipe (the cpu-10m preset) for a sweep, e.g. model.n_embd=256")
    parser.add_argument("--preset", default="cpu-10m", help="the preset the modern recipe trains (default cpu-10m)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="copy the trained runs and their data to DIR/models and DIR/data (for screenshots)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speedrun",
                        help="writes OUT.json and OUT.png")
    parser.add_argument("--plot", type=Path, default=None, metavar="JSON",
                        help="only draw the plot of a results file written before (next to it, as .png)")
    args = parser.parse_args()
    if args.plot is not None:
        drew = plot(json.loads(args.plot.read_text(encoding="utf-8"))["results"], args.plot.with_suffix(".png"))
        print(f"wrote {args.plot.with_suffix('.png')}" if drew else "the plot needs matplotlib: pip install -e '.[bench]'")
        return 0 if drew else 2
    if not args.sample.is_file():
        print(f"the TinyStories sample is not at {args.sample}", file=sys.stderr)
        return 2
    try:
        settings = parse_settings(args.set)
    except TinyGPTError as err:
        print(err, file=sys.stderr)
        return 2
    recipes = args.recipes.split(",")
    seconds = args.minutes * 60
    results = []
    with tempfile.TemporaryDirectory(prefix="tinygpt-speedrun-") as tmp:
        home = Path(tmp)
        train_path, val_path, n_train, n_val = split_stories(args.sample, home)
        env = dict(os.environ, TINYGPT_MODELS=str(home / "models"), TINYGPT_DATA=str(home / "data"))
        print(f"{n_train} training stories, {n_val} held out; {args.minutes:g} minutes per recipe; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        for recipe in recipes:
            cfg = recipe_config(recipe, train_path, seconds, settings, args.preset)
            r = train_recipe(recipe, cfg, home, env, val_path)
            results.append(r)
            print(f"\n{recipe}: {r['params'] / 1e6:.2f}M parameters, {r['steps']} steps, {r['tokens']:,} tokens, "
                  f"held-out {r['heldout_bpb']:.4f} bits/byte", flush=True)
            for p in r["curve"]:
                print(f"  {p['seconds'] or 0:7.1f} s  step {p['step']:5d}  val {p['val_bpb']:.4f} bits/byte"
                      f"  (train loss {p['train_loss']:.3f}, val loss {p['val_loss']:.3f})")
        if args.keep:
            for folder in ("models", "data"):
                shutil.copytree(home / folder, args.keep / folder, dirs_exist_ok=True)
            print(f"kept the runs in {args.keep / 'models'}", flush=True)

    by = {r["recipe"]: r for r in results}
    summary: dict[str, Any] = {}
    print("\nrecipe    params  steps     tokens  curve bpb  held-out bpb")
    for r in results:
        print(f"{r['recipe']:8s} {r['params'] / 1e6:6.2f}M {r['steps']:6d} {r['tokens']:10,d}  "
              f"{r['final_curve_bpb']:.4f}     {r['heldout_bpb']:.4f}")
    if "modern" in by:
        for other, aim in (("classic", 6), ("default", 3)):
            if other not in by:
                continue
            reach = time_to_reach(by["modern"]["curve"], by[other]["final_curve_bpb"])
            summary[f"modern_reaches_{other}_s"] = reach
            if reach is None:
                print(f"modern never reached {other}'s final {by[other]['final_curve_bpb']:.4f}")
            else:
                print(f"modern reached {other}'s final value ({by[other]['final_curve_bpb']:.4f}) after "
                      f"{reach:.0f} s: {seconds / reach:.1f}x faster (aim: at least {aim}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"minutes": args.minutes, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
              "preset": args.preset, "settings": args.set, "results": results, **summary}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    drew = plot(results, args.out.with_suffix(".png"))
    print(f"\nwrote {args.out.with_suffix('.json')}" + (f" and {args.out.with_suffix('.png')}" if drew else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
