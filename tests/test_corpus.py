"""corpus.py: reading <|endoftext|>-separated corpus files (any chunking, from an offset) and writing one."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_corpus

from tinygpt_tui.config import EOT, TinyGPTError
from tinygpt_tui.corpus import (
    EOT_SUFFIX,
    check_corpus,
    document_bytes,
    iter_documents,
    truncated_document,
)

DOCS = [f"Story {i}: a {'small' if i % 3 else 'big'} cat met dog number {i * 7}.\nThe end." for i in range(300)]


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.txt", DOCS)



def test_iter_documents_formats(tmp_path):
    p = tmp_path / "c.txt"
    p.write_bytes(
        f"{EOT}\nfirst\nline two\n{EOT}\n\n{EOT}\n{EOT}\nwindows\r\n{EOT}\r\nsecond <|endoftext|> inline\n{EOT}\nlast".encode()
    )
    docs = [d for d, _, _ in iter_documents(p)]
    assert docs == ["first\nline two", "windows", "second <|endoftext|> inline", "last"]
    ends = [e for _, _, e in iter_documents(p)]
    assert ends[-1] == p.stat().st_size and ends == sorted(ends)


def test_iter_documents_chunking_does_not_matter(corpus):
    whole = list(iter_documents(corpus))
    assert [d for d, _, _ in whole] == DOCS
    for chunk in (7, 64, 1000):
        assert list(iter_documents(corpus, chunk_bytes=chunk)) == whole


def test_iter_documents_from_offset(corpus):
    size = corpus.stat().st_size
    docs = [d for d, _, _ in iter_documents(corpus, start=size // 2)]
    assert docs == DOCS[-len(docs):] and 100 < len(docs) < 200


def test_written_documents_read_back_and_truncation_keeps_whole_characters(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"".join(document_bytes(d) for d in ["one", "two\nlines"]))
    assert [d for d, _, _ in iter_documents(path)] == ["one", "two\nlines"]
    assert document_bytes("x") == ("x" + EOT_SUFFIX).encode() and EOT_SUFFIX == f"\n{EOT}\n"
    cut = truncated_document("héllo world", len(EOT_SUFFIX.encode()) + 2)  # room for "h" + half of "é"
    assert cut == document_bytes("h")
    assert truncated_document("hello", 3) == b""  # not even the separator fits


def test_a_missing_or_empty_corpus_is_one_sentence(tmp_path):
    with pytest.raises(TinyGPTError, match="does not exist"):
        check_corpus(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TinyGPTError, match="is empty"):
        check_corpus(tmp_path / "empty.txt")
    (tmp_path / "c.txt").write_text("abc")
    assert check_corpus(tmp_path / "c.txt") == 3
