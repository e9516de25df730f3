"""What dropout costs per training step of the ``cpu-10m`` shape on a CPU, by where it acts.

One forward and backward pass (bf16 autocast, batch 32 x 256, two threads, eager) of the model with
dropout 0, with dropout 0.1 everywhere, with only the attention-probability dropout (inside
``scaled_dot_product_attention``) and with only the residual-stream dropouts; the best of four after
a warm-up, two rounds alternating so that both meet the same machine.

    python benchmarks/dropout_cost.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from tinygpt_tui.model import GPT  # noqa: E402
from tinygpt_tui.presets import preset_config  # noqa: E402


def seconds_per_step(dropout: float, where: str = "all") -> float:
    cfg = preset_config("cpu-10m", "bench", {"model": {"dropout": dropout}})
    cfg.model.vocab_size = 4096
    model = GPT(cfg.model).train()
    for module in model.modules():
        if where == "attention" and isinstance(module, nn.Dropout):
            module.p = 0.0  # the residual-stream dropouts off: attention's own dropout_p stays
        if where == "residual" and isinstance(getattr(module, "dropout", None), float):
            module.dropout = 0.0  # the attention-probability dropout off
    x = torch.randint(0, cfg.model.vocab_size, (cfg.train.batch_size, cfg.model.block_size))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(x, x).loss
        loss.backward()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def main() -> int:
    torch.set_num_threads(2)
    variants = [("no dropout", 0.0, "all"), ("dropout 0.1 everywhere", 0.1, "all"),
                ("attention dropout only", 0.1, "attention"), ("residual dropout only", 0.1, "residual")]
    best: dict[str, float] = {}
    for _ in range(2):
        for name, p, where in variants:
            best[name] = min(best.get(name, float("inf")), seconds_per_step(p, where))
    base = best["no dropout"]
    for name, _p, _where in variants:
        print(f"{name:26s} {best[name]:.3f} s per step  ({best[name] / base:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
