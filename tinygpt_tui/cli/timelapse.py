"""``tinygpt timelapse``: a run's checkpoint history, the sample each checkpoint writes for one prompt
(one seed for all), and a text's token × checkpoint surprisal as a heat map."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import SamplingConfig, TinyGPTError
from .common import read_text_arg, workbench

EPILOG = """\
how to read it: training keeps the weights of past evaluations in the run's history/ folder (at most
train.history of them, default 24, spread over the run). Each row of the table is one of them: its
step, the tokens it had seen, its validation loss and, with --prompt, what it writes after the prompt
with the same seed as all the others, so only the weights differ. With --text, the heat map has a row
per token of the text and a column per checkpoint, oldest on the left, coloured by surprisal (green
<1 bit ... red >=6 bits); the last column's bits are written at the end of each row, and the last row
is each checkpoint's mean.

--json prints {run, history_bytes, frames: [{step, tokens, val_loss, bytes}], samples: [{step, text,
tokens, finish}], surprisal: {tokens, ids, steps, bits}} (bits[t][f]: token t under frame f).

examples:
  tinygpt timelapse --run quick
  tinygpt timelapse --run quick --prompt "Once upon a time" --seed 3
  tinygpt timelapse --run quick --text "The little dog ran to the park." --json
"""


def register(sub: Any) -> None:
    p = sub.add_parser("timelapse", help="a run's checkpoints across training: samples and surprisal",
                       description="Play back a run's checkpoint history: the sample each checkpoint writes for "
                                   "one prompt (one seed for all), and a text's surprisal under each checkpoint.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, metavar="NAME", help="the run to play back")
    p.add_argument("--prompt", help="write a sample of this prompt with each checkpoint")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--text", help="read this text with each checkpoint ('-' reads standard input)")
    src.add_argument("--file", type=Path, help="read the text from this file")
    p.add_argument("--seed", type=int, default=0, help="the seed of every checkpoint's sample (default 0)")
    p.add_argument("--tokens", type=int, default=40, help="new tokens per sample (default 40)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the run's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_timelapse)


def cmd_timelapse(args: argparse.Namespace) -> int:
    bench = workbench(args)
    lapse = bench.timelapse(args.run)
    text = None
    if args.text is not None or args.file is not None:
        text = read_text_arg(args, TinyGPTError("There is no text to read.", "pass --text \"...\" or --file PATH."),
                             empty_is_missing=True)
    params = None
    if args.prompt is not None:
        params = replace(lapse.cfg.sampling, seed=args.seed, max_new_tokens=args.tokens, num_samples=1, stop=[])
        if args.temperature is not None:
            params = replace(params, temperature=args.temperature)
        params = SamplingConfig(**vars(params))  # validated as any sampling settings are
    samples = list(lapse.samples(args.prompt, params)) if params is not None else []
    matrix = lapse.surprisal(text) if text is not None else None
    if args.json:
        out: dict[str, Any] = {
            "run": lapse.name, "history_bytes": lapse.size,
            "frames": [{"step": f.step, "tokens": f.tokens, "val_loss": f.val_loss, "bytes": f.bytes}
                       for f in lapse.frames],
            "samples": [{"step": s.step, "text": s.text, "tokens": s.tokens, "finish": s.finish} for s in samples],
        }
        if matrix is not None:
            out["surprisal"] = {"tokens": matrix.labels, "ids": matrix.ids, "steps": matrix.steps, "bits": matrix.bits}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return 0
    _print(lapse, samples, matrix, args)
    return 0


def _print(lapse: Any, samples: list[Any], matrix: Any, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..heatmap import heatmap
    from ..render import legend
    from ..units import human_bytes, human_count

    console = Console(highlight=False)
    by_step = {s.step: s for s in samples}
    title = f"{lapse.name}: {len(lapse.frames)} checkpoints, {human_bytes(lapse.size)}"
    if samples:
        title += f" · prompt {args.prompt!r}, seed {args.seed}"
    table = Table(title=title, title_justify="left")
    for name, justify in (("step", "right"), ("tokens seen", "right"), ("val loss", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if samples:
        table.add_column("sample", overflow="fold")
    for f in lapse.frames:
        row = [str(f.step), human_count(f.tokens) if f.tokens is not None else "-",
               f"{f.val_loss:.3f}" if f.val_loss is not None else "-"]
        cells: list[Any] = [*row]
        if samples:
            sample = by_step.get(f.step)
            # foreign text: never markup
            cells.append(Text.assemble((args.prompt, "dim"), sample.text if sample else ""))
        table.add_row(*cells)
    console.print(table)
    if matrix is not None:
        width = min(160, max(40, shutil.get_terminal_size((100, 24)).columns))
        console.print(Text("surprisal of each token (rows) under each checkpoint (columns, oldest first)",
                           style="bold"))
        console.print(heatmap(matrix, width))
        console.print(legend("surprisal"))
