"""The REPL's branch commands (``/branch``, ``/branches``): grow a branch from any alternative of the
last generation, show one, list, save and open the trees (one per sample; branches.py).

A mixin of :class:`~tinygpt_tui.repl.Repl`, which holds the state it uses: ``workbench``, ``console``,
``trees`` (the sample trees), ``branch_id`` (the branch in view) and ``_branch_at`` (the branch each
sample's tree was left on).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.text import Text

from . import commands
from .config import TinyGPTError


class BranchCommands:
    """``/branch`` and ``/branches`` for the REPL."""

    workbench: Any
    console: Any
    trees: Any
    branch_id: int
    _branch_at: dict[int, int]

    info: Any  # the Repl's one-line message: info(text, style)

    @property
    def tree(self) -> Any:
        """The branch tree in view: that of the sample in view (None before any)."""
        return self.trees.tree if self.trees is not None else None

    def cmd_branch(self, args: list[str]) -> None:
        """``/branch POSITION ALTERNATIVE``: POSITION is the token's number (from 1, as every table numbers it), of the
        current branch; ALTERNATIVE a rank among that token's alternatives, id=N or text=T."""
        from .render import prob_style

        tree = self._tree()
        position, spec = commands.branch_args(args)
        seq = tree.sequence(self.branch_id)
        if position >= len(seq):
            raise TinyGPTError(f"Branch {self.branch_id} has tokens #1 to #{len(seq)}, not #{position + 1}.",
                               "POSITION is the token's number, from 1 (the # column of the per-token table).")
        token = commands.pick_alternative(seq[position], spec, self.workbench.tokenizer.encode)
        cancel = threading.Event()
        parent, stream = self.workbench.branch(tree, self.branch_id, position, token, cancel)
        self.console.print(Text(tree.prompt, style="bold"), Text("".join(r.text for r in seq[:position]), style="dim"),
                           sep="", end="")
        records = []
        try:
            for rec in stream:
                records.append(rec)
                self.console.print(Text(rec.text, style=prob_style(rec.prob)), end="")
        except KeyboardInterrupt:
            cancel.set()
            self.info("\n(stopped: no branch was added)", "yellow")
            return
        self.console.print()
        self.branch_id = tree.add(parent, position, token, records).id
        self.show_branch(self.branch_id)

    def show_branch(self, bid: int) -> None:
        """A branch: its tokens (those it shares with its parent dim), its own per-token table, its path."""
        from .branches import path_words
        from .render import Labels, boundaries_text, probs_table

        tree = self.tree
        branch = tree.branch(bid)
        seq = tree.sequence(bid)
        shared = boundaries_text(seq[: branch.position], colour=False).labels  # what it shares with its parent
        for label in shared:
            label.stylize("dim")
        self.console.print(Labels(shared + boundaries_text(branch.records).labels))
        self.console.print(probs_table(branch.records, title=f"Branch {bid}", width=self.console.width))
        self.info(f"branch {bid}: {path_words(tree.path(bid))} · {len(seq)} tokens · total ln P "
                  f"{tree.total_logprob(bid):.3f}", "bold")

    def cmd_branches(self, args: list[str]) -> None:
        from .branches import open_trees

        action, value = commands.branches_args(args)
        if action == "open":
            self.trees, self.branch_id, self._branch_at = open_trees(Path(str(value)).expanduser()), 0, {}
            tree = self.tree
            other = tree.run and tree.run != self.workbench.run_name
            self.info(f"Opened {value}: {self._count()}"
                      + (f" grown by run '{tree.run}' (another run is loaded)." if other else "."))
            self._show_trees()
            return
        tree = self._tree()
        if action == "save":
            self.trees.save(Path(str(value)).expanduser())
            self.info(f"Saved {self._count()} to {value}; /branches open {value} reopens them.")
        elif action == "go":
            tree.branch(int(value))  # a number that is not a branch: one sentence
            self.branch_id = int(value)
            self.show_branch(self.branch_id)
        elif action == "sample":
            self._branch_at[self.trees.current] = self.branch_id
            self.trees.select(int(value))  # a sample without a tree: one sentence
            self.branch_id = self._branch_at.get(int(value), 0)
            self._show_trees()
        else:
            self._show_trees()
            self.info("/branches N goes to branch N; /branch POSITION ALTERNATIVE grows the one marked ▶.", "dim")

    def _count(self) -> str:
        """``5 branches``, or ``7 branches in 2 samples' trees``."""
        n = len(self.trees.trees)
        return f"{self.trees.branch_count()} branches" + (f" in {n} samples' trees" if n > 1 else "")

    def _show_trees(self) -> None:
        """The tree in view, and which samples have one when several do."""
        from .render_tables import branches_table

        samples = self.trees.samples()
        if len(samples) > 1:
            self.info(f"Sample {self.trees.current + 1}'s tree (each sample has its own: "
                      f"{', '.join(str(k + 1) for k in samples)}; /branches sample S shows sample S's).", "dim")
        self.console.print(branches_table(self.tree, self.branch_id))

    def _tree(self) -> Any:
        if self.tree is None:
            raise TinyGPTError("There is nothing to branch from yet.",
                               "type a prompt first, or /branches open FILE.")
        return self.tree
