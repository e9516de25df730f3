"""Rich tables of what the CLI and the REPL list: runs, sampling settings, slash-command help,
vocabulary statistics, a prompt's branches, and runs compared (a table and a terminal chart).

A face module, as :mod:`~tinygpt_tui.render` is; every string cell is text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.text import Text

from .render import Table, percent
from .units import duration, human_count


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
                cells.append(percent(row.get("share", 0.0)))
            table.add_row(*cells)
        out.append(table)
    return out


def comparison_table(series: list[Any]) -> Table:
    """Compared runs (compare.RunSeries), one row each: ``tinygpt compare`` and the REPL's /compare."""
    table = Table(title="runs compared", title_justify="left")
    for name, justify in (("run", "left"), ("preset", "left"), ("params", "right"), ("tokens seen", "right"),
                          ("best val bits/byte", "right"), ("time", "right"), ("evaluations", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    best = best_bpb(series)
    for s in series:
        table.add_row(Text(s.name), *comparison_cells(s, best, len(series)), str(len(s.val)))
    return table


def best_bpb(series: list[Any]) -> float | None:
    """The best validation bits per byte among compared runs (None: no run has evaluated yet)."""
    return min((s.best_val_bpb for s in series if s.best_val_bpb is not None), default=None)


def comparison_cells(s: Any, best: float | None, runs: int) -> list[Any]:
    """A compared run's preset, parameters, tokens seen, best validation bits per byte (bold green
    when it is the best of several) and time: the cells the CLI's table and the app's share."""
    bpb = Text("-") if s.best_val_bpb is None else Text(
        f"{s.best_val_bpb:.4f}", style="bold green" if s.best_val_bpb == best and runs > 1 else "")
    return [Text(s.preset), human_count(s.params) if s.params else "-", human_count(s.tokens) if s.tokens else "-",
            bpb, duration(s.elapsed_s) if s.elapsed_s else "-"]


def validation_chart(series: list[Any], width: int, height: int = 16) -> str:
    """The runs' validation bits per byte against the tokens seen, as terminal text."""
    import plotext as plt

    plt.clear_figure()
    plt.plot_size(width, height)
    plt.theme("clear")  # no background colours: the chart is read in any terminal, and piped
    plt.title("validation bits per byte")
    plt.xlabel("tokens seen")
    for s in series:
        if s.val:
            plt.plot([t for _, t, _ in s.val], [b for _, _, b in s.val], label=s.name, marker="braille")
    return plt.build()
