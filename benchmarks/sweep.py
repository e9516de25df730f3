"""The sweep behind the CPU presets: one configuration per call, trained on real TinyStories text.

The TinyStories sample (``../shared/data/tinystories/sample.txt``) is split by story, a fixed 90/10
(every tenth story held out, as ``speedrun.py`` does). One call trains one configuration of the
product's own model and optimizer (``model.GPT``, ``optim.make_optimizer``, ``optim.lr_factor``) for
a number of optimizer steps, then scores the held-out stories with ``evaluate.evaluate_documents``
and appends a JSON line to ``--results``.

Comparing configurations at equal wall time on a shared two-core machine is noisy, so a sweep fixes
the *steps* of each configuration to what it would do in the budget at its measured speed
(``--measure`` prints seconds per step for a configuration, alternating with a reference), then
trains step-based: the loss after N steps does not depend on how busy the machine was meanwhile.

    python benchmarks/sweep.py --measure --layers 4 --embd 192 --heads 3 --vocab 2048
    python benchmarks/sweep.py --steps 264 --layers 4 --embd 192 --heads 3 --vocab 2048 --tag s1
    python benchmarks/sweep.py --table          # the results so far, as a Markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tinygpt_tui.config import EOT, ModelConfig, TokenizerConfig, TrainConfig  # noqa: E402
from tinygpt_tui.evaluate import evaluate_documents  # noqa: E402
from tinygpt_tui.model import GPT  # noqa: E402
from tinygpt_tui.optim import lr_factor, make_optimizer, set_lr_factor  # noqa: E402
from tinygpt_tui.presets import MODERN_MODEL, MODERN_TRAIN  # noqa: E402
from tinygpt_tui.tokenizer import load_tokenizer  # noqa: E402
from tinygpt_tui.tokenizer_training import train_tokenizer  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "tinystories" / "sample.txt"


def split(path: Path) -> tuple[list[str], list[str]]:
    stories = [s.strip() for s in path.read_text(encoding="utf-8").split(EOT) if s.strip()]
    return ([s for i, s in enumerate(stories) if i % 10 != 9], [s for i, s in enumerate(stories) if i % 10 == 9])


def data(vocab: int, cache: Path):
    """The tokenizer trained on the 90%, the training stream as one id array, the held-out stories."""
    train, val = split(SAMPLE)
    cache.mkdir(parents=True, exist_ok=True)
    tok_path, ids_path = cache / f"tokenizer-{vocab}.json", cache / f"train-{vocab}.npy"
    if not tok_path.exists():
        corpus = cache / "train.txt"
        corpus.write_text("".join(f"{s}\n{EOT}\n" for s in train), encoding="utf-8")
        train_tokenizer(TokenizerConfig(kind="bpe", vocab_size=vocab), corpus, out=tok_path)
    tok = load_tokenizer(tok_path)
    if not ids_path.exists():
        ids: list[int] = []
        for s in train:
            ids.append(tok.eot_id)
            ids.extend(tok.encode(s))
        np.save(ids_path, np.asarray(ids, dtype=np.int32))
    return tok, np.load(ids_path), val


def dropout_text(r: dict) -> str:
    """The dropout column: one value, or the residual one and the attention one when they differ."""
    d, att = r.get("dropout", 0.0), r.get("attn_dropout")
    return f"{d}" if att is None or att == d else f"{d} (attention {att})"


def configs(a: argparse.Namespace, vocab_size: int) -> tuple[ModelConfig, TrainConfig]:
    shape = dict(n_layer=a.layers, n_head=a.heads, n_embd=a.embd, block_size=a.T, vocab_size=vocab_size,
                 dropout=a.dropout, attn_dropout=a.attn_dropout)
    if a.arch == "modern":
        mc = ModelConfig(**shape, **{**MODERN_MODEL, "logit_softcap": a.softcap, "x0_mix": a.x0,
                                     "value_residual": a.vres})
        tc = TrainConfig(**{**MODERN_TRAIN, "muon_lr": a.lr, "lr": a.adam_lr, "weight_decay": a.wd,
                            "cooldown": a.cool}, batch_size=a.B, max_steps=max(a.steps, 1),
                         warmup_steps=max(1, round(a.warm * max(a.steps, 1))))
    else:
        mc = ModelConfig(**shape)
        tc = TrainConfig(batch_size=a.B, max_steps=max(a.steps, 1), lr=a.adam_lr, min_lr=a.adam_lr / 10,
                         warmup_steps=max(1, round(a.warm * max(a.steps, 1))))
    return mc, tc


def batch(train: np.ndarray, rng: np.random.Generator, B: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    ix = rng.integers(0, len(train) - T - 1, B)
    x = np.stack([train[i : i + T] for i in ix]).astype(np.int64)
    y = np.stack([train[i + 1 : i + 1 + T] for i in ix]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def step(model, opt, x, y, autocast) -> float:
    with autocast:
        loss = model(x, y).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


def autocast_for(dtype: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else torch.autocast("cpu", enabled=False)


def notes_text(r: dict, held_out: int | None) -> str:
    """What a row changed from the sweep's usual settings, beyond the table's own columns
    (``held_out``: how many stories the held-out split has, when the sample is here)."""
    notes = []
    if r.get("wd"):
        notes.append(f"{'Muon' if r.get('arch', 'modern') == 'modern' else 'AdamW'} weight decay {r['wd']}")
    if r.get("x0"):
        notes.append("embedding shortcut")
    if r.get("vres"):
        notes.append("value residual")
    if r.get("cool", 0.4) != 0.4:
        notes.append(f"cooldown {r['cool']}")
    if r.get("seed", 1) != 1:
        notes.append(f"seed {r['seed']}")
    if r.get("dtype", "bf16") != "bf16":
        notes.append(f"trained in {r['dtype']}")
    if r.get("ns_dtype", "bf16") != "bf16":
        notes.append(f"Muon's iteration in {r['ns_dtype']}")
    if r.get("eval_docs") and (held_out is None or r["eval_docs"] < held_out):
        notes.append(f"scored on the first {r['eval_docs']} held-out stories, not all")
    return "; ".join(notes)


def print_table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    held_out = len(split(SAMPLE)[1]) if SAMPLE.exists() else None
    print("| tag | layers x width | vocab | batch x context | dropout | Muon lr | AdamW lr | params | steps | tokens "
          "| held-out bits/byte | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: r["val_bpb"]):
        print(f"| {r['tag']} | {r['layers']} x {r['embd']} | {r['vocab']} | {r['B']} x {r['T']} | {dropout_text(r)} | "
              f"{r['lr']} | {r['adam_lr']} | {r['params'] / 1e6:.2f}M | {r['steps']} | {r['tokens'] / 1e6:.2f}M | "
              f"{r['val_bpb']:.4f} | {notes_text(r, held_out)} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--embd", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--T", type=int, default=256, help="context")
    p.add_argument("--B", type=int, default=32, help="batch")
    p.add_argument("--arch", choices=("modern", "classic"), default="modern")
    p.add_argument("--lr", type=float, default=0.02, help="Muon's peak rate (modern)")
    p.add_argument("--adam_lr", type=float, default=0.008, help="AdamW's peak rate")
    p.add_argument("--wd", type=float, default=0.0)
    p.add_argument("--warm", type=float, default=0.02, help="warmup share of the steps")
    p.add_argument("--cool", type=float, default=0.4, help="cooldown share (wsd)")
    p.add_argument("--softcap", type=float, default=15.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--x0", action="store_true", help="the embedding shortcut before every block (x0_mix)")
    p.add_argument("--vres", action="store_true", help="value residuals from the first layer (value_residual)")
    p.add_argument("--attn-dropout", type=float, default=None, help="attention-probability dropout (unset: --dropout)")
    p.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--ns-dtype", choices=("bf16", "fp32"), default="bf16",
                   help="dtype of Muon's Newton-Schulz iteration: bf16 is PyTorch's (every row before "
                        "2026-12-03); fp32 is what the trainer uses on a CPU that trains in float32")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--eval-docs", type=int, default=400, help="held-out stories scored (0: all)")
    p.add_argument("--measure", action="store_true", help="print seconds per step instead of training")
    p.add_argument("--table", action="store_true", help="print the results file as a Markdown table")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch threads (several configurations at once: 1 each)")
    p.add_argument("--tag", default="")
    p.add_argument("--cache", type=Path, default=Path("/tmp/tinygpt-sweep"))
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "sweep.jsonl")
    a = p.parse_args()
    if a.table:
        try:
            print_table(a.results)
            sys.stdout.flush()
        except BrokenPipeError:  # `--table | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if not SAMPLE.is_file():
        print(f"the TinyStories sample is not at {SAMPLE}", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    tok, train, val = data(a.vocab, a.cache)
    mc, tc = configs(a, tok.vocab_size)
    model = GPT(mc)
    opt, _ = make_optimizer(model, tc, torch.float32 if a.ns_dtype == "fp32" else torch.bfloat16)
    ac = autocast_for(a.dtype)
    rng = np.random.default_rng(a.seed)
    if a.measure:
        for _ in range(2):
            step(model, opt, *batch(train, rng, a.B, a.T), ac)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            step(model, opt, *batch(train, rng, a.B, a.T), ac)
            times.append(time.perf_counter() - t0)
        print(json.dumps({"seconds_per_step": round(min(times), 4), "params": model.num_params()}))
        return 0
    t0 = time.perf_counter()
    loss = float("nan")
    for s in range(a.steps):
        set_lr_factor(opt, lr_factor(tc, s))
        loss = step(model, opt, *batch(train, rng, a.B, a.T), ac)
    seconds = time.perf_counter() - t0
    held = val[: a.eval_docs] if a.eval_docs else val
    r = evaluate_documents(model, tok, held, dtype=torch.bfloat16 if a.dtype == "bf16" else torch.float32)
    out = {k: v for k, v in vars(a).items() if k not in ("cache", "results", "measure", "threads")}
    out.update(params=model.num_params(), tokens=a.steps * a.B * a.T, train_s=round(seconds, 1),
               last_train_loss=round(loss, 4), val_bpb=round(r["bpb"], 4), val_loss=round(r["loss"], 4))
    print(json.dumps(out))
    a.results.parent.mkdir(parents=True, exist_ok=True)
    with a.results.open("a") as f:
        f.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
