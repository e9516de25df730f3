"""A tree of branches for one prompt: continue a generation from any alternative token, and keep all.

The root branch is a generated sample. A branch leaves its parent at a ``position`` (a 0-based token
index of the parent's whole sequence) with another ``token`` than the parent has there, and owns the
records from that position on: the forced token first, then what the one sampler
(:func:`generate.generate`) drew after it, with the tree's sampling settings and seed. Continuing
from an alternative is generating from prompt + the parent's tokens before the position + the
chosen id; the sample's length budget stays the same (a branch ends where its parent could have).

A branch's *path* is the list of branch points from the root to it; its *total log-probability* is
the sum of the log-probabilities of its whole sequence (the shared tokens before each branch point,
every forced token as the model gave it at that position, and what followed).

A generation of several samples has one tree per sample (:class:`BranchTrees`: each sample's own
root, seed and branches, and the sample in view). The faces save and open all of a generation's
trees in one file (version 2); a file of one tree (version 1) still opens, as a generation of one.

A file is versioned JSON (written atomically) and read back with every field checked: a file that is
not a branch tree is refused with one sentence, never obeyed.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ConfigError, SamplingConfig, TinyGPTError, _build
from .records import TokenRecord

if TYPE_CHECKING:
    from .model import GPT
    from .tokenizer import Tokenizer

FORMAT = "tinygpt-branches"
VERSION = 1
"""One tree (:meth:`BranchTree.to_dict`)."""
TREES_VERSION = 2
"""A generation's trees, one per sample (:meth:`BranchTrees.to_dict`)."""


@dataclass
class Branch:
    """One branch: where it leaves its parent, the token it takes there, and its own records."""

    id: int
    parent: int | None
    """The parent branch's id; None for the root."""
    position: int
    """0-based token index (of the parent's sequence) where this branch takes another token; 0 for the root."""
    token: int | None
    """The alternative token id chosen at ``position``; None for the root."""
    records: list[TokenRecord] = field(default_factory=list)
    """This branch's own records, numbered from ``position`` on (its forced token first)."""


@dataclass(frozen=True)
class BranchPoint:
    """One step of a path: at ``position`` branch ``branch`` took ``token`` (``piece`` for showing it)."""

    branch: int
    position: int
    token: int
    text: str


@dataclass
class BranchTree:
    """Every branch grown from one generated sample of ``prompt`` with ``params`` (a fixed seed)."""

    prompt: str
    params: SamplingConfig
    """The root sample's settings: its own seed, which every branch samples with too."""
    branches: list[Branch]
    """Indexed by branch id; the root is branch 0."""
    run: str = ""
    """The run that generated it (informative: reopening it with another run is allowed)."""
    sample: int = 0
    """Which sample (0-based) of its generation the root is."""

    @classmethod
    def start(cls, prompt: str, params: SamplingConfig, records: list[TokenRecord], run: str = "",
              sample: int = 0) -> BranchTree:
        """A tree whose root is ``records``, sample ``sample`` generated from ``prompt`` with ``params``
        (whose seed must be that sample's own: ``params.seed + sample`` of a multi-sample call)."""
        if params.seed is None:
            raise TinyGPTError("A branch tree needs the seed its sample was drawn with.",
                               "generate with a fixed seed (/seed N) or let the sampler draw one.")
        if not records:
            raise TinyGPTError("There are no tokens to branch from.", "generate something first.")
        params = dataclasses.replace(params, num_samples=1)
        return cls(prompt, params, [Branch(0, None, 0, None, list(records))], run, sample)

    # -- reading the tree ----------------------------------------------------------------------------
    def branch(self, bid: int) -> Branch:
        if not 0 <= bid < len(self.branches):
            raise TinyGPTError(f"There is no branch {bid}.", f"branches are numbered 0 to {len(self.branches) - 1}.")
        return self.branches[bid]

    def sequence(self, bid: int) -> list[TokenRecord]:
        """The whole sequence of branch ``bid``: its ancestors' tokens before each branch point, then its own."""
        b = self.branch(bid)
        if b.parent is None:
            return list(b.records)
        return self.sequence(b.parent)[: b.position] + list(b.records)

    def path(self, bid: int) -> list[BranchPoint]:
        """The branch points from the root to ``bid`` (empty for the root), root first."""
        points: list[BranchPoint] = []
        b = self.branch(bid)
        while b.parent is not None and b.token is not None:
            first = b.records[0] if b.records else None
            points.append(BranchPoint(b.id, b.position, b.token, first.display if first else ""))
            b = self.branch(b.parent)
        return points[::-1]

    def total_logprob(self, bid: int) -> float:
        """Natural-log probability of branch ``bid``'s whole sequence under the model (sum over its tokens)."""
        return sum(r.logprob for r in self.sequence(bid))

    def children(self, bid: int) -> list[Branch]:
        """The branches leaving ``bid``, by branch point then age."""
        return sorted((b for b in self.branches if b.parent == bid), key=lambda b: (b.position, b.id))

    def siblings(self, bid: int) -> list[Branch]:
        """The branches with ``bid``'s parent, ``bid`` included (the root is its own only sibling)."""
        b = self.branch(bid)
        return [b] if b.parent is None else self.children(b.parent)

    def depth(self, bid: int) -> int:
        return len(self.path(bid))

    def owner(self, bid: int, position: int) -> int:
        """The branch a new branch at ``position`` of ``bid``'s sequence leaves: the nearest ancestor
        (or ``bid`` itself) whose own tokens start after ``position``, so the tree stays as shallow as
        it can and the alternatives taken at one branch point are siblings."""
        b = self.branch(bid)
        while b.parent is not None and position <= b.position:
            b = self.branch(b.parent)
        return b.id

    # -- growing it ----------------------------------------------------------------------------------
    def check_branch(self, bid: int, position: int, token: int, vocab_size: int | None = None) -> int:
        """The parent a branch at ``position`` of ``bid``'s sequence taking ``token`` would have; raises
        TinyGPTError for a position off the sequence, a token id out of range, the token already there,
        or a branch that exists already."""
        seq = self.sequence(bid)
        if not 0 <= position < len(seq):
            raise TinyGPTError(f"Token {position + 1} is not in branch {bid} (it has {len(seq)} tokens).",
                               f"pick a position from 1 to {len(seq)}.")
        if vocab_size is not None and not 0 <= token < vocab_size:
            raise TinyGPTError(f"Token id {token} is not in this vocabulary of {vocab_size}.",
                               "pick one of the alternatives shown for that token.")
        parent = self.owner(bid, position)
        there = self.sequence(parent)[position]
        if token in (seq[position].id, there.id):
            shown = seq[position] if token == seq[position].id else there
            raise TinyGPTError(f"Token {position + 1} of branch {bid if shown is seq[position] else parent} "
                               f"already is {shown.display!r}.", "pick another alternative to branch from.")
        for b in self.branches:
            if b.parent == parent and b.position == position and b.token == token:
                raise TinyGPTError(f"Branch {b.id} already takes that token there.",
                                   "[ and ] (or /branches N) move to it.")
        return parent

    def context_ids(self, prompt_ids: list[int], parent: int, position: int) -> list[int]:
        """What a branch at ``position`` of ``parent`` continues from: the prompt's ids, then the parent's
        tokens before the position."""
        return list(prompt_ids) + [r.id for r in self.sequence(parent)[:position]]

    def add(self, parent: int, position: int, token: int, records: list[TokenRecord]) -> Branch:
        """Record a grown branch (its records numbered from ``position``, the first one ``token``)."""
        if not records or records[0].id != token or records[0].index != position:
            raise TinyGPTError("A branch's first record must be its token at its position.")
        branch = Branch(len(self.branches), parent, position, token, list(records))
        self.branches.append(branch)
        return branch

    # -- JSON ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "run": self.run,
            "sample": self.sample,
            "prompt": self.prompt,
            "params": dataclasses.asdict(self.params),
            "branches": [
                {"id": b.id, "parent": b.parent, "position": b.position, "token": b.token,
                 "records": [r.to_dict() for r in b.records]}
                for b in self.branches
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "The file") -> BranchTree:
        """The tree :meth:`to_dict` wrote; TinyGPTError (naming ``where``) for anything else."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TinyGPTError(f"{where} is not a branch tree of tinygpt.",
                               "open a file written by /branches save.")
        if data.get("version") != VERSION:
            raise TinyGPTError(f"{where} is a branch tree of version {data.get('version')!r}; this tinygpt "
                               f"reads versions {VERSION} and {TREES_VERSION}.", "save the tree again with this version.")
        try:
            if not isinstance(data.get("prompt"), str) or not isinstance(data.get("run", ""), str):
                raise ValueError("prompt or run is not text")
            sample = data.get("sample", 0)
            if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
                raise ValueError("sample is not a sample number")
            params = data.get("params")
            if not isinstance(params, dict):
                raise ValueError("params is not an object")
            params = _build(SamplingConfig, params)
            raw = data.get("branches")
            if not isinstance(raw, list) or not raw:
                raise ValueError("there are no branches")
            tree = cls(data["prompt"], params, [], data.get("run", ""), sample)
            for i, b in enumerate(raw):
                tree.branches.append(_read_branch(b, i, tree))
        except ConfigError as e:
            raise TinyGPTError(f"{where} has bad sampling settings: {e.message}",
                               "open a file written by /branches save.") from None
        except (ValueError, TypeError, KeyError) as e:
            raise TinyGPTError(f"{where} is a damaged branch tree ({e}).",
                               "open a file written by /branches save.") from None
        return tree

    def save(self, path: Path) -> None:
        """Write the tree to ``path`` as JSON, atomically (a crash leaves the old file or the new one)."""
        _save_json(Path(path), self.to_dict())


def _save_json(path: Path, data: dict[str, Any]) -> None:
    from .atomic import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(data, ensure_ascii=False) + "\n")
    except OSError as e:
        raise TinyGPTError(f"Cannot write {path}: {e.strerror or e}.", "pick a folder you can write to.") from None


def _read_json(path: Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TinyGPTError(f"There is no file {path}.", "check the name; /branches save FILE writes one.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TinyGPTError(f"Cannot read {path}: {getattr(e, 'strerror', None) or e}.",
                           "open a file written by /branches save.") from None
    try:
        return json.loads(text)
    except ValueError:
        raise TinyGPTError(f"{path} is not JSON, so it is not a branch tree.",
                           "open a file written by /branches save.") from None


def open_tree(path: Path) -> BranchTree:
    """Read a tree :meth:`BranchTree.save` wrote (from a file of several, the one that was in view);
    TinyGPTError for a missing, unreadable or foreign file."""
    return open_trees(path).tree


def open_trees(path: Path) -> BranchTrees:
    """Read the trees :meth:`BranchTrees.save` wrote, or the one tree :meth:`BranchTree.save` wrote;
    TinyGPTError for a missing, unreadable or foreign file."""
    return BranchTrees.from_dict(_read_json(path), where=str(path))


@dataclass
class BranchTrees:
    """The branch trees of one generation: one per sample that has one (keyed by 0-based sample),
    and the sample in view. A face starts a sample's tree when that sample is first branched."""

    trees: dict[int, BranchTree] = field(default_factory=dict)
    current: int = 0
    """The sample whose tree is in view."""

    @property
    def tree(self) -> BranchTree | None:
        """The tree in view (None before any)."""
        return self.trees.get(self.current)

    def samples(self) -> list[int]:
        """The samples that have a tree, in order."""
        return sorted(self.trees)

    def add(self, tree: BranchTree) -> BranchTree:
        """Keep ``tree`` as its sample's tree (replacing one it had) and bring it into view."""
        if self.trees and any(t.prompt != tree.prompt for t in self.trees.values()):
            raise TinyGPTError("That tree grew from another prompt than these.",
                               "keep the trees of one generation together; start anew for another prompt.")
        self.trees[tree.sample] = tree
        self.current = tree.sample
        return tree

    def select(self, sample: int) -> BranchTree:
        """Bring sample ``sample``'s tree into view; one sentence when it has none."""
        if sample not in self.trees:
            have = ", ".join(str(k + 1) for k in self.samples()) or "none"
            raise TinyGPTError(f"Sample {sample + 1} has no branch tree (samples with one: {have}).",
                               f"select a token of sample {sample + 1} and press b to start its tree.")
        self.current = sample
        return self.trees[sample]

    def step(self, delta: int) -> BranchTree | None:
        """The tree of the next (``delta`` 1) or previous (-1) sample that has one, in view; None at an end."""
        samples = self.samples()
        if self.current not in samples:
            return None
        i = samples.index(self.current) + delta
        if not 0 <= i < len(samples):
            return None
        return self.select(samples[i])

    def branch_count(self) -> int:
        return sum(len(t.branches) for t in self.trees.values())

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": TREES_VERSION, "current": self.current,
                "trees": [self.trees[k].to_dict() for k in self.samples()]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "The file") -> BranchTrees:
        """What :meth:`to_dict` wrote, or one tree (version 1) as a generation of one."""
        if isinstance(data, dict) and data.get("format") == FORMAT and data.get("version") == TREES_VERSION:
            raw, current = data.get("trees"), data.get("current")
            if not isinstance(raw, list) or not raw:
                raise TinyGPTError(f"{where} is a damaged branch tree file (it holds no trees).",
                                   "open a file written by /branches save.")
            trees = cls()
            for i, t in enumerate(raw):
                tree = BranchTree.from_dict(t, where=f"{where} (tree {i + 1})")
                if tree.sample in trees.trees:
                    raise TinyGPTError(f"{where} holds two trees of sample {tree.sample + 1}.",
                                       "open a file written by /branches save.")
                trees.add(tree)
            if isinstance(current, bool) or current not in trees.trees:
                raise TinyGPTError(f"{where} is a damaged branch tree file (no tree of the sample in view).",
                                   "open a file written by /branches save.")
            trees.current = current
            return trees
        tree = BranchTree.from_dict(data, where=where)
        return cls({tree.sample: tree}, tree.sample)

    def save(self, path: Path) -> None:
        """Write every tree to ``path`` as JSON, atomically."""
        _save_json(Path(path), self.to_dict())


def _read_branch(b: Any, i: int, tree: BranchTree) -> Branch:
    """Branch ``i`` of a file, checked against the branches before it (a parent comes first)."""
    if not isinstance(b, dict) or b.get("id") != i:
        raise ValueError(f"branch {i} is not numbered {i}")
    parent, position, token = b.get("parent"), b.get("position"), b.get("token")
    records = b.get("records")
    if not isinstance(records, list) or not records:
        raise ValueError(f"branch {i} has no records")
    recs = [TokenRecord.from_dict(r) for r in records]
    if i == 0:
        if parent is not None or token is not None or position != 0:
            raise ValueError("the first branch is not a root")
    else:
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (parent, position, token))
        if not ints or not 0 <= parent < i:
            raise ValueError(f"branch {i} does not name an earlier parent")
        if not 0 <= position < len(tree.sequence(parent)):
            raise ValueError(f"branch {i} leaves its parent outside its tokens")
        if recs[0].id != token or recs[0].index != position:
            raise ValueError(f"branch {i} does not start with its token")
    return Branch(i, parent, position, token, recs)


def path_words(points: list[BranchPoint]) -> str:
    """``root → #4 'x' → #9 'y'``: a path in words, token positions numbered from 1 (as every face does)."""
    return " → ".join(["root"] + [f"#{p.position + 1} {p.text!r}" for p in points])


# --------------------------------------------------------------------------------------------------
# Growing a branch with the one sampler


def branch_records(
    model: GPT,
    tok: Tokenizer,
    tree: BranchTree,
    parent: int,
    position: int,
    token: int,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[TokenRecord]:
    """Stream the records of a new branch at ``position`` of ``parent`` (already checked, see
    :meth:`BranchTree.check_branch`), numbered from ``position``: ``token`` forced, then sampled.

    It generates from the prompt's ids + the parent's tokens before ``position``, with the tree's
    settings and seed, for what is left of the sample's ``max_new_tokens``. When the position splits a
    character (its first bytes are the parent's last tokens before it), the branch's text carries
    those bytes on, as the sample's own text stream did: the branch's first token completes the
    character (or shows U+FFFD where its bytes do not, as any invalid UTF-8 does).
    """
    from .generate import encode_prompt, generate
    from .readout import held_bytes

    context = tree.context_ids(encode_prompt(tok, tree.prompt), parent, position)
    vocab = model.config.vocab_size
    if any(not 0 <= i < vocab for i in context):
        raise TinyGPTError("This tree holds token ids the loaded model does not have.",
                           "load the run that generated it.")
    params = dataclasses.replace(tree.params, max_new_tokens=max(1, tree.params.max_new_tokens - position))
    held = held_bytes(tok, tree.sequence(parent)[:position])
    for record in generate(model, tok, tree.prompt, params, context=context, force=token, cancel=cancel,
                           held=held):
        yield dataclasses.replace(record, index=record.index + position)


def grow(model: GPT, tok: Tokenizer, tree: BranchTree, bid: int, position: int, token: int,
         *, cancel: threading.Event | None = None) -> Branch | None:
    """Branch from ``bid`` at ``position`` taking ``token``, generate it whole and add it to the tree;
    None when ``cancel`` stopped it (nothing is added)."""
    parent = tree.check_branch(bid, position, token, model.config.vocab_size)
    records = list(branch_records(model, tok, tree, parent, position, token, cancel=cancel))
    if cancel is not None and cancel.is_set():
        return None
    return tree.add(parent, position, token, records)
