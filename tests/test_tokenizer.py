"""Tests for tokenizer.py: the three kinds, inspection helpers, training, persistence, statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import write_corpus

from tinygpt_tui import tokenizer as tk
from tinygpt_tui.config import EOT, TinyGPTError, TokenizerConfig
from tinygpt_tui.corpus import iter_documents, sample_documents
from tinygpt_tui.tokenizer import (
    BPETokenizer,
    CharTokenizer,
    bytes_to_piece,
    gpt2_tokenizer,
    load_tokenizer,
    piece_to_bytes,
)
from tinygpt_tui.tokenizer_training import train_tokenizer
from tinygpt_tui.vocab import vocab_stats

DOCS = [
    "Once upon a time, a little cat sat on a soft mat.",
    "The cat was happy. It purred and purred!",
    "Café au lait, naïve résumé — and an emoji 🙂 too.",
    "Tom said, \"Let's play!\" They played all day in the sun.\nThe end.",
    "Numbers: 12 345 6789; tabs\tand  double  spaces.",
] * 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt", DOCS)


@pytest.fixture(scope="module")
def bpe(corpus) -> BPETokenizer:
    cfg = TokenizerConfig(kind="bpe", vocab_size=400, min_frequency=2,
                          special_tokens=[EOT, "<|im_start|>", "<|im_end|>"])
    tok = train_tokenizer(cfg, corpus)
    assert isinstance(tok, BPETokenizer)
    return tok


@pytest.fixture(scope="module")
def char(corpus) -> CharTokenizer:
    tok = train_tokenizer(TokenizerConfig(kind="char"), corpus)
    assert isinstance(tok, CharTokenizer)
    return tok


SAMPLES = ["hello soft world", "Café naïve 🙂🙂 — ok", "  leading and trailing  \n\n", "", "a<|endoftext|>b"]


# ------------------------------------------------------------------------------------------------
# byte-level helpers


def test_piece_mapping_matches_gpt2_convention():
    assert bytes_to_piece(b" soft") == "Ġsoft"
    assert bytes_to_piece(b"\n") == "Ċ"
    assert bytes_to_piece(b"\t") == "ĉ"
    all_bytes = bytes(range(256))
    assert piece_to_bytes(bytes_to_piece(all_bytes)) == all_bytes
    assert len(set(bytes_to_piece(all_bytes))) == 256
    for not_a_piece in (" soft", "x\n", "日本"):
        with pytest.raises(KeyError):
            piece_to_bytes(not_a_piece)


# ------------------------------------------------------------------------------------------------
# BPE


def test_bpe_layout_and_round_trip(bpe):
    assert bpe.kind == "bpe"
    assert bpe.special_tokens == {EOT: 0, "<|im_start|>": 1, "<|im_end|>": 2}
    assert bpe.eot_id == 0
    assert 256 + 3 < bpe.vocab_size <= 400
    for text in SAMPLES:
        assert bpe.decode(bpe.encode(text)) == text


def test_bpe_learns_merges_and_recognises_specials(bpe):
    ids = bpe.encode(" cat")
    assert len(ids) == 1 and bpe.token_bytes(ids[0]) == b" cat" and bpe.piece(ids[0]) == "Ġcat"
    ids = bpe.encode("<|im_start|>hi<|im_end|><|endoftext|>")
    assert ids[0] == 1 and ids[-2:] == [2, 0]
    assert bpe.piece(1) == "<|im_start|>" and bpe.is_special(1)


def test_bpe_matches_hf_encoder(bpe):
    hf = bpe.hf_tokenizer()
    for text in SAMPLES + DOCS[:5]:
        assert bpe.encode(text) == hf.encode(text).ids, text


def test_token_bytes_piece_hex_consistent(bpe, char):
    for tok in (bpe, char):
        for i in range(tok.vocab_size):
            data = tok.token_bytes(i)
            assert tok.hex(i) == " ".join(f"{b:02x}" for b in data)
            if not tok.is_special(i) and tok.kind == "bpe":
                assert piece_to_bytes(tok.piece(i)) == data
        with pytest.raises(TinyGPTError, match="outside this vocabulary"):
            tok.token_bytes(tok.vocab_size)
        for bad in ([tok.vocab_size], [0, -1]):
            with pytest.raises(TinyGPTError, match="outside this vocabulary"):
                tok.decode(bad)


def test_lone_surrogate_does_not_crash(bpe):
    assert bpe.decode(bpe.encode("a\ud800b")) == "a\ufffdb"


def test_byte_lengths_add_up(bpe, char):
    for tok in (bpe, char):
        lengths = tok.byte_lengths()
        assert lengths.shape == (tok.vocab_size,)
        assert all(lengths[i] == 1 for i in tok.special_tokens.values())
        text = DOCS[2] + DOCS[3]
        assert int(lengths[tok.encode(text)].sum()) == len(text.encode("utf-8"))


def test_encode_batch_and_documents_match_encode(bpe, char):
    for tok in (bpe, char):
        assert tok.encode_batch(DOCS[:5]) == [tok.encode(d) for d in DOCS[:5]]
        joined = tok.encode_documents(DOCS[:7])
        expected = [i for d in DOCS[:7] for i in [*tok.encode(d), tok.eot_id]]
        assert joined.tolist() == expected


def test_save_load_keeps_fingerprint(bpe, char, tmp_path):
    for tok in (bpe, char):
        path = tok.save(tmp_path / f"{tok.kind}.json")
        again = load_tokenizer(path)
        assert type(again) is type(tok)
        assert again.fingerprint() == tok.fingerprint()
        assert again.encode(DOCS[2]) == tok.encode(DOCS[2])
    assert bpe.fingerprint() != char.fingerprint()
    # the BPE file is a regular HF tokenizer.json
    assert json.loads((tmp_path / "bpe.json").read_text())["model"]["type"] == "BPE"


def test_last_partial_batch_is_trained_on(tmp_path):
    # 9 ordinary documents and, last, one with a word found nowhere else. With 4 documents per batch the
    # last batch holds 2 documents: if it were dropped, ' zyzzyva' could never become a token.
    docs = ["the cat sat on the mat and the dog sat on the log"] * 8 + ["zyzzyva " * 50]
    corpus = write_corpus(tmp_path / "c.txt", docs)
    tok = train_tokenizer(TokenizerConfig(vocab_size=600, min_frequency=2), corpus, batch_docs=4)
    assert len(tok.encode(" zyzzyva")) == 1


def test_progress_reaches_total(corpus):
    seen: list[tuple[int, int | None]] = []
    train_tokenizer(TokenizerConfig(vocab_size=300), corpus, batch_docs=5,
                    progress=lambda done, total: seen.append((done, total)))
    size = corpus.stat().st_size
    assert len(seen) > 2
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("exc", [RuntimeError("stop"), KeyboardInterrupt()])
def test_interrupted_training_writes_nothing(corpus, tmp_path, exc):
    out = tmp_path / "tok.json"
    out.write_text("previous tokenizer")

    def progress(done, total):
        raise exc

    with pytest.raises(type(exc)):
        train_tokenizer(TokenizerConfig(vocab_size=300), corpus, progress=progress, batch_docs=5, out=out)
    assert out.read_text() == "previous tokenizer"
    assert [p.name for p in tmp_path.iterdir()] == ["tok.json"]  # no temp file left behind


def test_atomic_save_failure_keeps_old_file(bpe, tmp_path, monkeypatch):
    out = tmp_path / "tok.json"
    out.write_text("old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(tk.os, "replace", boom)
    with pytest.raises(OSError):
        bpe.save(out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tok.json"]


def test_train_bytes_cap_is_deterministic_sample(tmp_path):
    docs = [f"story number {i} about a {['cat', 'dog', 'bird', 'fish'][i % 4]} and a tree." for i in range(3000)]
    corpus = write_corpus(tmp_path / "big.txt", docs)
    cap = corpus.stat().st_size // 4
    totals: set = set()
    cfg = TokenizerConfig(vocab_size=320, train_bytes=cap)
    a = train_tokenizer(cfg, corpus, progress=lambda d, t: totals.add(t))
    b = train_tokenizer(cfg, corpus)
    assert totals == {cap}
    assert a.fingerprint() == b.fingerprint()
    sampled = list(sample_documents(corpus, cap))
    fed = sum(n for _, n in sampled)
    assert 0.9 * cap <= fed <= 1.2 * cap
    texts = [d for d, _ in sampled]
    assert texts[0] == docs[0] and texts[-1] != docs[-1] and set(texts) <= set(docs)
    # windows spread over the whole file, not only its head
    assert max(int(t.split()[2]) for t in texts) > 2700


def test_training_errors(tmp_path):
    with pytest.raises(TinyGPTError, match="does not exist"):
        train_tokenizer(TokenizerConfig(), tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TinyGPTError, match="is empty"):
        train_tokenizer(TokenizerConfig(), tmp_path / "empty.txt")
    (tmp_path / "seps.txt").write_text(f"{EOT}\n\n{EOT}\n")
    for kind in ("bpe", "char"):
        with pytest.raises(TinyGPTError, match="no text"):
            train_tokenizer(TokenizerConfig(kind=kind), tmp_path / "seps.txt")
    with pytest.raises(TinyGPTError, match="smaller than the 256-byte alphabet"):
        TokenizerConfig(vocab_size=200)


def test_load_errors(tmp_path):
    with pytest.raises(TinyGPTError, match="no tokenizer file"):
        load_tokenizer(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"type": "BPE", "vocab": {')
    with pytest.raises(TinyGPTError, match="corrupt"):
        load_tokenizer(bad)
    bad.write_text('{"kind": "sentencepiece"}')
    with pytest.raises(TinyGPTError, match="unknown tokenizer kind"):
        load_tokenizer(bad)
    bad.write_text('{"model": {"type": "WordPiece", "vocab": {}}}')
    with pytest.raises(TinyGPTError, match="not a BPE"):
        load_tokenizer(bad)
    bad.write_text('{"kind": "char", "chars": "abc"}')
    with pytest.raises(TinyGPTError, match="characters"):
        load_tokenizer(bad)


# ------------------------------------------------------------------------------------------------
# char


def test_char_tokenizer(char):
    assert char.kind == "char" and char.eot_id == 0
    assert char.chars == sorted(set("".join(DOCS)))
    assert char.vocab_size == len(char.chars) + 1
    for text in ["Café 🙂", "The cat.\n", "a<|endoftext|>b"]:
        assert char.decode(char.encode(text)) == text
    space = char.encode(" ")[0]
    assert char.piece(space) == "Ġ" and char.piece(char.encode("\n")[0]) == "Ċ"
    assert char.piece(char.encode("é")[0]) == "é" and char.hex(char.encode("é")[0]) == "c3 a9"


def test_char_unknown_character(char):
    assert char.can_encode("The cat") is None
    assert char.can_encode("The zebra ✓") == "z"
    with pytest.raises(TinyGPTError, match=r"'z' \(U\+007A\) is not in this character-level vocabulary") as e:
        char.encode("The zebra")
    assert "bpe or gpt2" in e.value.hint


# ------------------------------------------------------------------------------------------------
# GPT-2


def test_gpt2(gpt2_cache):
    tok = gpt2_tokenizer()
    assert tok.kind == "gpt2" and tok.vocab_size == 50257 and tok.eot_id == 50256
    assert tok.encode("hello soft") == [31373, 2705]
    assert tok.piece(2705) == "Ġsoft" and tok.hex(31373) == "68 65 6c 6c 6f"
    assert tok.encode("a<|endoftext|>") == [64, 50256]
    for text in SAMPLES:
        assert tok.decode(tok.encode(text)) == text
    extra = gpt2_tokenizer([EOT, "<|im_start|>"])
    assert extra.special_tokens["<|im_start|>"] == 50257 and extra.vocab_size == 50258
    assert extra.encode("<|im_start|>hello") == [50257, 31373]
    assert extra.fingerprint() != tok.fingerprint()


def test_gpt2_without_network_or_cache(monkeypatch):
    import tiktoken

    def offline(name):
        raise ConnectionError("no route to host")

    tk._gpt2_base.cache_clear()
    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    try:
        with pytest.raises(TinyGPTError, match="GPT-2 vocabulary could not be loaded") as e:
            gpt2_tokenizer()
        assert "TIKTOKEN_CACHE_DIR" in e.value.hint
    finally:
        tk._gpt2_base.cache_clear()


# ------------------------------------------------------------------------------------------------
# real data


def test_real_tinystories_bpe(tinystories, tmp_path):
    cfg = TokenizerConfig(vocab_size=1024, train_bytes=1_000_000, special_tokens=[EOT, "<|im_start|>"])
    tok = train_tokenizer(cfg, tinystories, out=tmp_path / "tok.json")
    assert tok.vocab_size == 1024
    assert len(tok.encode(" Once upon a time")) <= 5
    # the tiktoken-served encoder must give exactly the ids of the HF tokenizer it was built from
    docs = [d for d, _, _ in iter_documents(tinystories)][:1500]
    ours = tok.encode_batch(docs)
    theirs = [e.ids for e in tok.hf_tokenizer().encode_batch(docs)]
    mismatched = sum(a != b for a, b in zip(ours, theirs, strict=True))
    assert mismatched == 0
    assert all(tok.decode(ids) == d for ids, d in zip(ours[:200], docs, strict=False))
    stats = vocab_stats(tok)
    assert sum(stats["length_histogram"].values()) == 1024 - 2
    assert np.isclose(stats["mean_token_bytes"], tok.byte_lengths()[2:].mean())


def _encode_in_a_child(path, timeout: float = 60.0) -> str:
    """Load and encode in a child process, so a hang fails the test instead of stalling the suite."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom tinygpt_tui.tokenizer import load_tokenizer\nfrom tinygpt_tui.config import TinyGPTError\n"
            "try:\n    load_tokenizer(sys.argv[1]).encode('hello world')\n    print('encoded')\n"
            "except TinyGPTError as e:\n    print('refused', e.message)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    return out.stdout + out.stderr


def test_an_empty_special_token_in_a_bpe_file_is_refused_not_a_hang(bpe, tmp_path):
    """Issue 15 item 6: an empty special token made tiktoken's encoder loop forever."""
    data = json.loads(bpe.to_json())
    data["added_tokens"].append({"id": bpe.vocab_size, "content": "", "special": True})
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data))
    assert _encode_in_a_child(path).startswith("refused")
    gpt2 = tmp_path / "gpt2.json"
    gpt2.write_text(json.dumps({"kind": "gpt2", "special_tokens": ["<|endoftext|>", ""]}))
    assert _encode_in_a_child(gpt2).startswith("refused")


@pytest.mark.parametrize("pre", [3, "ByteLevel", [1]])
def test_a_non_dict_pre_tokenizer_is_one_sentence(bpe, pre):
    """Issue 15 item 6: a non-dict pre_tokenizer was an AttributeError."""
    data = json.loads(bpe.to_json())
    data["pre_tokenizer"] = pre
    with pytest.raises(TinyGPTError, match="pre-tokenizer"):
        BPETokenizer(json.dumps(data))


@pytest.fixture
def small_gpt2(tmp_path, monkeypatch):
    """A stand-in for tiktoken's gpt2 encoding built here (no shared data folder, no network): a
    tiktoken-format ranks file with GPT-2's 256 byte tokens and a few merges, GPT-2's split pattern,
    and <|endoftext|> after the last rank, as in GPT-2."""
    import base64

    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    merges = [b"he", b"ll", b"hell", b"hello", b" s", b"of", b" sof", b" soft"]
    ranks = [bytes([b]) for b in range(256)] + merges
    path = tmp_path / "gpt2-small.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {i}\n" for i, t in enumerate(ranks)))
    pat = (r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    enc = tiktoken.Encoding("gpt2", pat_str=pat, mergeable_ranks=load_tiktoken_bpe(str(path)),
                            special_tokens={EOT: len(ranks)})
    tk._gpt2_base.cache_clear()
    monkeypatch.setattr(tk, "_gpt2_base", lambda: enc)
    return len(ranks)


def test_the_gpt2_tokenizer_without_the_shared_data_folder(small_gpt2, capsys):
    from tinygpt_tui.cli import main

    eot = small_gpt2
    tok = gpt2_tokenizer()
    assert tok.kind == "gpt2" and tok.vocab_size == eot + 1 and tok.eot_id == eot
    hello, soft = 256 + 3, 256 + 7
    assert tok.encode("hello soft") == [hello, soft]
    assert tok.piece(soft) == "Ġsoft" and tok.hex(hello) == "68 65 6c 6c 6f"
    assert tok.encode("a<|endoftext|>") == [ord("a"), eot]
    for text in SAMPLES:
        assert tok.decode(tok.encode(text)) == text
    extra = gpt2_tokenizer([EOT, "<|im_start|>"])
    assert extra.special_tokens["<|im_start|>"] == eot + 1 and extra.vocab_size == eot + 2
    assert extra.encode("<|im_start|>hello") == [eot + 1, hello]
    assert extra.fingerprint() != tok.fingerprint()
    # `tinygpt tokenize` uses it by default
    assert main(["tokenize", "hello soft", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokenizer"]["kind"] == "gpt2" and [t["id"] for t in data["tokens"]] == [hello, soft]
    assert data["boundaries"] == "[hello][ soft]" and data["pieces"] == "hello Ġsoft"
