"""corpus_build.py: an interrupted corpus preparation resumes where it stopped and ends byte-identical.

Streamed sources are a local JSONL file read by ``datasets`` in streaming mode (``hf:FILE?streaming=1``),
so nothing here needs a network; interruptions are an exception from the source's rows, Ctrl-C from
the progress callback, and (slow) a real ``kill -9`` of a preparing process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinygpt_tui import corpora, corpus_build, sources
from tinygpt_tui.config import DataConfig, TinyGPTError

sys.path.insert(0, str(Path(__file__).parent))
from textdata import write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _rows(n: int) -> list[dict]:
    return [{"text": f"Story {i}. " + "Once upon a time a small fox looked for the moon. " * (1 + i % 5)}
            for i in range(n)]


@pytest.fixture
def jsonl(tmp_path) -> Path:
    return write_jsonl(tmp_path / "stories.jsonl", _rows(3000))


@pytest.fixture(autouse=True)
def small_checkpoints(monkeypatch):
    """Checkpoints every 50 documents, so an interruption lands between two of them."""
    monkeypatch.setattr(corpus_build, "CHECKPOINT_DOCUMENTS", 50)


class Failing:
    """Makes the next read of an ``hf:`` source fail after ``after`` rows, as a dropped network would."""

    def __init__(self, monkeypatch, after: int, error: BaseException | None = None):
        self.after = after
        self.error = error or TinyGPTError("The Hugging Face hub could not be reached while reading.", "retry")
        self.armed = True
        real = sources.HFSource._documents_from

        def documents_from(source, skip, stream=None):
            it = real(source, skip, stream)
            if not self.armed:
                yield from it
                return
            self.armed = False
            for i, row in enumerate(it):
                if i == self.after:
                    raise self.error
                yield row

        monkeypatch.setattr(sources.HFSource, "_documents_from", documents_from)


def _reference(tmp_path: Path, cfg: DataConfig) -> corpora.PrepareResult:
    return corpora.prepare(tmp_path / "reference", cfg)


def test_a_streamed_preparation_cut_by_a_network_error_resumes_byte_identical(home, tmp_path, jsonl, monkeypatch):
    cfg = DataConfig(source=f"hf:{jsonl}?streaming=1", dataset="streamed")
    ref = _reference(tmp_path, cfg)
    Failing(monkeypatch, after=1234)
    notices: list[str] = []
    with pytest.raises(TinyGPTError, match="could not be reached"):
        corpora.prepare(home / "data", cfg, notice=notices.append)
    folder = home / "data" / "streamed"
    record = json.loads((folder / corpus_build.RECORD).read_text())
    assert record["documents"] == 1234  # everything whole before the error was kept
    assert (folder / corpus_build.PARTIAL).stat().st_size == record["bytes"]
    assert not (folder / "corpus.txt").exists() and not (folder / "source.json").exists()
    assert notices == []

    calls = []
    again = corpora.prepare(home / "data", cfg, lambda d, t: calls.append(d), notice=notices.append)
    assert notices == [f"resuming the corpus at {corpus_build.describe(1234, record['bytes'])}"]
    assert calls[0] == record["bytes"]  # the progress starts where the corpus stopped
    assert again.info["resumed_from"] == {"documents": 1234, "bytes": record["bytes"]}
    assert (folder / "corpus.txt").read_bytes() == (ref.path / "corpus.txt").read_bytes()
    assert again.info["sha256"] == ref.info["sha256"] and again.info["documents"] == ref.info["documents"] == 3000
    assert not (folder / corpus_build.PARTIAL).exists() and not (folder / corpus_build.RECORD).exists()
    assert corpora.prepare(home / "data", cfg).reused


def test_ctrl_c_keeps_what_was_written_and_a_kill_leftover_is_cut_off(home, tmp_path, jsonl):
    cfg = DataConfig(source=f"hf:{jsonl}?streaming=1&sample=0.7", dataset="s", max_bytes=150_000)
    ref = _reference(tmp_path, cfg)

    def ctrl_c(done, total):
        if done > 60_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        corpora.prepare(home / "data", cfg, ctrl_c)
    folder = home / "data" / "s"
    record = json.loads((folder / corpus_build.RECORD).read_text())
    assert record["bytes"] > 60_000
    # what a kill -9 between two checkpoints leaves: bytes past the record, half a document
    with open(folder / corpus_build.PARTIAL, "ab") as f:
        f.write(b"Story 99999. Once upon a ti")
    again = corpora.prepare(home / "data", cfg)
    assert (folder / "corpus.txt").read_bytes() == (ref.path / "corpus.txt").read_bytes()
    assert again.info["capped"] and again.info["sha256"] == ref.info["sha256"]


def test_a_mixture_resumes_with_the_same_shares(home, tmp_path, jsonl, monkeypatch):
    cfg = DataConfig(source=f"0.6*storybook + 0.4*hf:{jsonl}?streaming=1", dataset="mix", max_bytes=300_000)
    ref = _reference(tmp_path, cfg)
    Failing(monkeypatch, after=300)
    with pytest.raises(TinyGPTError):
        corpora.prepare(home / "data", cfg)
    again = corpora.prepare(home / "data", cfg)
    assert again.info["resumed_from"]["documents"] > 300
    assert (home / "data" / "mix" / "corpus.txt").read_bytes() == (ref.path / "corpus.txt").read_bytes()
    assert again.info["parts"] == ref.info["parts"]


def test_a_local_file_resumes_by_count(home, tmp_path, jsonl):
    cfg = DataConfig(source=str(jsonl), dataset="local")
    ref = _reference(tmp_path, cfg)
    stop = [True]

    def once(done, total):
        if stop[0] and done > 100_000:
            stop[0] = False
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        corpora.prepare(home / "data", cfg, once)
    again = corpora.prepare(home / "data", cfg)
    assert again.info["resumed_from"]["bytes"] > 100_000
    assert (home / "data" / "local" / "corpus.txt").read_bytes() == (ref.path / "corpus.txt").read_bytes()


def test_a_partial_corpus_is_never_taken_for_a_finished_one(home, jsonl, monkeypatch):
    cfg = DataConfig(source=f"hf:{jsonl}?streaming=1", dataset="half")
    Failing(monkeypatch, after=700)
    with pytest.raises(TinyGPTError):
        corpora.prepare(home / "data", cfg)
    assert corpora.corpus_state(home / "data", cfg) == ("missing", None)
    listed = [d for d in corpora.list_datasets(home / "data") if d["name"] == "half"]
    assert listed and listed[0]["complete"] is False and listed[0]["partial"]["documents"] == 700
    info = corpora.dataset_info(home / "data", "half")
    assert info["complete"] is False and info["partial"]["documents"] == 700
    assert not Path(info["corpus"]).exists()  # nothing a tokenizer or shards could pick up as corpus.txt


@pytest.mark.parametrize("change", ["source", "max_bytes", "input"])
def test_a_changed_source_starts_over_and_says_so(home, tmp_path, jsonl, change):
    local = change == "input"  # an edited local file: the same spec, other input stamps
    cfg = DataConfig(source=str(jsonl) if local else f"hf:{jsonl}?streaming=1", dataset="c", max_bytes=200_000)
    with pytest.raises(KeyboardInterrupt):
        corpora.prepare(home / "data", cfg, _interrupt_after(50_000))
    assert corpus_build.partial_progress(home / "data" / "c")["documents"] > 0
    if change == "source":
        cfg = DataConfig(source=f"hf:{jsonl}?streaming=1&sample=0.5", dataset="c", max_bytes=200_000)
    elif change == "max_bytes":
        cfg = DataConfig(source=f"hf:{jsonl}?streaming=1", dataset="c", max_bytes=180_000)
    else:
        write_jsonl(jsonl, _rows(2999))
    ref = _reference(tmp_path, cfg)
    notices: list[str] = []
    again = corpora.prepare(home / "data", cfg, notice=notices.append)
    assert len(notices) == 1 and "not resumed" in notices[0] and notices[0].endswith("starting over")
    assert "resumed_from" not in again.info
    assert (home / "data" / "c" / "corpus.txt").read_bytes() == (ref.path / "corpus.txt").read_bytes()


def _interrupt_after(n: int):
    def report(done, total):
        if done > n:
            raise KeyboardInterrupt
    return report


def test_a_record_longer_than_its_file_starts_over(home, jsonl, monkeypatch):
    cfg = DataConfig(source=f"hf:{jsonl}?streaming=1", dataset="short")
    Failing(monkeypatch, after=500)
    with pytest.raises(TinyGPTError):
        corpora.prepare(home / "data", cfg)
    partial = home / "data" / "short" / corpus_build.PARTIAL
    with open(partial, "r+b") as f:
        f.truncate(1000)
    notices: list[str] = []
    again = corpora.prepare(home / "data", cfg, notice=notices.append)
    assert "shorter than its progress record" in notices[0]
    assert again.info["documents"] == 3000 and "resumed_from" not in again.info


def test_a_source_failing_at_once_leaves_no_folder(home, jsonl, monkeypatch):
    Failing(monkeypatch, after=0)
    with pytest.raises(TinyGPTError):
        corpora.prepare(home / "data", DataConfig(source=f"hf:{jsonl}?streaming=1", dataset="none"))
    assert not (home / "data" / "none").exists()


# --------------------------------------------------------------------------------------------------
# a real kill -9

_SLOW_PREPARE = """
import sys, time
from tinygpt_tui import corpora, corpus_build, sources
from tinygpt_tui.config import DataConfig
corpus_build.CHECKPOINT_DOCUMENTS = 40
real = sources.HFSource._documents_from
def slow(source, skip, stream=None):
    for row in real(source, skip, stream):
        time.sleep(0.002)
        yield row
sources.HFSource._documents_from = slow
corpora.prepare(sys.argv[1], DataConfig(source=sys.argv[2], dataset="killed"))
"""


@pytest.mark.slow
def test_kill_9_mid_way_resumes_byte_identical(home, tmp_path, jsonl):
    spec = f"hf:{jsonl}?streaming=1"
    cfg = DataConfig(source=spec, dataset="killed")
    ref = _reference(tmp_path, cfg)
    folder = home / "data" / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for round_ in range(2):  # killed twice at different places, then finished
        proc = subprocess.Popen([sys.executable, "-c", _SLOW_PREPARE, str(home / "data"), spec], env=env)
        try:
            deadline = time.monotonic() + 120
            want = 400 * (round_ + 1)
            while time.monotonic() < deadline and proc.poll() is None:
                record = corpus_build.partial_progress(folder)
                if record and record["documents"] >= want:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the preparation ended before it could be killed"
            time.sleep(0.037 * (round_ + 1))  # land between two checkpoints
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(30)
        assert not (folder / "source.json").exists() and not (folder / "corpus.txt").exists()
        assert corpora.list_datasets(home / "data")[0]["complete"] is False
    notices: list[str] = []
    again = corpora.prepare(home / "data", cfg, notice=notices.append)
    assert notices and notices[0].startswith("resuming the corpus at ")
    assert again.info["resumed_from"]["documents"] >= 800
    assert (folder / "corpus.txt").read_bytes() == (ref.path / "corpus.txt").read_bytes()


def test_a_second_preparer_of_one_dataset_waits_for_the_first(home, jsonl):
    import threading

    cfg = DataConfig(source=f"hf:{jsonl}?streaming=1", dataset="shared")
    folder = home / "data" / "shared"
    folder.mkdir()
    notices: list[str] = []
    results: list[corpora.PrepareResult] = []
    with corpus_build.preparing(folder):  # another process's preparation, as far as the lock goes
        worker = threading.Thread(target=lambda: results.append(corpora.prepare(home / "data", cfg,
                                                                                notice=notices.append)))
        worker.start()
        deadline = time.monotonic() + 60
        while not notices and time.monotonic() < deadline:
            time.sleep(0.05)
        assert notices == ["another process is preparing shared; waiting for it to finish"]
        assert not results
    worker.join(60)
    assert results and results[0].info["documents"] == 3000
