"""prepare.py: corpus -> tokenizer -> shards for a run, with stage and progress events and stop requests."""

from __future__ import annotations

import threading

import pytest

from tinygpt_tui import events, runs
from tinygpt_tui import prepare as prepare_module
from tinygpt_tui.prepare import Interrupted, prepare_data, progress_reporter
from tinygpt_tui.presets import preset_config


def test_progress_is_throttled_ends_full_and_stops_when_asked():
    out: list[events.Event] = []
    stop = threading.Event()
    report = progress_reporter("shards", out.append, stop)
    for done in range(1, 100):
        report(done, 100)  # a burst inside the interval: only the first goes out
    report(100, 100)  # the end always goes out, so a bar ends full
    assert [(e.stage, e.done, e.total) for e in out] == [("shards", 1, 100), ("shards", 100, 100)]
    stop.set()
    with pytest.raises(Interrupted):
        report(5)


def test_prepare_data_builds_then_reuses_tokenizer_and_shards(home, write_stories):
    corpus = write_stories(3, 200)
    cfg = preset_config("micro", "p", {"data": {"source": str(corpus)}, "tokenizer": {"kind": "char"}})
    runs.create_run(home / "models", cfg)
    out: list[events.Event] = []
    tok, shard_set = prepare_data(home / "models" / "p", home / "data", cfg, None, resumed=False, emit=out.append, stop=threading.Event())
    stages = [e.stage for e in out if isinstance(e, events.Stage)]
    assert stages == ["corpus", "tokenizer", "shards"]
    assert (runs.run_dir(home / "models", "p") / runs.TOKENIZER).is_file()
    assert runs.load_run_config(home / "models" / "p").model.vocab_size == tok.vocab_size  # the config follows the tokenizer
    assert len(shard_set.train) > 0 and len(shard_set.val) > 0

    again: list[events.Event] = []
    tok2, shards2 = prepare_data(home / "models" / "p", home / "data", cfg, tok, resumed=True, emit=again.append, stop=threading.Event())
    assert tok2 is tok and [e.stage for e in again if isinstance(e, events.Stage)] == ["corpus", "shards"]
    assert shards2.path == shard_set.path and len(shards2.train) == len(shard_set.train)


def test_a_stop_during_preparation_interrupts_it(home, write_stories):
    corpus = write_stories(4, 200)
    cfg = preset_config("micro", "s", {"data": {"source": str(corpus)}, "tokenizer": {"kind": "char"}})
    runs.create_run(home / "models", cfg)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):
        prepare_data(home / "models" / "s", home / "data", cfg, None, resumed=False, emit=lambda e: None, stop=stop)
    assert not (runs.run_dir(home / "models", "s") / runs.TOKENIZER).exists()


def test_a_corpus_stopped_mid_way_is_resumed_by_the_next_preparation(home, monkeypatch):
    # every report emits (no throttling): the built-in stories are written so fast that a throttled
    # reporter may say nothing between the start and the end, and no stop is ever asked for
    monkeypatch.setattr(prepare_module, "PROGRESS_INTERVAL", 0.0)
    cfg = preset_config("micro", "r", {"data": {"source": "storybook", "max_bytes": 3_000_000},
                                       "tokenizer": {"kind": "char"}})
    runs.create_run(home / "models", cfg)
    stop = threading.Event()

    def emit(event):  # a stop asked for (s in the app, Ctrl-C) once the corpus is under way
        if isinstance(event, events.Progress) and event.stage == "corpus" and event.done > 0:
            stop.set()

    with pytest.raises(Interrupted):
        prepare_data(home / "models" / "r", home / "data", cfg, None, resumed=False, emit=emit, stop=stop)
    folder = home / "data" / "storybook-3mb"
    assert not (folder / "corpus.txt").exists() and (folder / "corpus.txt.partial").stat().st_size > 0
    out: list[events.Event] = []
    prepare_data(home / "models" / "r", home / "data", cfg, None, resumed=False, emit=out.append,
                 stop=threading.Event())
    messages = [e.message for e in out if isinstance(e, events.Stage) and e.stage == "corpus"]
    assert messages[0] == "preparing the corpus from storybook"
    assert messages[1].startswith("resuming the corpus at ") and messages[1].endswith(" MB")
    assert (folder / "source.json").is_file() and not (folder / "corpus.txt.partial").exists()
