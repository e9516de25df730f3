"""How fast is sampling, and what does inspecting every token cost?

On one model (preset ``small-classic`` with random weights by default, or a trained run with ``--run``), in
one process, this measures tokens/s for ``--tokens`` new tokens at batch 1 with:

- ``recompute``: the sampler nanoGPT's ``generate`` uses: every step runs the whole (cropped)
  context through the model and samples from the last position (temperature + top-k);
- ``cached``: :func:`tinygpt_tui.generate.generate` with ``inspect=False``: one position per step
  over the KV cache, records with bytes/piece/clean text, but no raw-distribution statistics;
- ``cached+inspect``: the same with full inspection (raw probability and log probability, entropy,
  rank, ``--alternatives`` top alternatives), which is what the REPL and the TUI use.

The variants run in interleaved rounds (A B C, A B C, ...) so that load from other processes on a
shared machine falls on all of them alike; the median round is reported. Aims: ``cached`` at least
3x ``recompute`` on ``small``; inspection overhead at most 15%.

    python benchmarks/generate.py                      # small, random init, CPU
    python benchmarks/generate.py --run quick --json   # a trained run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from tinygpt_tui.config import EOT, SamplingConfig  # noqa: E402
from tinygpt_tui.generate import generate  # noqa: E402
from tinygpt_tui.model import GPT  # noqa: E402
from tinygpt_tui.presets import preset_config  # noqa: E402


def synthetic_tokenizer(vocab_size: int):
    """A real character-level tokenizer with ``vocab_size`` ids (multi-byte characters included), so
    the records are built exactly as for a trained run."""
    from tinygpt_tui.tokenizer import CharTokenizer

    chars = [chr(c) for c in range(0x21, 0x7F)] + [chr(c) for c in range(0xA1, 0xA1 + vocab_size)]
    return CharTokenizer(chars[: vocab_size - 1], special_tokens=(EOT,))


@torch.inference_mode()
def recompute_sample(model: GPT, ids: list[int], params: SamplingConfig, gen: torch.Generator) -> int:
    """nanoGPT-style sampling: the whole cropped context every step; returns tokens produced."""
    block = model.config.block_size
    device = model.lm_head.weight.device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    for _ in range(params.max_new_tokens):
        idx_cond = idx if idx.size(1) <= block else idx[:, -block:]
        logits = model(idx_cond, last_only=True).logits[:, -1, :] / params.temperature
        if params.top_k:
            v, _ = torch.topk(logits, min(params.top_k, logits.size(-1)))
            logits[logits < v[:, [-1]]] = -float("inf")
        probs = torch.softmax(logits, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        idx = torch.cat((idx, nxt), dim=1)
    return params.max_new_tokens


def cached_sample(model: GPT, tok, prompt: str, params: SamplingConfig, inspect: bool) -> int:
    # like the recompute sampler, go on past <|endoftext|>: every variant makes exactly max_new_tokens
    return sum(1 for _ in generate(model, tok, prompt, params, inspect=inspect, stop_at_eot=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small-classic",
                    help="model shape when no --run is given (default small-classic, the shape of the README's figures)")
    ap.add_argument("--run", help="benchmark a trained run's model instead")
    ap.add_argument("--tokens", type=int, default=256, help="new tokens per sample (default 256)")
    ap.add_argument("--prompt-tokens", type=int, default=32, help="prompt length in tokens (default 32)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    ap.add_argument("--alternatives", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: batch-1 decoding of a small model gains little from "
                    "intra-op threads, and on a shared machine spinning threads make timings collapse)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.run:
        from tinygpt_tui.checkpoint import load_model
        from tinygpt_tui.runs import run_dir
        from tinygpt_tui.workspace import Workspace

        model, tok, cfg = load_model(run_dir(Workspace.from_env().models, args.run), device=args.device)
        label = f"run {args.run}"
    else:
        cfg = preset_config(args.preset)
        torch.manual_seed(0)
        model = GPT(cfg.model).to(args.device).eval()
        tok = synthetic_tokenizer(cfg.model.vocab_size)
        label = f"preset {args.preset} (random init)"
    mc = model.config
    # the same prompt for every variant: ordinary text, or ids decoded from a fixed random draw
    g = torch.Generator().manual_seed(1)
    prompt_ids = torch.randint(1, mc.vocab_size, (args.prompt_tokens,), generator=g).tolist()
    prompt = tok.decode(prompt_ids)
    prompt_ids = tok.encode(prompt)
    # no EOT stop, no stop strings: every variant produces exactly --tokens tokens
    params = SamplingConfig(temperature=0.8, top_k=50, top_p=1.0, max_new_tokens=args.tokens, seed=0,
                            alternatives=args.alternatives)
    variants = {
        "recompute": lambda: recompute_sample(model, prompt_ids, params, torch.Generator(args.device).manual_seed(0)),
        "cached": lambda: cached_sample(model, tok, prompt, params, inspect=False),
        "cached+inspect": lambda: cached_sample(model, tok, prompt, params, inspect=True),
    }
    for fn in variants.values():  # warm-up: allocator, kernels, lazy imports
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            n = fn()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times[name].append((time.perf_counter() - t0) / n)
    per_token = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "model": label,
        "params": model.num_params(),
        "n_layer": mc.n_layer, "n_embd": mc.n_embd, "block_size": mc.block_size, "vocab_size": mc.vocab_size,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "new_tokens": args.tokens,
        "prompt_tokens": len(prompt_ids),
        "rounds": args.rounds,
        "tokens_per_s": {k: 1.0 / v for k, v in per_token.items()},
        "ms_per_token": {k: v * 1e3 for k, v in per_token.items()},
        "speedup_cached_vs_recompute": per_token["recompute"] / per_token["cached"],
        "speedup_inspect_vs_recompute": per_token["recompute"] / per_token["cached+inspect"],
        "inspection_overhead": per_token["cached+inspect"] / per_token["cached"] - 1.0,
        "all_ms_per_token": {k: [t * 1e3 for t in v] for k, v in times.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Sampling {args.tokens} tokens at batch 1: {label}, {result['params'] / 1e6:.1f}M params, "
                        f"{args.device}, {result['threads']} thread(s), median of {args.rounds} rounds")
    table.add_column("sampler")
    table.add_column("tokens/s", justify="right")
    table.add_column("ms/token", justify="right")
    table.add_column("vs recompute", justify="right")
    for name, t in per_token.items():
        table.add_row(name, f"{1 / t:.1f}", f"{t * 1e3:.2f}", f"{per_token['recompute'] / t:.2f}x")
    console = Console()
    console.print(table)
    console.print(f"KV cache speedup: {result['speedup_cached_vs_recompute']:.2f}x (aim >= 3x); "
                  f"inspection overhead: {result['inspection_overhead'] * 100:+.1f}% (aim <= 15%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
