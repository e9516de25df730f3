"""``tinygpt train`` and ``tinygpt eval`` through cli.main."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from conftest import made_up_stories

from tinygpt_tui import cli, runs
from tinygpt_tui.config import EOT


@pytest.fixture
def corpus(write_stories) -> Path:
    return write_stories(3, 1200)


def train_args(corpus: Path, *extra: str) -> list[str]:
    return ["train", "--run", "c", "--preset", "micro", "--source", str(corpus), "--vocab-size", "300",
            "--dtype", "float32", "--device", "cpu", *extra]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_train_creates_trains_and_resumes(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--max-steps", "12", "--eval-interval", "6", "--json")) == 0
    events = json_lines(capsys.readouterr().out)
    assert events[-1]["event"] == "done" and events[-1]["reason"] == "finished" and events[-1]["step"] == 12
    assert [e["step"] for e in events if e["event"] == "eval"] == [0, 6, 12]  # step 0: the untrained model
    cfg = runs.load_run_config(home / "models" / "c")
    assert cfg.preset == "micro" and cfg.train.max_steps == 12 and cfg.model.vocab_size == 300

    # again with a longer budget: resumes where it stopped, preset flags are ignored with a note
    assert cli.main(["train", "--run", "c", "--preset", "tiny", "--max-steps", "16", "--json"]) == 0
    out = capsys.readouterr()
    events = json_lines(out.out)
    start = next(e for e in events if e["event"] == "start")
    assert start["resumed"] and start["step"] == 12 and events[-1]["step"] == 16
    assert runs.load_run_config(home / "models" / "c").preset == "micro"

    # --more: train further from where it stopped, by steps or by time
    assert cli.main(["train", "--run", "c", "--more", "4", "--json"]) == 0
    out = capsys.readouterr()
    events = json_lines(out.out)
    assert "training 4 more steps" in out.err and events[-1]["step"] == 20 and events[-1]["reason"] == "finished"
    assert {"best_val_bpb", "tokens", "elapsed_s", "undertrained"} <= set(events[-1])
    assert cli.main(["train", "--run", "c", "--more", "soon"]) != 0
    assert "neither a number of steps nor a time" in capsys.readouterr().err


def test_train_shows_progress_evals_and_samples(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--max-steps", "10", "--eval-interval", "5")) == 0
    err = capsys.readouterr().err
    assert "created run 'c' from preset micro" in err
    assert "val loss" in err and "bits/byte" in err
    assert "done" in err and "trained 10 steps" in err


def test_changing_the_shape_of_an_existing_run_is_refused(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--max-steps", "4", "--json")) == 0
    capsys.readouterr()
    before = (home / "models" / "c" / "config.json").read_text()
    assert cli.main(["train", "--run", "c", "--n-layer", "3"]) == 2
    err = capsys.readouterr().err
    assert "already has n_layer = 2" in err and "--run" in err
    assert cli.main(["train", "--run", "c", "--tokenizer", "char"]) == 2
    assert "already has kind = 'bpe'" in capsys.readouterr().err
    assert (home / "models" / "c" / "config.json").read_text() == before
    # training settings may change
    assert cli.main(["train", "--run", "c", "--lr", "0.002", "--max-steps", "6", "--json"]) == 0
    assert runs.load_run_config(home / "models" / "c").train.lr == 0.002


def test_set_chooses_any_setting_of_a_new_run_and_is_refused_where_a_flag_would_be(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--max-steps", "3", "--lr", "0.002", "--set", "model.position=rotary",
                               "--set", "model.value_residual=on", "--set", "train.schedule=wsd",
                               "--set", "train.lr=0.003", "--json")) == 0
    cfg = runs.load_run_config(home / "models" / "c")
    assert cfg.model.position == "rotary" and cfg.model.value_residual is True and cfg.train.schedule == "wsd"
    assert cfg.train.lr == 0.003  # --set comes after the flags
    assert json_lines(capsys.readouterr().out)[-1]["reason"] == "finished"
    before = (home / "models" / "c" / "config.json").read_text()
    # an architecture option changes what the weights mean: refused on a run that has them, like a shape
    assert cli.main(["train", "--run", "c", "--set", "model.value_residual=false"]) == 2
    err = capsys.readouterr().err
    assert "already has value_residual = True; changing it to False" in err and "Traceback" not in err
    assert cli.main(["train", "--run", "c", "--set", "train.optimizer=muon"]) == 2
    assert "already has optimizer = 'adamw'" in capsys.readouterr().err
    # a bad setting is one sentence with a hint, before anything is written
    for bad, said in (("model.colour=red", "'colour' is not a ModelConfig setting"),
                      ("model.n_layer", "is not a SECTION.KEY=VALUE setting"),
                      ("optim.lr=1", "is not a SECTION.KEY=VALUE setting"),
                      ("model.qk_norm=perhaps", "'perhaps' is not a valid value for qk_norm")):
        assert cli.main(["train", "--run", "c", "--more", "2", "--set", bad]) == 2, bad
        err = capsys.readouterr().err
        assert said in err and "hint:" in err and "Traceback" not in err, err
    # a refused setting beside --more refuses the whole command before --more adds to the budget
    assert cli.main(["train", "--run", "c", "--more", "2", "--set", "model.norm=rmsnorm"]) == 2
    assert "already has norm = 'layernorm'" in capsys.readouterr().err
    assert (home / "models" / "c" / "config.json").read_text() == before
    # a training setting may change, as with its flag
    assert cli.main(["train", "--run", "c", "--set", "train.max_steps=5", "--set", "model.dropout=0.1",
                     "--json"]) == 0
    cfg = runs.load_run_config(home / "models" / "c")
    assert cfg.train.max_steps == 5 and cfg.model.dropout == 0.1 and cfg.train.max_time is None


def test_time_budget_flag(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--max-time", "1.5", "--json")) == 0
    events = json_lines(capsys.readouterr().out)
    assert events[-1]["reason"] == "time"
    assert runs.load_run_config(home / "models" / "c").train.max_time == 1.5
    with pytest.raises(SystemExit):
        cli.main(train_args(corpus, "--max-time", "5", "--max-steps", "5"))


def test_bad_values_are_one_sentence(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--n-embd", "33", "--max-steps", "2")) == 2  # not divisible by 2 heads
    assert "not divisible" in capsys.readouterr().err
    assert cli.main(["train", "--run", "bad/name"]) == 2


@pytest.mark.parametrize("size", ["abc", "-1", "inf"])
def test_a_bad_byte_cap_is_a_usage_error_not_a_traceback(home, size, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--run", "x", "--max-bytes", size])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--max-bytes" in err and "Traceback" not in err


def test_a_device_this_machine_lacks_fails_before_any_preparation(home, corpus, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(train_args(corpus, "--device", "cuda", "--max-steps", "2")) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (home / "data").exists() or not any((home / "data").iterdir())  # nothing was prepared


def test_eval_scores_a_text_file(home, corpus, capsys):
    assert cli.main(train_args(corpus, "--max-steps", "20", "--eval-interval", "10", "--json")) == 0
    capsys.readouterr()
    held_out = home / "held_out.txt"
    held_out.write_text("".join(f"{d}\n{EOT}\n" for d in made_up_stories(99, 5)))
    assert cli.main(["eval", "--run", "c", "--data", str(held_out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["documents"] == 5 and result["tokens"] > 100
    assert result["bytes"] >= len(held_out.read_text().replace(f"\n{EOT}\n", "").encode()) - 10
    assert result["bpb"] == pytest.approx(result["loss"] * result["tokens"] / math.log(2) / result["bytes"])
    assert 0 < result["bpb"] < 8

    assert cli.main(["eval", "--run", "c", "--data", str(held_out)]) == 0
    assert "bits / byte" in capsys.readouterr().out

    assert cli.main(["eval", "--run", "c", "--data", str(home / "missing.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["eval", "--run", "nope", "--data", str(held_out)]) == 2
    assert "no run named 'nope'" in capsys.readouterr().err


def test_done_message_words_the_resumable_fact():
    from tinygpt_tui.cli.training import done_message
    from tinygpt_tui.events import fold

    done = {"event": "done", "step": 5, "reason": "interrupted", "resumable": True, "stage": "training",
            "path": "m"}
    assert done_message(fold([done])) == \
        "stopped at step 5; checkpoint saved in m. Run the same command again to resume."
    early = {**done, "step": 0, "stage": "shards", "began": False}
    assert done_message(fold([early])) == "stopped before training began; run the same command again to continue."
    assert done_message(fold([{**done, "resumable": False}])) == "stopped at step 5; checkpoint saved in m."


def test_the_display_draws_the_folded_state_and_says_an_unreadable_event():
    import io

    from rich.console import Console
    from rich.progress import Progress, TextColumn

    from tinygpt_tui import events as ev
    from tinygpt_tui.cli.training import TrainingDisplay

    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, color_system=None)
    display = TrainingDisplay("r", console, Progress(TextColumn("{task.fields[info]}"), console=console))
    display.on_event(ev.Start(step=0, max_steps=10, max_time=None, params=2_500_000, tokens_per_step=256,
                              device="cpu", dtype="float32", resumed=False, compile=False, threads=2,
                              peak_flops=5e10, elapsed_s=0.0).to_dict())
    display.on_event({"event": "step", "step": 1})  # damaged: said in one sentence, training goes on
    display.on_event(ev.Eval(step=5, train_loss=2.0, val_loss=None, val_bpb=None, best=False).to_dict())
    display.on_event(ev.Sample(step=5, text="a [bold]fox[/bold]").to_dict())
    display.on_event({"event": "log", "message": "a kind this version does not know"})
    display.on_event(ev.Done(step=10, reason="finished", elapsed_s=3.0, path="models/r").to_dict())
    text = out.getvalue()
    assert "r: 2.50M parameters, 256 tokens/step, cpu float32, 2 threads, peak 50 GFLOP/s (measured), new" in text
    assert "The 'step' event lacks its 'loss' field. Hint:" in text
    assert "step      5: train loss 2.0000  val loss nan  val nan bits/byte" in text
    assert "a [bold]fox[/bold]" in text  # a sample is text, not markup
    assert "done (finished): trained 10 steps in 3 s; weights in models/r." in text
    assert display.state.status == "done" and display.state.unreadable == 1


def _train_process(home: Path, corpus: Path) -> subprocess.Popen:
    import os
    import sys

    code = "import sys; from tinygpt_tui.cli import main; sys.exit(main())"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), TINYGPT_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", code, *train_args(corpus, "--max-steps", "100000",
                                                                      "--eval-interval", "100000", "--json")],
                            cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_steps(proc: subprocess.Popen) -> None:
    for line in proc.stdout:
        if json.loads(line).get("event") == "step":
            return
    raise AssertionError(proc.stderr.read().decode())


def test_sigterm_saves_a_checkpoint_like_ctrl_c(home, corpus):
    """Issue 15 item 4: SIGTERM (a timeout, docker stop) killed tinygpt train with no checkpoint."""
    import signal

    proc = _train_process(home, corpus)
    _wait_for_steps(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    done = json_lines(out.decode())[-1]
    assert done["event"] == "done" and done["reason"] == "interrupted"
    assert runs.state_summary(home / "models" / "c")["step"] == done["step"] > 0


def test_a_broken_pipe_on_json_saves_a_checkpoint_and_fails(home, corpus):
    """Issue 15 item 4: with --json piped into head, a broken pipe ended training without a
    checkpoint and with exit status 0."""
    proc = _train_process(home, corpus)
    _wait_for_steps(proc)
    proc.stdout.close()  # the reader goes away, as head does after its lines
    assert proc.wait(timeout=120) != 0
    assert "Traceback" not in proc.stderr.read().decode()
    assert runs.state_summary(home / "models" / "c")["step"] > 0


def test_the_display_shows_foreign_text_in_every_line_as_text():
    """Issue 15 item 1: a sample, stage message or run name holding [/INST] raised inside the display
    (before the checkpoint was written)."""
    import io

    from rich.console import Console
    from rich.progress import Progress, TextColumn

    from tinygpt_tui import events as ev
    from tinygpt_tui.cli.training import TrainingDisplay

    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, color_system=None)
    display = TrainingDisplay("r[/]", console, Progress(TextColumn("{task.fields[info]}", markup=False),
                                                       console=console))
    display.on_event(ev.Stage(stage="model", message="reading [/INST] and [/quote]").to_dict())
    display.on_event(ev.Start(step=0, max_steps=10, max_time=None, params=1, tokens_per_step=256, device="cpu",
                              dtype="float32", resumed=False, compile=False, threads=1, peak_flops=1e9,
                              elapsed_s=0.0).to_dict())
    display.on_event(ev.Sample(step=5, text="[/INST] x").to_dict())
    display.on_event(ev.Done(step=10, reason="finished", elapsed_s=3.0, path="models/[/x]").to_dict())
    text = out.getvalue()
    for needle in ("reading [/INST] and [/quote]", "r[/]: ", "[/INST] x", "weights in models/[/x]."):
        assert needle in text


def test_train_with_a_dataset_name_alone_uses_that_dataset_and_never_replaces_it(home, corpus, capsys):
    """Issue 15 item 13: --dataset ts without --source replaced the prepared dataset ts with the
    built-in stories, silently."""
    assert cli.main(["data", "prepare", "--source", str(corpus), "--name", "ts"]) == 0
    source_json = home / "data" / "ts" / "source.json"
    before = (source_json.read_bytes(), (home / "data" / "ts" / "corpus.txt").read_bytes())
    assert cli.main(["train", "--run", "x", "--preset", "micro", "--dataset", "ts", "--vocab-size", "300",
                     "--max-steps", "2", "--eval-interval", "2", "--device", "cpu", "--json"]) == 0
    assert runs.load_run_config(home / "models" / "x").data.source == str(corpus)
    # another source under the same dataset name is refused in one sentence, the dataset untouched
    capsys.readouterr()
    assert cli.main(["train", "--run", "y", "--preset", "micro", "--dataset", "ts", "--source", "storybook",
                     "--max-steps", "2", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "was prepared from" in err and "Traceback" not in err
    assert (source_json.read_bytes(), (home / "data" / "ts" / "corpus.txt").read_bytes()) == before


@pytest.mark.parametrize("code", ["ENOSPC", "EROFS", "EACCES"])
def test_an_os_error_is_one_sentence_naming_the_path(home, corpus, capsys, monkeypatch, code):
    """Issue 15 item 5: creating a run or writing a checkpoint on a full, read-only or forbidden disk
    was a traceback."""
    import errno
    import os

    from tinygpt_tui import atomic

    def refuse(path, data):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(path))

    monkeypatch.setattr(atomic, "atomic_write_bytes", refuse)
    assert cli.main(train_args(corpus, "--max-steps", "2")) == 2
    err = capsys.readouterr().err
    assert "config.json" in err and "hint:" in err and "Traceback" not in err


def test_an_unknown_user_in_a_source_path_is_one_sentence(home, capsys):
    assert cli.main(["data", "prepare", "--source", "~nosuchuser-xyz/x.txt"]) == 2
    err = capsys.readouterr().err
    assert "~nosuchuser-xyz" in err and "Traceback" not in err


def test_special_tokens_and_a_vocabulary_the_corpus_cannot_fill_are_said(home, corpus, capsys):
    args = ["train", "--run", "c", "--preset", "micro", "--source", str(corpus), "--vocab-size", "60000",
            "--dtype", "float32", "--device", "cpu", "--max-steps", "2", "--json",
            "--special", "<|im_start|> <|im_end|>,<|pad|>"]
    assert cli.main(args) == 0
    events = json_lines(capsys.readouterr().out)
    notes = [e["message"] for e in events if e["event"] == "stage" and "yields only" in e["message"]]
    assert len(notes) == 1 and "not the 60,000 asked for" in notes[0]
    from tinygpt_tui.tokenizer import load_tokenizer

    tok = load_tokenizer(home / "models" / "c" / runs.TOKENIZER)
    assert sorted(tok.special_tokens, key=tok.special_tokens.get) == [EOT, "<|im_start|>", "<|im_end|>", "<|pad|>"]
    assert runs.load_run_config(home / "models" / "c").model.vocab_size == tok.vocab_size < 60000
    # the specials decide the vocabulary: a started run refuses other ones
    assert cli.main(["train", "--run", "c", "--special", "<|other|>"]) == 2
    assert "special_tokens" in capsys.readouterr().err
