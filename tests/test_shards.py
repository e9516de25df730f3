"""Tests for shards.py: corpus reading, shard preparation, interruption, verification and batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_corpus

from tinygpt_tui import shards as sh
from tinygpt_tui.config import EOT, TinyGPTError, TokenizerConfig
from tinygpt_tui.corpus import iter_documents
from tinygpt_tui.shards import (
    BatchSampler,
    dtype_for,
    open_shards,
    prepare_shards,
    shards_dir,
    val_mask,
)
from tinygpt_tui.tokenizer import CharTokenizer
from tinygpt_tui.tokenizer_training import train_tokenizer

DOCS = [f"Story {i}: a {'small' if i % 3 else 'big'} cat met dog number {i * 7}.\nThe end." for i in range(300)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt", DOCS)


@pytest.fixture(scope="module")
def tok(corpus):
    return train_tokenizer(TokenizerConfig(kind="char"), corpus)


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_tokenizer(TokenizerConfig(vocab_size=320), corpus)


def split_docs(tok, data: np.ndarray) -> list[str]:
    """Decode a shard and cut it at the end-of-text ids."""
    text = tok.decode(data.tolist())
    assert text.endswith(EOT)
    return text[: -len(EOT)].split(EOT)


# ------------------------------------------------------------------------------------------------
# preparing


def test_dtype_choice():
    assert dtype_for(256) == np.uint16 and dtype_for(65536) == np.uint16
    assert dtype_for(65537) == np.uint32 and dtype_for(50257) == np.uint16


def test_prepare_round_trip(corpus, tok, tmp_path):
    out = shards_dir(tmp_path, tok)
    assert out == tmp_path / "shards" / tok.fingerprint()[:16]
    meta = prepare_shards(corpus, tok, out, val_fraction=0.1, seed=7)
    assert meta["complete"] is True and meta["dtype"] == "uint16" and meta["split_method"] == "documents"
    assert meta["train_documents"] + meta["val_documents"] == len(DOCS)
    assert 10 <= meta["val_documents"] <= 55
    s = open_shards(out, tok)
    assert s.train.dtype == np.uint16 and len(s.train) == meta["train_tokens"]
    mask = val_mask(7, 0, len(DOCS), 0.1)
    assert split_docs(tok, s.train) == [d for d, v in zip(DOCS, mask, strict=True) if not v]
    assert split_docs(tok, s.val) == [d for d, v in zip(DOCS, mask, strict=True) if v]
    assert int((s.train == tok.eot_id).sum()) == meta["train_documents"]  # one eot after every document
    assert meta["train_bytes"] == sum(len(d.encode()) for d, v in zip(DOCS, mask, strict=True) if not v)
    assert meta["corpus"]["bytes"] == corpus.stat().st_size and len(meta["corpus"]["sha256"]) == 64


def test_split_is_deterministic_and_seeded(corpus, tok, tmp_path):
    a = prepare_shards(corpus, tok, tmp_path / "a", val_fraction=0.1, seed=1)
    b = prepare_shards(corpus, tok, tmp_path / "b", val_fraction=0.1, seed=1)
    c = prepare_shards(corpus, tok, tmp_path / "c", val_fraction=0.1, seed=2)
    for split in ("train", "val"):
        assert (tmp_path / "a" / f"{split}.bin").read_bytes() == (tmp_path / "b" / f"{split}.bin").read_bytes()
    assert (tmp_path / "a" / "val.bin").read_bytes() != (tmp_path / "c" / "val.bin").read_bytes()
    assert a["val_tokens"] == b["val_tokens"]
    del c
    # the split of a document does not depend on how documents are batched
    assert np.array_equal(val_mask(5, 0, 100, 0.3)[40:], val_mask(5, 40, 60, 0.3))


def test_small_chunks_give_same_shards(corpus, bpe, tmp_path, monkeypatch):
    prepare_shards(corpus, bpe, tmp_path / "big", val_fraction=0.1, seed=1)
    monkeypatch.setattr(sh, "CHUNK_BYTES", 500)
    prepare_shards(corpus, bpe, tmp_path / "small", val_fraction=0.1, seed=1)
    for split in ("train", "val"):
        assert (tmp_path / "big" / f"{split}.bin").read_bytes() == (tmp_path / "small" / f"{split}.bin").read_bytes()


def test_uint32_for_large_vocabulary(tmp_path):
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 70_000) if not 0xD800 <= c < 0xE000]
    tok = CharTokenizer(chars)
    assert tok.vocab_size > 65536
    docs = ["".join(chars[-5:]), "".join(chars[:3]), chars[-1] * 4]
    corpus = write_corpus(tmp_path / "c.txt", docs)
    meta = prepare_shards(corpus, tok, tmp_path / "s", val_fraction=0.3, seed=0)
    assert meta["dtype"] == "uint32"
    s = open_shards(tmp_path / "s", tok)
    assert s.train.dtype == np.uint32 and int(s.train.max()) > 65535
    assert (tmp_path / "s" / "train.bin").stat().st_size == 4 * meta["train_tokens"]


def test_skips_when_up_to_date_and_rebuilds_on_change(corpus, tok, tmp_path):
    out = tmp_path / "s"
    first = prepare_shards(corpus, tok, out, val_fraction=0.1, seed=1)
    again = prepare_shards(corpus, tok, out, val_fraction=0.1, seed=1)
    assert again["created"] == first["created"]
    other = prepare_shards(corpus, tok, out, val_fraction=0.2, seed=1)
    assert other["created"] != first["created"] and other["val_fraction"] == 0.2


@pytest.mark.parametrize("exc", [RuntimeError("stop"), KeyboardInterrupt()])
def test_interruption_never_leaves_complete_looking_shards(corpus, tok, tmp_path, monkeypatch, exc):
    monkeypatch.setattr(sh, "CHUNK_BYTES", 2000)
    out = tmp_path / "s"
    prepare_shards(corpus, tok, out, val_fraction=0.1, seed=1)  # finished shards for seed 1

    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise exc

    with pytest.raises(type(exc)):
        prepare_shards(corpus, tok, out, val_fraction=0.1, seed=2, progress=progress)
    assert not (out / "meta.json").exists()
    assert not list(out.glob("*.tmp"))
    with pytest.raises(TinyGPTError, match="unfinished token shards"):
        open_shards(out, tok)
    # the next run starts over and finishes
    meta = prepare_shards(corpus, tok, out, val_fraction=0.1, seed=2)
    assert meta["seed"] == 2 and open_shards(out, tok).meta == meta


def test_open_errors(corpus, tok, bpe, tmp_path):
    with pytest.raises(TinyGPTError, match="no token shards"):
        open_shards(tmp_path / "nothing", tok)
    out = tmp_path / "s"
    prepare_shards(corpus, tok, out, val_fraction=0.1, seed=1)
    with pytest.raises(TinyGPTError, match="another tokenizer") as e:
        open_shards(out, bpe)
    assert "char" in e.value.message and "bpe" in e.value.message and e.value.hint
    with open(out / "train.bin", "r+b") as f:
        f.truncate(10)
    with pytest.raises(TinyGPTError, match="do not match their meta.json"):
        open_shards(out, tok)


def test_prepare_errors(tok, tmp_path):
    with pytest.raises(TinyGPTError, match="does not exist"):
        prepare_shards(tmp_path / "missing.txt", tok, tmp_path / "s")
    empty = tmp_path / "empty.txt"
    empty.write_text(f"{EOT}\n")
    with pytest.raises(TinyGPTError, match="no documents"):
        prepare_shards(empty, tok, tmp_path / "s")
    assert not (tmp_path / "s" / "meta.json").exists() and not list((tmp_path / "s").glob("*.tmp"))


def test_single_document_splits_by_tokens(tok, tmp_path):
    corpus = write_corpus(tmp_path / "one.txt", [" ".join(DOCS)])
    meta = prepare_shards(corpus, tok, tmp_path / "s", val_fraction=0.1, seed=1)
    assert meta["split_method"] == "tokens"
    total = meta["train_tokens"] + meta["val_tokens"]
    assert meta["val_tokens"] == round(total * 0.1)
    s = open_shards(tmp_path / "s", tok)
    assert tok.decode(np.concatenate([s.train, s.val]).tolist()) == " ".join(DOCS) + EOT
    assert meta["train_bytes"] + meta["val_bytes"] == len(" ".join(DOCS).encode())


# ------------------------------------------------------------------------------------------------
# batches


def test_batch_sampler_is_deterministic(corpus, tok, tmp_path):
    prepare_shards(corpus, tok, tmp_path / "s", val_fraction=0.1, seed=1)
    s = open_shards(tmp_path / "s", tok)
    a = BatchSampler(s, block_size=16, batch_size=4, seed=9)
    b = BatchSampler(s, block_size=16, batch_size=4, seed=9)
    x, y = a.get("train", 5)
    import torch

    assert x.shape == (4, 16) and x.dtype == torch.long and y.dtype == torch.long
    x2, y2 = b.get("train", 5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert torch.equal(x[:, 1:], y[:, :-1])
    offsets = a.offsets("train", 5)
    for row, o in enumerate(offsets):
        assert x[row].tolist() == s.train[o:o + 16].tolist() and y[row].tolist() == s.train[o + 1:o + 17].tolist()
    assert not torch.equal(a.get("train", 6)[0], x)
    assert not torch.equal(a.get("val", 5)[0], x)
    assert not torch.equal(BatchSampler(s, 16, 4, seed=10).get("train", 5)[0], x)
    assert int(a.get("val", 0)[1].max()) < tok.vocab_size


def test_batch_sampler_rejects_short_split(corpus, tok, tmp_path):
    prepare_shards(corpus, tok, tmp_path / "s", val_fraction=0.01, seed=1)
    s = open_shards(tmp_path / "s", tok)
    with pytest.raises(TinyGPTError, match="fewer than one window"):
        BatchSampler(s, block_size=len(s.val), batch_size=2)


# ------------------------------------------------------------------------------------------------
# real data


def test_real_tinystories_shards(tinystories, tmp_path):
    tok = train_tokenizer(TokenizerConfig(vocab_size=1024, train_bytes=800_000), tinystories)
    out = shards_dir(tmp_path, tok)
    seen = []
    meta = prepare_shards(tinystories, tok, out, val_fraction=0.05, seed=1337,
                          progress=lambda d, t: seen.append((d, t)))
    size = tinystories.stat().st_size
    assert seen[-1] == (size, size)
    assert meta["train_documents"] + meta["val_documents"] == 3998
    # document bytes + one separator line per document = the file
    assert meta["train_bytes"] + meta["val_bytes"] + 3998 * len(f"\n{EOT}\n") == size
    s = open_shards(out, tok)
    val_docs = split_docs(tok, s.val)
    assert len(val_docs) == meta["val_documents"]
    assert sum(len(d.encode()) for d in val_docs) == meta["val_bytes"]
    # bytes per token is what a 1024-token BPE gives on children's stories (3-4)
    assert 3.0 < meta["train_bytes"] / (meta["train_tokens"] - meta["train_documents"]) < 4.5
    json.dumps(meta)
    x, y = BatchSampler(s, 64, 8, seed=1).get("train", 0)
    assert x.shape == (8, 64)


def test_invalid_utf8_counts_replacement_bytes(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"ab\xffc\n" + EOT.encode() + b"\nplain text here\n" + EOT.encode() + b"\n")
    docs = [d for d, _, _ in iter_documents(corpus)]
    assert docs == ["ab\ufffdc", "plain text here"]
    tok = CharTokenizer(sorted(set("".join(docs))))
    meta = prepare_shards(corpus, tok, tmp_path / "s", val_fraction=0.4, seed=0)
    # the shards hold U+FFFD (3 bytes in UTF-8), so the byte counts follow the text, not the file
    assert meta["train_bytes"] + meta["val_bytes"] == len("ab\ufffdc".encode()) + len("plain text here")
