"""The corpus file format: documents separated by ``<|endoftext|>`` lines, read and written.

A corpus file (``data/<dataset>/corpus.txt``) holds documents, each followed by a line holding exactly
``<|endoftext|>``. :func:`iter_documents` streams them in chunks (from any offset), :func:`sample_documents`
draws a deterministic sample spread over a large file, and :func:`document_bytes` /
:func:`truncated_document` write one. Sources write corpora, tokenizers train on them and shards
encode them; all three read or write them through here, so none of them needs another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import EOT, TinyGPTError

CHUNK_BYTES = 4 << 20
"""Corpus bytes read (and encoded) per step: large enough to keep all cores busy, small enough for RAM."""

SAMPLE_WINDOWS = 32
"""How many evenly spaced windows of a large corpus a capped sample is drawn from."""

# A separator is a whole line holding exactly <|endoftext|> (CRLF tolerated; the last line may lack \n).
_SEPARATOR = re.compile(rb"(?m)^<\|endoftext\|>\r?(?:\n|\Z)")
_EOT_LINE = EOT.encode()
EOT_SUFFIX = f"\n{EOT}\n"
"""What follows every document in a corpus file."""
EOT_SUFFIX_BYTES = len(EOT_SUFFIX.encode())


# --------------------------------------------------------------------------------------------------
# reading



def iter_documents(path: str | Path, start: int = 0, chunk_bytes: int = CHUNK_BYTES,
                   hasher: Any = None) -> Iterator[tuple[str, int, int]]:
    """Yield ``(text, nbytes, end)`` for each non-empty document of a corpus file, streaming.

    ``nbytes`` is the document's size in the file, ``end`` the file offset just past its separator.
    With ``start > 0`` reading begins at the first document that starts after the first separator
    at or after ``start`` (used to sample windows of a large corpus). ``hasher`` (e.g.
    ``hashlib.sha256()``) is fed every byte read, which with ``start=0`` hashes the whole file.
    """
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            if f.read(1) != b"\n":
                f.readline()  # finish the line we landed in
            while True:  # skip to just past the next separator line
                line = f.readline()
                if not line:
                    return
                if line.rstrip(b"\r\n") == _EOT_LINE:
                    break
        base = f.tell()  # file offset of buf[0]
        carry = b""
        while True:
            chunk = f.read(chunk_bytes)
            if chunk and not chunk.endswith(b"\n"):
                chunk += f.readline()  # end on a line boundary so a separator is never cut in two
            if hasher is not None:
                hasher.update(chunk)
            buf = carry + chunk
            last = 0
            for m in _SEPARATOR.finditer(buf):
                raw = buf[last:m.start()]
                last = m.end()
                yield from _document(raw, base + last)
            if not chunk:  # end of file: what is left is a last document without a separator
                yield from _document(buf[last:], base + len(buf))
                return
            carry = buf[last:]
            base += last


def _document(raw: bytes, end: int) -> Iterator[tuple[str, int, int]]:
    # The line break before the separator line belongs to the separator, not the document.
    if raw.endswith(b"\n"):
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    if raw.strip():
        yield raw.decode("utf-8", errors="replace"), len(raw), end


def check_corpus(corpus_path: Path) -> int:
    """The size of a corpus file; one clear sentence when it is missing or empty."""
    corpus_path = Path(corpus_path)
    if not corpus_path.is_file():
        raise TinyGPTError(f"The corpus file {corpus_path} does not exist.",
                           "prepare a dataset with `tinygpt data prepare`, or pass --corpus FILE.")
    size = corpus_path.stat().st_size
    if size == 0:
        raise TinyGPTError(f"The corpus file {corpus_path} is empty.", "prepare it again with more text.")
    return size


def sample_documents(corpus_path: Path, max_bytes: int | None) -> Iterator[tuple[str, int]]:
    """Documents of the corpus with the bytes each consumed; a deterministic sample when capped.

    With a cap smaller than the file, the sample is taken from ``SAMPLE_WINDOWS`` evenly spaced windows
    of ``max_bytes / windows`` bytes each, so a large corpus is represented from start to end without
    reading all of it. The same file and cap always give the same sample.
    """
    size = Path(corpus_path).stat().st_size
    if max_bytes is None or size <= max_bytes:
        windows = [(0, None)]
    else:
        budget = max(1, max_bytes // SAMPLE_WINDOWS)
        windows = [(k * size // SAMPLE_WINDOWS, budget) for k in range(SAMPLE_WINDOWS)]
    for start, budget in windows:
        pos = start
        for doc, _nbytes, end in iter_documents(corpus_path, start=start):
            # the first document of a window may start after `start`: skipped bytes count as consumed
            yield doc, end - pos
            pos = end
            if budget is not None and end - start >= budget:
                break


# --------------------------------------------------------------------------------------------------
# writing


def document_bytes(doc: str) -> bytes:
    """One document as it is written into a corpus file, separator included."""
    return (doc + EOT_SUFFIX).encode()


def truncated_document(doc: str, cap: int) -> bytes:
    """The longest head of ``doc`` (whole characters, trailing space dropped) that fits ``cap`` bytes
    with its separator; empty when nothing fits."""
    room = cap - EOT_SUFFIX_BYTES
    if room <= 0:
        return b""
    text = doc.encode()[:room].decode("utf-8", errors="ignore").rstrip()
    return document_bytes(text) if text else b""
