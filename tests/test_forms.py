"""forms.py: the new-run form and its validation, the quick start, and runs from a preset plus flags."""

from __future__ import annotations

import pytest

from tinygpt_tui import runs
from tinygpt_tui.config import ConfigError, TinyGPTError
from tinygpt_tui.forms import (
    RunForm,
    configure_run,
    field_message,
    quick_start_config,
    run_config_from_form,
    validate_run_form,
)


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


def test_a_field_message_puts_the_hint_in_brackets():
    assert field_message(ConfigError("Bad value.", "try 3.")) == "Bad value. (try 3.)"
    assert field_message(ConfigError("Bad value.")) == "Bad value."
    # the form's text for a bad source is the config's sentence with its hint
    message = validate_run_form(RunForm(name="ok", source="  "))["source"]
    assert message.endswith(")") and " (" in message


# -- the quick start -----------------------------------------------------------------------------
def test_quick_start_is_tiny_on_the_story_corpus():
    cfg = quick_start_config()
    assert (cfg.name, cfg.preset, cfg.data.source, cfg.tokenizer.kind) == ("quick", "tiny", "storybook", "bpe")
    assert quick_start_config("other").name == "other"


# -- a run from a preset and overrides -----------------------------------------------------------
def test_configure_run_creates_then_changes_only_what_may_change(workspace):
    cfg, notes = configure_run(workspace.models, "c", "micro", {"train": {"lr": 0.002}})
    assert cfg.preset == "micro" and notes == ["created run 'c' from preset micro"]
    assert runs.load_run_config(workspace.models / "c").train.lr == 0.002
    cfg, notes = configure_run(workspace.models, "c", "tiny", {"train": {"lr": 0.001}, "model": {}})
    assert cfg.train.lr == 0.001 and cfg.preset == "micro"
    assert any("--preset tiny is ignored" in n for n in notes) and "changed lr=0.001" in notes
    # once the run has a tokenizer its shape is fixed
    (workspace.models / "c" / runs.TOKENIZER).write_text("{}")
    with pytest.raises(TinyGPTError, match="would change the model") as e:
        configure_run(workspace.models, "c", None, {"model": {"n_layer": 3}})
    assert "n_layer = 2; changing it to 3" in e.value.message
    with pytest.raises(TinyGPTError, match="not a valid run name"):
        configure_run(workspace.models, "../x", None, {})


def test_the_architecture_and_optimizer_stay_once_there_are_weights_not_before(workspace):
    configure_run(workspace.models, "a", "micro", {})
    run = workspace.models / "a"
    (run / runs.TOKENIZER).write_text("{}")  # stopped after its tokenizer: no weights yet
    cfg, notes = configure_run(workspace.models, "a", None, {"model": {"norm": "rmsnorm"},
                                                             "train": {"optimizer": "muon"}})
    assert cfg.model.norm == "rmsnorm" and cfg.train.optimizer == "muon"
    with pytest.raises(TinyGPTError, match="would change its vocabulary"):
        configure_run(workspace.models, "a", None, {"tokenizer": {"vocab_size": 301}})
    (run / runs.WEIGHTS).write_bytes(b"weights")
    for section, key, value in (("model", "norm", "layernorm"), ("model", "value_residual", True)):
        with pytest.raises(TinyGPTError, match="would change the model"):
            configure_run(workspace.models, "a", None, {section: {key: value}})
    # the dropout trains differently but the weights mean the same: it may change
    assert configure_run(workspace.models, "a", None, {"model": {"dropout": 0.1}})[0].model.dropout == 0.1


def test_a_refused_second_trainer_changes_nothing(workspace):
    """Issue 15 item 8: config.json was rewritten before the lock was taken, so a trainer refused
    for a live run still changed that run's settings."""
    import json
    import subprocess
    import sys

    from tinygpt_tui.atomic import process_start

    configure_run(workspace.models, "c", "micro", {})
    path = workspace.models / "c" / "config.json"
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import time

        for _ in range(100):  # the child's /proc entry is there at once; its start time too
            if process_start(proc.pid) is not None:
                break
            time.sleep(0.01)
        (workspace.models / "c" / runs.LOCK).write_text(
            json.dumps({"pid": proc.pid, "proc_start": process_start(proc.pid)}))
        with pytest.raises(TinyGPTError, match="already being trained"):
            configure_run(workspace.models, "c", None, {"train": {"lr": 0.005}})
    finally:
        proc.kill()
        proc.wait()
    assert path.read_bytes() == before


def test_a_renamed_run_folder_names_the_run(workspace):
    """Issue 15 item 8: after mv models/a models/b, the name inside config.json sent b's training to a."""
    configure_run(workspace.models, "a", "micro", {})
    (workspace.models / "a").rename(workspace.models / "b")
    cfg, _ = configure_run(workspace.models, "b", None, {"train": {"lr": 0.002}})
    assert cfg.name == "b" and runs.load_run_config(workspace.models / "b").name == "b"
    assert not (workspace.models / "a").exists()
