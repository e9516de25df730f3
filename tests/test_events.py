"""events.py: every event's JSON round trip, refusing malformed events, and the reducer on a stream."""

from __future__ import annotations

import json
import math

import pytest

from tinygpt_tui import events as ev
from tinygpt_tui.events import EventError, TrainingState, decode, fold, from_json, reduce
from tinygpt_tui.present import ended_sentence

T = 1_700_000_000.0

EXAMPLES = [
    ev.Stage(stage="corpus", message="preparing the corpus from storybook", time=T),
    ev.Progress(stage="corpus", done=100, total=1000, time=T + 1),
    ev.Progress(stage="tokenizer", done=5, time=T + 1.5),
    ev.Start(step=0, max_steps=40, max_time=None, params=120_000, tokens_per_step=512, device="cpu",
             dtype="float32", resumed=False, compile=False, threads=2, peak_flops=5e10, elapsed_s=0.0, time=T + 2),
    ev.Step(step=10, loss=3.5, lr=1e-3, tokens_per_s=2000.0, mfu=0.01, elapsed_s=10.0, eta_s=30.0, grad_norm=1.2,
            tokens=5120, threads=2, time=T + 12),
    ev.Eval(step=20, train_loss=3.0, val_loss=3.1, val_bpb=2.2, best=True, time=T + 23),
    ev.Sample(step=20, text="Once upon a time", time=T + 23.5),
    ev.Story(step=20, tokens=("Once", " upon", "", "é"), bits=(7.25, 0.5, None, 3.0), time=T + 23.7),
    ev.Checkpoint(step=20, path="/m/r", best=True, time=T + 24),
    ev.Done(step=40, reason="interrupted", path="/m/r", resumable=True, time=T + 50),
    ev.Error(message="The loss became nan at step 41.", hint="lower the learning rate", time=T + 51),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_every_event_round_trips_through_json(event):
    line = event.to_json()
    wire = json.loads(line)
    assert wire["event"] == event.kind and wire["v"] == ev.VERSION and wire["time"] == event.time
    assert list(wire)[:3] == ["event", "v", "time"]
    assert from_json(line) == event
    assert decode(wire) == event


def test_wire_keys_are_the_ones_the_faces_read():
    step = EXAMPLES[4].to_dict()
    assert {k: step[k] for k in ("event", "step", "loss", "lr", "tokens_per_s", "mfu", "elapsed_s", "eta_s",
                                 "grad_norm", "tokens", "threads")} == {
        "event": "step", "step": 10, "loss": 3.5, "lr": 1e-3, "tokens_per_s": 2000.0, "mfu": 0.01,
        "elapsed_s": 10.0, "eta_s": 30.0, "grad_norm": 1.2, "tokens": 5120, "threads": 2}
    done = EXAMPLES[9].to_dict()
    assert done["resumable"] is True and done["reason"] == "interrupted" and done["stage"] == "training"
    assert done["path"] == "/m/r" and done["began"] is True
    assert done["message"] == ""  # the core states facts; faces word them (present.ended_sentence)


def test_non_finite_floats_go_out_as_null_and_come_back_as_none():
    step = ev.Step(step=1, loss=math.nan, lr=1e-3, tokens_per_s=1.0, mfu=None, elapsed_s=1.0, eta_s=math.inf,
                   grad_norm=math.nan, tokens=1, threads=1)
    wire = json.loads(step.to_json())  # strict JSON: would fail on NaN
    assert wire["loss"] is None and wire["eta_s"] is None and wire["grad_norm"] is None
    back = decode(wire)
    assert back.loss is None and back.eta_s is None


def test_unknown_kinds_and_keys_are_skipped_and_old_events_without_v_read():
    assert decode({"event": "log", "message": "a stray print", "time": T}) is None
    old = {"event": "sample", "time": T, "step": 3, "text": "hi", "extra": [1, 2]}  # no "v": version 1
    assert decode(old) == ev.Sample(step=3, text="hi", time=T)
    assert decode({"event": "error", "message": "boom"}) == ev.Error(message="boom", hint=None, time=0.0)
    assert decode({"event": "step", "step": 1, "loss": 2, "lr": 1, "tokens_per_s": 1, "mfu": None,
                   "elapsed_s": 1, "eta_s": 1, "grad_norm": 1, "tokens": 1, "threads": 1}).loss == 2.0


@pytest.mark.parametrize("bad,match", [
    ([1, 2], "must be a JSON object"),
    ({"step": 1}, "no 'event' name"),
    ({"event": "sample", "step": 1}, "lacks its 'text'"),
    ({"event": "sample", "step": "1", "text": "x"}, "not a int"),
    ({"event": "eval", "step": 1, "train_loss": 1.0, "val_loss": 1.0, "val_bpb": 1.0, "best": 1}, "not a bool"),
    ({"event": "sample", "v": 99, "step": 1, "text": "x"}, "version 99"),
    ({"event": "story", "step": 1, "tokens": "ab", "bits": [1.0, 2.0]}, "not a list"),
    ({"event": "story", "step": 1, "tokens": ["a", 2], "bits": [1.0, 2.0]}, "not a str"),
    ({"event": "story", "step": 1, "tokens": ["a"], "bits": ["1"]}, "not a float"),
    ({"event": "sample", "v": "1", "step": 1, "text": "x"}, "invalid version"),
])
def test_malformed_events_are_refused_with_a_hint(bad, match):
    with pytest.raises(EventError, match=match) as err:
        decode(bad)
    assert err.value.hint


def test_a_line_that_is_not_json_is_refused():
    with pytest.raises(EventError, match="not JSON"):
        from_json('{"event": "step", "st')


def realistic_stream() -> list[dict]:
    """What train.py emits for a run stopped at step 20 and then resumed to 40 (as metrics.jsonl)."""
    t = T
    stream = [
        {"event": "stage", "time": t, "stage": "corpus", "message": "preparing the corpus from storybook"},
        {"event": "progress", "time": t + 1, "stage": "corpus", "done": 500, "total": 1000},
        {"event": "stage", "time": t + 2, "stage": "tokenizer", "message": "training a bpe tokenizer"},
        {"event": "stage", "time": t + 3, "stage": "shards", "message": "tokenizing the corpus into shards"},
        {"event": "stage", "time": t + 4, "stage": "model", "message": "building the model"},
        {"event": "stage", "time": t + 5, "stage": "training", "message": "training on cpu in float32"},
        {"event": "start", "time": t + 6, "step": 0, "max_steps": 40, "max_time": None, "params": 1000,
         "tokens_per_step": 256, "device": "cpu", "dtype": "float32", "resumed": False, "compile": False,
         "threads": 2, "peak_flops": 1e10, "elapsed_s": 0.0},
    ]
    for step in (10, 20):
        stream.append({"event": "step", "time": t + 6 + step, "step": step, "loss": 4.0 - step / 10, "lr": 1e-3,
                       "tokens_per_s": 256.0, "mfu": 0.02, "elapsed_s": float(step), "eta_s": 40.0 - step,
                       "grad_norm": 1.0, "tokens": 256 * step, "threads": 2})
    stream += [
        {"event": "eval", "time": t + 27, "step": 20, "train_loss": 2.0, "val_loss": 2.1, "val_bpb": 1.5,
         "best": True},
        {"event": "sample", "time": t + 28, "step": 20, "text": "Once upon a time"},
        {"event": "checkpoint", "time": t + 29, "step": 20, "path": "/m/r", "best": True},
        {"event": "done", "v": 1, "time": t + 30, "step": 20, "reason": "interrupted", "resumable": True,
         "stage": "training", "path": "/m/r"},
    ]
    return stream


def test_the_reducer_folds_a_realistic_stream():
    stream = realistic_stream()
    preparing = fold(stream[:2], TrainingState(run="r"))
    assert preparing.run == "r" and preparing.status == "preparing" and preparing.stage == "corpus"
    assert (preparing.progress_done, preparing.progress_total) == (500, 1000)

    training = fold(stream[:8])  # up to the first step event
    assert training.status == "training" and training.progress_done is None
    assert (training.step, training.max_steps, training.loss, training.tokens) == (10, 40, 3.0, 2560)
    assert training.warming_up and training.eta_s is None  # the first reading is start-up time
    second = fold(stream[:9])
    assert not second.warming_up
    assert second.eta_s == pytest.approx(20.0)  # 20 steps left at 1 s/step (20 steps in 20 s)

    stopped = fold(stream)
    assert stopped.status == "done" and stopped.reason == "interrupted" and stopped.resumable
    assert (stopped.best_val_loss, stopped.best_val_bpb, stopped.best_step) == (2.1, 1.5, 20)
    assert stopped.samples == ((20, "Once upon a time"),)
    assert (stopped.checkpoint_step, stopped.checkpoint_path) == (20, "/m/r")
    assert stopped.done is not None and ended_sentence(stopped.done).startswith("stopped at step 20")

    # resumed: a new session clears how the last one ended, keeps the best, measures its own pace
    resumed = fold([
        {"event": "stage", "time": T + 100, "stage": "training", "message": "training on cpu in float32"},
        {"event": "start", "time": T + 101, "step": 20, "max_steps": 40, "max_time": None, "params": 1000,
         "tokens_per_step": 256, "device": "cpu", "dtype": "float32", "resumed": True, "compile": False,
         "threads": 2, "peak_flops": 1e10, "elapsed_s": 20.0},
        {"event": "step", "time": T + 111, "step": 30, "loss": 1.5, "lr": 1e-3, "tokens_per_s": 256.0,
         "mfu": 0.02, "elapsed_s": 40.0, "eta_s": 10.0, "grad_norm": 1.0, "tokens": 7680, "threads": 2},
        {"event": "eval", "time": T + 112, "step": 30, "train_loss": 2.2, "val_loss": 2.3, "val_bpb": 1.6,
         "best": False},
    ], stopped)
    assert resumed.status == "training" and resumed.reason is None and not resumed.resumable and resumed.resumed
    assert resumed.warming_up and resumed.eta_s is None  # its first reading is start-up time
    later = fold([{"event": "step", "time": T + 121, "step": 35, "loss": 1.5, "lr": 1e-3, "tokens_per_s": 256.0,
                   "mfu": 0.02, "elapsed_s": 50.0, "eta_s": 10.0, "grad_norm": 1.0, "tokens": 8960,
                   "threads": 2}], resumed)
    assert later.eta_s == pytest.approx(10.0)  # 5 steps left at this session's 2 s/step
    assert (resumed.val_loss, resumed.best_val_loss) == (2.3, 2.1)  # not better: the best stays

    failed = reduce(resumed, ev.Error(message="The loss became nan.", hint="lower --lr"))
    assert failed.status == "error" and failed.error == "The loss became nan." and failed.hint == "lower --lr"
    assert resumed.status == "training"  # pure: the old state is untouched


def test_time_budget_eta_is_the_budget_left_and_samples_are_capped():
    start = ev.Start(step=0, max_steps=10**9, max_time=60.0, params=1, tokens_per_step=1, device="cpu",
                     dtype="float32", resumed=False, compile=False, threads=1, peak_flops=1.0, elapsed_s=0.0)
    s = reduce(TrainingState(), start)
    s = reduce(s, ev.Step(step=5, loss=1.0, lr=1.0, tokens_per_s=1.0, mfu=0.1, elapsed_s=45.0, eta_s=15.0,
                          grad_norm=1.0, tokens=5, threads=1))
    assert s.eta_s == pytest.approx(15.0)
    for i in range(ev.SAMPLES_KEPT + 3):
        s = reduce(s, ev.Sample(step=i, text=f"s{i}"))
    assert len(s.samples) == ev.SAMPLES_KEPT and s.samples[-1] == (ev.SAMPLES_KEPT + 2, f"s{ev.SAMPLES_KEPT + 2}")
    done = reduce(s, ev.Done(step=5, reason="time", elapsed_s=60.0))
    assert done.eta_s == 0.0 and not done.resumable


def test_events_import_neither_torch_nor_a_ui_library():
    import subprocess
    import sys

    code = ("import sys, tinygpt_tui.events; "
            "print(sorted(m for m in ('torch', 'numpy', 'textual', 'rich', 'prompt_toolkit') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_state_keeps_the_session_facts_every_face_shows():
    stream = realistic_stream()
    training = fold(stream[:8])
    assert (training.params, training.tokens_per_step, training.device, training.dtype) == (1000, 256, "cpu", "float32")
    assert (training.threads, training.peak_flops, training.grad_norm) == (2, 1e10, 1.0)
    assert training.ended_in is None

    stopped = fold(stream)
    assert stopped.ended_in == "training"
    early = fold([stream[0], {"event": "done", "step": 0, "reason": "interrupted", "resumable": True,
                              "stage": "corpus", "began": False}])
    assert early.ended_in == "corpus" and early.resumable and early.stage == "corpus"
    assert fold([{"event": "done", "step": 3, "reason": "finished"}]).ended_in == "training"
    # a new session forgets where the last one ended
    assert fold(stream[5:7], stopped).ended_in is None


def test_read_returns_an_unreadable_event_and_the_reducer_records_it():
    assert isinstance(ev.read('{"event": "sample", "step": 1, "text": "hi"}'), ev.Sample)
    assert ev.read({"event": "log", "message": "not a training event"}) is None
    broken = ev.read({"event": "step", "step": 1})
    assert isinstance(broken, EventError) and "lacks its 'loss' field" in broken.message
    assert isinstance(ev.read("{not json"), EventError)

    going = fold(realistic_stream()[:8])
    damaged = reduce(going, broken)
    assert damaged.problem == broken.message and damaged.problem_hint == broken.hint and damaged.unreadable == 1
    # nothing else changes: training goes on, and the next readable event is folded as ever
    assert (damaged.status, damaged.step, damaged.loss) == (going.status, going.step, going.loss)
    assert reduce(damaged, ev.read("[]")).unreadable == 2
    with pytest.raises(EventError):
        fold([{"event": "step", "step": 1}])  # fold itself stays strict: read() first to be lenient


def test_the_fixture_history_reads_without_a_problem():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from fixtures_runs import metric_events

    state = fold(ev.read(e) for e in metric_events(50))
    assert state.unreadable == 0 and state.status == "done" and state.step == 50 and state.params == 27_000


def test_state_knows_warm_up_undertraining_and_the_end():
    """The first speed reading of a session is start-up time (warming_up, no ETA); the done event
    carries the result and whether the run is under-trained; a done state has ended."""
    from tinygpt_tui import events as ev

    start = ev.Start(step=0, max_steps=100, max_time=None, params=10, tokens_per_step=64, device="cpu",
                     dtype="float32", resumed=False, compile=False, threads=1, peak_flops=1e9, elapsed_s=0.0)
    def step(n: int) -> ev.Step:
        return ev.Step(step=n, loss=2.0, lr=1e-3, tokens_per_s=100.0, mfu=0.1, elapsed_s=float(n), eta_s=None,
                       grad_norm=1.0, tokens=64 * n, threads=1)
    s = ev.fold([start, step(5)])
    assert s.warming_up and s.eta_s is None and not s.ended
    s = ev.fold([step(10)], s)
    assert not s.warming_up and s.eta_s is not None
    done = ev.Done(step=10, reason="finished", best_val_bpb=1.5, tokens=640, elapsed_s=12.0,
                   undertrained=True, undertrained_why="the validation loss was still falling fast")
    s = ev.fold([ev.decode(done.to_dict())], s)
    assert s.ended and s.undertrained and "falling" in s.undertrained_why
    assert s.best_val_bpb == 1.5 and s.tokens == 640 and s.elapsed_s == 12.0 and not s.warming_up
    # a new session forgets the old verdict
    assert not ev.fold([start], s).undertrained


def test_a_story_goes_out_as_lists_with_null_for_non_finite_and_comes_back_as_tuples():
    story = ev.Story(step=4, tokens=("a", "b", "c"), bits=(1.0, math.inf, math.nan), time=T)
    wire = json.loads(story.to_json())  # strict JSON: would fail on NaN or Infinity
    assert wire["tokens"] == ["a", "b", "c"] and wire["bits"] == [1.0, None, None]
    back = decode(wire)
    assert back.tokens == ("a", "b", "c") and back.bits == (1.0, None, None)
    assert decode({"event": "story", "step": 4, "tokens": [], "bits": [2]}).bits == (2.0,)  # ints read as floats


def test_old_metrics_without_stories_fold_as_before():
    """A metrics.jsonl written before the story event existed reads without a problem and without a story."""
    state = fold(ev.read(e) for e in realistic_stream())
    assert state.unreadable == 0 and state.story_step is None and state.story_tokens == () and state.story_bits == ()


def story(step: int, bits: tuple, tokens: tuple = ("a", "b", "c")) -> ev.Story:
    return ev.Story(step=step, tokens=tokens, bits=bits, time=T + step)


def test_the_reducer_keeps_the_latest_and_the_previous_story():
    s = reduce(TrainingState(), story(0, (9.0, 9.0, 9.0)))
    assert (s.story_step, s.story_bits, s.story_prev_step, s.story_prev_bits) == (0, (9.0, 9.0, 9.0), None, ())
    s = reduce(s, story(10, (4.0, 8.0, 1.0)))
    assert (s.story_step, s.story_bits) == (10, (4.0, 8.0, 1.0))
    assert (s.story_prev_step, s.story_prev_bits) == (0, (9.0, 9.0, 9.0))
    s = reduce(s, story(20, (3.0, 2.0, 1.0)))
    assert (s.story_prev_step, s.story_prev_bits) == (10, (4.0, 8.0, 1.0)) and s.story_tokens == ("a", "b", "c")
    # the same step scored again (an evaluation repeated after a crash) replaces the latest, keeps the previous
    again = reduce(s, story(20, (3.5, 2.0, 1.0)))
    assert (again.story_bits, again.story_prev_step, again.story_prev_bits) == ((3.5, 2.0, 1.0), 10, (4.0, 8.0, 1.0))
    # another story (the shards were rebuilt) has nothing to be compared with
    other = reduce(s, story(30, (1.0,), tokens=("z",)))
    assert (other.story_tokens, other.story_prev_step, other.story_prev_bits) == (("z",), None, ())
