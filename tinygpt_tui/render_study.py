"""Rich views of one token studied closely and of one text under two runs, for the CLI and the REPL:
the logit lens, the sampler's cuts, and versus (each token coloured by its surprisal under each run).

A face module, as :mod:`~tinygpt_tui.render` is; foreign text is always text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.text import Text

from .generate import TokenRecord
from .present import ESCAPES, visible
from .render import Table, percent, prob_style, surprisal_style

# The logit lens and the sampler's cuts of one token


def _alts_text(alts: Sequence[Any], chosen: int) -> Text:
    out = Text()
    for k, a in enumerate(alts):
        if k:
            out.append("  ")
        out.append(repr(a.text)[:14], style="bold" if a.id == chosen else "")
        out.append(" " + percent(a.prob), style="dim")
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
                      Text(percent(layer.prob), style=prob_style(layer.prob)), str(layer.rank),
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
                      percent(s.removed) if s.applied else "-",
                      Text(percent(s.prob), style=prob_style(s.prob)) if s.rank else Text("cut", style="red"),
                      str(s.rank) if s.rank else "-", _alts_text(s.top, cuts.token))
    return table


def cuts_legend(cuts: Any) -> Text:
    return Text(f"Removed: mass each stage cut, out of the distribution after temperature; the last stage "
                f"keeps {percent(cuts.kept)} and is what the sampler drew from. A dim stage is off "
                "(top_k=0, top_p=1, or greedy).", style="dim")


# --------------------------------------------------------------------------------------------------
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
