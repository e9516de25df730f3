"""train.py: schedule, bits per byte, the loop end to end, exact resume, signals, damaged checkpoints."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tinygpt_tui import checkpoint, outcome, runs, train, train_dist, trainer
from tinygpt_tui import events as ev
from tinygpt_tui.config import TinyGPTError, TokenizerConfig
from tinygpt_tui.device import available_cores
from tinygpt_tui.present import ended_sentence
from tinygpt_tui.presets import preset_config
from tinygpt_tui.story import pick_story

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def corpus(write_stories) -> Path:
    """About 150 kB of stories as a local text file, documents separated by <|endoftext|> lines."""
    return write_stories(7, 1500)

MODELS = Path("models")  # tests run in ``home`` (conftest): its models/ folder


def make_run(name: str, corpus: Path, **train_kw) -> str:
    overrides = {"data": {"source": str(corpus)}, "tokenizer": {"vocab_size": 300},
                 "train": {"dtype": "float32", "device": "cpu", **train_kw}}
    runs.create_run(MODELS, preset_config("micro", name, overrides))
    return name


def collect(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def snapshot(d: Path) -> dict[str, str]:
    """Hashes of a run's files (the metrics log, which only grows, left out)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())
            if p.is_file() and p.name != "metrics.jsonl"}


# --------------------------------------------------------------------------------------------------
# the loop


def test_train_run_end_to_end(home, workspace, corpus):
    make_run("e2e", corpus, max_steps=30, eval_interval=15, log_interval=5)
    events: list[dict] = []
    done = train.train_run(workspace, "e2e", on_event=events.append)
    assert done["reason"] == "finished" and done["step"] == 30

    stages = [e["stage"] for e in collect(events, "stage")]
    assert stages == ["corpus", "tokenizer", "shards", "model", "training"]
    start = collect(events, "start")[0]
    assert start["resumed"] is False and start["dtype"] == "float32" and start["peak_flops"] > 0
    steps = collect(events, "step")
    assert [e["step"] for e in steps] == [5, 10, 15, 20, 25, 30]
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert all(e["tokens_per_s"] > 0 and 0 < e["mfu"] < 1 and e["grad_norm"] > 0 for e in steps)
    evals = collect(events, "eval")
    # the untrained model is measured at step 0 (the curve starts there; not a best, no checkpoint)
    assert [e["step"] for e in evals] == [0, 15, 30] and not evals[0]["best"] and evals[1]["best"]
    assert all(0 < e["val_bpb"] < 8 for e in evals)
    assert len(collect(events, "sample")) == 2 and len(collect(events, "checkpoint")) == 2
    # the validation story is scored at every evaluation, the untrained model's included: the same
    # tokens each time, one surprisal per token, and on the whole less surprising once trained
    stories = collect(events, "story")
    assert [e["step"] for e in stories] == [0, 15, 30]
    assert all(e["tokens"] == stories[0]["tokens"] and len(e["bits"]) == len(e["tokens"]) > 0 for e in stories)
    assert all(b is not None and b >= 0 for e in stories for b in e["bits"])
    assert sum(stories[-1]["bits"]) < sum(stories[0]["bits"])
    shards = next((home / "data").rglob("val.bin"))
    val = np.fromfile(shards, dtype=np.uint16)
    from tinygpt_tui.tokenizer import load_tokenizer
    tok = load_tokenizer(home / "models" / "e2e" / runs.TOKENIZER)
    ids = pick_story(val, tok.eot_id, runs.load_run_config(home / "models" / "e2e").model.block_size)
    assert "".join(stories[0]["tokens"]) == tok.decode(ids)  # the story is that document of the val split
    assert all("time" in e for e in events)

    d = home / "models" / "e2e"
    for name in ("config.json", "tokenizer.json", "model.safetensors", "best.safetensors", "state.safetensors",
                 "state.json", "metrics.jsonl"):
        assert (d / name).is_file(), name
    assert not (d / "train.lock").exists()
    logged, _ = runs.read_metrics(home / "models" / "e2e")
    assert logged == events  # the log holds exactly what was emitted
    assert runs.load_run_config(home / "models" / "e2e").model.vocab_size == 300  # set from the trained tokenizer

    model, tok, cfg = checkpoint.load_model(home / "models" / "e2e", "latest")
    assert not model.training and tok.vocab_size == cfg.model.vocab_size
    info = runs.list_runs(home / "models")[0]
    assert info.step == 30 and info.best_val_loss == pytest.approx(min(e["val_loss"] for e in evals[1:]))
    # the result, measured, is in the done event
    assert done["tokens"] == 30 * start["tokens_per_step"] and done["elapsed_s"] > 0
    assert done["best_val_bpb"] == pytest.approx(min(e["val_bpb"] for e in evals[1:]))
    assert isinstance(done["undertrained"], bool)

    # training a finished run again does nothing and says how to go on
    again = train.train_run(workspace, "e2e")
    assert again["step"] == 30 and again["already_trained"] and again["max_steps"] == 30
    assert "already trained" in ended_sentence(ev.decode(again)) and "continue" in ended_sentence(ev.decode(again))


MODERN_MODEL = dict(position="rotary", norm="rmsnorm", qk_norm=True, activation="relu2", zero_init=True,
                    logit_softcap=15.0, tie_weights=False)


@pytest.mark.parametrize("recipe", ["classic", "modern"])
def test_resume_repeats_the_uninterrupted_run_exactly(home, workspace, corpus, monkeypatch, recipe):
    """Train 24 steps straight; train another run 9 steps, stop, resume to 24: same losses (fp32, CPU),
    with dropout on so that the RNG state matters, and evaluations in between. The modern recipe
    resumes Muon's momentum and AdamW's moments from one state file."""
    # two separate runs must sum in the same order: give both the same thread count (a resume keeps
    # its run's count by itself, which the second session below relies on)
    probes = iter([2, 2, 1])  # the resumed session would probe 1 if it probed at all
    monkeypatch.setattr(train_dist, "probe_threads", lambda dtype, cores=None: min(next(probes), available_cores()))
    kw = dict(max_steps=24, eval_interval=8, log_interval=1)
    for name in ("straight", "resumed"):
        make_run(name, corpus, **kw)
        cfg = runs.load_run_config(home / "models" / name)
        cfg.model.dropout = 0.1
        if recipe == "modern":
            cfg.model = type(cfg.model)(**{**vars(cfg.model), **MODERN_MODEL})
            cfg.train = type(cfg.train)(**{**vars(cfg.train), "optimizer": "muon", "schedule": "wsd"})
        runs.save_run_config(home / "models" / cfg.name, cfg)

    straight: dict[int, float] = {}
    train.train_run(workspace, "straight", on_event=lambda e: e["event"] == "step" and straight.__setitem__(e["step"], e["loss"]))

    resumed: dict[int, float] = {}
    stop = threading.Event()

    def on_event(e: dict) -> None:
        if e["event"] == "step":
            resumed[e["step"]] = e["loss"]
            if e["step"] == 9:
                stop.set()

    first = train.train_run(workspace, "resumed", on_event=on_event, stop=stop)
    assert first["reason"] == "interrupted" and first["step"] == 9
    assert runs.state_summary(home / "models" / "resumed")["step"] == 9
    events: list[dict] = []
    second = train.train_run(workspace, "resumed", on_event=lambda e: (events.append(e), on_event(e)))
    assert second["reason"] == "finished"
    start = collect(events, "start")[0]
    assert start["resumed"] and start["step"] == 9
    assert start["threads"] == min(2, available_cores())  # kept from the first session
    assert sorted(resumed) == sorted(straight) == list(range(1, 25))
    for step in straight:
        assert abs(straight[step] - resumed[step]) <= 1e-6, f"step {step}: {straight[step]} != {resumed[step]}"


def test_time_budget_ends_the_run_and_shapes_the_schedule(home, workspace, corpus):
    make_run("timed", corpus, max_time=2.0, max_steps=100, warmup_steps=10, eval_interval=10_000,
             log_interval=1)
    events: list[dict] = []
    done = train.train_run(workspace, "timed", on_event=events.append)
    assert done["reason"] == "time"
    steps = collect(events, "step")
    assert steps[-1]["elapsed_s"] >= 2.0
    tc = runs.load_run_config(home / "models" / "timed").train
    assert steps[-1]["lr"] < tc.lr  # the cosine came down within the budget
    assert [e["step"] > 0 for e in collect(events, "eval")] == [False, True]  # step 0, then the final one


def test_nan_loss_stops_cleanly_and_keeps_the_checkpoint(home, workspace, corpus):
    make_run("nan", corpus, max_steps=10, eval_interval=5)
    train.train_run(workspace, "nan")
    d = home / "models" / "nan"
    before = snapshot(d)
    cfg = runs.load_run_config(home / "models" / "nan")
    cfg.train.max_steps, cfg.train.lr, cfg.train.grad_clip = 40, 1e30, 0.0  # sure to blow up
    runs.save_run_config(home / "models" / cfg.name, cfg)
    before = snapshot(d)
    events: list[dict] = []
    with pytest.raises(TinyGPTError, match="became") as err:
        train.train_run(workspace, "nan", on_event=events.append)
    assert "step 10 is kept" in err.value.message
    assert collect(events, "error") and collect(events, "error")[0]["hint"]
    assert snapshot(d) == before  # nothing was overwritten
    assert not (d / "train.lock").exists()
    checkpoint.load_model(home / "models" / "nan", "latest")


def _damage_truncate(d: Path) -> None:
    p = d / "state.safetensors"
    p.write_bytes(p.read_bytes()[:1000])


def _damage_garbage(d: Path) -> None:
    (d / "state.safetensors").write_bytes(os.urandom(4096))


def _damage_foreign(d: Path) -> None:
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(4, 4)}, str(d / "state.safetensors"), metadata={"format": "pt"})


def _damage_vocab(d: Path) -> None:
    from tinygpt_tui.tokenizer_training import train_tokenizer

    corpus = d.parent.parent / "stories.txt"
    train_tokenizer(TokenizerConfig(kind="char"), corpus).save(d / "tokenizer.json")


@pytest.mark.parametrize("damage,message", [
    (_damage_truncate, "corrupt or truncated"),
    (_damage_garbage, "corrupt or truncated"),
    (_damage_foreign, "not a tinygpt-state file"),
    (_damage_vocab, "vocabulary"),
])
def test_a_damaged_checkpoint_is_refused_and_left_alone(home, workspace, corpus, damage, message):
    make_run("dmg", corpus, max_steps=6, eval_interval=3)
    train.train_run(workspace, "dmg")
    cfg = runs.load_run_config(home / "models" / "dmg")
    cfg.train.max_steps = 12
    runs.save_run_config(home / "models" / cfg.name, cfg)
    d = home / "models" / "dmg"
    damage(d)
    before = snapshot(d)
    with pytest.raises(TinyGPTError, match=message) as err:
        train.train_run(workspace, "dmg")
    assert err.value.hint
    assert "\n" not in err.value.message
    assert snapshot(d) == before
    assert not (d / "train.lock").exists()


def test_sigint_to_the_training_process_saves_and_exits_0(home, corpus):
    make_run("sig", corpus, max_steps=100_000, eval_interval=100_000, log_interval=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "tinygpt_tui.train", "--run", "sig"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=home)
    events = []
    try:
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "step" and events[-1]["step"] >= 3:
                proc.send_signal(signal.SIGINT)
                break
        for line in proc.stdout:
            events.append(json.loads(line))
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, proc.stderr.read()
    done = events[-1]
    assert done["event"] == "done" and done["reason"] == "interrupted"
    assert done["began"] and (home / done["path"]).resolve() == (home / "models" / "sig").resolve()
    assert "checkpoint saved" in ended_sentence(ev.decode(done))
    assert runs.state_summary(home / "models" / "sig")["step"] == done["step"] >= 3
    assert not (home / "models" / "sig" / "train.lock").exists()
    model, _, _ = checkpoint.load_model(home / "models" / "sig", "latest")
    logged, _ = runs.read_metrics(home / "models" / "sig")
    assert logged == events  # stdout and metrics.jsonl carry the same events


def test_a_run_being_trained_elsewhere_is_refused(home, workspace, corpus):
    make_run("busy", corpus)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (home / "models" / "busy" / "train.lock").write_text(json.dumps({"pid": proc.pid, "started": 0}))
        with pytest.raises(TinyGPTError, match="already being trained"):
            train.train_run(workspace, "busy")
    finally:
        proc.kill()
        proc.wait()
    assert (home / "models" / "busy" / "train.lock").exists()  # not ours to remove


def test_kill_9_at_any_moment_leaves_a_loadable_checkpoint(home, corpus):
    """Checkpoint after every step and kill the process without warning at varied moments: each
    time the run must load and resume, from a step that was reported as checkpointed."""
    make_run("k9", corpus, max_steps=100_000, eval_interval=1, eval_iters=1, sample_tokens=2, log_interval=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    last_step = 0
    for round_, delay in enumerate((0.0, 0.005, 0.02)):
        proc = subprocess.Popen([sys.executable, "-m", "tinygpt_tui.train", "--run", "k9"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=env, cwd=home)
        checkpoints = []
        try:
            for line in proc.stdout:
                event = json.loads(line)
                if event["event"] == "start":
                    assert event["step"] == last_step and event["resumed"] == (round_ > 0)
                if event["event"] == "checkpoint":
                    checkpoints.append(event["step"])
                    if len(checkpoints) == 3:
                        time.sleep(delay)  # somewhere inside the next step or its checkpoint
                        break
        finally:
            proc.kill()
            proc.wait()
        # on a busy machine the trainer runs ahead of this reader: what it said before it died is
        # still in the pipe
        for line in proc.stdout.read().splitlines():
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "checkpoint":
                checkpoints.append(event["step"])
        tensors, scalars = checkpoint.load_state(home / "models" / "k9")
        assert scalars["step"] >= checkpoints[-1]  # at least the last reported one, maybe the next
        assert scalars["step"] <= checkpoints[-1] + 1
        checkpoint.load_model(home / "models" / "k9", "latest")
        checkpoint.load_model(home / "models" / "k9", "best")
        last_step = scalars["step"]
    assert not runs.is_training(home / "models" / "k9")  # the lock of a killed process is stale


def test_a_failing_torch_compile_falls_back_to_eager_training(home, workspace, corpus, monkeypatch):
    class BrokenCompiled(torch.nn.Module):  # what torch.compile gives where the toolchain is missing
        def forward(self, *a, **k):
            raise RuntimeError("no C++ compiler")

    def broken_compile(model, *args, **kwargs):
        return BrokenCompiled()

    monkeypatch.setattr(torch, "compile", broken_compile)
    make_run("nocc", corpus, max_steps=6, eval_interval=6, log_interval=2, compile=True)
    events: list[dict] = []
    done = train.train_run(workspace, "nocc", on_event=events.append)
    assert done["reason"] == "finished" and done["step"] == 6
    notes = [e["message"] for e in collect(events, "stage") if "torch.compile failed" in e["message"]]
    assert len(notes) == 1 and "RuntimeError" in notes[0]
    assert [e["step"] for e in collect(events, "step")] == [2, 4, 6]


def test_a_shape_that_cannot_fit_in_memory_is_refused_before_preparation(workspace, monkeypatch):
    """Issue 15 item 7: a huge width or batch failed as an OOM kill after all data preparation."""
    import torch

    from tinygpt_tui import preflight
    from tinygpt_tui.config import TinyGPTError
    from tinygpt_tui.presets import preset_config

    cfg = preset_config("micro", "huge", {"model": {"n_layer": 64, "n_embd": 8192, "n_head": 8},
                                          "train": {"batch_size": 512}})
    monkeypatch.setattr(preflight, "available_memory", lambda device: 8 * 10**9)
    with pytest.raises(TinyGPTError, match="GB of memory") as err:
        preflight.check_memory(cfg, torch.device("cpu"))
    assert "--batch-size" in err.value.hint
    preflight.check_memory(preset_config("micro", "ok"), torch.device("cpu"))  # a small one passes


def test_non_finite_gradients_are_never_applied_or_saved(home, workspace, corpus, monkeypatch):
    """Issue 15 item 9: only the loss was checked; inf/NaN gradients with a finite loss were applied,
    and NaN weights were saved as latest and best."""
    import torch

    make_run("g", corpus, max_steps=4, eval_interval=2)
    train.train_run(workspace, "g")
    d = home / "models" / "g"
    cfg = runs.load_run_config(d)
    cfg.train.max_steps = 8
    runs.save_run_config(d, cfg)
    before = snapshot(d)
    real = trainer.Trainer._forward_backward

    def poisoned(self, x, y):
        loss = real(self, x, y)
        next(self.model.parameters()).grad.fill_(float("inf"))  # a finite loss, an infinite gradient
        return loss

    monkeypatch.setattr(trainer.Trainer, "_forward_backward", poisoned)
    with pytest.raises(TinyGPTError, match="gradient norm became") as err:
        train.train_run(workspace, "g")
    assert "step 4 is kept" in err.value.message
    assert snapshot(d) == before
    model, _tok, _cfg = checkpoint.load_model(d, "latest")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_undertrained_from_measured_facts():
    """A run is under-trained when its validation loss still fell fast over the last evaluation
    interval, or when a time budget ran out far short of the planned steps; not otherwise."""
    from tinygpt_tui.config import TrainConfig

    steps = TrainConfig(max_steps=1000, eval_interval=100)
    assert "still falling fast" in outcome.undertrained([(0, 5.0), (100, 3.0), (200, 2.0)], 200, steps)
    assert outcome.undertrained([(100, 2.0), (200, 1.99)], 1000, steps) == ""
    assert outcome.undertrained([(200, 1.99)], 1000, steps) == ""  # one evaluation says nothing
    timed = TrainConfig(max_steps=1000, max_time=140.0, eval_interval=100)
    why = outcome.undertrained([(300, 2.0), (360, 1.999)], 360, timed)
    assert "360 of the 1,000 steps" in why
    assert outcome.undertrained([(800, 2.0), (900, 1.999)], 900, timed) == ""


def test_training_time_bits_per_byte_match_a_hand_computed_evaluation(home, workspace, corpus, monkeypatch):
    """The trainer's val_bpb is the summed cross-entropy of its validation batches in bits, divided by
    the bytes those targets stand for (a BPE tokenizer, so bytes and tokens differ: dividing by
    tokens, the mutation the audit found surviving, fails here)."""
    import math

    import torch.nn.functional as F

    from tinygpt_tui.shards import BatchSampler

    seen: list[torch.Tensor] = []
    real_get = BatchSampler.get

    def recording_get(self, split, index):
        x, y = real_get(self, split, index)
        if split == "val":
            seen.append((x.clone(), y.clone()))
        return x, y

    monkeypatch.setattr(BatchSampler, "get", recording_get)
    make_run("bpb", corpus, max_steps=2, eval_interval=2, eval_iters=2, log_interval=1)
    events: list[dict] = []
    train.train_run(workspace, "bpb", on_event=events.append)
    evals = collect(events, "eval")
    # the untrained model's evaluation at step 0, then the one at step 2: two validation batches each
    assert [e["step"] for e in evals] == [0, 2] and len(seen) == 4
    evals, seen = evals[1:], seen[2:]  # the last evaluation, of the weights saved as latest

    model, tok, _ = checkpoint.load_model(home / "models" / "bpb", "latest")  # the weights evaluated
    nll = tokens = n_bytes = 0
    with torch.no_grad():
        for x, y in seen:
            logits = model(x).logits
            nll += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"))
            for t in y.reshape(-1).tolist():
                tokens += 1
                n_bytes += 1 if tok.is_special(t) else len(tok.token_bytes(t))
    assert n_bytes > tokens * 1.5  # BPE pieces are several bytes long: the two divisions differ
    assert evals[0]["val_loss"] == pytest.approx(nll / tokens, rel=1e-5)
    assert evals[0]["val_bpb"] == pytest.approx(nll / math.log(2) / n_bytes, rel=1e-5)


# --------------------------------------------------------------------------------------------------
# resume gaps (issue 15 item 10)


def _train_more(home: Path, name: str, steps: int) -> None:
    cfg = runs.load_run_config(home / "models" / name)
    cfg.train.max_steps = steps
    runs.save_run_config(home / "models" / name, cfg)


def test_auto_dtype_is_kept_on_resume(home, workspace, corpus, monkeypatch):
    """dtype auto was measured again on resume: a busy CPU could switch a run from float32 to bfloat16."""
    real = trainer.resolve_dtype
    choice = {"auto": torch.float32}
    monkeypatch.setattr(trainer, "resolve_dtype",
                        lambda name, device, table=None: choice[name] if name == "auto" else real(name, device, table))
    make_run("auto", corpus, max_steps=2, eval_interval=2)
    cfg = runs.load_run_config(home / "models" / "auto")
    cfg.train.dtype = "auto"
    runs.save_run_config(home / "models" / "auto", cfg)
    train.train_run(workspace, "auto")
    _train_more(home, "auto", 4)
    choice["auto"] = torch.bfloat16  # what a new measurement would say now
    events: list[dict] = []
    assert train.train_run(workspace, "auto", on_event=events.append)["step"] == 4
    assert collect(events, "start")[0]["dtype"] == "float32"


def test_batch_size_accumulation_and_seed_are_fixed_once_a_run_has_a_checkpoint(home, workspace, corpus):
    from tinygpt_tui import forms

    make_run("fixed", corpus, max_steps=2, eval_interval=2)
    train.train_run(workspace, "fixed")
    before = (home / "models" / "fixed" / "config.json").read_text()
    for key, value in (("batch_size", 3), ("grad_accum", 2), ("seed", 7)):
        with pytest.raises(TinyGPTError, match=f"{key} = .* would change the batches") as err:
            forms.configure_run(home / "models", "fixed", None, {"train": {key: value}})
        assert "--run" in err.value.hint
    assert (home / "models" / "fixed" / "config.json").read_text() == before
    # config.json edited by hand: the resume point refuses it
    cfg = runs.load_run_config(home / "models" / "fixed")
    cfg.train.seed, cfg.train.max_steps = 7, 4
    runs.save_run_config(home / "models" / "fixed", cfg)
    with pytest.raises(TinyGPTError, match="trained with seed 1337; resuming it with 7") as err:
        train.train_run(workspace, "fixed")
    assert "--seed 1337" in err.value.hint
    assert runs.state_summary(home / "models" / "fixed")["step"] == 2


def test_an_edited_source_file_is_refused_before_it_rebuilds_a_resumed_runs_data(home, workspace, corpus):
    make_run("edited", corpus, max_steps=2, eval_interval=2)
    train.train_run(workspace, "edited")
    _train_more(home, "edited", 4)
    data = sorted(p for p in (home / "data").iterdir() if p.is_dir())
    source_json = {p: (p / "source.json").read_text() for p in data}
    with open(corpus, "a", encoding="utf-8") as f:
        f.write("A new story about a dragon who learned to count.\n")
    with pytest.raises(TinyGPTError, match="trained on another text") as err:
        train.train_run(workspace, "edited")
    assert "restore the file" in err.value.hint
    assert {p: (p / "source.json").read_text() for p in data} == source_json  # nothing rebuilt
    assert runs.state_summary(home / "models" / "edited")["step"] == 2


def test_a_checkpoint_without_a_corpus_fingerprint_still_resumes(home, workspace, corpus):
    make_run("old", corpus, max_steps=2, eval_interval=2)
    train.train_run(workspace, "old")
    tensors, scalars = checkpoint.load_state(home / "models" / "old")
    assert scalars["corpus_sha256"] and scalars["batch_size"] and scalars["seed"] == 1337
    for key in ("corpus_sha256", "batch_size", "grad_accum", "seed"):
        del scalars[key]
    checkpoint.save_state(home / "models" / "old", tensors, scalars)
    with open(corpus, "a", encoding="utf-8") as f:  # an old resume point cannot tell: the run resumes
        f.write("One more story.\n")
    _train_more(home, "old", 4)
    assert train.train_run(workspace, "old")["step"] == 4
    assert checkpoint.load_state(home / "models" / "old")[1]["corpus_sha256"]  # kept from now on


def test_compile_time_does_not_eat_the_warmup_of_a_time_budget_run(home, workspace, corpus, monkeypatch):
    """The first compiled step can take half a minute; the budget counts it, the schedule must not,
    or a time-budget run would leave its warmup before its second step."""
    import torch

    class SlowCompiled(torch.nn.Module):
        """Stands in for a compiled module: the first forward takes as long as compiling does."""

        def __init__(self, model):
            super().__init__()
            self.model, self.calls = model, 0

        def forward(self, *a, **k):
            if self.calls == 0:
                time.sleep(2.0)
            self.calls += 1
            return self.model(*a, **k)

    def slow_compile(model, *args, **kwargs):
        return SlowCompiled(model)

    monkeypatch.setattr(torch, "compile", slow_compile)
    # warmup is 100/1000 of a 10 s budget: 1 s of schedule time
    make_run("c", corpus, max_steps=1000, max_time=10.0, warmup_steps=100, compile=True, log_interval=1,
             eval_interval=100_000, lr=1e-3, min_lr=1e-4)
    lrs: dict[int, float] = {}
    train.train_run(workspace, "c", on_event=lambda e: e["event"] == "step" and lrs.__setitem__(e["step"], e["lr"]))
    assert 2 in lrs and lrs[2] < 0.5e-3, lrs.get(2)  # still warming up after the 2 s compile
    assert max(lrs.values()) == pytest.approx(1e-3, rel=0.05)  # and the peak is reached later
    _, scalars = checkpoint.load_state(home / "models" / "c")
    assert scalars["compile_s"] >= 2.0


def test_the_fall_of_a_wsd_decay_does_not_make_a_run_under_trained():
    """A warmup-stable-decay run's loss falls fastest in its decay, by design; only the evaluations
    before the decay began say whether it was still learning fast."""
    from tinygpt_tui.config import TrainConfig

    tc = TrainConfig(max_steps=1000, eval_interval=100, schedule="wsd", cooldown=0.4)
    history = [(400, 2.10), (500, 2.09), (600, 2.08), (700, 1.95), (800, 1.85)]
    assert "still falling fast" in outcome.undertrained(history, 1000, tc)  # blind to the schedule
    assert outcome.undertrained(history, 1000, tc, decay_step=600) == ""
    assert "still falling fast" in outcome.undertrained([(400, 2.5), (500, 2.3), (600, 2.1)], 1000, tc,
                                                        decay_step=600)


def test_a_checkpoint_interval_saves_between_evaluations(home, workspace, corpus):
    """checkpoint_interval adds resume points between evaluations; evaluations stay where they were."""
    make_run("ck", corpus, max_steps=12, eval_interval=12, checkpoint_interval=5, log_interval=1)
    events: list[dict] = []
    train.train_run(workspace, "ck", on_event=events.append)
    assert [e["step"] for e in collect(events, "checkpoint")] == [5, 10, 12]
    assert [e["step"] for e in collect(events, "eval")] == [0, 12]


def test_a_continued_run_warms_up_again_instead_of_jumping_to_the_peak_rate(home, workspace, corpus):
    """A run whose warmup-stable-decay schedule ran down to zero, given more steps, climbs back to
    the schedule over warmup_steps (the step after the resume has half the peak rate, not the peak).
    An interrupted run resumed on the same schedule never warms up again: the exact-resume tests
    above compare its losses bit for bit."""
    make_run("more", corpus, max_steps=6, eval_interval=6, log_interval=1, warmup_steps=2, schedule="wsd",
             cooldown=0.2, min_lr=0.0)
    train.train_run(workspace, "more")
    peak = runs.load_run_config(home / "models" / "more").train.lr
    _train_more(home, "more", 20)
    events: list[dict] = []
    train.train_run(workspace, "more", on_event=events.append)
    steps = collect(events, "step")
    assert [e["step"] for e in steps][:3] == [7, 8, 9]
    # the first session ended at rate 0; the longer schedule is in its stable phase (the peak)
    assert steps[0]["lr"] == pytest.approx(peak / 2)
    assert steps[1]["lr"] == pytest.approx(peak) and steps[2]["lr"] == pytest.approx(peak)


def test_evaluations_keep_a_thinned_history_of_weights(home, workspace, corpus):
    """Each evaluation (the untrained model's included) adds its weights to history/, thinned to the
    bound, the first and the latest kept; a resumed session goes on thinning the same folder, and the
    latest frame holds the latest weights."""
    make_run("hist", corpus, max_steps=8, eval_interval=1, eval_iters=1, sample_tokens=2, log_interval=4, history=3)
    stop = threading.Event()
    train.train_run(workspace, "hist", on_event=lambda e: e["event"] == "eval" and e["step"] == 5 and stop.set(),
                    stop=stop)
    d = home / "models" / "hist"
    assert [s for s, _ in runs.history_files(d)] == [0, 4, 5]
    events: list[dict] = []
    train.train_run(workspace, "hist", on_event=events.append)
    from tinygpt_tui.history import frames

    kept = frames(d)
    assert [f.step for f in kept] == [0, 4, 8]
    evals = {e["step"]: e["val_loss"] for e in collect(events, "eval")}
    assert kept[-1].val_loss == pytest.approx(evals[8]) and kept[-1].tokens == 8 * kept[1].tokens // 4
    latest, _ = checkpoint.read_safetensors(d / runs.WEIGHTS, runs.WEIGHTS_FORMAT)
    last, _ = checkpoint.read_safetensors(kept[-1].path, runs.WEIGHTS_FORMAT)
    assert latest.keys() == last.keys() and all(torch.equal(latest[k], last[k]) for k in latest)
    info = runs.list_runs(home / "models")[0]
    assert info.history == 3 and info.history_bytes == sum(f.bytes for f in kept)
    assert not [p for p in (d / runs.HISTORY).iterdir() if p.name.startswith(".")]  # no temporary file left


def test_history_zero_keeps_none(home, workspace, corpus):
    make_run("nohist", corpus, max_steps=2, eval_interval=1, eval_iters=1, sample_tokens=2, history=0)
    train.train_run(workspace, "nohist")
    assert runs.history_files(home / "models" / "nohist") == []
