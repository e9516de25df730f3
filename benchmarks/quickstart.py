"""The quick start, timed end to end: `tinygpt train --run quick --preset tiny` from empty folders.

Runs the real command line in a fresh temporary folder (built-in story corpus, BPE tokenizer, shards,
training), then reports the wall-clock time of the whole command, the steps, the final validation
loss and bits per byte, and the last sample the trainer wrote. The issue's aim: at most 3 minutes on
a 2-core machine, for a model that writes story-like English.

    python benchmarks/quickstart.py [--preset tiny] [--set SECTION.KEY=VALUE ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="passed on to tinygpt train, e.g. --set model.value_residual=true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tinygpt-quickstart-") as tmp:
        env = dict(os.environ, TINYGPT_MODELS=str(Path(tmp) / "models"), TINYGPT_DATA=str(Path(tmp) / "data"))
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "tinygpt_tui", "train", "--run", "quick", "--preset", args.preset,
                               *(f"--set={item}" for item in args.set), "--json"], env=env, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]

    evals = [e for e in events if e["event"] == "eval"]
    samples = [e for e in events if e["event"] == "sample"]
    steps = [e for e in events if e["event"] == "step"]
    stages = {e["stage"]: e["time"] for e in events if e["event"] == "stage"}
    result = {
        "preset": args.preset,
        "settings": args.set,
        "wall_s": round(wall, 1),
        "prepare_s": round(stages["training"] - stages["corpus"], 1) if {"training", "corpus"} <= stages.keys() else None,
        "steps": steps[-1]["step"] if steps else 0,
        "tokens_per_s_last": round(steps[-1]["tokens_per_s"]) if steps else None,
        "val_loss": evals[-1]["val_loss"] if evals else None,
        "val_bpb": evals[-1]["val_bpb"] if evals else None,
        "last_sample": samples[-1]["text"] if samples else "",
        "fitted": next((e["message"] for e in events if e["event"] == "stage"
                        and e.get("message", "").startswith("fitted")), None),
        "load_average_before": load_before,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"quick start, preset {args.preset} {' '.join(args.set)}, {result['cpus']} CPUs, load average before {load_before[0]:.2f}")
    print(f"  whole command            {result['wall_s']:.1f} s  (aim: <= 180 s)")
    print(f"  corpus+tokenizer+shards  {result['prepare_s']} s (and model set-up)")
    print(f"  steps                    {result['steps']}  (last {result['tokens_per_s_last']} tokens/s)")
    print(f"  validation loss          {result['val_loss']:.4f} nats/token, {result['val_bpb']:.4f} bits/byte")
    print(f"  fit                      {result['fitted'] or 'none'}")
    print(f"  last sample              {result['last_sample']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
