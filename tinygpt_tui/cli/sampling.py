"""Sampling commands: ``generate``, ``score`` and ``demo`` (the REPL).

Human output is rich (tokens coloured by probability where the terminal has colour); ``--json``
prints machine-readable JSON on stdout only. torch is imported when a model is loaded, not before.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from ..config import SamplingConfig, TinyGPTError
from .common import read_text_arg, workbench

GENERATE_EPILOG = """\
views (--show, comma-separated): text (the prompt and its continuation, streamed on a terminal),
boundaries ([he][ll][o] coloured by probability), pieces (he ll o Ġsoft), hex (bytes per token),
probs (per-token table: probability, log probability, surprisal, entropy, rank, alternatives),
all (every view plus the prompt's tokenization table). --readable is text,boundaries: the story,
then the same story cut into [tokens] (the prompt's in bold), which wraps between tokens only.
On a terminal under 100 columns the per-token table stacks: the numbers, then hex and alternatives.

--json prints one JSON object per sample, one per line (JSON lines):
  {"sample", "seed", "prompt", "prompt_ids", "text", "finish", "params", "records": [...]}
where each record has index, sample, id, bytes (hex), piece, hex, text, display, prob, logprob,
prob_sampled, surprisal_bits, entropy_bits, rank, alternatives [{id, piece, text, prob}], cut_mass,
note, finish.

examples:
  tinygpt generate --run quick --prompt "Once upon a time" --tokens 50
  tinygpt generate --run quick --prompt "The dog" --temperature 0 --show all
  tinygpt generate --run quick --samples 3 --seed 7 --stop "\\n" --json
"""


def register(sub: Any) -> None:
    """Add ``generate``, ``score`` and ``demo`` to the ``tinygpt`` subcommands."""
    g = sub.add_parser(
        "generate", help="sample text from a trained run, token by token",
        description="Continue a prompt with a trained run and show each token: boundaries, bytes, "
        "probabilities and the alternatives the model considered. Settings not given come from the "
        "run's config.json (sampling section).",
        epilog=GENERATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _run_options(g)
    g.add_argument("--prompt", default="", help="text to continue (default: empty, i.e. a fresh document)")
    g.add_argument("--temperature", type=float, help="0 is greedy; 1 the model's own distribution")
    g.add_argument("--top-k", type=int, help="sample among the k most likely tokens (0: all)")
    g.add_argument("--top-p", type=float, help="sample among the smallest set reaching probability p (1: all)")
    g.add_argument("--samples", type=int, help="how many samples to draw")
    g.add_argument("--tokens", type=int, help="new tokens per sample (at most)")
    g.add_argument("--seed", type=int, help="sampling seed; sample s uses seed+s (default: a fresh one)")
    g.add_argument("--stop", action="append", metavar="STR",
                   help="stop after this text appears (repeatable; \\n means a newline)")
    g.add_argument("--alternatives", type=int, help="top alternatives recorded per token (default 5)")
    g.add_argument("--show", default="text", metavar="VIEWS",
                   help="text, boundaries, pieces, hex, probs or all (comma-separated; default text)")
    g.add_argument("--readable", action="store_true",
                   help="the story as plain text, then the same text cut into [token] boundaries: the "
                        "readable view (an alias of --show text,boundaries; adds to --show)")
    g.add_argument("--json", action="store_true", help="print JSON lines, one object per sample")
    g.add_argument("--output", type=Path, metavar="FILE",
                   help="also write the samples to FILE: prompt and text, separated by <|endoftext|> lines "
                        "(the JSON lines with --json); written whole or not at all")
    g.set_defaults(func=cmd_generate)

    s = sub.add_parser(
        "score", help="per-token surprisal of a text under a run, and its bits per byte",
        description="Read a text under a trained run (teacher forcing) and show how surprising each "
        "token is, coloured, with the text's bits per byte. The first token is conditioned on "
        "<|endoftext|>, i.e. the text is read as a fresh document.")
    _run_options(s)
    s.add_argument("text", nargs="?", help="the text to score ('-' reads standard input)")
    s.add_argument("--file", type=Path, help="score the contents of this file instead")
    s.add_argument("--table", action="store_true", help="also print the per-token table")
    s.add_argument("--json", action="store_true",
                   help="print one JSON object: tokens, bytes, bits_per_byte, perplexity, records")
    s.set_defaults(func=cmd_score)

    d = sub.add_parser(
        "demo", help="an interactive prompt: type text, see every token (/help inside)",
        description="A REPL over a trained run: type a prompt to see its tokens and a generation with "
        "probabilities and alternatives; slash commands (/params, /tokens, /load, /seed, /help) change "
        "settings. End a line with \\ or press Esc then Enter for a new line; Ctrl-D or /quit leaves. "
        "History is kept in ~/.tinygpt_history (or $TINYGPT_HISTORY).")
    d.add_argument("--run", metavar="NAME", help="the run to load (default: the most recently updated one)")
    d.add_argument("--hf", metavar="ID_OR_PATH", help=HF_HELP)
    d.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                   help="best-by-validation weights (default) or the latest ones")
    d.set_defaults(func=cmd_demo)


HF_HELP = ("a Hugging Face causal LM instead of a run: a hub id (gpt2, roneneldan/TinyStories-1M) or a local "
           "folder; needs the hf extra, and the network once per hub model")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", metavar="NAME", help="the run to use (default: the most recently updated one)")
    p.add_argument("--hf", metavar="ID_OR_PATH", help=HF_HELP)
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best",
                   help="best-by-validation weights (default) or the latest ones")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")


# --------------------------------------------------------------------------------------------------
# helpers


def _load(args: argparse.Namespace):
    bench = workbench(args)
    if getattr(args, "hf", None):
        model, tok, cfg = bench.read_hf(args.hf, device=getattr(args, "device", "cpu"))
        return cfg.name, model, tok, cfg
    name = args.run or bench.default_run()
    model, tok, cfg = bench.read_model(name, which=args.checkpoint, device=getattr(args, "device", "cpu"))
    return name, model, tok, cfg


def sampling_from_args(base: SamplingConfig, args: argparse.Namespace) -> SamplingConfig:
    """``base`` (the run's settings) with the options the user gave; validated by SamplingConfig."""
    changes: dict[str, Any] = {}
    for opt, field in (("temperature", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"),
                       ("samples", "num_samples"), ("tokens", "max_new_tokens"), ("seed", "seed"),
                       ("alternatives", "alternatives")):
        value = getattr(args, opt, None)
        if value is not None:
            changes[field] = value
    if args.stop:
        changes["stop"] = [s.replace("\\n", "\n").replace("\\t", "\t") for s in args.stop]
    return dataclasses.replace(base, **changes)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


# --------------------------------------------------------------------------------------------------
# generate


def cmd_generate(args: argparse.Namespace) -> int:
    from ..generate import encode_prompt, generate_samples, resolve_seed
    from ..render import GenerationView, parse_views
    from ..vocab import breakdown

    views = parse_views(args.show)
    if args.readable:
        views |= {"text", "boundaries"}
    name, model, tok, cfg = _load(args)
    params = resolve_seed(sampling_from_args(cfg.sampling, args))
    prompt = args.prompt
    prompt_ids = encode_prompt(tok, prompt)  # checks the prompt before anything is printed

    texts: list[str] = []  # what --output writes, one entry per sample
    if args.json:
        current: list[Any] = []

        def emit(records: list[Any]) -> None:
            obj = {
                "run": name,
                "sample": records[0].sample,
                "seed": params.seed + records[0].sample,
                "prompt": prompt,
                "prompt_ids": prompt_ids,
                "text": "".join(r.text for r in records),
                "finish": records[-1].finish,
                "params": dataclasses.asdict(params),
                "records": [r.to_dict() for r in records],
            }
            texts.append(json.dumps(obj, ensure_ascii=False))
            sys.stdout.write(texts[-1] + "\n")
            sys.stdout.flush()

        for rec in generate_samples(model, tok, prompt, params):
            if current and rec.sample != current[-1].sample:
                emit(current)
                current = []
            current.append(rec)
        if current:
            emit(current)
        _write_output(args.output, texts, json_lines=True)
        return 0

    console = _console()
    view = GenerationView(console, views, stream=console.is_terminal)
    view.start(prompt, breakdown(tok, prompt) if prompt else [], params.seed, params.num_samples)
    samples: dict[int, list[str]] = {}
    try:
        for rec in generate_samples(model, tok, prompt, params):
            view.add(rec)
            samples.setdefault(rec.sample, []).append(rec.text)
    finally:
        view.finish()
    _write_output(args.output, [prompt + "".join(parts) for _, parts in sorted(samples.items())], json_lines=False)
    return 0


def _write_output(path: Path | None, texts: list[str], json_lines: bool) -> None:
    """Write the samples to ``path`` atomically: JSON lines, or texts in the corpus format."""
    if path is None:
        return
    from ..atomic import atomic_write_text
    from ..config import EOT

    body = "".join(t + "\n" for t in texts) if json_lines else "".join(f"{t}\n{EOT}\n" for t in texts)
    atomic_write_text(path, body)
    print(f"wrote {len(texts)} sample(s) to {path}", file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# score


def cmd_score(args: argparse.Namespace) -> int:
    from rich.text import Text

    from ..render import legend, probs_legend, probs_table, surprisal_text
    from ..scoring import score_text

    text = read_text_arg(args, TinyGPTError("There is no text to score.", "pass it as an argument, or --file PATH."))
    name, model, tok, _cfg = _load(args)
    result = score_text(model, tok, text)
    if args.json:
        sys.stdout.write(json.dumps({"run": name, **result.to_dict()}, ensure_ascii=False) + "\n")
        return 0
    console = _console()
    console.print(surprisal_text(result.records))
    console.print(legend("surprisal"))
    if args.table:
        console.print(probs_table(result.records, title="Per token", scored=True, width=console.width))
        console.print(probs_legend(scored=True))
    console.print(Text.assemble(
        ("bits per byte ", "bold"), (f"{result.bits_per_byte:.3f}", "bold cyan"),
        f"   {result.tokens} tokens, {result.bytes} bytes, mean surprisal "
        f"{result.mean_surprisal_bits:.2f} bits/token, perplexity {result.perplexity:.2f}  (run {name})"))
    return 0


# --------------------------------------------------------------------------------------------------
# demo


def cmd_demo(args: argparse.Namespace) -> int:
    from ..repl import Repl

    bench = workbench(args)
    if args.hf:
        bench.load_hf(args.hf)
        repl = Repl(run=None, which=args.checkpoint, workbench=bench)
        repl.params = bench.default_params()
        return repl.run()
    name = args.run or bench.default_run()
    repl = Repl(run=name, which=args.checkpoint, workbench=bench)
    return repl.run()
