"""Rich rendering of token breakdowns, generations and scores, shared by ``tinygpt generate``/``score``
and the ``tinygpt demo`` REPL.

This is a face module: it may import rich (never the core). Tokens are coloured by probability
(generation) or surprisal (scoring); rich drops the colours by itself where the terminal has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from .events import TrainingState
from .generate import TokenRecord
from .present import ESCAPES, PROB_BANDS, SURPRISAL_BANDS, error_sentence, prob_band, surprisal_band, visible
from .units import duration, human_count


class Table(RichTable):
    """A Rich table that shows its title and string cells as text, never as markup: they hold run
    names, token pieces, file names and settings the user typed (``stop=[/INST]``)."""

    def __init__(self, *args: Any, title: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, title=Text(title) if isinstance(title, str) else title, **kwargs)

    def add_row(self, *cells: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kwargs)

VIEWS = ("text", "boundaries", "pieces", "hex", "probs", "all")
"""What ``--show`` accepts (comma-separated for several)."""

def parse_views(spec: str | Sequence[str] | None) -> set[str]:
    """``"boundaries,probs"`` -> {"boundaries", "probs"}; ``all`` expands to every view."""
    from .config import TinyGPTError

    if spec is None:
        return {"text"}
    items = spec.split(",") if isinstance(spec, str) else [s for part in spec for s in part.split(",")]
    views = {s.strip().lower() for s in items if s.strip()} or {"text"}
    bad = sorted(views - set(VIEWS))
    if bad:
        raise TinyGPTError(f"Unknown view '{bad[0]}' for --show.", f"choose from {', '.join(VIEWS)}.")
    if "all" in views:
        views = set(VIEWS) - {"all"} | {"breakdown"}
    return views


def prob_style(p: float) -> str:
    """The CLI's style for probability ``p``: its band's colour on the one scale (present.py)."""
    return prob_band(p).colour


def surprisal_style(bits: float) -> str:
    return surprisal_band(bits).colour


def legend(kind: str = "prob") -> Text:
    """The colour key, the best news first."""
    bands = PROB_BANDS if kind == "prob" else SURPRISAL_BANDS
    out = Text("colour: " if kind == "prob" else "surprisal: ", style="dim")
    for band in reversed(bands):
        out.append(f" {band.label} ", style=f"reverse {band.colour}")
        out.append(" ")
    return out


def _pct(p: float) -> str:
    return f"{p * 100:.1f}%" if p >= 0.001 else f"{p * 100:.2g}%"


# --------------------------------------------------------------------------------------------------
# Tables and lines


def breakdown_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> Table:
    """The tokenization of a text: ``Token ID | Token | Visualization`` (the last is hex bytes)."""
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    table.add_column("Token ID", justify="right", style="cyan")
    table.add_column("Token")
    table.add_column("Visualization", style="magenta")
    for row in rows:
        table.add_row(str(row["id"]), repr(row["text"]), row["hex"])
    return table


def boundaries_text(records: Iterable[TokenRecord], colour: bool = True) -> Text:
    """``[he][ll][o][ soft]``: each token on its own in brackets, coloured by its probability."""
    out = Text()
    for r in records:
        out.append("[", style="dim")
        out.append(visible(r.display, ESCAPES), style=prob_style(r.prob) if colour and r.prob == r.prob else "")
        out.append("]", style="dim")
    return out


def clean_text(records: Iterable[TokenRecord], colour: bool = False) -> Text:
    out = Text()
    for r in records:
        out.append(r.text, style=prob_style(r.prob) if colour and r.prob == r.prob else "")
    return out


def pieces_text(records: Iterable[TokenRecord]) -> Text:
    """The raw pieces as the tokenizer writes them: ``he ll o Ġsoft``."""
    return Text(" ".join(r.piece for r in records))


def hex_text(records: Iterable[TokenRecord]) -> Text:
    return Text(" | ".join(r.hex for r in records))


def probs_table(records: Sequence[TokenRecord], title: str | None = None, scored: bool = False,
                width: int = 120) -> Table:
    """Per token: its text, hex, probability, log probability, surprisal, entropy, rank, alternatives.

    ``width`` is the space available: below 100 columns the hex column is left out so the
    alternatives keep room to breathe.
    """
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column("Token", max_width=16)
    show_hex = width >= 100
    if show_hex:
        table.add_column("Hex", style="magenta", max_width=18)
    table.add_column("P", justify="right")
    table.add_column("ln P", justify="right")
    table.add_column("Bits", justify="right")
    table.add_column("H", justify="right", header_style="bold")
    table.add_column("Rank", justify="right")
    if not scored:
        table.add_column("P samp", justify="right")
    table.add_column("Top alternatives")
    for r in records:
        alts = Text()
        for k, a in enumerate(r.alternatives):
            if k:
                alts.append("  ")
            alts.append(repr(a.text)[:14], style="bold" if a.id == r.id else "")
            alts.append(" " + _pct(a.prob), style="dim")
        row: list[Any] = [str(r.index), Text(repr(r.display), style=prob_style(r.prob))]
        if show_hex:
            row.append(r.hex)
        row += [_pct(r.prob), f"{r.logprob:.3f}", f"{r.surprisal_bits:.2f}", f"{r.entropy_bits:.2f}", str(r.rank)]
        if not scored:
            row.append(_pct(r.prob_sampled))
        row.append(alts)
        table.add_row(*row)
        if r.note:
            table.add_row("", Text(r.note, style="italic yellow"), *[""] * (len(table.columns) - 2))
    return table


def probs_legend(scored: bool = False) -> Text:
    """What the columns of :func:`probs_table` mean."""
    return Text("P: probability under the model; ln P: its natural log; Bits: surprisal -log2 P; "
                "H: entropy of the distribution in bits; Rank: 1 = most likely"
                + ("" if scored else "; P samp: probability after temperature, top-k and top-p"), style="dim")


def surprisal_text(records: Iterable[TokenRecord]) -> Text:
    """The scored text with each token coloured by its surprisal."""
    out = Text()
    for r in records:
        out.append(r.text, style=surprisal_style(r.surprisal_bits))
    return out


def branches_table(tree: Any, current: int, first: int = 0) -> Table:
    """Every branch of a :class:`~tinygpt_tui.branches.BranchTree`: its path from the root, length and
    total log-probability; ``current`` is marked. Positions are numbered from ``first``."""
    from .branches import path_words

    table = Table(title=f"Branches of {tree.prompt!r} (seed {tree.params.seed})", box=box.SIMPLE_HEAVY,
                  title_justify="left", title_style="bold")
    table.add_column("", width=1)
    table.add_column("Branch", justify="right")
    table.add_column("Path")
    table.add_column("Tokens", justify="right")
    table.add_column("Total ln P", justify="right")
    for b in tree.branches:
        table.add_row("▶" if b.id == current else "", str(b.id), Text(path_words(tree.path(b.id), first)),
                      str(len(tree.sequence(b.id))), f"{tree.total_logprob(b.id):.3f}")
    return table


def params_table(rows: Sequence[tuple[str, str, str]], title: str = "Sampling settings") -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    table.add_column("Setting", style="cyan")
    table.add_column("Value", style="bold")
    table.add_column("Meaning", style="dim")
    for row in rows:
        table.add_row(*row)
    return table


def help_table(rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column("Command", style="cyan", no_wrap=True)
    table.add_column("What it does")
    for row in rows:
        table.add_row(*row)
    return table


def runs_table(infos: Sequence[Any]) -> Table:
    table = Table(title="Runs", box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    for col in ("Run", "Preset", "Tokenizer", "Params", "Step", "Best val bpb", "Weights"):
        table.add_column(col)
    for r in infos:
        problem = getattr(r, "problem", None)
        if problem:  # a run whose config cannot be read: listed, with why
            table.add_row(Text(r.name), Text(f"cannot be read: {problem}", style="red"), "", "", "", "", "no")
            continue
        bpb = f"{r.best_val_bpb:.3f}" if getattr(r, "best_val_bpb", None) is not None else "-"
        # names and presets come from folders and config files: text, never markup
        table.add_row(Text(r.name), Text(r.preset), Text(f"{r.tokenizer} {r.vocab_size}"),
                      f"{r.params / 1e6:.2f}M", str(r.step), bpb, "yes" if getattr(r, "has_weights", True) else "no")
    return table


def vocab_stats_tables(stats: dict[str, Any]) -> list[Any]:
    """Renderables for :func:`tinygpt_tui.tokenizer.vocab_stats` output."""
    out: list[Any] = []
    summary = Table(title="Vocabulary", box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold",
                    show_header=False)
    summary.add_column("", style="cyan")
    summary.add_column("")
    summary.add_row("kind", str(stats.get("kind")))
    summary.add_row("vocab size", str(stats.get("vocab_size")))
    summary.add_row("special tokens", ", ".join(f"{k} ({v})" for k, v in stats.get("special_tokens", {}).items()))
    if "mean_token_bytes" in stats:
        summary.add_row("mean token length", f"{stats['mean_token_bytes']:.2f} bytes")
    hist = stats.get("length_histogram") or {}
    if hist:
        summary.add_row("length histogram", "  ".join(f"{k}B: {v}" for k, v in sorted(hist.items())))
    if "tokens" in stats:
        summary.add_row("training tokens", f"{stats['tokens']:,}")
        summary.add_row("bytes per token", f"{stats.get('bytes_per_token', 0):.2f}")
        summary.add_row("never seen", str(stats.get("never_seen", 0)))
    out.append(summary)
    for key, title in (("longest", "Longest tokens"), ("most_frequent", "Most frequent tokens")):
        rows = stats.get(key) or []
        if not rows:
            continue
        table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
        table.add_column("ID", justify="right", style="cyan")
        table.add_column("Piece")
        table.add_column("Text")
        table.add_column("Bytes", justify="right")
        if key == "most_frequent":
            table.add_column("Share", justify="right")
        for row in rows[:10]:
            cells = [str(row["id"]), row["piece"], repr(row["text"]), str(row["bytes"])]
            if key == "most_frequent":
                cells.append(_pct(row.get("share", 0.0)))
            table.add_row(*cells)
        out.append(table)
    return out


def print_error(console: Console, err: BaseException) -> None:
    """A user error as the CLI and the REPL show it: one sentence, then the hint (never markup)."""
    message, hint = error_sentence(err)
    console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    if hint:
        console.print(Text.assemble(("hint: ", "yellow"), hint), soft_wrap=True)


# --------------------------------------------------------------------------------------------------
# A generation as it streams


class GenerationView:
    """Shows records as they arrive, then the views asked for once a sample is complete.

    ``stream``: print each token's clean text as soon as it is sampled (a live terminal); otherwise
    the text is printed whole at the end of the sample.
    """

    def __init__(self, console: Console, views: set[str], stream: bool = False):
        self.console = console
        self.views = views
        self.stream = stream and "text" in views
        self.records: list[TokenRecord] = []
        self.prompt = ""
        self.prompt_rows: list[dict[str, Any]] = []
        self.num_samples = 1

    def start(self, prompt: str, breakdown: Sequence[dict[str, Any]] | None, seed: int | None,
              num_samples: int = 1) -> None:
        self.prompt = prompt
        self.prompt_rows = list(breakdown or [])
        self.num_samples = num_samples
        if "breakdown" in self.views and breakdown is not None:
            self.console.print(breakdown_table(breakdown, title=f"Prompt: {len(breakdown)} tokens"))
        if len(self.views) > 1 and seed is not None:
            self.console.print(Text(f"seed {seed}", style="dim"))

    def _start_sample(self, sample: int) -> None:
        if self.num_samples > 1:
            self.console.rule(f"sample {sample + 1}/{self.num_samples}", style="dim")
        if self.stream:
            self.console.print(Text(self.prompt, style="bold"), end="")

    def add(self, rec: TokenRecord) -> None:
        if not self.records or rec.sample != self.records[-1].sample:
            if self.records:
                self.finish_sample()
            self._start_sample(rec.sample)
        self.records.append(rec)
        if self.stream and rec.text:
            self.console.print(Text(rec.text, style=prob_style(rec.prob) if rec.prob == rec.prob else ""),
                               end="")
            self.console.file.flush()

    def finish_sample(self) -> None:
        recs, self.records = self.records, []
        c = self.console
        if self.stream:
            c.print()
        elif "text" in self.views:
            if len(self.views) > 1:
                c.print(Text("Text", style="bold underline"))
            c.print(Text.assemble((self.prompt, "bold"), clean_text(recs, colour=True)))
        if "boundaries" in self.views:
            c.print(Text("Token boundaries", style="bold underline"))
            prompt = Text()
            for row in self.prompt_rows:  # the prompt's own tokens, in bold, before the generated ones
                prompt.append(f"[{visible(row['text'], ESCAPES)}]", style="bold")
            c.print(Text.assemble(prompt, boundaries_text(recs)))
            c.print(legend("prob"))
        if "pieces" in self.views:
            c.print(Text("Pieces", style="bold underline"))
            c.print(pieces_text(recs))
        if "hex" in self.views and "probs" not in self.views:
            c.print(Text("Bytes (hex)", style="bold underline"))
            c.print(hex_text(recs))
        if "probs" in self.views:
            c.print(probs_table(recs, title="Per token", width=c.width))
            c.print(probs_legend())
        if len(self.views) > 1 or any(r.note for r in recs):
            c.print(summary_line(recs))

    def finish(self) -> None:
        if self.records:
            self.finish_sample()


def summary_line(recs: Sequence[TokenRecord]) -> Text:
    """``12 tokens, stopped at <|endoftext|>, mean surprisal 2.31 bits`` plus any notes."""
    reasons = {"eot": "stopped at <|endoftext|>", "stop": "stopped at a stop string", "length": "reached the token limit"}
    finish = recs[-1].finish if recs else None
    parts = [f"{len(recs)} tokens", reasons.get(finish or "", "stopped early")]
    measured = [r.surprisal_bits for r in recs if r.surprisal_bits == r.surprisal_bits]
    if measured:
        parts.append(f"mean surprisal {sum(measured) / len(measured):.2f} bits")
    out = Text(", ".join(parts), style="dim")
    # a long generation in a short context slides its window again and again: say each note once
    seen: dict[str, list[int]] = {}
    for r in recs:
        if r.note:
            seen.setdefault(r.note, []).append(r.index)
    for note, where in seen.items():
        at = f"token {where[0]}" if len(where) == 1 else f"{len(where)} times, first at token {where[0]}"
        out.append(f"\nnote ({at}): {note}", style="yellow")
    return out


def result_line(state: TrainingState, how_to_continue: str) -> str:
    """The result of a finished training in words: best validation bits per byte, tokens seen, time;
    and, for an under-trained run, why it is and ``how_to_continue``. Empty while nothing ended."""
    if state.status != "done" or state.reason not in ("finished", "time"):
        return ""
    parts = [f"best val {state.best_val_bpb:.3f} bits/byte" if state.best_val_bpb is not None else "no evaluation",
             f"{human_count(state.tokens)} tokens", duration(state.elapsed_s)]
    line = "result: " + ", ".join(parts) + "."
    if state.undertrained:
        line += f" Under-trained: {state.undertrained_why}. {how_to_continue}"
    return line


# --------------------------------------------------------------------------------------------------
# The logit lens and the sampler's cuts of one token


def _alts_text(alts: Sequence[Any], chosen: int) -> Text:
    out = Text()
    for k, a in enumerate(alts):
        if k:
            out.append("  ")
        out.append(repr(a.text)[:14], style="bold" if a.id == chosen else "")
        out.append(" " + _pct(a.prob), style="dim")
    return out


def lens_table(lens: Any, rec: TokenRecord) -> Table:
    """Per layer (0: the embedding): the chosen token's probability and rank if the model stopped
    there, the entropy, and that layer's top predictions."""
    settled = lens.settled
    when = (f"top prediction from layer {settled} on" if settled is not None
            else "never the top prediction at the last layer (sampled below the top)")
    title = Text.assemble(("Logit lens of token ", "bold"), (f"{rec.index} ", "bold"),
                          (repr(rec.display), f"bold {prob_style(rec.prob)}"), f": {when}")
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("Layer", justify="right")
    table.add_column("P", justify="right")
    table.add_column("Rank", justify="right")
    table.add_column("H", justify="right")
    table.add_column("Top predictions")
    for layer in lens.layers:
        name = "emb" if layer.layer == 0 else str(layer.layer)
        table.add_row(Text(name, style="bold" if layer.layer == settled else ""),
                      Text(_pct(layer.prob), style=prob_style(layer.prob)), str(layer.rank),
                      f"{layer.entropy_bits:.2f}", _alts_text(layer.top, lens.token))
    return table


def lens_legend(lens: Any) -> Text:
    text = ("Each layer's residual stream read through the final norm and the head, as if it were the last "
            "layer (emb: before any block). P and Rank: the chosen token's; H: entropy in bits. The last "
            "layer is the model's own distribution.")
    if lens.cropped:
        text += f" The window held the last {lens.context} tokens."
    return Text(text, style="dim")


def cuts_table(cuts: Any, rec: TokenRecord) -> Table:
    """Per stage of the sampler: the setting, tokens left, the mass removed, the chosen token's
    probability and rank, the top of the distribution."""
    title = Text.assemble(("The sampler's cuts at token ", "bold"), (f"{rec.index} ", "bold"),
                          (repr(rec.display), f"bold {prob_style(rec.prob)}"))
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    table.add_column("Stage")
    table.add_column("Setting")
    table.add_column("Tokens", justify="right")
    table.add_column("Removed", justify="right")
    table.add_column("P", justify="right")
    table.add_column("Rank", justify="right")
    table.add_column("Top")
    for s in cuts.stages:
        dim = "" if s.applied else "dim"
        table.add_row(Text(s.name, style=dim), Text(s.setting or "-", style=dim), f"{s.tokens:,}",
                      _pct(s.removed) if s.applied else "-",
                      Text(_pct(s.prob), style=prob_style(s.prob)) if s.rank else Text("cut", style="red"),
                      str(s.rank) if s.rank else "-", _alts_text(s.top, cuts.token))
    return table


def cuts_legend(cuts: Any) -> Text:
    return Text(f"Removed: mass each stage cut, out of the distribution after temperature; the last stage "
                f"keeps {_pct(cuts.kept)} and is what the sampler drew from. A dim stage is off "
                "(top_k=0, top_p=1, or greedy).", style="dim")


# Two runs, one text (versus.py)


def versus_text(result: Any, side: str) -> Text:
    """The text with each token (or word) coloured by its surprisal under run ``side`` ("a" or "b")."""
    out = Text()
    for r in result.rows:
        bits = r.bits_a if side == "a" else r.bits_b
        out.append(r.text if result.unit == "word" else visible(r.text, ESCAPES), style=surprisal_style(bits))
    return out


def versus_table(result: Any, top: int = 20) -> Table:
    """The rows where the two runs disagree most: bits under each (coloured on the surprisal scale)
    and B - A, coloured by the size of the disagreement on the same scale."""
    unit = result.unit
    table = Table(title=f"Where they disagree most (per {unit})", box=box.SIMPLE_HEAVY, title_justify="left",
                  title_style="bold")
    table.add_column("#", justify="right", style="cyan")
    table.add_column("Token" if unit == "token" else "Word")
    table.add_column(f"A {result.run_a}", justify="right")
    table.add_column(f"B {result.run_b}", justify="right")
    table.add_column("B - A", justify="right")
    if unit == "word":
        table.add_column("bpb A", justify="right")
        table.add_column("bpb B", justify="right")
    for r in result.by_disagreement()[:top]:
        cells: list[Any] = [str(r.index), repr(r.text) if unit == "word" else visible(r.text, ESCAPES),
                            Text(f"{r.bits_a:.2f}", style=surprisal_style(r.bits_a)),
                            Text(f"{r.bits_b:.2f}", style=surprisal_style(r.bits_b)),
                            Text(f"{r.diff:+.2f}", style=surprisal_style(abs(r.diff)))]
        if unit == "word":
            cells += [f"{r.bits_a / max(1, r.bytes):.2f}", f"{r.bits_b / max(1, r.bytes):.2f}"]
        table.add_row(*cells)
    return table


def versus_summary(result: Any) -> Text:
    """Bits per byte of each run on the text, and how the rows were lined up."""
    how = ("same tokenizer: compared per token" if result.unit == "token"
           else "different tokenizers: each token's bits spread over its bytes, compared per word")
    return Text.assemble(("bits per byte ", "bold"), (f"A {result.bits_per_byte_a:.3f}", "bold cyan"),
                         "  ", (f"B {result.bits_per_byte_b:.3f}", "bold cyan"),
                         f"   {result.bytes} bytes; {result.tokens_a} tokens under A, {result.tokens_b} under B; "
                         f"{how}", *(f"; {n}" for n in result.notes))
