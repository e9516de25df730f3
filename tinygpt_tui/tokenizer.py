"""One tokenizer interface over three kinds: byte-level BPE, character level and GPT-2.

* ``bpe``  -- a byte-level BPE trained here with Hugging Face ``tokenizers`` and saved as a standard
  HF ``tokenizer.json``. Encoding is served by a ``tiktoken.Encoding`` built from the same vocabulary
  (token bytes -> id as merge ranks, GPT-2 split pattern, the same special tokens): it is several
  times faster than the HF encoder, gives identical ids on real text (checked in the tests), and is
  used for *every* encode -- shards, prompts and the inspector -- so the ids a model was trained on
  are the ids it is prompted with.
* ``char`` -- one token per distinct character of the corpus, saved as our own small JSON.
* ``gpt2`` -- tiktoken's ``gpt2`` encoding (50257 tokens), optionally with extra special tokens.

Ids are laid out the same way for ``bpe`` and ``char``: special tokens first (``<|endoftext|>`` is 0),
then the rest. For inspection every id has its bytes, a display *piece* in GPT-2's byte-to-unicode
form (``'Ġsoft'``) and a hex string (``'20 73 6f 66 74'``).

This module serves tokenizers (encode, decode, inspect, save, load); training one from a corpus is
tokenizer_training.py's job and vocabulary statistics are vocab.py's. No textual/rich/prompt_toolkit,
no torch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_text
from .config import EOT, TinyGPTError
from .pieces import bytes_to_piece, hex_bytes, piece_to_bytes

Progress = Callable[[int, "int | None"], None]

# GPT-2's pre-tokenization pattern. HF's ByteLevel pre-tokenizer (use_regex=True) splits with the same
# expression, which is what makes the tiktoken encoder agree with the HF one on trained vocabularies.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""



# --------------------------------------------------------------------------------------------------
# The interface


class Tokenizer:
    """Common interface of the three kinds. Subclasses fill ``_tokens`` (bytes per id) and encoding."""

    kind: str = ""
    vocab_size: int = 0
    eot_id: int = 0
    special_tokens: dict[str, int]

    def __init__(self, tokens: list[bytes], special_tokens: dict[str, int]):
        check_special_tokens(special_tokens)
        self._tokens = tokens
        self.special_tokens = dict(special_tokens)
        self._special_ids = {i: s for s, i in self.special_tokens.items()}
        self.vocab_size = len(tokens)
        if EOT not in self.special_tokens:
            raise TinyGPTError(f"The tokenizer has no {EOT} token.", "retrain it with this project.")
        self.eot_id = self.special_tokens[EOT]
        self._executor: ThreadPoolExecutor | None = None

    # -- encoding (kinds implement _encode_array) ------------------------------------------------

    def _encode_array(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def encode_array(self, text: str) -> np.ndarray:
        """Encode to a uint32 numpy array; special tokens written in the text are recognised."""
        return self._encode_array(text)

    def encode(self, text: str) -> list[int]:
        """Encode ``text``; special tokens such as ``<|endoftext|>`` written in it become their ids."""
        return self._encode_array(text).tolist()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Encode many texts, on all cores where the kind allows it."""
        return [a.tolist() for a in self._map(self._encode_array, list(texts))]

    def encode_documents(self, docs: Sequence[str]) -> np.ndarray:
        """All ``docs`` as one uint32 array, each document followed by the end-of-text token.

        The documents are joined with ``<|endoftext|>`` into a few large strings encoded in parallel;
        since special tokens split the text before the GPT-2 pattern applies, this is exactly
        ``encode(doc) + [eot]`` per document, with far less per-call overhead.
        """
        if not docs:
            return np.zeros(0, dtype=np.uint32)
        groups = max(1, min(len(docs), 4 * _threads()))
        step = -(-len(docs) // groups)
        texts = [EOT.join(docs[i:i + step]) + EOT for i in range(0, len(docs), step)]
        parts = self._map(self._encode_array, texts)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _map(self, fn: Callable[[str], np.ndarray], texts: list[str]) -> list[np.ndarray]:
        if len(texts) <= 1 or not self._parallel:
            return [fn(t) for t in texts]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(_threads(), thread_name_prefix="tinygpt-encode")
        return list(self._executor.map(fn, texts))

    _parallel = False
    """Whether encoding releases the GIL, so threads help (tiktoken does)."""

    def can_encode(self, text: str) -> str | None:
        """The first character this tokenizer cannot represent, or None (only char-level can fail)."""
        return None

    # -- decoding and inspection -----------------------------------------------------------------

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        ids = [int(i) for i in ids]
        if ids and (min(ids) < 0 or max(ids) >= self.vocab_size):
            # checked up front: Python would quietly read a negative id from the end of the list
            bad = next(i for i in ids if not 0 <= i < self.vocab_size)
            raise TinyGPTError(f"Token id {bad} is outside this vocabulary of {self.vocab_size}.",
                               f"ids run from 0 to {self.vocab_size - 1}.")
        toks = self._tokens
        return b"".join(toks[i] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; bytes that do not form whole UTF-8 characters show as U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def _check_id(self, token_id: int) -> int:
        if not (0 <= int(token_id) < self.vocab_size):
            raise TinyGPTError(f"Token id {token_id} is outside this vocabulary of {self.vocab_size}.",
                               f"ids run from 0 to {self.vocab_size - 1}.")
        return int(token_id)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes token ``token_id`` stands for (a special token: its own UTF-8 text)."""
        return self._tokens[self._check_id(token_id)]

    def is_special(self, token_id: int) -> bool:
        return int(token_id) in self._special_ids

    def piece(self, token_id: int) -> str:
        """Display form: GPT-2 byte-to-unicode (``'Ġsoft'``); special tokens as themselves."""
        token_id = self._check_id(token_id)
        if token_id in self._special_ids:
            return self._special_ids[token_id]
        return bytes_to_piece(self._tokens[token_id])

    def hex(self, token_id: int) -> str:
        """The token's bytes in hex, ``'68 65'``."""
        return hex_bytes(self.token_bytes(token_id))

    def token_text(self, token_id: int) -> str:
        """The token's bytes as text (partial UTF-8 characters show as U+FFFD)."""
        return self.token_bytes(token_id).decode("utf-8", errors="replace")

    def byte_lengths(self) -> np.ndarray:
        """Bytes each id stands for, as bits per byte counts them: an int64 array of ``vocab_size``
        where a special token counts 1 (it marks a boundary, not text). Not a length to show: a face
        shows a special token's bytes as those of its name (:meth:`token_bytes`, :meth:`hex`)."""
        if getattr(self, "_byte_lengths", None) is None:
            lengths = np.fromiter((len(t) for t in self._tokens), dtype=np.int64, count=self.vocab_size)
            for i in self._special_ids:
                lengths[i] = 1
            self._byte_lengths = lengths
        return self._byte_lengths.copy()

    # -- identity and persistence ----------------------------------------------------------------

    _pattern = ""

    def fingerprint(self) -> str:
        """sha256 of what the ids mean: kind, split pattern, every token's bytes, the special tokens.

        Two tokenizers with the same fingerprint encode any text to the same ids.
        """
        if getattr(self, "_fingerprint", None) is None:
            canonical = json.dumps({
                "kind": self.kind,
                "pattern": self._pattern,
                "tokens": [t.hex() for t in self._tokens],
                "special_tokens": sorted(self.special_tokens.items(), key=lambda kv: kv[1]),
            }, separators=(",", ":"))
            self._fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
        return self._fingerprint

    def to_json(self) -> str:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the tokenizer file atomically; returns the path."""
        path = Path(path)
        atomic_write_text(path, self.to_json())
        return path

    def describe(self) -> dict[str, Any]:
        """A small summary for ``tokenizer info`` and the UI."""
        return {"kind": self.kind, "vocab_size": self.vocab_size, "eot_id": self.eot_id,
                "special_tokens": dict(self.special_tokens), "fingerprint": self.fingerprint()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind} vocab_size={self.vocab_size}>"

    def __del__(self) -> None:
        ex = getattr(self, "_executor", None)
        if ex is not None:
            ex.shutdown(wait=False)


def _threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


# --------------------------------------------------------------------------------------------------
# tiktoken-served kinds: bpe and gpt2


class _TiktokenTokenizer(Tokenizer):
    _parallel = True
    _pattern = GPT2_PATTERN

    def __init__(self, encoding: Any, special_tokens: dict[str, int]):
        self._enc = encoding
        n = encoding.n_vocab
        tokens: list[bytes] = [b""] * n
        for token_bytes, rank in encoding._mergeable_ranks.items():
            tokens[rank] = token_bytes
        for s, i in special_tokens.items():
            tokens[i] = s.encode("utf-8")
        super().__init__(tokens, special_tokens)
        self._allowed = frozenset(special_tokens)

    def _encode_array(self, text: str) -> np.ndarray:
        # allowed_special: every special token written in the text is recognised, none is refused.
        try:
            return self._enc.encode_to_numpy(text, allowed_special=self._allowed, disallowed_special=())
        except UnicodeEncodeError:
            # lone surrogates (e.g. from a broken file) cannot go to Rust: encode them as U+FFFD
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return self._enc.encode_to_numpy(text, allowed_special=self._allowed, disallowed_special=())

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        ids = list(ids)
        try:
            return self._enc.decode_bytes(ids)
        except (KeyError, OverflowError, TypeError, ValueError):
            return super().decode_bytes(ids)  # raises the clear error for the bad id


class BPETokenizer(_TiktokenTokenizer):
    """Byte-level BPE trained here; stored as an HF ``tokenizer.json``, encoded by tiktoken."""

    kind = "bpe"

    def __init__(self, hf_json: str):
        try:
            data = json.loads(hf_json)
        except json.JSONDecodeError as e:
            raise TinyGPTError(f"The tokenizer file is not valid JSON ({e.msg}, line {e.lineno}).",
                               "retrain it with `tinygpt tokenizer train`.") from None
        except RecursionError:
            raise TinyGPTError("The tokenizer file is nested too deeply to be a tokenizer.",
                               "retrain it with `tinygpt tokenizer train`.") from None
        vocab, specials = _read_hf_byte_level_bpe(data)
        ranks: dict[bytes, int] = {}
        for piece, i in vocab.items():
            if piece in specials:
                continue
            try:
                ranks[piece_to_bytes(piece)] = i
            except KeyError:
                raise TinyGPTError(f"The BPE vocabulary holds '{piece}', which is not a byte-level token.",
                                   "only byte-level BPE tokenizers (GPT-2 style) are supported.") from None
        import tiktoken

        ids = set(ranks.values()) | set(specials.values())
        if len(ids) != len(ranks) + len(specials) or ids != set(range(len(ids))):
            raise TinyGPTError("The BPE vocabulary's ids are not 0..N-1 each used once.",
                               "retrain it with `tinygpt tokenizer train`.")
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:
            raise TinyGPTError(f"The BPE vocabulary lacks {len(missing)} of the 256 single bytes, so some "
                               "text could not be encoded.", "retrain it with `tinygpt tokenizer train`.")
        enc = tiktoken.Encoding("tinygpt-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                                special_tokens=specials)
        self._hf_json = hf_json
        super().__init__(enc, specials)

    def to_json(self) -> str:
        return self._hf_json

    def hf_tokenizer(self) -> Any:
        """The same tokenizer as a Hugging Face ``tokenizers.Tokenizer`` (for comparison and export)."""
        from tokenizers import Tokenizer as HFTokenizer

        return HFTokenizer.from_str(self._hf_json)


def check_special_tokens(specials: Iterable[Any]) -> None:
    """Refuse special tokens a crafted file could use to hang the encoder: an empty one makes
    tiktoken's special-token search match at every position and loop forever while memory grows."""
    for s in specials:
        if not isinstance(s, str) or not s:
            raise TinyGPTError(f"The tokenizer file has a special token {s!r} that is empty or not text.",
                               "special tokens are non-empty text such as <|endoftext|>; retrain the tokenizer.")


def _read_hf_byte_level_bpe(data: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Vocabulary and special tokens of an HF tokenizer.json, checking it is the byte-level kind we serve."""
    hint = "only byte-level BPE tokenizers made by `tinygpt tokenizer train` (GPT-2 style) are supported."
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise TinyGPTError("The tokenizer file is not a tokenizer.json.", hint)
    model = data["model"]
    if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise TinyGPTError(f"The tokenizer file holds a {model.get('type')!r} model, not a BPE.", hint)
    pre = data.get("pre_tokenizer") or {}
    if not isinstance(pre, dict):
        raise TinyGPTError("The tokenizer file's pre-tokenizer is not a JSON object.", hint)
    if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex", True):
        # Another pre-tokenizer splits text differently from GPT-2's pattern, so ids would not match.
        raise TinyGPTError("The tokenizer file's pre-tokenizer is not ByteLevel without a prefix space.", hint)
    if data.get("normalizer"):
        raise TinyGPTError("The tokenizer file has a normalizer, which this project does not apply.", hint)
    try:
        specials = {t["content"]: int(t["id"]) for t in data.get("added_tokens") or []}
        vocab = {str(k): int(v) for k, v in model["vocab"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise TinyGPTError("The tokenizer file's vocabulary or added tokens are malformed.", hint) from None
    check_special_tokens(specials)
    vocab.update(specials)
    return vocab, specials


class GPT2Tokenizer(_TiktokenTokenizer):
    """tiktoken's ``gpt2`` encoding; extra special tokens take ids after 50256."""

    kind = "gpt2"

    def __init__(self, extra_specials: Sequence[str] = ()):
        base = _gpt2_base()
        specials = dict(base._special_tokens)
        for s in extra_specials:
            if s not in specials:
                specials[s] = base.n_vocab + len(specials) - len(base._special_tokens)
        self._extra = [s for s in specials if s not in base._special_tokens]
        if self._extra:
            import tiktoken

            enc = tiktoken.Encoding("gpt2-tinygpt", pat_str=base._pat_str,
                                    mergeable_ranks=base._mergeable_ranks, special_tokens=specials)
        else:
            enc = base
        super().__init__(enc, specials)

    def to_json(self) -> str:
        return json.dumps({"kind": "gpt2", "special_tokens": [EOT, *self._extra]}, indent=2)


@functools.lru_cache(maxsize=1)
def _gpt2_base() -> Any:
    import tiktoken

    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:  # network errors, a broken cache: tiktoken raises many kinds
        raise TinyGPTError(
            f"The GPT-2 vocabulary could not be loaded ({type(e).__name__}); tiktoken downloads it once "
            "and there is no network or cached copy.",
            "set TIKTOKEN_CACHE_DIR to a folder holding tiktoken's gpt2 files, or use a tokenizer of your own "
            "(--run NAME or --tokenizer FILE; `tinygpt tokenizer train --kind bpe` makes one).",
        ) from None


def gpt2_tokenizer(special_tokens: Sequence[str] = ()) -> GPT2Tokenizer:
    """GPT-2's tokenizer (via tiktoken), with any extra special tokens appended."""
    return GPT2Tokenizer([s for s in special_tokens if s != EOT])


# --------------------------------------------------------------------------------------------------
# Character level


class CharTokenizer(Tokenizer):
    """One id per character seen in the corpus (sorted by code point), after the special tokens."""

    kind = "char"

    def __init__(self, chars: Sequence[str], special_tokens: Sequence[str] = (EOT,)):
        # an empty special would match at every position of every text
        specials = list(dict.fromkeys([EOT, *(s for s in special_tokens if s)]))
        chars = sorted(set(chars))
        if any(len(c) != 1 for c in chars):
            raise TinyGPTError("A character-level vocabulary entry is not a single character.",
                               "retrain it with `tinygpt tokenizer train --kind char`.")
        self.chars = chars
        self._codepoints = np.array([ord(c) for c in chars], dtype=np.uint32)
        self._offset = len(specials)
        tokens = [s.encode() for s in specials] + [c.encode("utf-8", errors="surrogatepass") for c in chars]
        super().__init__(tokens, {s: i for i, s in enumerate(specials)})
        self._special_re = re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))

    def _encode_segment(self, text: str) -> np.ndarray:
        if not text:
            return np.zeros(0, dtype=np.uint32)
        cps = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
        idx = np.searchsorted(self._codepoints, cps)
        ok = idx < len(self._codepoints)
        ok[ok] = self._codepoints[idx[ok]] == cps[ok]
        if not ok.all():
            bad = chr(int(cps[int(np.argmin(ok))]))
            raise TinyGPTError(
                f"The character {bad!r} (U+{ord(bad):04X}) is not in this character-level vocabulary.",
                "a char tokenizer knows only the characters of the corpus it was built from; remove the "
                "character or use a bpe or gpt2 tokenizer, which can encode any text.",
            )
        return (idx + self._offset).astype(np.uint32)

    def _encode_array(self, text: str) -> np.ndarray:
        parts: list[np.ndarray] = []
        pos = 0
        for m in self._special_re.finditer(text):
            parts.append(self._encode_segment(text[pos:m.start()]))
            parts.append(np.array([self.special_tokens[m.group()]], dtype=np.uint32))
            pos = m.end()
        parts.append(self._encode_segment(text[pos:]))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def can_encode(self, text: str) -> str | None:
        known = set(self.chars)
        rest = self._special_re.sub("", text)
        return next((c for c in rest if c not in known), None)

    def piece(self, token_id: int) -> str:
        """Single-byte characters in the byte-level form (space 'Ġ', newline 'Ċ'); others as themselves."""
        token_id = self._check_id(token_id)
        if token_id in self._special_ids:
            return self._special_ids[token_id]
        ch = self.chars[token_id - self._offset]
        data = self._tokens[token_id]
        if len(data) == 1 or not ch.isprintable() or ch.isspace():
            return bytes_to_piece(data)
        return ch

    def to_json(self) -> str:
        specials = sorted(self.special_tokens, key=self.special_tokens.__getitem__)
        return json.dumps({"kind": "char", "chars": self.chars, "special_tokens": specials},
                          ensure_ascii=False, indent=1)


# --------------------------------------------------------------------------------------------------
# Loading


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load any of the three kinds from its file; TinyGPTError when missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise TinyGPTError(f"There is no tokenizer file at {path}.",
                           "train one with `tinygpt tokenizer train` or check the path.")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise TinyGPTError(f"The tokenizer file {path} is unreadable or corrupt ({type(e).__name__}).",
                           "retrain it with `tinygpt tokenizer train`.") from None
    return tokenizer_from_dict(data, text, source=str(path))


def tokenizer_from_dict(data: Any, text: str | None = None, source: str = "the tokenizer file") -> Tokenizer:
    """Build a tokenizer from parsed file content (``text`` is the original JSON for BPE)."""
    if isinstance(data, dict) and "kind" in data:
        kind = data["kind"]
        specials = data.get("special_tokens") or [EOT]
        if not isinstance(specials, list) or not all(isinstance(s, str) for s in specials):
            raise TinyGPTError(f"{source} has a malformed special_tokens list.", "retrain the tokenizer.")
        check_special_tokens(specials)
        if kind == "gpt2":
            return gpt2_tokenizer(specials)
        if kind == "char":
            chars = data.get("chars")
            if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
                raise TinyGPTError(f"{source} has no valid list of characters.", "retrain the tokenizer.")
            return CharTokenizer(chars, specials)
        if kind == "bpe" and "model" not in data:
            raise TinyGPTError(f"{source} says kind 'bpe' but holds no BPE model.", "retrain the tokenizer.")
        if kind != "bpe":
            raise TinyGPTError(f"{source} has an unknown tokenizer kind {kind!r}.",
                               "kinds are bpe, char and gpt2.")
    return BPETokenizer(text if text is not None else json.dumps(data))
