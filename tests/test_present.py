"""present.py: token labels, the one probability scale, the surprisal scale and error sentences."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from tinygpt_tui.config import ConfigError, TinyGPTError
from tinygpt_tui.present import (
    ESCAPES,
    PROB_BANDS,
    SURPRISAL_BANDS,
    error_line,
    error_sentence,
    failure_line,
    hex_label,
    prob_band,
    short_path,
    source_label,
    surprisal_band,
    token_label,
    visible,
)


def test_token_label_is_the_text_or_the_hex_of_a_partial_character():
    assert token_label("é".encode()) == "é"
    assert token_label(b" soft") == " soft"
    assert token_label(b"\xc3") == "<c3>"
    assert token_label(b"\xe2\x80") == "<e2 80>"
    assert token_label(b"") == ""


def test_hex_label_reads_hex_and_falls_back_to_the_text():
    assert hex_label("c3 a9", "?") == "é"
    assert hex_label("e2 80", "\ufffd") == "<e2 80>"
    assert hex_label("", "<|endoftext|>") == "<|endoftext|>"  # a special token has no bytes
    assert hex_label("not hex", "fox") == "fox"


def test_visible_draws_arrows_for_the_app_and_escapes_for_the_text_faces():
    assert visible("a\nb\tc") == "a↵b→c"
    assert visible("a\nb\tc\rd", ESCAPES) == "a\\nb\\tc\\rd"
    assert visible("plain") == "plain"


@pytest.mark.parametrize(("p", "name"), [
    (0.0, "unlikely"), (0.0499, "unlikely"), (0.05, "possible"), (0.1999, "possible"), (0.2, "likely"),
    (0.4999, "likely"), (0.5, "expected"), (1.0, "expected"),
    (float("nan"), "unlikely"), (float("inf"), "unlikely"), (-0.1, "unlikely"),
])
def test_prob_band_boundaries(p, name):
    assert prob_band(p).name == name


@pytest.mark.parametrize(("bits", "name"), [
    (0.0, "expected"), (0.999, "expected"), (1.0, "plausible"), (2.999, "plausible"), (3.0, "unexpected"),
    (5.999, "unexpected"), (6.0, "surprising"), (40.0, "surprising"), (math.inf, "surprising"),
    (float("nan"), "surprising"),
])
def test_surprisal_band_boundaries(bits, name):
    assert surprisal_band(bits).name == name


def test_scales_go_from_bad_to_good_news_with_the_same_colours():
    for bands in (PROB_BANDS, SURPRISAL_BANDS):
        assert [b.index for b in bands] == [0, 1, 2, 3]
        assert [b.colour for b in bands] == ["red", "dark_orange", "yellow", "green"]
    # the probability bands tile [0, inf) without a gap
    for lower, upper in zip(PROB_BANDS, PROB_BANDS[1:], strict=False):
        assert lower.high == upper.low


def test_error_sentence_and_line():
    err = ConfigError("The run 'x' does not exist.", "/load lists the runs.")
    assert error_sentence(err) == ("The run 'x' does not exist.", "/load lists the runs.")
    assert error_line(err) == "The run 'x' does not exist. Hint: /load lists the runs."
    assert error_line(err) == str(err)  # the same words as TinyGPTError's own str()
    assert error_sentence(TinyGPTError("No hint.")) == ("No hint.", None)
    assert error_line(TinyGPTError("No hint.")) == "No hint."
    assert error_line("Training failed.", "its last words: boom") == "Training failed. Hint: its last words: boom"
    assert error_line("Training failed.", None) == "Training failed."
    assert error_sentence(ValueError("bad value")) == ("bad value", None)


def test_a_worker_failure_is_a_user_sentence_or_a_named_bug():
    err = ConfigError("The run 'x' does not exist.", "/load lists the runs.")
    assert failure_line(err, "Attention") == "The run 'x' does not exist. Hint: /load lists the runs."
    assert failure_line(KeyError("k"), "Attention") == "Attention failed: KeyError: 'k'"


def test_short_path_is_relative_inside_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert short_path(tmp_path / "models") == "models"
    assert short_path(tmp_path) == "."
    assert short_path("/elsewhere/models") == "/elsewhere/models"


def test_source_label_shortens_long_paths_and_keeps_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert source_label("storybook") == "storybook"
    assert source_label("hf:roneneldan/TinyStories-with-a-long-dataset-name") == \
        "hf:roneneldan/TinyStories-with-a-long-dataset-name"
    assert source_label(str(tmp_path / "data" / "wiki.jsonl")) == "data/wiki.jsonl"
    long = "/srv/corpora/english/children/stories/2026/train.txt"
    assert source_label(long) == "…/train.txt"
    assert source_label(f"0.7*storybook + 0.3*{long}?sample=0.5") == "0.7*storybook + 0.3*…/train.txt?sample=0.5"


def test_present_imports_no_ui_library_and_no_torch():
    code = ("import sys, tinygpt_tui.present; "
            "print(sorted(m for m in ('textual', 'rich', 'prompt_toolkit', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_os_errors_are_one_sentence_naming_the_path():
    """Issue 15 item 5: disk full, read-only folder and permission denied were tracebacks."""
    import errno

    from tinygpt_tui.present import os_error

    for code, needle in ((errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"),
                         (errno.EACCES, "Permission denied"), (errno.ELOOP, "models/r/x")):
        sentence, hint = os_error(OSError(code, os.strerror(code), "models/r/x"))
        assert "models/r/x" in sentence and needle in sentence and hint


def test_ended_sentence_words_the_facts_of_a_done_event():
    from tinygpt_tui.events import Done
    from tinygpt_tui.present import ended_sentence

    assert ended_sentence(Done(step=40, reason="finished", elapsed_s=61.7, path="/m/r", best_val_loss=1.23456,
                               best_val_bpb=0.5432)) == \
        "trained 40 steps in 62 s, best validation loss 1.2346 (0.543 bits/byte); weights in /m/r."
    assert ended_sentence(Done(step=40, reason="time", elapsed_s=12.0, path="/m/r")) == \
        "trained 40 steps in 12 s; weights in /m/r."
    assert ended_sentence(Done(step=7, reason="interrupted", resumable=True, path="/m/r")) == \
        "stopped at step 7; checkpoint saved in /m/r."
    assert ended_sentence(Done(step=0, reason="interrupted", resumable=True, began=False, stage="corpus")) == \
        "stopped before training began."
    assert ended_sentence(Done(step=30, reason="finished", run="e2e", already_trained=True, max_steps=30)) == \
        "run 'e2e' has already trained for its budget of 30 steps; continue it to train it further."
    assert ended_sentence(Done(step=30, reason="time", run="e2e", already_trained=True, max_steps=30,
                               max_time=90.0)) == \
        "run 'e2e' has already trained for its budget of 90 s; continue it to train it further."
    # an older run's metrics.jsonl: its done event carries the sentence it was written with
    assert ended_sentence(Done(step=5, reason="finished", message="trained 5 steps in 3 s; weights in m.")) == \
        "trained 5 steps in 3 s; weights in m."
