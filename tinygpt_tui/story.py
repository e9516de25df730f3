"""Training's story: one fixed validation document, scored token by token at every evaluation.

Watching the loss fall says that the model learns; watching the tokens of one story turn from red to
green says *what* it learns (spaces first, then common words, then names). The trainer picks the story
once (:func:`pick_story`), scores it at each evaluation (:func:`score_story`) and sends the result as a
``story`` event; the faces colour it by surprisal and mark the tokens that fell most since the last
evaluation (:func:`fallen`).

- The story is a pure function of the validation shard (the first document long enough, else the
  longest one seen), so every evaluation, every resume and every rank would pick the same one.
- Scoring is teacher forcing under ``torch.inference_mode`` with dropout off: it draws no random
  number, so the global RNG (and with it exact resume) is untouched.

numpy only at import; torch is imported where scoring needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .model import GPT
    from .tokenizer import Tokenizer

STORY_TOKENS = 256
"""At most this many tokens of the story (and never more than the context window): enough to read,
small enough to send at every evaluation."""
SCAN_TOKENS = 1 << 18
"""How far into the validation shard a story is looked for (a memmap is not read any further)."""
FALLEN_MARKED = 5
"""How many tokens a face marks as having fallen most since the previous evaluation."""


def pick_story(val: np.ndarray, eot_id: int, block_size: int, *, cap: int = STORY_TOKENS) -> list[int]:
    """Token ids of the story: the first document of the validation split that fills the window (its
    ``min(block_size, cap)`` tokens), else the longest document seen; documents end at ``eot_id``.

    The first piece of the split counts as a document only when the split begins with one (a corpus of
    few documents is split inside a document; its first piece could start mid-sentence) — unless it is
    all there is. Returns [] for an empty split.
    """
    limit = max(1, min(int(block_size), int(cap)))
    head = np.asarray(val[:SCAN_TOKENS], dtype=np.int64)
    if head.size == 0:
        return []
    ends = np.flatnonzero(head == eot_id)
    bounds = [-1, *ends.tolist(), head.size]
    pieces = [(a + 1, b) for a, b in zip(bounds, bounds[1:], strict=False) if b - a > 1]
    if len(pieces) > 1:
        pieces = pieces[1:]  # the first piece may be a tail of a document cut by the split
    best = max(pieces, key=lambda p: p[1] - p[0], default=None)
    for a, b in pieces:
        if b - a >= limit:
            best = (a, b)
            break
    if best is None:
        return []
    a, b = best
    return head[a:min(b, a + limit)].tolist()


def score_story(model: GPT, tok: Tokenizer, ids: Sequence[int]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The story's tokens as text and the surprisal of each in bits, by the one scorer
    (scoring.score_ids). A token that only begins a character has text "" (the character appears on
    the token that completes it). Surprisals are rounded to 1/1000 bit: the event is written at every
    evaluation."""
    from .scoring import score_ids

    if not ids:
        return (), ()
    result = score_ids(model, tok, ids, alternatives=0)
    texts = tuple(r.text for r in result.records)
    bits = tuple(round(r.surprisal_bits, 3) if math.isfinite(r.surprisal_bits) else math.inf
                 for r in result.records)
    return texts, bits


def fallen(previous: Sequence[float | None], latest: Sequence[float | None], k: int = FALLEN_MARKED) -> list[int]:
    """Indices of the (at most ``k``) tokens whose surprisal fell most from ``previous`` to ``latest``,
    largest fall first; only real falls count (a token that got more surprising is never marked).
    Empty when the two scorings are not of the same story (different lengths)."""
    if len(previous) != len(latest):
        return []
    falls = []
    for i, (was, now) in enumerate(zip(previous, latest, strict=True)):
        if was is None or now is None or not (math.isfinite(was) and math.isfinite(now)):
            continue
        if was - now > 0:
            falls.append((was - now, -i))
    falls.sort(reverse=True)
    return [-i for _, i in falls[:k]]
