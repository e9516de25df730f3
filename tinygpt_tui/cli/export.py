"""``tinygpt export``: write a run as a folder that Hugging Face transformers loads."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

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


def cmd_export(args: argparse.Namespace) -> int:
    bench = workbench(args)
    name = args.run or bench.default_run()
    out = bench.export(name, args.out, which=args.checkpoint, force=args.force)
    if args.json:
        sys.stdout.write(json.dumps({"run": name, "out": str(out)}) + "\n")
    else:
        sys.stdout.write(f"Exported run '{name}' to {out} (GPT-2 architecture, safetensors, model card).\n")
    return 0
