"""Sources: spec grammar, every kind of source (local files, Hugging Face datasets, storybook), mixtures, sampling."""

from __future__ import annotations

import itertools
import sys  # noqa: E402
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tinygpt_tui import sources
from tinygpt_tui.config import EOT, TinyGPTError
from tinygpt_tui.sources import open_source

sys.path.insert(0, str(Path(__file__).parent))
from textdata import docs, read_corpus, write_jsonl  # noqa: E402, F401

# --------------------------------------------------------------------------------------------------
# storybook and spec grammar

def test_storybook_seed_from_spec_and_from_caller():
    assert docs("storybook", 5, 3) == docs("storybook", 5, 3)
    assert docs("storybook", 5, 3) != docs("storybook", 6, 3)
    # ?seed= wins over the caller's seed
    assert docs("storybook?seed=9", 5, 3) == docs("storybook?seed=9", 6, 3) == docs("storybook", 9, 3)
    assert not open_source("storybook").finite
    assert "seed 1337" in open_source("storybook").describe()


def test_max_stories_option():
    assert len(docs("storybook?max_stories=7")) == 7


@pytest.mark.parametrize("spec,fragment", [
    ("nonsense", "Unknown data source"),
    ("storybook?colour=red", "not an option"),
    ("storybook?seed", "not NAME=VALUE"),
    ("storybook?seed=abc", "not a whole number"),
    ("storybook?sample=0", "out of range"),
    ("storybook?sample=1.5", "out of range"),
    ("storybook?sample=nan", "not a finite number"),
    ("storybook?max_stories=0", "keeps no documents"),
    ("storybook?max_stories=-3", "keeps no documents"),
    ("hf:", "names no dataset"),
    ("hf:x?streaming=maybe", "not yes or no"),
    ("0*storybook + 1*storybook", "must be a positive number"),
    ("-0.5*storybook + 1*storybook", "must be a positive number"),
    ("abc*storybook + 0.5*storybook", "is not a weight"),
    ("inf*storybook + 0.5*storybook", "must be a positive number"),
    ("0.5*storybook + ", "empty term"),
    ("missing/file.txt", "does not exist"),
    ("./nowhere", "does not exist"),
    ("", "empty"),
])
def test_bad_specs_say_one_clear_sentence(spec, fragment):
    with pytest.raises(TinyGPTError) as e:
        docs(spec, n=1)
    assert fragment in e.value.message
    assert e.value.hint


# --------------------------------------------------------------------------------------------------
# local files

def test_txt_with_markers_anywhere_and_crlf(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"First story.\r\nSecond line.\r\n<|endoftext|>\r\nTwo<|endoftext|>Three\n\n<|endoftext|>\n\n"
                  b"<|endoftext|>\nFour has\n\nparagraphs.\n")
    assert docs(str(f)) == ["First story.\nSecond line.", "Two", "Three", "Four has\n\nparagraphs."]


def test_txt_without_markers_splits_on_blank_lines(tmp_path):
    f = tmp_path / "b.txt"
    f.write_text("\n\nOne a.\nOne b.\n\n\n  \nTwo.\n\nThree.", encoding="utf-8")
    assert docs(str(f)) == ["One a.\nOne b.", "Two.", "Three."]


def test_txt_not_utf8(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"hello\n\xff\xfe\x00 world\n")
    with pytest.raises(TinyGPTError, match="not UTF-8"):
        docs(str(f))


def test_jsonl_detects_the_text_column_and_takes_an_override(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "title": "T1", "story": "S1"},
                                           {"id": 2, "title": "T2", "story": "S2"}, {"id": 3, "story": None}])
    assert docs(str(f)) == ["S1", "S2"]
    assert docs(f"{f}?column=title") == ["T1", "T2"]
    g = write_jsonl(tmp_path / "b.jsonl", [{"n": 1, "body": "first string column"}])
    assert docs(str(g)) == ["first string column"]


@pytest.mark.parametrize("lines,fragment", [
    (['{"n": 1, "m": 2}'], "has no text field"),
    (['{"text": "ok"}', "{not json"], "Line 2"),
    (['["a list"]'], "not a JSON object"),
])
def test_jsonl_bad_input(tmp_path, lines, fragment):
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TinyGPTError, match=fragment):
        docs(str(f))


def test_jsonl_missing_named_column(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}])
    with pytest.raises(TinyGPTError, match="no field 'body'"):
        docs(f"{f}?column=body")


def test_parquet_in_batches_with_column_detection(tmp_path):
    n = 2500  # more than one batch of 1024
    pq.write_table(pa.table({"id": list(range(n)), "content": [f"doc {i}" for i in range(n)],
                             "label": ["x"] * n}), tmp_path / "a.parquet", row_group_size=700)
    got = docs(str(tmp_path / "a.parquet"))
    assert got == [f"doc {i}" for i in range(n)]
    assert docs(f"{tmp_path / 'a.parquet'}?column=label", n=2) == ["x", "x"]
    with pytest.raises(TinyGPTError, match="no column 'nope'"):
        docs(f"{tmp_path / 'a.parquet'}?column=nope")
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "numbers.parquet")
    with pytest.raises(TinyGPTError, match="no text column"):
        docs(str(tmp_path / "numbers.parquet"))


def test_corrupt_and_truncated_parquet(tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"this is not parquet at all")
    with pytest.raises(TinyGPTError, match="not a readable Parquet file"):
        docs(str(tmp_path / "junk.parquet"))
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": [f"story {i}" for i in range(5000)]}), good)
    data = good.read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(TinyGPTError, match="Parquet"):
        docs(str(tmp_path / "cut.parquet"))


def test_folder_is_read_recursively_in_sorted_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.txt").write_text("from a", encoding="utf-8")
    write_jsonl(tmp_path / "b" / "c.jsonl", [{"text": "from c"}])
    pq.write_table(pa.table({"text": ["from b1"]}), tmp_path / "b" / "b1.parquet")
    (tmp_path / ".hidden" / "z.txt").write_text("hidden", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    assert docs(str(tmp_path)) == ["from a", "from b1", "from c"]
    assert "3 files" in open_source(str(tmp_path)).describe()


def test_empty_folder_and_unsupported_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TinyGPTError, match="has no .txt"):
        open_source(str(tmp_path / "empty"))
    (tmp_path / "x.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(TinyGPTError, match="is not a .txt, .jsonl or .parquet file"):
        open_source(str(tmp_path / "x.csv"))


def test_documents_are_cleaned(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"text": "  a<|endoftext|>b \r\n"}, {"text": "   "}, {"text": ""}])
    assert docs(str(f)) == ["ab"]


def test_real_tinystories_sample(tinystories):
    got = docs(str(tinystories))
    assert len(got) == 3998
    assert got[0].startswith("Lily was a princess who loved to jump.")
    assert all(d and EOT not in d for d in got)
    # the sample is already in corpus format, so writing it back gives the same bytes
    assert "".join(d + f"\n{EOT}\n" for d in got).encode() == tinystories.read_bytes()


# --------------------------------------------------------------------------------------------------
# sampling and mixtures

def test_sample_keeps_a_deterministic_fraction(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"text": f"doc {i}"} for i in range(2000)])
    a = docs(f"{f}?sample=0.1")
    assert 140 <= len(a) <= 260
    assert a == docs(f"{f}?sample=0.1")
    assert a != docs(f"{f}?sample=0.1", seed=2)
    # a seed in the spec wins over the caller's
    assert docs(f"{f}?sample=0.1&seed=3", seed=3) == docs(f"{f}?sample=0.1&seed=3", seed=4)
    assert set(a) <= {f"doc {i}" for i in range(2000)}


def test_mixture_byte_shares_follow_the_weights():
    src = open_source("0.7*storybook + 0.3*storybook?seed=99", 1)
    assert isinstance(src, sources.MixtureSource)
    assert [w for w, _ in src.parts] == pytest.approx([0.7, 0.3])
    counts = [0, 0]
    for part, doc in itertools.islice(src.iter_tagged(), 3000):
        counts[part] += len(doc.encode()) + len(f"\n{EOT}\n")
    assert counts[0] / sum(counts) == pytest.approx(0.7, abs=0.005)
    assert docs("0.7*storybook + 0.3*storybook?seed=99", 1, 50) == docs("0.7*storybook + 0.3*storybook?seed=99", 1, 50)


def test_mixture_weights_are_normalised_and_default_to_one():
    src = open_source("storybook + 3*storybook?seed=4")
    assert [w for w, _ in src.parts] == pytest.approx([0.25, 0.75])


def test_mixture_stops_when_a_finite_part_runs_out(tmp_path):
    f = write_jsonl(tmp_path / "w.jsonl", [{"text": "wiki " * 40} for _ in range(10)])
    src = open_source(f"0.5*storybook + 0.5*{f}")
    assert src.finite
    tagged = list(src.iter_tagged())
    assert sum(1 for p, _ in tagged if p == 1) == 10
    # it stopped right after the finite part was exhausted, not at an arbitrary point
    assert tagged[-1][0] in (0, 1) and len(tagged) < 40


# --------------------------------------------------------------------------------------------------
# Hugging Face datasets

def test_hub_unreachable_fails_fast_with_a_hint(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    # Point the hub at an address that refuses connections at once, so the test behaves the same
    # with or without internet access.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    for spec in ("tinystories", "hf:roneneldan/TinyStories?split=validation"):
        with pytest.raises(TinyGPTError) as e:
            docs(spec, n=1)
        assert "Hugging Face hub" in e.value.message and "could not be reached" in e.value.message
        assert "--source storybook" in e.value.hint
    assert time.perf_counter() - start < 20


def test_real_hub_lookup_fails_fast_here_when_offline(monkeypatch):
    """The real endpoint: on this offline machine it fails in seconds, not after minutes of retries."""
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    try:
        first = docs("tinystories", n=1)
    except TinyGPTError as e:
        assert "could not be reached" in e.message
        assert time.perf_counter() - start < 20
    else:  # pragma: no cover - only where the hub is reachable
        assert first and isinstance(first[0], str)


def test_hf_local_parquet_folder_streaming(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "story": ["one", "two"]}), folder / "a.parquet")
    pq.write_table(pa.table({"id": [3], "story": ["three"]}), folder / "b.parquet")
    assert sorted(docs(f"hf:{folder}?streaming=1")) == ["one", "three", "two"]
    with pytest.raises(TinyGPTError, match="no column 'body'"):
        docs(f"hf:{folder}?streaming=1&column=body")


def test_hf_local_jsonl_file(tmp_path):
    f = write_jsonl(tmp_path / "x.jsonl", [{"meta": 1, "text": "alpha"}, {"meta": 2, "text": "beta"}])
    assert docs(f"hf:{f}?streaming=1") == ["alpha", "beta"]


def test_hf_save_to_disk_dataset_and_dict(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    datasets.Dataset.from_dict({"n": [1, 2], "content": ["first", "second"]}).save_to_disk(str(tmp_path / "one"))
    assert docs(f"hf:{tmp_path / 'one'}") == ["first", "second"]
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["t"]}),
                          "validation": datasets.Dataset.from_dict({"text": ["v"]})}).save_to_disk(
        str(tmp_path / "dd"))
    assert docs(f"hf:{tmp_path / 'dd'}") == ["t"]
    assert docs(f"hf:{tmp_path / 'dd'}?split=validation") == ["v"]
    with pytest.raises(TinyGPTError, match="no split 'test'"):
        docs(f"hf:{tmp_path / 'dd'}?split=test")
    datasets.Dataset.from_dict({"n": [1]}).save_to_disk(str(tmp_path / "nums"))
    with pytest.raises(TinyGPTError, match="no text column"):
        docs(f"hf:{tmp_path / 'nums'}")


def test_a_file_name_with_plus_and_star_is_not_a_mixture(tmp_path):
    f = tmp_path / "a+b*c.txt"
    f.write_text("one\n\ntwo\n", encoding="utf-8")
    assert docs(str(f)) == ["one", "two"]
    assert docs(f"{f}?max_stories=1") == ["one"]


def test_offline_mode_without_a_cached_copy(tmp_path):
    """HF_HUB_OFFLINE=1 is read when datasets is imported, so this runs in a fresh process."""
    import os
    import subprocess
    import sys

    code = ("from tinygpt_tui.sources import open_source\n"
            "from tinygpt_tui.config import TinyGPTError\n"
            "try:\n    next(open_source('tinystories').iter_documents())\n"
            "except TinyGPTError as e:\n    print(e.message)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent)
    assert "not in the local Hugging Face cache" in out.stdout, out.stderr[-2000:]
    assert time.perf_counter() - start < 30


def test_dependency_minimums_exclude_known_vulnerable_versions():
    """Issue 15 item 12: pyarrow 14.0.0 unpickles Parquet extension metadata (CVE-2023-47248);
    datasets before 2.20 runs a hub dataset's loading script by default."""
    import re
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    floors = {}
    for spec in deps["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+).*", spec)
        if m:
            floors[m.group(1).lower()] = tuple(int(x) for x in m.group(2).split("."))
    assert floors["pyarrow"] >= (14, 0, 1)
    assert floors["datasets"] >= (2, 20)
