"""reading.py: a source's documents from a saved position are exactly those an uninterrupted read gives."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from tinygpt_tui.sources import open_source

sys.path.insert(0, str(Path(__file__).parent))
from textdata import write_jsonl  # noqa: E402


def _rows(n: int) -> list[dict]:
    # some rows are blank or not text: they count as read but give no document
    rows = []
    for i in range(n):
        if i % 11 == 5:
            rows.append({"text": "   "})
        elif i % 13 == 7:
            rows.append({"text": None})
        else:
            rows.append({"text": f"Story {i}: a fox met {i % 7} owls and one cat."})
    return rows


@pytest.fixture
def jsonl(tmp_path) -> Path:
    return write_jsonl(tmp_path / "stories.jsonl", _rows(400))


def _resumed_at(spec: str, k: int) -> tuple[list, list]:
    """(all documents read in one go, the first k then the rest read by a new reader from the position)."""
    whole = list(open_source(spec).reader())
    first = open_source(spec).reader()
    head = list(itertools.islice(iter(first), k))
    position = json.loads(json.dumps(first.position()))  # it is saved as JSON
    assert first.handed() == len(head)
    rest = list(open_source(spec).reader(position))
    return whole, head + rest


@pytest.mark.parametrize("spec", [
    "storybook?max_stories=60",
    "{jsonl}",
    "{jsonl}?sample=0.4&seed=3",
    "{jsonl}?max_stories=50",
    "hf:{jsonl}?streaming=1",
    "hf:{jsonl}?streaming=1&sample=0.5",
    "hf:{jsonl}",
    "0.5*storybook + 0.5*{jsonl}",
    "0.3*storybook?sample=0.5 + 0.7*hf:{jsonl}?streaming=1",
])
def test_a_reader_resumed_at_its_position_goes_on_exactly(jsonl, spec):
    spec = spec.format(jsonl=jsonl)
    for k in (0, 1, 17, 45):
        whole, resumed = _resumed_at(spec, k)
        assert len(whole) > 45
        assert resumed == whole, f"resumed at {k}"


def test_documents_are_those_of_iter_documents(jsonl):
    spec = f"0.5*storybook + 0.5*{jsonl}?sample=0.5"
    assert [d for _, d in open_source(spec).reader()] == list(open_source(spec).iter_documents())
    tagged = list(open_source(spec).reader())
    assert {p for p, _ in tagged} == {0, 1}


def test_a_streamed_dataset_resumes_from_its_state_without_reading_finished_files(tmp_path, monkeypatch):
    import datasets

    folder = tmp_path / "shards"
    folder.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"Story {i}: a fox met {i % 7} owls." for i in range(4500)]
    for k in range(3):  # three files (a streamed dataset's shards) of many row groups, as on the hub
        pq.write_table(pa.table({"text": texts[k * 1500:(k + 1) * 1500]}), folder / f"part-{k}.parquet",
                       row_group_size=100)
    spec = f"hf:{folder}?streaming=1"
    first = open_source(spec).reader()
    head = list(itertools.islice(iter(first), 3500))  # into the third file, mid-batch of 1000
    pos = json.loads(json.dumps(first.position()))
    assert pos["stream"]["skip"] == 0 and pos["stream"]["state"] and 0 < pos["stream"]["offset"] < 1000
    skipped, opened = [], []
    real_skip = datasets.IterableDataset.skip
    monkeypatch.setattr(datasets.IterableDataset, "skip", lambda self, n: skipped.append(n) or real_skip(self, n))
    real_open = open

    def spy(file, *args, **kwargs):
        if str(file).endswith(".parquet"):
            opened.append(Path(str(file)).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    whole = list(open_source(spec).reader())
    fresh = opened.count("part-0.parquet")
    opened.clear()
    rest = list(open_source(spec).reader(pos))
    assert skipped == []  # resumed from the saved state, not by skipping rows
    # the first file, long finished, is not read again (the dataset looks at it once when it is
    # opened, for its columns, as a fresh read does)
    assert opened.count("part-0.parquet") == fresh - 1 and opened.count("part-1.parquet") == 1
    assert head + rest == whole


def test_without_a_saved_state_a_streamed_dataset_skips_rows(tmp_path, monkeypatch):
    import datasets

    skipped = []
    real = datasets.IterableDataset.skip

    def skip(self, n):
        skipped.append(n)
        return real(self, n)

    monkeypatch.setattr(datasets.IterableDataset, "skip", skip)
    spec = f"hf:{write_jsonl(tmp_path / 'big.jsonl', _rows(3000))}?streaming=1"
    whole = list(open_source(spec).reader())
    first = open_source(spec).reader()
    head = list(itertools.islice(iter(first), 30))
    pos = first.position()
    assert pos["raw"] > pos["kept"] == 30  # blank and non-text rows were read too
    assert "stream" not in pos  # inside the first batch there is no state yet
    rest = list(open_source(spec).reader(pos))
    assert skipped == [pos["raw"]]
    assert head + rest == whole
    # a read resumed that way saves states over its skip, and resuming from one of them goes on exactly
    second = open_source(spec).reader(pos)
    more = list(itertools.islice(iter(second), 1500))
    pos2 = json.loads(json.dumps(second.position()))
    assert pos2["stream"]["skip"] == pos["raw"]
    skipped.clear()
    assert head + more + list(open_source(spec).reader(pos2)) == whole
    assert skipped == [pos["raw"]]  # the same pipeline under the saved state


def test_max_stories_reached_gives_nothing_more(jsonl):
    spec = f"{jsonl}?max_stories=10"
    first = open_source(spec).reader()
    assert len(list(first)) == 10
    assert list(open_source(spec).reader(first.position())) == []
