"""Where a modern-recipe training step's time goes on this machine: forward and backward, then the
optimizer's step with Muon's Newton-Schulz iteration in bfloat16 (PyTorch's ``torch.optim.Muon``) and
in float32 (``optim.Float32Muon``), alternating so that both meet the same machine.

    python benchmarks/muon_cost.py [--layers 4 --embd 192 --heads 3 --batch 16 --context 128] [--rounds 5]

Prints the fastest of ``--rounds`` timings of each part, in seconds, and the ratio of the two steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tinygpt_tui.config import ModelConfig, TrainConfig  # noqa: E402
from tinygpt_tui.model import GPT  # noqa: E402
from tinygpt_tui.optim import make_optimizer  # noqa: E402
from tinygpt_tui.presets import MODERN_MODEL, MODERN_TRAIN  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--embd", type=int, default=192)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    if not hasattr(torch.optim, "Muon"):
        print(f"this PyTorch ({torch.__version__}) has no torch.optim.Muon", file=sys.stderr)
        return 2
    mc = ModelConfig(n_layer=a.layers, n_head=a.heads, n_embd=a.embd, block_size=a.context, vocab_size=a.vocab,
                     **MODERN_MODEL)
    tc = TrainConfig(**MODERN_TRAIN)
    torch.manual_seed(0)
    model = GPT(mc)
    opts = {name: make_optimizer(model, tc, dtype)[0] for name, dtype in (("bf16", torch.bfloat16),
                                                                          ("fp32", torch.float32))}
    ids = torch.randint(a.vocab, (a.batch, a.context + 1))
    best: dict[str, float] = {"forward+backward": float("inf"), "bf16": float("inf"), "fp32": float("inf")}
    for _ in range(a.rounds + 1):  # the first round warms up
        for name, opt in opts.items():
            t0 = time.perf_counter()
            model(ids[:, :-1], ids[:, 1:]).loss.backward()
            t1 = time.perf_counter()
            opt.step()
            opt.zero_grad(set_to_none=True)
            t2 = time.perf_counter()
            best["forward+backward"] = min(best["forward+backward"], t1 - t0)
            best[name] = min(best[name], t2 - t1)
    fb = best["forward+backward"]
    out = {"shape": f"{a.layers} x {a.embd}, batch {a.batch} x {a.context}", "threads": torch.get_num_threads(),
           "forward_backward_s": round(fb, 4), "muon_step_bf16_s": round(best["bf16"], 4),
           "muon_step_fp32_s": round(best["fp32"], 4),
           "step_ratio_bf16_over_fp32": round((fb + best["bf16"]) / (fb + best["fp32"]), 2)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
