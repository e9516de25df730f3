"""Two models, one text: how surprised each run is by every part of the same text, and where they differ.

Each run reads the text through :func:`scoring.score_text` (teacher forcing, the one sliding-window
scheme), so the numbers are the ones ``tinygpt score`` prints for each run alone.

- When both runs cut the text into the same tokens (same tokenizer), the comparison is per token:
  each row is one token with its surprisal in bits under run A and run B, and B minus A.
- When the tokenizers differ, tokens do not line up, so the comparison is per byte: each token's
  surprisal is spread evenly over the bytes it covers, and the text is cut into words (a word takes the
  whitespace before it, as GPT-2's pieces do), so every byte of the text belongs to exactly one row.
  A row then holds the word's bits under each run (and its bits per byte). A token that straddles two
  words gives each its share by bytes.

Rows stay in text order; :meth:`Versus.by_disagreement` lists them with the largest difference first.
No UI imports; torch only through the scoring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import TinyGPTError

if TYPE_CHECKING:  # pragma: no cover
    from .records import ScoreResult, TokenRecord
    from .tokenizer import Tokenizer

WORD = re.compile(r"\s*\S+|\s+$")
"""A word and the whitespace before it; trailing whitespace is a row of its own. The matches tile
the text: each starts where the previous one ended."""


@dataclass
class VersusRow:
    """One token (same tokenizers) or one word (different ones) and its surprisal under each run."""

    index: int
    """Position of the row in the text (0-based)."""
    text: str
    """The token as shown alone (hex for a partial character) or the word: foreign text."""
    start: int
    """Offset of its first byte in the text's UTF-8 bytes."""
    bytes: int
    bits_a: float
    bits_b: float

    @property
    def diff(self) -> float:
        """Bits under B minus bits under A: positive where B is more surprised."""
        return self.bits_b - self.bits_a

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "start": self.start, "bytes": self.bytes,
                "bits_a": self.bits_a, "bits_b": self.bits_b, "diff": self.diff}


@dataclass
class Versus:
    """The comparison of two runs on one text."""

    run_a: str
    run_b: str
    unit: str
    """``token`` (same tokenizers) or ``word`` (per byte, words as rows)."""
    rows: list[VersusRow]
    bits_per_byte_a: float
    bits_per_byte_b: float
    tokens_a: int
    tokens_b: int
    bytes: int
    notes: list[str] = field(default_factory=list)

    def by_disagreement(self) -> list[VersusRow]:
        """The rows, largest absolute difference first (ties in text order)."""
        return sorted(self.rows, key=lambda r: (-abs(r.diff), r.index))

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a, "run_b": self.run_b, "unit": self.unit, "bytes": self.bytes,
                "tokens_a": self.tokens_a, "tokens_b": self.tokens_b,
                "bits_per_byte_a": self.bits_per_byte_a, "bits_per_byte_b": self.bits_per_byte_b,
                "notes": self.notes, "rows": [r.to_dict() for r in self.rows]}


def same_tokens(a: Tokenizer, b: Tokenizer) -> bool:
    """Do the two tokenizers cut every text alike (the same fingerprint)?"""
    try:
        return a.fingerprint() == b.fingerprint()
    except (AttributeError, NotImplementedError):
        return False


def byte_bits(records: list[TokenRecord], data: bytes, run: str = "") -> np.ndarray:
    """Each byte of ``data``'s share of the surprisal: a token's bits spread evenly over its bytes.

    The tokens must spell ``data`` byte for byte (ours always do); a token without bytes hands its bits
    to the next token's bytes, so the total is kept.
    """
    if b"".join(r.bytes for r in records) != data:
        raise TinyGPTError(f"The tokens of run '{run}' do not spell the text byte for byte, so its surprisal "
                           "cannot be laid over the text's bytes.",
                           "compare runs that share a tokenizer (the comparison is then per token).")
    out = np.zeros(len(data), dtype=np.float64)
    pos, pending = 0, 0.0
    for r in records:
        n = len(r.bytes)
        if n == 0:
            pending += r.surprisal_bits
            continue
        out[pos:pos + n] = (r.surprisal_bits + pending) / n
        pos, pending = pos + n, 0.0
    if pending and len(out):
        out[-1] += pending
    return out


def words(text: str) -> list[tuple[str, int, int]]:
    """The text's words as (word, first byte, end byte): the spans tile the UTF-8 bytes exactly."""
    out: list[tuple[str, int, int]] = []
    offset = 0
    for m in WORD.finditer(text):
        n = len(m.group().encode("utf-8", "surrogatepass"))
        out.append((m.group(), offset, offset + n))
        offset += n
    return out


def token_rows(a: ScoreResult, b: ScoreResult) -> list[VersusRow]:
    rows, start = [], 0
    for i, (ra, rb) in enumerate(zip(a.records, b.records, strict=True)):
        rows.append(VersusRow(i, ra.display, start, len(ra.bytes), ra.surprisal_bits, rb.surprisal_bits))
        start += len(ra.bytes)
    return rows


def word_rows(text: str, a: ScoreResult, b: ScoreResult, run_a: str = "A", run_b: str = "B") -> list[VersusRow]:
    data = text.encode("utf-8", "surrogatepass")
    bits_a, bits_b = byte_bits(a.records, data, run_a), byte_bits(b.records, data, run_b)
    return [VersusRow(i, w, s, e - s, float(bits_a[s:e].sum()), float(bits_b[s:e].sum()))
            for i, (w, s, e) in enumerate(words(text))]


def compare_scores(text: str, a: ScoreResult, b: ScoreResult, run_a: str, run_b: str,
                   per_token: bool) -> Versus:
    """Two scores of ``text`` side by side: per token when ``per_token`` (the tokens line up), else per word."""
    if per_token and [r.id for r in a.records] == [r.id for r in b.records]:
        unit, rows = "token", token_rows(a, b)
    else:
        unit, rows = "word", word_rows(text, a, b, run_a, run_b)
    notes = sorted({r.note for r in a.records + b.records if r.note})
    n_bytes = len(text.encode("utf-8", "surrogatepass"))
    return Versus(run_a, run_b, unit, rows, a.bits_per_byte, b.bits_per_byte, a.tokens, b.tokens, n_bytes, notes)


def versus(text: str, a: tuple[str, Any, Tokenizer], b: tuple[str, Any, Tokenizer],
           unit: str = "auto") -> Versus:
    """Score ``text`` under run A and run B, each given as (name, model, tokenizer).

    ``unit``: ``auto`` (per token when the tokenizers match, else per word), or ``word`` (always per byte).
    """
    from .scoring import score_text

    if unit not in ("auto", "word"):
        raise TinyGPTError(f"Unknown unit '{unit}'.", "choose auto or word.")
    if not text:
        raise TinyGPTError("There is no text to compare the runs on.", "pass some text, or --file PATH.")
    (name_a, model_a, tok_a), (name_b, model_b, tok_b) = a, b
    score_a = score_text(model_a, tok_a, text, alternatives=0)
    score_b = score_text(model_b, tok_b, text, alternatives=0)
    return compare_scores(text, score_a, score_b, name_a, name_b,
                          per_token=unit == "auto" and same_tokens(tok_a, tok_b))
