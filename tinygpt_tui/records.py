"""What generation and scoring record: one :class:`TokenRecord` per token, its alternatives, and the
:class:`ScoreResult` of a scored text. Plain data with a JSON form; no torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Alternative:
    """One of the most likely tokens at a position, under the raw model distribution."""

    id: int
    piece: str
    """Display piece as the tokenizer writes it (``Ġsoft``)."""
    text: str
    """The token's own text, or its bytes in hex (``<e2 80>``) when they are not valid UTF-8 alone."""
    prob: float


@dataclass
class TokenRecord:
    """Everything known about one generated (or scored) token."""

    index: int
    """0-based position in the output (generation) or in the scored text."""
    sample: int
    """Sample number (0-based) when several samples are drawn."""
    id: int
    bytes: bytes
    piece: str
    """Display piece (GPT-2 byte-to-unicode form, e.g. ``Ġsoft``; specials as themselves)."""
    hex: str
    """The token's bytes in hex, e.g. ``20 73 6f 66 74``."""
    text: str
    """Clean text this token completes: '' while a multi-byte character is held back, and the whole
    character once its last byte arrives. Concatenating ``text`` gives the decoded output."""
    display: str
    """The token on its own: its text when its bytes are valid UTF-8, else ``<hex>``."""
    prob: float
    """Probability under the raw model distribution (temperature 1, no filters)."""
    logprob: float
    """Natural log of ``prob``."""
    prob_sampled: float
    """Probability under the distribution the sampler drew from (after temperature and filters)."""
    surprisal_bits: float
    """-log2(prob)."""
    entropy_bits: float
    """Entropy of the raw distribution at this position, in bits."""
    rank: int
    """1-based rank of the chosen token under the raw distribution (1 = the most likely)."""
    alternatives: list[Alternative] = field(default_factory=list)
    """The most likely tokens at this position (``SamplingConfig.alternatives`` many), best first."""
    cut_mass: float = 0.0
    """Probability mass of the temperature-scaled distribution that top-k/top-p removed (greedy:
    everything but the argmax, under the raw distribution)."""
    note: str = ""
    """Something the user should know about this step, e.g. that the context window slid."""
    finish: str | None = None
    """Set on the last record of a sample: ``eot``, ``stop`` (a stop string), ``length``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: bytes as hex, NaN (not measured) as None."""
        d = asdict(self)
        d["bytes"] = self.bytes.hex()
        for key, value in d.items():
            if isinstance(value, float) and not math.isfinite(value):
                d[key] = None
        return d

    @classmethod
    def from_dict(cls, d: Any) -> TokenRecord:
        """The record :meth:`to_dict` wrote (None back to NaN, hex back to bytes). Raises ValueError
        (or TypeError) for anything else, so a reader of a file can word one sentence for it."""
        if not isinstance(d, dict):
            raise ValueError("a token record is not an object")
        values = dict(d)
        values["bytes"] = bytes.fromhex(str(values.get("bytes", "")))
        for name, kind in _FIELD_TYPES.items():
            value = values.get(name)
            if kind == "float":
                if value is None and name in values:
                    values[name] = math.nan
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} is not a number")
                else:
                    values[name] = float(value)
            elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} is not a whole number")
            elif kind == "str" and not isinstance(value, str):
                raise ValueError(f"{name} is not text")
        if values.get("finish") not in (None, "eot", "stop", "length"):
            raise ValueError("finish is not one of eot, stop, length")
        alts = values.get("alternatives", [])
        if not isinstance(alts, list):
            raise ValueError("alternatives is not a list")
        values["alternatives"] = [_alternative(a) for a in alts]
        return cls(**values)  # an unknown or missing field: TypeError


def _alternative(d: Any) -> Alternative:
    if not (isinstance(d, dict) and set(d) == {"id", "piece", "text", "prob"}):
        raise ValueError("an alternative is not {id, piece, text, prob}")
    if isinstance(d["id"], bool) or not isinstance(d["id"], int) or not isinstance(d["prob"], int | float):
        raise ValueError("an alternative's id or prob is not a number")
    if not (isinstance(d["piece"], str) and isinstance(d["text"], str)):
        raise ValueError("an alternative's piece or text is not text")
    return Alternative(d["id"], d["piece"], d["text"], float(d["prob"]))


_FIELD_TYPES = {
    "index": "int", "sample": "int", "id": "int", "piece": "str", "hex": "str", "text": "str",
    "display": "str", "prob": "float", "logprob": "float", "prob_sampled": "float",
    "surprisal_bits": "float", "entropy_bits": "float", "rank": "int", "cut_mass": "float", "note": "str",
}
"""What each field of a record read from JSON must be (``bytes``, ``alternatives`` and ``finish`` are
checked on their own)."""


@dataclass
class ScoreResult:
    """Per-token records of a scored text and its totals."""

    records: list[TokenRecord]
    bits_per_byte: float
    tokens: int
    bytes: int

    @property
    def total_bits(self) -> float:
        return sum(r.surprisal_bits for r in self.records)

    @property
    def mean_surprisal_bits(self) -> float:
        return self.total_bits / max(1, self.tokens)

    @property
    def perplexity(self) -> float:
        """Per-token perplexity, 2 ** mean surprisal."""
        return 2.0 ** self.mean_surprisal_bits

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "bytes": self.bytes,
            "bits_per_byte": self.bits_per_byte,
            "total_bits": self.total_bits,
            "mean_surprisal_bits": self.mean_surprisal_bits,
            "perplexity": self.perplexity,
            "records": [r.to_dict() for r in self.records],
        }
