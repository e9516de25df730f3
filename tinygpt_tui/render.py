"""Rich rendering of token breakdowns, generations and scores, shared by ``tinygpt generate``/``score``
and the ``tinygpt demo`` REPL.

This is a face module: it may import rich (never the core). Tokens are coloured by probability
(generation) or surprisal (scoring); rich drops the colours by itself where the terminal has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from .events import TrainingState
from .generate import TokenRecord
from .present import (
    ESCAPES,
    PROB_BANDS,
    SURPRISAL_BANDS,
    error_sentence,
    hex_label,
    prob_band,
    surprisal_band,
    visible,
)
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
    """The tokenization of a text: ``Token ID | Token | Hex``.

    Named as the app names its columns: there "Visualization" is the token inside its context, so
    the column of bytes is "Hex" here too, never "Visualization"."""
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold")
    table.add_column("Token ID", justify="right", style="cyan")
    table.add_column("Token")
    table.add_column("Hex", style="magenta")
    for row in rows:
        table.add_row(str(row["id"]), repr(row["text"]), row["hex"])
    return table


class Labels:
    """Token labels laid out in lines that break only between labels, never inside one.

    Rich wraps a Text at its spaces, and a token's label holds spaces (``[ soft]``, ``' the' 4.1%``):
    a plain Text would split it over two lines. This renderable packs whole labels into each line for
    the width it is given; a label wider than the whole line is cut short with an ellipsis (it still
    never continues on the next line).
    """

    def __init__(self, labels: Iterable[Text], sep: str = "") -> None:
        self.labels = [label for label in labels if label.cell_len]
        self.sep = sep

    def lines(self, width: int) -> list[Text]:
        """The lines for ``width`` cells."""
        width = max(1, width)
        lines: list[Text] = []
        line = Text()
        for label in self.labels:
            gap = len(self.sep) if line.cell_len else 0
            if line.cell_len and line.cell_len + gap + label.cell_len > width:
                lines.append(line)
                line, gap = Text(), 0
            if gap:
                line.append(self.sep)
            line.append_text(label)
        if line.cell_len or not lines:
            lines.append(line)
        for one in lines:
            one.truncate(width, overflow="ellipsis")
            one.no_wrap = True
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((label.cell_len for label in self.labels), default=0)
        total = sum(label.cell_len for label in self.labels) + len(self.sep) * max(0, len(self.labels) - 1)
        return Measurement(widest, total).clamp(max_width=options.max_width)

    @property
    def plain(self) -> str:
        """All the labels on one line (what a pipe or a test reads)."""
        return self.sep.join(label.plain for label in self.labels)


def boundary_label(text: str, style: str = "") -> Text:
    """One token as ``[text]``: its whitespace written as escapes, the brackets dim."""
    return Text.assemble(("[", "dim"), (visible(text, ESCAPES), style), ("]", "dim"))


def boundaries_text(records: Iterable[TokenRecord], colour: bool = True,
                    prompt: Sequence[dict[str, Any]] = ()) -> Labels:
    """``[he][ll][o][ soft]``: each token on its own in brackets, coloured by its probability; the
    ``prompt``'s own tokens (rows of ``vocab.breakdown``) first, in bold."""
    labels = [boundary_label(hex_label(row["hex"], row["text"]), "bold") for row in prompt]
    labels += [boundary_label(r.display, prob_style(r.prob) if colour and r.prob == r.prob else "")
               for r in records]
    return Labels(labels)


def clean_text(records: Iterable[TokenRecord], colour: bool = False) -> Text:
    out = Text()
    for r in records:
        out.append(r.text, style=prob_style(r.prob) if colour and r.prob == r.prob else "")
    return out


def pieces_text(records: Iterable[TokenRecord], prompt: Sequence[dict[str, Any]] = ()) -> Labels:
    """The raw pieces as the tokenizer writes them: ``he ll o Ġsoft``; the prompt's first, in bold."""
    return Labels([Text(row["piece"], style="bold") for row in prompt] + [Text(r.piece) for r in records],
                  sep=" ")


def hex_text(records: Iterable[TokenRecord], prompt: Sequence[dict[str, Any]] = ()) -> Labels:
    """Each token's bytes in hex, ``68 65 | 6c 6c``; the prompt's first, in bold."""
    return Labels([Text(row["hex"], style="bold") for row in prompt] + [Text(r.hex) for r in records],
                  sep=" | ")


def _alt_label(text: str, width: int = 16) -> str:
    """A quoted alternative, cut to ``width`` with an ellipsis inside its quotes (so it still reads as
    one quoted token)."""
    quoted = repr(text)
    return quoted if len(quoted) <= width else quoted[:width - 2] + "…" + quoted[-1]


def alternatives_labels(r: TokenRecord) -> Labels:
    """The top alternatives of a record, ``'j' 4.5%  'c' 4.4%``, each kept whole on its line."""
    return Labels([Text.assemble((_alt_label(a.text), "bold" if a.id == r.id else ""), (" " + _pct(a.prob), "dim"))
                   for a in r.alternatives], sep="  ")


STACK_WIDTH = 100
"""Below this many columns :func:`probs_table` stacks: the numbers in one table, each token's hex and
alternatives in a second one below it, so every column keeps its room instead of one being dropped."""


def probs_table(records: Sequence[TokenRecord], title: str | None = None, scored: bool = False,
                width: int = 120) -> Any:
    """Per token: its text, hex, probability, log probability, surprisal, entropy, rank, alternatives.

    ``width`` is the space available: below :data:`STACK_WIDTH` columns the hex and the alternatives
    move to a table of their own under the numbers (a stacked layout, whole down to 50 columns); no
    column is ever left out.
    """
    from rich.console import Group

    stacked = width < STACK_WIDTH
    # stacked, the columns are one space apart instead of two: nine columns of numbers fit in 50
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left", title_style="bold",
                  collapse_padding=stacked, pad_edge=not stacked)
    bytes_table = Table(title="Bytes and top alternatives", box=box.SIMPLE_HEAVY, title_justify="left",
                        title_style="bold", collapse_padding=True, pad_edge=False)
    for t in (table, bytes_table) if stacked else (table,):
        t.add_column("#", justify="right", style="dim", no_wrap=True)
        # a token is cut short (with an ellipsis) rather than split; its hex says it in full
        t.add_column("Token", max_width=12 if stacked else 16, no_wrap=True, overflow="ellipsis")
    hex_table = bytes_table if stacked else table
    # hex wraps between bytes (at its spaces), never inside one
    hex_table.add_column("Hex", style="magenta", min_width=5, max_width=11 if stacked else 18)
    for name in ("P", "ln P", "Bits", "H", "Rank") + (() if scored else ("P samp",)):
        table.add_column(name, justify="right", no_wrap=True)
    hex_table.add_column("Top alternatives")
    for r in records:
        token = Text(repr(r.display), style=prob_style(r.prob))
        numbers = [_pct(r.prob), f"{r.logprob:.3f}", f"{r.surprisal_bits:.2f}", f"{r.entropy_bits:.2f}", str(r.rank)]
        if not scored:
            numbers.append(_pct(r.prob_sampled))
        if stacked:
            table.add_row(str(r.index + 1), token, *numbers)  # tokens are numbered from 1 everywhere
            bytes_table.add_row(str(r.index + 1), token.copy(), r.hex, alternatives_labels(r))
        else:
            table.add_row(str(r.index + 1), token, r.hex, *numbers, alternatives_labels(r))
        if r.note:
            table.add_row("", Text(r.note, style="italic yellow"), *[""] * (len(table.columns) - 2))
    return Group(table, bytes_table) if stacked else table


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


def branches_table(tree: Any, current: int) -> Table:
    """Every branch of a :class:`~tinygpt_tui.branches.BranchTree`: its path from the root, length and
    total log-probability; ``current`` is marked. Positions are numbered from 1, as everywhere."""
    from .branches import path_words

    table = Table(title=f"Branches of {tree.prompt!r} (seed {tree.params.seed})", box=box.SIMPLE_HEAVY,
                  title_justify="left", title_style="bold")
    table.add_column("", width=1)
    table.add_column("Branch", justify="right")
    table.add_column("Path")
    table.add_column("Tokens", justify="right")
    table.add_column("Total ln P", justify="right")
    for b in tree.branches:
        table.add_row("▶" if b.id == current else "", str(b.id), Text(path_words(tree.path(b.id))),
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
    from .units import human_bytes

    for col in ("Run", "Preset", "Tokenizer", "Params", "Step", "Best val bpb", "Weights", "History"):
        table.add_column(col)
    for r in infos:
        problem = getattr(r, "problem", None)
        if problem:  # a run whose config cannot be read: listed, with why
            table.add_row(Text(r.name), Text(f"cannot be read: {problem}", style="red"), "", "", "", "", "no", "")
            continue
        bpb = f"{r.best_val_bpb:.3f}" if getattr(r, "best_val_bpb", None) is not None else "-"
        kept = getattr(r, "history", 0)
        history = f"{kept} ({human_bytes(r.history_bytes)})" if kept else "-"
        # names and presets come from folders and config files: text, never markup
        table.add_row(Text(r.name), Text(r.preset), Text(f"{r.tokenizer} {r.vocab_size}"),
                      f"{r.params / 1e6:.2f}M", str(r.step), bpb, "yes" if getattr(r, "has_weights", True) else "no",
                      history)
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
        from .vocab import histogram_rows

        summary.add_row("length histogram", "  ".join(f"{k}B: {v}" for k, v in histogram_rows(hist)))
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
            c.print(boundaries_text(recs, prompt=self.prompt_rows))
            c.print(legend("prob"))
        # Every token-by-token view starts with the prompt's own tokens, in bold: how the prompt was
        # cut decides what the model saw (a word split at its end changes the continuation), so a view
        # without them would hide half the story, and views that disagree on it read as a bug.
        if "pieces" in self.views:
            c.print(Text("Pieces", style="bold underline"))
            c.print(pieces_text(recs, prompt=self.prompt_rows))
        if "hex" in self.views and "probs" not in self.views:
            c.print(Text("Bytes (hex)", style="bold underline"))
            c.print(hex_text(recs, prompt=self.prompt_rows))
        if "probs" in self.views:
            c.print(probs_table(recs, title="Per token", width=c.width))
            c.print(probs_legend())
        if len(self.views) > 1 or any(r.note for r in recs):
            c.print(summary_line(recs))
        if "surprising" in self.views and recs:
            c.print(surprising_line(recs))

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
            seen.setdefault(r.note, []).append(r.index + 1)
    for note, where in seen.items():
        at = f"token {where[0]}" if len(where) == 1 else f"{len(where)} times, first at token {where[0]}"
        out.append(f"\nnote ({at}): {note}", style="yellow")
    return out


def surprising_line(recs: Sequence[TokenRecord], n: int = 3) -> Text:
    """``most surprising: 'x' 6.21 bits (token 3), ...``: the ``n`` tokens the model least expected, the
    short answer to "where did it go off the rails" without the per-token table."""
    measured = [r for r in recs if r.surprisal_bits == r.surprisal_bits]
    worst = sorted(measured, key=lambda r: (-r.surprisal_bits, r.index))[:n]
    out = Text("most surprising: ", style="dim")
    for k, r in enumerate(worst):
        if k:
            out.append(", ", style="dim")
        out.append(repr(r.display), style=prob_style(r.prob))
        out.append(f" {r.surprisal_bits:.2f} bits (token {r.index + 1})", style="dim")
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
    title = Text.assemble(("Logit lens of token ", "bold"), (f"{rec.index + 1} ", "bold"),
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
    title = Text.assemble(("The sampler's cuts at token ", "bold"), (f"{rec.index + 1} ", "bold"),
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
        cells: list[Any] = [str(r.index + 1), repr(r.text) if unit == "word" else visible(r.text, ESCAPES),
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
