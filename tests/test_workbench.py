"""workbench.py: the facade every face uses (runs, loading, generation, scoring, vocabulary, training)."""

from __future__ import annotations

import os
import threading

import pytest

from tinygpt_tui.config import SamplingConfig, TinyGPTError
from tinygpt_tui.workbench import Workbench
from tinygpt_tui.workspace import Workspace


@pytest.fixture
def workbench(runs_home, workspace) -> Workbench:
    """A workbench over ``home`` with the runs 'fixture' (trained) and 'fresh' (config only)."""
    return Workbench(workspace)


def test_the_fixture_runs_best_loss_is_the_best_of_its_own_metrics(workbench, runs_home):
    """A bug reading the best loss from the wrong source (the last evaluation, the weights' header)
    cannot pass: the fixture's figures agree with each other and differ from the wrong sources."""
    from tinygpt_tui import runs

    run = runs_home / "models" / "fixture"
    evals = [e for e in runs.read_metrics(run)[0] if e["event"] == "eval"]
    best = min(evals, key=lambda e: e["val_loss"])
    listed = workbench.list_runs()[0]
    assert listed.best_val_loss == best["val_loss"] and listed.best_val_bpb == best["val_bpb"]
    assert runs.state_summary(run)["best_step"] == best["step"]
    assert best["val_loss"] != evals[0]["val_loss"]  # the first evaluation is not the best


def test_list_and_load(workbench):
    names = [r.name for r in workbench.list_runs()]
    assert names == ["fixture", "fresh"]
    fixture = workbench.list_runs()[0]
    assert fixture.step == 50 and fixture.best_val_loss == pytest.approx(1.735)
    assert workbench.has_weights("fixture") and not workbench.has_weights("fresh")
    with pytest.raises(TinyGPTError, match="no trained weights"):
        workbench.load("fresh")
    with pytest.raises(TinyGPTError, match="no run named 'nope'"):
        workbench.load("nope")
    with pytest.raises(TinyGPTError, match="No model is loaded"):
        _ = workbench.model
    workbench.load("fixture")
    assert workbench.loaded and workbench.run_name == "fixture" and workbench.tokenizer.kind == "char"


def test_generate_is_seeded_and_streams_every_sample(workbench):
    workbench.load("fixture")
    params = SamplingConfig(seed=5, max_new_tokens=12, num_samples=2)
    first = list(workbench.generate("Once upon", params))
    again = list(workbench.generate("Once upon", params))
    assert [(r.sample, r.id) for r in first] == [(r.sample, r.id) for r in again]
    assert {r.sample for r in first} == {0, 1}
    assert all(0 < r.prob <= 1 and len(r.alternatives) == params.alternatives for r in first)


def test_generate_stops_when_cancelled(workbench):
    workbench.load("fixture")
    cancel = threading.Event()
    out = []
    for record in workbench.generate("Once", SamplingConfig(seed=1, max_new_tokens=200, stop=[]), cancel):
        out.append(record)
        if len(out) == 3:
            cancel.set()
    assert len(out) == 3


def test_score_breakdown_and_vocab(workbench):
    workbench.load("fixture")
    result = workbench.score("The fox ran.")
    assert result.tokens == len("The fox ran.") and result.bits_per_byte > 0
    rows = workbench.breakdown("fox")
    assert [r["text"] for r in rows] == ["f", "o", "x"]
    vocab = workbench.vocab_rows()
    assert len(vocab) == workbench.tokenizer.vocab_size
    assert vocab[0][1] == "<|endoftext|>"
    # the byte count beside the hex is the count of the bytes the hex shows, specials included
    assert all(length == len(bytes.fromhex(hx)) for _, _, hx, length, *_ in vocab)
    assert vocab[0][3] == len(b"<|endoftext|>")
    assert workbench.vocab_stats()["vocab_size"] == workbench.tokenizer.vocab_size


def test_unencodable_prompt_is_a_clear_error(workbench):
    workbench.load("fixture")
    with pytest.raises(TinyGPTError, match="cannot represent"):
        list(workbench.generate("zebra ☃", SamplingConfig(seed=1, max_new_tokens=3)))


def test_the_workbench_holds_its_workspace_and_writes_no_environment(runs_home, tmp_path, monkeypatch):
    monkeypatch.delenv("TINYGPT_MODELS", raising=False)
    elsewhere = Workspace(tmp_path / "elsewhere" / "models", tmp_path / "elsewhere" / "data")
    bench = Workbench(elsewhere)
    assert "TINYGPT_MODELS" not in os.environ and bench.models_dir == elsewhere.models.resolve()
    assert bench.list_runs() == [] and bench.run_names() == set()
    # the runs of home are not seen through another workspace
    assert Workbench(Workspace(runs_home / "models", runs_home / "data")).run_names() == {"fixture", "fresh"}


def test_default_run_is_the_newest_with_weights(workbench, workspace):
    assert workbench.default_run() == "fixture"
    empty = Workbench(Workspace(workspace.models / "none", workspace.data))
    with pytest.raises(TinyGPTError, match="There are no runs") as e:
        empty.default_run()
    assert "tinygpt train --run quick --preset tiny" in e.value.hint


def test_dataset_and_tokenizer_paths_say_what_is_missing(workbench, workspace):
    assert workbench.run_tokenizer_path("fixture") == workspace.models / "fixture" / "tokenizer.json"
    with pytest.raises(TinyGPTError, match="no tokenizer yet"):
        workbench.run_tokenizer_path("fresh")
    with pytest.raises(TinyGPTError, match="no run named 'nope'"):
        workbench.run_tokenizer_path("nope")
    with pytest.raises(TinyGPTError, match="no dataset named 'nope'"):
        workbench.dataset_dir("nope")
    (workspace.data / "mine").mkdir()
    assert workbench.dataset_dir("mine") == workspace.data / "mine"
    workbench.load("fixture")
    assert workbench.run_shards("fixture", workbench.tokenizer) is None  # never trained on shards here
    assert workbench.shards_path() is None


def test_start_training_unknown_run(workbench):
    with pytest.raises(TinyGPTError, match="no run named"):
        workbench.start_training("ghost")


def test_attention_goes_through_the_loaded_model(workbench):
    workbench.load("fixture")
    ids = workbench.prompt_ids("Once upon")
    maps = workbench.attention(ids)
    assert maps.ids == ids and maps.n_layer == workbench.config.model.n_layer


def test_extend_run_gives_a_finished_run_more_steps_or_time(workbench, workspace):
    """/continue and --more: N more steps from the checkpoint's step, or more time from its elapsed
    time; alone, the preset's budget again. A bad amount is one sentence."""
    from tinygpt_tui import runs
    from tinygpt_tui.config import TinyGPTError
    from tinygpt_tui.presets import PRESETS
    from tinygpt_tui.units import parse_budget

    assert workbench.extend_run("fixture", steps=30) == "30 more steps"
    tc = workbench.run_config("fixture").train
    assert tc.max_steps == 50 + 30 and tc.max_time is None  # the fixture's checkpoint is at step 50
    assert workbench.extend_run("fixture", seconds=120) == "2m00s more"
    assert workbench.run_config("fixture").train.max_time == 10.0 + 120  # its checkpoint trained 10 s
    workbench.extend_run("fixture", steps=5)
    workbench.extend_run("fixture")  # a step budget: the preset's steps again, from the checkpoint
    assert workbench.run_config("fixture").train.max_steps == 50 + PRESETS["micro"]["train"]["max_steps"]
    with pytest.raises(TinyGPTError):
        workbench.extend_run("fixture", steps=0)
    assert runs.load_run_config(workspace.models / "fixture").model.vocab_size > 0  # the rest is kept
    assert parse_budget("500") == (500, None) and parse_budget("2m") == (None, 120.0)
    assert parse_budget("90 s") == (None, 90.0) and parse_budget("1,000 steps") == (1000, None)
    with pytest.raises(ValueError):
        parse_budget("soon")


def test_a_process_that_said_done_is_not_active_training(workbench, monkeypatch):
    """Stale state: a process that sent its done event is only exiting; it is not 'training' (the
    quit dialog, the status line) even while its helpers wind down."""
    from tinygpt_tui import events as ev
    from tinygpt_tui.supervise import TrainingProcess

    proc = TrainingProcess.__new__(TrainingProcess)
    proc.run, proc.state = "fixture", ev.TrainingState(run="fixture", status="training")
    monkeypatch.setattr(TrainingProcess, "alive", property(lambda self: True))
    workbench.training["fixture"] = proc
    assert workbench.active_training() == [proc]
    proc.state = ev.reduce(proc.state, ev.Done(step=5, reason="finished"))
    assert workbench.active_training() == [] and not proc.running


def test_a_run_left_training_by_another_process_can_be_stopped(workbench, workspace):
    """Issue 15 item 11: a run a closed app or REPL left training could not be stopped from a new one."""
    import json
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tinygpt_tui import runs
    from tinygpt_tui.atomic import process_start

    run = workspace.models / "fixture"
    code = ("import signal, sys, time; from pathlib import Path; from tinygpt_tui import runs\n"
            "got = []\nsignal.signal(signal.SIGINT, lambda *a: got.append(1))\n"
            "runs.acquire_lock(Path(sys.argv[1])); print('locked', flush=True)\n"
            "end = time.time() + 30\nwhile not got and time.time() < end: time.sleep(0.02)\n"
            "runs.release_lock(Path(sys.argv[1])); print('saved and stopped' if got else 'timeout', flush=True)\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    trainer = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        assert trainer.stdout.readline().strip() == "locked"
        assert workbench.is_training("fixture") and workbench.training_pid("fixture") == trainer.pid
        # a lock whose start time is not its process's (a reused pid) is never signalled
        body = (run / runs.LOCK).read_text()
        (run / runs.LOCK).write_text(json.dumps({**json.loads(body), "proc_start": process_start(trainer.pid) + 1}))
        assert workbench.stop_training("fixture") is False
        (run / runs.LOCK).write_text(body)
        assert workbench.stop_training("fixture") is True
        assert trainer.communicate(timeout=30)[0].strip() == "saved and stopped"
    finally:
        if trainer.poll() is None:
            os.killpg(trainer.pid, signal.SIGKILL)
    assert not workbench.is_training("fixture")
    assert workbench.stop_training("fixture") is False


def test_token_frequencies_count_the_shard_in_chunks(workbench, monkeypatch, tmp_path):
    """Issue 15 item 11: the vocabulary screen bincounted the whole train shard as one int64 copy."""
    import numpy as np

    from tinygpt_tui import shards, vocab

    workbench.load("fixture")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The fox ran to the den. The cat sat on the mat.\n<|endoftext|>\n" * 40, encoding="utf-8")
    sdir = tmp_path / "shards"
    shards.prepare_shards(corpus, workbench.tokenizer, sdir, 0.1, 1)
    monkeypatch.setattr(workbench, "shards_path", lambda: sdir)
    sizes: list[int] = []
    real_count, real_bincount = vocab.count_tokens, np.bincount
    monkeypatch.setattr(vocab, "count_tokens", lambda data, n, chunk=1 << 24: real_count(data, n, chunk=64))
    monkeypatch.setattr(np, "bincount", lambda x, *a, **k: (sizes.append(len(x)), real_bincount(x, *a, **k))[1])
    counts = workbench.token_frequencies()
    monkeypatch.undo()
    train_ids = np.asarray(shards.open_shards(sdir, workbench.tokenizer).train)
    assert counts is not None and int(counts.sum()) == len(train_ids) > 64
    assert (counts == np.bincount(train_ids, minlength=len(counts))).all()
    assert sizes and max(sizes) <= 64  # never the whole shard at once


def test_rename_keeps_a_loaded_run_loaded_under_its_new_name(workbench):
    workbench.load("fixture")
    workbench.rename_run("fixture", "fox")
    assert workbench.run_name == "fox" and workbench.run_names() == {"fox", "fresh"}
    assert workbench.run_config("fox").name == "fox"
    workbench.load("fox")  # its weights, tokenizer and state moved with it
    assert workbench.loaded


def test_delete_refuses_the_loaded_run_then_deletes_another(workbench):
    workbench.load("fixture")
    with pytest.raises(TinyGPTError, match="is loaded for generation") as e:
        workbench.delete_run("fixture")
    assert "/load" in e.value.hint
    size = workbench.run_footprint("fresh")
    assert workbench.delete_run("fresh") == size and size.files == 1
    assert workbench.run_names() == {"fixture"}


def test_save_table_writes_metrics_tokens_and_samples(workbench, runs_home):
    import csv

    from tinygpt_tui import runs

    events = runs.read_metrics(runs_home / "models" / "fixture")[0]
    path, n = workbench.save_table("metrics", runs_home / "m.csv", run="fixture")
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    measured = [e for e in events if e["event"] in ("step", "eval")]
    assert n == len(back) == len(measured) and [r["step"] for r in back] == [str(e["step"]) for e in measured]
    with pytest.raises(TinyGPTError, match="no metrics yet"):
        workbench.save_table("metrics", runs_home / "m2.csv", run="fresh")
    with pytest.raises(TinyGPTError, match="no generation to save tokens of"):
        workbench.save_table("tokens", runs_home / "t.json", records=[])
    workbench.load("fixture")
    recs = list(workbench.generate("Once", SamplingConfig(seed=1, max_new_tokens=6, num_samples=2)))
    path, n = workbench.save_table("tokens", runs_home / "t.json", records=recs)
    import json

    assert n == len(recs) and [r["id"] for r in json.loads(path.read_text())] == [r.id for r in recs]
    path, n = workbench.save_table("samples", runs_home / "s.json", prompt="Once", records=recs)
    assert n == 2 and json.loads(path.read_text())[1]["text"] == "".join(r.text for r in recs if r.sample == 1)
