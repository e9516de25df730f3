"""The engine facade: form validation, loading, generation, scoring, and training in its own process."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from tinygpt_tui import events as ev
from tinygpt_tui.config import SamplingConfig, TinyGPTError, preset_config
from tinygpt_tui.engine import Engine, MetricsFollower, RunForm, run_config_from_form, validate_run_form

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import TEXT, make_run  # noqa: E402


# -- the new-run form ----------------------------------------------------------------------------
def test_form_defaults_are_valid_and_build_a_config():
    form = RunForm(name="a1", source="storybook", tokenizer="bpe", vocab_size="", preset="tiny", steps="")
    assert validate_run_form(form) == {}
    cfg = run_config_from_form(form)
    assert cfg.name == "a1" and cfg.preset == "tiny" and cfg.tokenizer.vocab_size == 2048


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"name": "bad name!"}, "name", "letters, digits"),
        ({"name": ""}, "name", "letters, digits"),
        ({"source": "  "}, "source", "empty"),
        ({"vocab_size": "100"}, "vocab_size", "smaller than the 256-byte alphabet"),
        ({"vocab_size": "abc"}, "vocab_size", "not a whole number"),
        ({"steps": "0"}, "steps", "positive whole number"),
        ({"steps": "ten"}, "steps", "positive whole number"),
        ({"preset": "huge"}, "preset", "Unknown preset"),
    ],
)
def test_form_reports_one_sentence_per_bad_field(changes, field, words):
    form = RunForm(**{**RunForm().__dict__, "name": "ok", **changes})
    errors = validate_run_form(form)
    assert field in errors and words in errors[field]
    with pytest.raises(TinyGPTError):
        run_config_from_form(form)


def test_form_flags_an_existing_name_and_ignores_vocab_for_char():
    assert "already exists" in validate_run_form(RunForm(name="quick"), existing={"quick"})["name"]
    # a small vocabulary only matters for BPE
    assert validate_run_form(RunForm(name="c", tokenizer="char", vocab_size="10")) == {}


def test_form_short_run_gets_a_schedule_that_fits():
    cfg = run_config_from_form(RunForm(name="s", preset="small", steps="40"))
    assert cfg.train.max_steps == 40
    assert cfg.train.eval_interval <= 40 and cfg.train.warmup_steps < 40


# -- a loaded run ------------------------------------------------------------------------------------
@pytest.fixture
def engine(home) -> Engine:
    make_run(home / "models")
    make_run(home / "models", "fresh", trained=False, mtime=1_600_000_000)
    return Engine()


def test_list_and_load(engine):
    names = [r.name for r in engine.list_runs()]
    assert names == ["fixture", "fresh"]
    fixture = engine.list_runs()[0]
    assert fixture.step == 50 and fixture.best_val_loss == pytest.approx(1.6701)
    assert engine.has_weights("fixture") and not engine.has_weights("fresh")
    with pytest.raises(TinyGPTError, match="no trained weights"):
        engine.load("fresh")
    with pytest.raises(TinyGPTError, match="no run named 'nope'"):
        engine.load("nope")
    with pytest.raises(TinyGPTError, match="No model is loaded"):
        _ = engine.model
    engine.load("fixture")
    assert engine.loaded and engine.run_name == "fixture" and engine.tokenizer.kind == "char"


def test_generate_is_seeded_and_streams_every_sample(engine):
    engine.load("fixture")
    params = SamplingConfig(seed=5, max_new_tokens=12, num_samples=2)
    first = list(engine.generate("Once upon", params))
    again = list(engine.generate("Once upon", params))
    assert [(r.sample, r.id) for r in first] == [(r.sample, r.id) for r in again]
    assert {r.sample for r in first} == {0, 1}
    assert all(0 < r.prob <= 1 and len(r.alternatives) == params.alternatives for r in first)


def test_generate_stops_when_cancelled(engine):
    engine.load("fixture")
    cancel = threading.Event()
    out = []
    for record in engine.generate("Once", SamplingConfig(seed=1, max_new_tokens=200, stop=[]), cancel):
        out.append(record)
        if len(out) == 3:
            cancel.set()
    assert len(out) == 3


def test_score_breakdown_and_vocab(engine):
    engine.load("fixture")
    result = engine.score("The fox ran.")
    assert result.tokens == len("The fox ran.") and result.bits_per_byte > 0
    rows = engine.breakdown("fox")
    assert [r["text"] for r in rows] == ["f", "o", "x"]
    vocab = engine.vocab_rows()
    assert len(vocab) == engine.tokenizer.vocab_size
    assert vocab[0][1] == "<|endoftext|>"
    assert engine.vocab_stats()["vocab_size"] == engine.tokenizer.vocab_size


def test_unencodable_prompt_is_a_clear_error(engine):
    engine.load("fixture")
    with pytest.raises(TinyGPTError, match="cannot represent"):
        list(engine.generate("zebra ☃", SamplingConfig(seed=1, max_new_tokens=3)))


# -- following metrics.jsonl -------------------------------------------------------------------
def test_follower_reads_history_then_new_lines_until_done(engine, home):
    follower = MetricsFollower("fixture", poll=0.02)
    history = list(follower.events(follow=False))
    assert isinstance(history[0], ev.Stage) and isinstance(history[-1], ev.Done)

    path = home / "models" / "fixture" / "metrics.jsonl"
    follower = engine.attach("fixture", since_offset=path.stat().st_size)
    # pretend another process holds the lock while it appends
    (home / "models" / "fixture" / "train.lock").write_text(json.dumps({"pid": __import__("os").getpid()}))

    def writer():
        with open(path, "a") as f:
            for step in (60, 70):
                time.sleep(0.05)
                f.write(ev.Step(step=step, loss=1.0, lr=1e-3, tokens_per_s=1.0, mfu=None, elapsed_s=1.0, eta_s=None,
                                grad_norm=None, tokens=step, threads=1).to_json() + "\n")
                f.flush()
            f.write(json.dumps({"event": "step", "step": 71}) + "\n")  # damaged: read, said, not fatal
            f.write(ev.Done(step=70, reason="finished", message="trained 70 steps").to_json() + "\n")

    threading.Thread(target=writer).start()
    got = [type(e).__name__ for e in follower.events()]
    assert got == ["Step", "Step", "EventError", "Done"]


def test_follower_ends_when_the_trainer_vanished(engine):
    follower = MetricsFollower("fresh", poll=0.02)
    start = time.monotonic()
    assert list(follower.events()) == []
    assert time.monotonic() - start < 5


# -- training in a separate process -----------------------------------------------------------
def _micro_run(engine: Engine, name: str, steps: int) -> None:
    corpus = Path("corpus.txt")
    corpus.write_text((TEXT + "<|endoftext|>\n") * 40, encoding="utf-8")
    cfg = preset_config("micro", name, {"data": {"source": str(corpus.resolve())}, "tokenizer": {"kind": "char"},
                                         "train": {"max_steps": steps, "eval_interval": 5, "log_interval": 1,
                                                   "warmup_steps": 1, "eval_iters": 1}})
    engine.create_run(cfg)


@pytest.mark.slow
def test_training_process_runs_stops_with_a_checkpoint_and_resumes(engine):
    _micro_run(engine, "proc", steps=400)
    proc = engine.start_training("proc")
    # starting a run this engine already trains returns the same process
    assert engine.start_training("proc") is proc
    kinds = []
    for event in proc.events(timeout=120):
        kinds.append(event.kind)
        if isinstance(event, ev.Step) and event.step >= 6:
            proc.stop()
    assert proc.wait(timeout=60) == 0
    assert "stage" in kinds and "start" in kinds and "checkpoint" in kinds
    assert kinds[-1] == "done"
    # the process folds what it read: the state every face renders
    assert proc.state.status == "done" and proc.state.reason == "interrupted" and proc.state.resumable
    step = proc.state.step
    assert engine.has_weights("proc") and not engine.is_training("proc")

    # resume: the new process starts where the first stopped
    proc2 = engine.start_training("proc")
    for event in proc2.events(timeout=120):
        if isinstance(event, ev.Start):
            assert event.resumed is True and event.step == step
            proc2.stop()
    assert proc2.wait(timeout=60) == 0


def test_a_process_that_dies_silently_yields_an_error_event(engine):
    proc = engine.start_training("fresh", extra_args=["--no-such-option"])
    events = list(proc.events(timeout=60))
    assert isinstance(events[-1], ev.Error)
    assert "exited with code 2" in events[-1].message
    assert "no-such-option" in events[-1].hint
    assert proc.state.status == "error" and proc.state.error == events[-1].message


def test_start_training_unknown_run(engine):
    with pytest.raises(TinyGPTError, match="no run named"):
        engine.start_training("ghost")


def test_attention_rows_are_causal_distributions(engine):
    import numpy as np

    engine.load("fixture")
    ids = engine.prompt_ids("Once upon a time")
    maps = engine.attention(ids)
    cfg = engine.config.model
    n = len(ids)
    assert maps.weights.shape == (cfg.n_layer, cfg.n_head, n, n)
    assert maps.ids == ids and maps.cropped == 0
    assert "".join(maps.labels) == "Once upon a time"
    np.testing.assert_allclose(maps.weights.sum(axis=-1), 1.0, atol=1e-5)
    future = np.triu(np.ones((n, n), dtype=bool), k=1)  # key after query
    assert np.all(maps.weights[..., future] == 0.0)
    # the first position can only look at itself
    np.testing.assert_allclose(maps.weights[:, :, 0, 0], 1.0, atol=1e-6)


def test_attention_crops_to_the_context_window(engine):
    engine.load("fixture")
    block = engine.config.model.block_size
    ids = engine.prompt_ids("Once upon a time " * 4)[: block + 5]
    maps = engine.attention(ids)
    assert maps.cropped == 5 and maps.ids == ids[5:]
    assert maps.weights.shape[-1] == block
    with pytest.raises(TinyGPTError):
        engine.attention([])
