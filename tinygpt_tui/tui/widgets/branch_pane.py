"""The Branches tab of the explorer: the branch trees of a generation (branches.py), one per sample
that has been branched, the branch in view and its path.

A line on top says which branch is shown, its path from the root and its total log-probability; the
branch's whole sequence is a :class:`TokenView` below it (select a token there and press ``b`` to
branch again); the trees are listed last, one line per branch under a line per sample when several
samples have one (click one to go to it). ``[`` and ``]`` go to the previous and next sibling, ``p``
back to the parent at the branch point, ``{`` and ``}`` to the previous and next sample's tree (each
tree keeps the branch that was in view).

A new branch is generated in a worker thread and streamed into the view like a generation (batches
of records, at most one message per 30 ms); the tree takes the branch once its stream ends, so a
branch stopped half way is never added.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from ...branches import BranchTree, BranchTrees, path_words
from ...present import failure_line
from ..guard import Guarded
from .token_view import TokenView

COALESCE_SECONDS = 0.03
KEYS_HINT = "[ ] sibling · p parent · select a token, b: branch from it"
SAMPLES_HINT = " · { } another sample's tree"


class BranchList(Guarded, Static):
    """The trees, one line per branch (indented by depth) under a line per sample when several
    samples have a tree, the shown one marked; a click goes to one."""

    class Picked(Message):
        def __init__(self, branch: int, sample: int | None = None) -> None:
            super().__init__()
            self.branch, self.sample = branch, sample

    def show(self, trees: BranchTrees | None, current: int) -> None:
        out = Text()
        samples = [] if trees is None else trees.samples()
        several = len(samples) > 1
        for sample in samples:
            tree = trees.trees[sample]
            in_view = sample == trees.current
            if several:
                out.append(f"sample {sample + 1}\n", style=Style(bold=in_view, dim=not in_view)
                           + Style(meta={"branch": 0, "sample": sample}))
            for b in tree.branches:
                meta = Style(meta={"branch": b.id, "sample": sample})
                shown = in_view and b.id == current
                mark = "▶ " if shown else "  "
                point = path_words(tree.path(b.id)[-1:]).removeprefix("root → ") if b.parent is not None else "root"
                indent = "  " * (tree.depth(b.id) + several)
                out.append(f"{mark}{indent}{b.id} {point}", style=Style(bold=shown) + meta)
                out.append(f"  ln P {tree.total_logprob(b.id):.2f}\n", style=Style(dim=True) + meta)
        self.update(out)

    def on_click(self, event) -> None:
        meta = event.style.meta if event.style else {}
        bid = meta.get("branch")
        if isinstance(bid, int):
            self.post_message(self.Picked(bid, meta.get("sample")))


class BranchPane(Guarded, Vertical):
    """A branch tree of one generated sample, the branch in view, and growing new branches."""

    BINDINGS = [
        Binding("left_square_bracket", "sibling(-1)", "Prev branch", show=False),
        Binding("right_square_bracket", "sibling(1)", "Next branch", show=False),
        Binding("p", "parent", "Parent branch", show=False),
        Binding("left_curly_bracket", "sample(-1)", "Prev sample's tree", show=False),
        Binding("right_curly_bracket", "sample(1)", "Next sample's tree", show=False),
    ]

    DEFAULT_CSS = """
    BranchPane { height: auto; }
    BranchPane #branch-info { padding: 0 1; }
    BranchPane BranchList { padding: 1 1 0 1; }
    """

    class Streamed(Message):
        """Records of the branch being grown (``request`` tells a superseded one apart)."""

        def __init__(self, request: int, records: list[Any]) -> None:
            super().__init__()
            self.request, self.records = request, records

    class Grown(Message):
        """The branch's stream ended: it is added (``records``) unless stopped or failed (``error``)."""

        def __init__(self, request: int, records: list[Any] | None, error: str | None = None) -> None:
            super().__init__()
            self.request, self.records, self.error = request, records, error

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trees = BranchTrees()
        """Every sample's tree (the one in view: ``trees.tree``)."""
        self.root: Any = None
        """What the trees grew from (the explorer's generation), to tell a new generation apart."""
        self.current = 0
        """The branch in view, of the tree in view."""
        self._at: dict[int, int] = {}
        """The branch that was in view in each sample's tree, to come back to it."""
        self.busy = False
        self._request = 0
        self._growing: tuple[BranchTree, int, int, int] | None = None
        """(tree, parent, position, token) of the branch being grown."""
        self._cancel: threading.Event | None = None

    @property
    def branch_tree(self) -> BranchTree | None:
        """The tree in view: that of the sample in view."""
        return self.trees.tree

    def compose(self) -> ComposeResult:
        yield Static("", id="branch-info", markup=False)
        yield TokenView(id="branch-view")
        yield BranchList(id="branch-list", markup=False)

    @property
    def view(self) -> TokenView:
        return self.query_one("#branch-view", TokenView)

    # -- the trees -----------------------------------------------------------------------------------
    def set_trees(self, trees: BranchTrees, root: Any = None) -> None:
        """Show ``trees`` (opened from a file), from the root of the one in view."""
        self.cancel()
        self.trees, self.root, self._at = trees, root, {}
        self.show(0)

    def set_tree(self, tree: BranchTree, root: Any = None) -> None:
        """Show ``tree`` alone, from its root."""
        self.set_trees(BranchTrees({tree.sample: tree}, tree.sample), root)

    def use_sample(self, root: Any, sample: int, start: Callable[[], BranchTree]) -> BranchTree:
        """Bring sample ``sample``'s tree of generation ``root`` into view, started with ``start()`` when
        it has none yet (the trees of an earlier generation are dropped; other samples' trees stay)."""
        if root != self.root:
            self.cancel()
            self.trees, self.root, self._at = BranchTrees(), root, {}
        if sample in self.trees.trees:
            self.show_sample(sample)
        else:
            tree = start()  # raises TinyGPTError before anything changes
            if self.trees.tree is not None:
                self._at[self.trees.current] = self.current
            self.trees.add(tree)
            self.show(0)
        return self.trees.trees[sample]

    def show_sample(self, sample: int) -> None:
        """Show sample ``sample``'s tree at the branch it was at; one sentence when it has none."""
        if self.trees.tree is not None:
            self._at[self.trees.current] = self.current
        self.trees.select(sample)
        self.show(self._at.get(sample, 0))

    def show(self, bid: int, select: int | None = None) -> None:
        """Show branch ``bid`` (selecting token ``select`` of its sequence, e.g. a branch point)."""
        tree = self.branch_tree
        if tree is None:
            return
        tree.branch(bid)  # a number that is not a branch: one sentence
        self.current = bid
        self.view.set_records(tree.sequence(bid), tree.prompt)
        self.refresh_info()
        if select is not None:
            self.view.select(select)

    def refresh_info(self) -> None:
        tree = self.branch_tree
        if tree is None:
            return
        bid = self.current
        line = Text(f"branch {bid} of {len(tree.branches)}", style="bold")
        line.append(f" · {path_words(tree.path(bid))}")
        line.append(f" · {len(tree.sequence(bid))} tokens · total ln P {tree.total_logprob(bid):.3f}")
        if len(self.trees.trees) > 1:
            line = Text(f"sample {self.trees.current + 1} · ", style="bold") + line
        if self.busy:
            line.append(" · growing a branch…", style="yellow")
        line.append(f"\n{KEYS_HINT}" + (SAMPLES_HINT if len(self.trees.trees) > 1 else ""), style="dim")
        self.query_one("#branch-info", Static).update(line)
        self.query_one(BranchList).show(self.trees, bid)

    # -- moving --------------------------------------------------------------------------------------
    def action_sibling(self, delta: int) -> None:
        tree = self.branch_tree
        if tree is None or self.busy:
            return
        siblings = [b.id for b in tree.siblings(self.current)]
        i = siblings.index(self.current) + delta
        if not 0 <= i < len(siblings):
            self._say("No sibling branch that way." if len(siblings) > 1
                      else "This branch has no siblings: select a token and press b to make one.")
            return
        target = tree.branch(siblings[i])
        self.show(target.id, select=target.position)
        self.view.focus()

    def action_parent(self) -> None:
        tree = self.branch_tree
        if tree is None or self.busy:
            return
        branch = tree.branch(self.current)
        if branch.parent is None:
            self._say("This is the root: it has no parent branch.")
            return
        self.show(branch.parent, select=branch.position)  # the branch point, in the parent
        self.view.focus()

    def action_sample(self, delta: int) -> None:
        """{ }: the previous (next) sample's tree, at the branch it was at."""
        if self.branch_tree is None or self.busy:
            return
        samples = self.trees.samples()
        i = samples.index(self.trees.current) + delta
        if len(samples) < 2:
            self._say(f"Only sample {self.trees.current + 1} has a branch tree: select a token of another "
                      "sample and press b to start its own.")
        elif not 0 <= i < len(samples):
            self._say("No other sample's tree that way.")
        else:
            self.show_sample(samples[i])
            self.view.focus()

    @on(BranchList.Picked)
    def _picked(self, message: BranchList.Picked) -> None:
        if self.busy:
            return
        if message.sample is not None and message.sample != self.trees.current:
            self.show_sample(message.sample)
        if self.branch_tree is not None:
            self.show(message.branch, select=self.branch_tree.branch(message.branch).position)

    def _say(self, text: str, error: bool = False) -> None:
        """A line under the command bar (the app's), or a notification where there is none."""
        say = getattr(self.app, "say", None)
        if say is not None:
            say(text, error=error)
        else:
            self.app.notify(text, severity="error" if error else "information")

    # -- growing -------------------------------------------------------------------------------------
    def grow(self, workbench: Any, bid: int, position: int, token: int) -> None:
        """Branch from token ``position`` of branch ``bid`` taking ``token``, streamed into the view.
        Raises TinyGPTError (before anything starts) for a branch that cannot be."""
        tree = self.branch_tree
        assert tree is not None
        cancel = threading.Event()
        parent, stream = workbench.branch(tree, bid, position, token, cancel)
        self.cancel()
        self._cancel = cancel
        self._request += 1
        self._growing = (tree, parent, position, token)
        self.busy = True
        self.current = parent
        self.view.set_records(tree.sequence(parent)[:position], tree.prompt)
        self.refresh_info()
        self._grow_worker(self._request, stream, cancel)

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self._request += 1  # what a stopped worker still posts is dropped
        self.busy = False

    @work(thread=True, group="branch")
    def _grow_worker(self, request: int, stream: Iterator[Any], cancel: threading.Event) -> None:
        records: list[Any] = []
        batch: list[Any] = []
        last_post = time.monotonic()
        try:
            for record in stream:
                records.append(record)
                batch.append(record)
                if time.monotonic() - last_post >= COALESCE_SECONDS:
                    self.post_message(self.Streamed(request, batch))
                    batch, last_post = [], time.monotonic()
        except Exception as err:  # a user error as its sentence; a bug said, never lost
            self.post_message(self.Grown(request, None, failure_line(err, "Branching")))
            return
        if batch:
            self.post_message(self.Streamed(request, batch))
        self.post_message(self.Grown(request, None if cancel.is_set() else records))

    @on(Streamed)
    def _streamed(self, message: Streamed) -> None:
        if message.request == self._request:
            self.view.add_records(message.records)

    @on(Grown)
    def _grown(self, message: Grown) -> None:
        if message.request != self._request or self._growing is None:
            return
        self.busy = False
        tree, parent, position, token = self._growing
        self._growing = None
        if tree is not self.branch_tree:  # the trees were replaced meanwhile (a request is dropped then)
            return
        if message.records is None:
            self._say(message.error or "The branch was stopped; it was not added.", error=bool(message.error))
            self.show(parent)
            return
        branch = tree.add(parent, position, token, message.records)
        self.show(branch.id, select=position)
        self.view.focus()
        self.post_message(self.Added(branch.id))

    class Added(Message):
        """A branch was grown and added to the tree."""

        def __init__(self, branch: int) -> None:
            super().__init__()
            self.branch = branch


async def branch_pane(tabs: Any) -> BranchPane:
    """The explorer's Branches tab (a TabbedContent's pane), added on first use, so the explorer looks
    as before until someone branches."""
    from textual.containers import VerticalScroll
    from textual.widgets import TabPane

    found = tabs.query(BranchPane)
    if found:
        return found.first()
    pane = BranchPane(id="branch-pane")
    scroll = VerticalScroll(pane, id="branches-scroll")
    scroll.can_focus = False
    await tabs.add_pane(TabPane("Branches", scroll, id="branches-pane"))
    return pane


def pane_of(view_id: str | None) -> str:
    """The explorer tab a token view lives in, by its id."""
    return {"score-view": "score-pane", "branch-view": "branches-pane"}.get(view_id or "", "samples-pane")
