"""``tinygpt export`` and ``tinygpt import``: a run to a folder Hugging Face transformers loads, and a
GPT-2-shaped transformers folder to a run that fine-tunes it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..presets import PRESETS
from .common import workbench

EPILOG = """examples:
  tinygpt export --run quick --out exported/quick
  python -c "from transformers import pipeline; print(pipeline('text-generation', 'exported/quick')('Once'))"
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="write a run as a Hugging Face transformers folder (GPT-2 architecture)",
        description="Write a run's weights (safetensors), config, tokenizer and a model card to a folder "
        "that AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained load. The classic "
        "architecture exports as GPT-2, exactly; a run with modern options is refused, naming them. "
        'Needs the hf extra (pip install "tinygpt-tui[hf]").',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", metavar="NAME", help="the run to export (default: the most recently updated one)")
    p.add_argument("--out", metavar="DIR", type=Path, required=True, help="the folder to write (new or empty)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                   help="best-by-validation weights (default) or the latest ones")
    p.add_argument("--force", action="store_true", help="replace a folder that is not empty")
    p.add_argument("--json", action="store_true", help="print one JSON object: run, out")
    p.set_defaults(func=cmd_export)

    i = sub.add_parser(
        "import", help="create a run that starts from a GPT-2-shaped transformers folder or hub id (to fine-tune it)",
        description="Create run NAME whose shape, tokenizer and starting weights come from a local transformers "
        "folder of GPT-2's architecture (config.json, model.safetensors, tokenizer), or from a Hugging Face hub "
        "id (its config, safetensors weights and tokenizer files are downloaded once into the Hugging Face "
        "cache; its config is checked before the weights download). The tokenizer must be "
        "GPT-2's own (the run gets the gpt2 kind) or a byte-level BPE with <|endoftext|>. Training settings come "
        "from --preset (batch, budget, schedule) with AdamW at a fine-tuning rate (--lr, default 3e-4); then `tinygpt train --run NAME` fine-tunes the model "
        "on --source from step 0 with a fresh optimizer. Other architectures are refused, naming what does "
        "not map. Pickle-only weights are never opened.",
        epilog=IMPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("--hf", metavar="DIR_OR_ID", required=True,
                   help="the transformers folder, or the hub id (e.g. openai-community/gpt2), to start from")
    i.add_argument("--run", metavar="NAME", required=True, help="the new run's name")
    i.add_argument("--source", metavar="DATA", help="the text to fine-tune on (as tinygpt train --source; "
                   "default the preset's)")
    i.add_argument("--preset", choices=list(PRESETS), default="tiny",
                   help="training settings (batch, steps, schedule) for the run (default tiny)")
    i.add_argument("--block-size", type=int, metavar="N", help="train on a shorter context than the model's "
                   "positions (the first N position embeddings are kept)")
    i.add_argument("--lr", type=float, help="AdamW's peak learning rate (default 3e-4)")
    i.add_argument("--json", action="store_true", help="print one JSON object: run, tokenizer, model")
    i.set_defaults(func=cmd_import)


IMPORT_EPILOG = """examples:
  tinygpt import --hf ./gpt2-folder --run tuned --source my-notes.txt
  tinygpt import --hf openai-community/gpt2 --run gpt2-notes --source my-notes.txt --block-size 256
  tinygpt train --run tuned --max-steps 200
"""


def cmd_import(args: argparse.Namespace) -> int:
    bench = workbench(args)
    cfg = bench.import_hf(args.hf, args.run, source=args.source, preset=args.preset,
                          block_size=args.block_size, lr=args.lr)
    m = cfg.model
    if args.json:
        sys.stdout.write(json.dumps({"run": cfg.name, "tokenizer": cfg.tokenizer.kind, "model": cfg.to_dict()["model"]})
                         + "\n")
    else:
        sys.stdout.write(f"Created run '{cfg.name}' from {args.hf}: {m.n_layer} layers × {m.n_head} heads × "
                         f"{m.n_embd} wide, context {m.block_size}, {cfg.tokenizer.kind} tokenizer "
                         f"({m.vocab_size:,} tokens). Fine-tune it on {cfg.data.source} with: "
                         f"tinygpt train --run {cfg.name}\n")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    bench = workbench(args)
    name = args.run or bench.default_run()
    out = bench.export(name, args.out, which=args.checkpoint, force=args.force)
    if args.json:
        sys.stdout.write(json.dumps({"run": name, "out": str(out)}) + "\n")
    else:
        sys.stdout.write(f"Exported run '{name}' to {out} (GPT-2 architecture, safetensors, model card).\n")
    return 0
