"""Reading a source's documents from a saved position: what makes a corpus preparation resumable.

A :class:`Reader` walks one source (sources.py) and counts what it has read; its :meth:`~Reader.position`
is a small JSON-able dict from which a later reader starts just after the last document handed out,
giving exactly the documents an uninterrupted read would have given. The raw documents already read
are skipped by the source itself (``Source._documents_from``): a streamed Hugging Face dataset resumes
from its saved ``state_dict`` (the files it had finished are not fetched again) or, without one,
skips rows instead of handing them over again; a local file is read past them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .corpus import EOT_SUFFIX_BYTES
from .textfiles import clean_document

if TYPE_CHECKING:  # pragma: no cover
    from .source_kinds import MixtureSource, Source


class Reader:
    """Iterates a single source's clean documents as ``(0, document)`` and knows where it is.

    :meth:`position` (JSON-able) counts the raw documents read, the draws of ``sample=`` and the
    documents kept: enough to start again just after the last document handed out, with the raw
    documents skipped by the source itself (a streamed dataset skips rows instead of re-reading them).
    """

    def __init__(self, source: Source, position: dict[str, Any] | None = None):
        self.source = source
        pos = position or {}
        self.raw, self.draws, self.kept = (int(pos.get(k, 0)) for k in ("raw", "draws", "kept"))
        self.stream = pos.get("stream") if isinstance(pos.get("stream"), dict) else None
        # Where the reader stood after the last document it handed out, set in one assignment just
        # before handing one out: an interrupt (Ctrl-C) at any instant leaves it whole.
        self._at = (self.raw, self.draws, self.kept)

    def position(self) -> dict[str, Any]:
        return self._position(self._at)

    def _position(self, at: tuple[int, int, int]) -> dict[str, Any]:
        raw, draws, kept = at
        pos: dict[str, Any] = {"raw": raw, "draws": draws, "kept": kept}
        stream = self.source.stream_state(raw)
        if stream is not None:
            pos["stream"] = stream
        return pos

    def handed(self) -> int:
        """How many documents were handed out, before a resume included (what :meth:`position` counts)."""
        return self._at[2]

    def __iter__(self) -> Iterator[tuple[int, str]]:
        src = self.source
        limit = src.max_stories
        if limit and self.kept >= limit:
            return
        rng = random.Random(f"sample:{src.seed}:{src.spec}")
        for _ in range(self.draws):  # the sample's generator where it was
            rng.random()
        for raw in src._documents_from(self.raw, self.stream):
            self.raw += 1
            doc = clean_document(raw)
            if not doc:
                continue
            if src.sample < 1.0:
                self.draws += 1
                if rng.random() >= src.sample:
                    continue
            self.kept += 1
            self._at = (self.raw, self.draws, self.kept)
            yield 0, doc
            if limit and self.kept >= limit:
                return


class MixtureReader(Reader):
    """A mixture's ``(part, document)`` pairs; its position is each part's and the bytes each gave."""

    def __init__(self, source: MixtureSource, position: dict[str, Any] | None = None):
        self.source = source
        pos = position or {}
        parts = pos.get("parts") or [None] * len(source.parts)
        self.readers = [s.reader(p) for (_, s), p in zip(source.parts, parts, strict=True)]
        self.taken = [int(t) for t in pos.get("taken") or [0] * len(source.parts)]
        self._mix = (tuple(r._at for r in self.readers), tuple(self.taken), sum(r.handed() for r in self.readers))

    def position(self) -> dict[str, Any]:
        parts, taken, _ = self._mix
        return {"parts": [r._position(at) for r, at in zip(self.readers, parts, strict=True)], "taken": list(taken)}

    def handed(self) -> int:
        return self._mix[2]

    def __iter__(self) -> Iterator[tuple[int, str]]:
        iters = [iter(r) for r in self.readers]
        weights = [w for w, _ in self.source.parts]
        while True:
            # The part furthest behind its share goes next (ties: the first listed). This keeps every
            # prefix of the output close to the asked-for byte shares, and needs no randomness.
            i = min(range(len(iters)), key=lambda k: (self.taken[k] / weights[k], k))
            item = next(iters[i], None)
            if item is None:
                return  # a finite part ran out: stop, so the shares stay as asked
            doc = item[1]
            self.taken[i] += len(doc.encode()) + EOT_SUFFIX_BYTES
            self._mix = (tuple(r._at for r in self.readers), tuple(self.taken), self._mix[2] + 1)
            yield i, doc
