"""corpora.py: preparing data/<dataset>/corpus.txt atomically, reusing it, naming, listing and describing it."""

from __future__ import annotations

import hashlib
import json
import sys  # noqa: E402
from pathlib import Path

import pytest

from tinygpt_tui import corpora
from tinygpt_tui.config import EOT, DataConfig, TinyGPTError

sys.path.insert(0, str(Path(__file__).parent))
from textdata import docs, read_corpus, write_jsonl  # noqa: E402, F401

# --------------------------------------------------------------------------------------------------
# prepare_corpus and the data folder

def test_prepare_writes_corpus_and_source_json_then_reuses(home):
    calls = []
    cfg = DataConfig(source="storybook", max_bytes=300_000)
    folder = corpora.prepare_corpus(home / "data", cfg, lambda done, total: calls.append((done, total)))
    assert folder == Path("data") / "storybook-300kb" or folder.resolve() == (home / "data" / "storybook-300kb")
    info = json.loads((folder / "source.json").read_text())
    corpus = (folder / "corpus.txt").read_bytes()
    assert info["complete"] is True and info["bytes"] == len(corpus) <= 300_000
    assert info["sha256"] == hashlib.sha256(corpus).hexdigest()
    assert info["documents"] == len(read_corpus(folder)) and info["capped"] is True
    assert calls[-1] == (len(corpus), 300_000) and calls[0] == (0, 300_000)
    assert not list(folder.glob(".*tmp*"))
    mtime = (folder / "corpus.txt").stat().st_mtime_ns
    reused_calls = []
    again = corpora.prepare(home / "data", cfg, lambda done, total: reused_calls.append((done, total)))
    assert again.reused and (folder / "corpus.txt").stat().st_mtime_ns == mtime
    assert reused_calls == [(len(corpus), len(corpus))]  # a reused corpus reports itself complete
    # the corpus reads back as the same stories
    assert read_corpus(folder) == docs("storybook", 1337, info["documents"])


def test_storybook_default_cap_is_5mb(home):
    result = corpora.prepare(home / "data", DataConfig(source="storybook"))
    assert result.path.name == "storybook"
    assert 4_990_000 <= result.info["bytes"] <= corpora.DEFAULT_INFINITE_BYTES
    assert result.info["max_bytes"] == 5_000_000


def test_prepare_real_tinystories_file(home, tinystories):
    result = corpora.prepare(home / "data", DataConfig(source=str(tinystories)))
    assert result.info["documents"] == 3998
    assert (result.path / "corpus.txt").read_bytes() == tinystories.read_bytes()
    assert result.info["max_bytes"] is None and not result.info["capped"]


def test_mixture_prepare_records_each_part(home, tinystories):
    result = corpora.prepare(home / "data", DataConfig(source=f"0.6*storybook + 0.4*{tinystories}", max_bytes=1_000_000))
    parts = result.info["parts"]
    assert [p["weight"] for p in parts] == pytest.approx([0.6, 0.4])
    assert sum(p["bytes"] for p in parts) == result.info["bytes"]
    assert sum(p["documents"] for p in parts) == result.info["documents"]
    assert parts[0]["share"] == pytest.approx(0.6, abs=0.01)


def test_one_huge_document_is_cut_to_the_cap(home, tmp_path):
    f = tmp_path / "big.txt"
    f.write_text("word " * 5000, encoding="utf-8")
    result = corpora.prepare(home / "data", DataConfig(source=str(f), max_bytes=1000))
    assert result.info["documents"] == 1 and result.info["bytes"] <= 1000
    assert (result.path / "corpus.txt").read_text().endswith(f"word\n{EOT}\n")


def test_a_zero_byte_cap_says_so(home):
    with pytest.raises(TinyGPTError, match="capped at 0 bytes"):
        corpora.prepare(home / "data", DataConfig(source="storybook", max_bytes=0))


def test_interrupted_preparation_never_looks_complete(home):
    cfg = DataConfig(source="storybook", dataset="stories", max_bytes=2_000_000)
    first = corpora.prepare(home / "data", cfg)
    shards = first.path / "shards" / "abc"
    shards.mkdir(parents=True)
    (shards / "meta.json").write_text("{}")

    def explode(done, total):
        if done > 500_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        corpora.prepare(home / "data", DataConfig(source="storybook?seed=2", dataset="stories", max_bytes=2_000_000),
                        explode, replace=True)
    folder = first.path
    assert not (folder / "source.json").exists()
    assert not list(folder.glob(".*tmp*"))
    assert [d["complete"] for d in corpora.list_datasets(home / "data") if d["name"] == "stories"] == [False]
    assert corpora.dataset_info(home / "data", "stories")["complete"] is False
    # the next run does the work again (not reused) and ends complete; stale shards are gone
    again = corpora.prepare(home / "data", DataConfig(source="storybook?seed=2", dataset="stories", max_bytes=2_000_000))
    assert not again.reused and again.info["complete"]
    assert not (folder / "shards").exists()


def test_a_changed_spec_under_the_same_name_rebuilds(home, tmp_path):
    a = corpora.prepare(home / "data", DataConfig(source="storybook", dataset="mine", max_bytes=50_000))
    with pytest.raises(TinyGPTError, match="was prepared from storybook"):  # never silently (issue 15 item 13)
        corpora.prepare(home / "data", DataConfig(source="storybook?seed=3", dataset="mine", max_bytes=50_000))
    assert corpora.dataset_info(home / "data", "mine")["sha256"] == a.info["sha256"]
    b = corpora.prepare(home / "data", DataConfig(source="storybook?seed=3", dataset="mine", max_bytes=50_000),
                        replace=True)
    assert not b.reused and a.info["sha256"] != b.info["sha256"]
    c = corpora.prepare(home / "data", DataConfig(source="storybook?seed=3", dataset="mine", max_bytes=60_000))
    assert not c.reused
    # the seed of the run matters for storybook, so a different seed is a different corpus
    d = corpora.prepare(home / "data", DataConfig(source="storybook", dataset="mine", max_bytes=50_000, seed=1),
                        replace=True)
    e = corpora.prepare(home / "data", DataConfig(source="storybook", dataset="mine", max_bytes=50_000, seed=1))
    assert not d.reused and e.reused


@pytest.mark.parametrize("make", ["empty_txt", "blank_jsonl", "tiny_sample"])
def test_empty_corpus_is_an_error(home, tmp_path, make):
    if make == "empty_txt":
        spec = str(tmp_path / "empty.txt")
        Path(spec).write_text("", encoding="utf-8")
    elif make == "blank_jsonl":
        spec = str(write_jsonl(tmp_path / "blank.jsonl", [{"text": "  "}, {"text": "\n"}]))
    else:
        spec = str(write_jsonl(tmp_path / "two.jsonl", [{"text": "a"}, {"text": "b"}])) + "?sample=0.0001"
    with pytest.raises(TinyGPTError, match="gave no documents"):
        corpora.prepare(home / "data", DataConfig(source=spec, dataset="empty"))
    assert not (home / "data" / "empty").exists()
    assert corpora.list_datasets(home / "data") == []


def test_dataset_names(home, tmp_path):
    assert corpora.dataset_name(DataConfig(source="storybook")) == "storybook"
    assert corpora.dataset_name(DataConfig(source="storybook", seed=7)) == "storybook-s7"
    assert corpora.dataset_name(DataConfig(source="storybook?seed=7", seed=9)) == "storybook-seed-7"
    assert corpora.dataset_name(DataConfig(source="storybook", max_bytes="10MB")) == "storybook-10mb"
    assert corpora.dataset_name(DataConfig(source="tinystories")) == "tinystories"
    assert corpora.dataset_name(DataConfig(source="hf:roneneldan/TinyStories", seed=7)) == "roneneldan-tinystories"
    assert corpora.dataset_name(DataConfig(source="x", dataset="given")) == "given"
    f = tmp_path / "wiki.jsonl"
    write_jsonl(f, [{"text": "x"}])
    name = corpora.dataset_name(DataConfig(source=str(f)))
    assert name.startswith("wiki-jsonl-") and len(name) == len("wiki-jsonl-") + 6
    with pytest.raises(TinyGPTError, match="not a valid dataset name"):
        corpora.dataset_name(DataConfig(source="storybook", dataset="../escape"))


def test_list_and_info(home):
    assert corpora.list_datasets(home / "data") == []
    corpora.prepare(home / "data", DataConfig(source="storybook", max_bytes=20_000))
    listed = corpora.list_datasets(home / "data")
    assert [d["name"] for d in listed] == ["storybook-20kb"]
    assert listed[0]["complete"] and listed[0]["bytes"] <= 20_000 and listed[0]["shards"] == []
    info = corpora.dataset_info(home / "data", "storybook-20kb")
    assert info["spec"] == "storybook" and info["corpus"].endswith("corpus.txt")
    with pytest.raises(TinyGPTError, match="no prepared dataset named 'nope'") as e:
        corpora.dataset_info(home / "data", "nope")
    assert "storybook-20kb" in e.value.hint


def test_an_edited_input_file_makes_the_corpus_stale(home, tmp_path):
    f = write_jsonl(tmp_path / "w.jsonl", [{"text": "first version"}])
    a = corpora.prepare(home / "data", DataConfig(source=str(f)))
    assert corpora.prepare(home / "data", DataConfig(source=str(f))).reused
    write_jsonl(f, [{"text": "second version, longer"}])
    b = corpora.prepare(home / "data", DataConfig(source=str(f)))
    assert not b.reused and b.path == a.path
    assert read_corpus(b.path) == ["second version, longer"]
