"""Slash-command parsing, /params assignments and completion."""

from __future__ import annotations

import pytest

from tinygpt_tui.commands import (
    COMMANDS,
    apply_params,
    completions,
    help_rows,
    params_rows,
    parse,
    prompt_text,
)
from tinygpt_tui.config import ConfigError, SamplingConfig, TinyGPTError


def test_plain_text_is_a_prompt_and_slash_lines_are_commands():
    assert parse("Once upon a time") is None
    assert parse("") is None
    assert parse("//etc/passwd is a path") is None and prompt_text("//etc") == "/etc"
    cmd = parse("/params temperature=0.7 top_k=50")
    assert cmd.name == "params" and cmd.args == ["temperature=0.7", "top_k=50"]
    assert cmd.raw == "/params temperature=0.7 top_k=50"
    assert parse('  /PARAMS stop="The end"  ').args == ["stop=The end"]
    assert parse("/exit").name == "quit" and parse("/q").name == "quit" and parse("/?").name == "help"
    assert parse("/load quick").args == ["quick"]


def test_a_text_at_the_end_of_a_command_is_taken_as_typed():
    """/versus RUN TEXT: the text keeps its apostrophes, quotes and spaces (a shell split refused
    "It's" as an unbalanced quote)."""
    assert parse("/versus other It's a \"big\"  day.").args == ["other", "It's a \"big\"  day."]
    assert parse("/versus other").args == ["other"]
    assert parse("/versus").args == []


def test_every_command_in_the_registry_parses_and_has_help():
    expected = {"help", "params", "tokens", "train", "continue", "stop", "load", "new", "clear", "seed", "quit",
                "lens", "cuts", "branch", "branches", "versus", "rename", "delete", "save", "compare", "timelapse"}
    assert set(COMMANDS) == expected
    for name, spec in COMMANDS.items():
        assert parse(f"/{name}").name == name
        assert spec.usage.startswith(f"/{name}") and spec.help.endswith(".")
    assert len(help_rows()) == len(COMMANDS) and "exit" in help_rows("quit")[0][1]


def test_unknown_command_names_it_and_suggests_the_closest():
    with pytest.raises(TinyGPTError) as err:
        parse("/parms top_k=3")
    assert err.value.message == "Unknown command '/parms'."
    assert "did you mean /params?" in err.value.hint and "/help" in err.value.hint
    with pytest.raises(TinyGPTError) as err:
        parse("/zzzzzz")
    assert "did you mean" not in err.value.hint and "/quit" in err.value.hint


def test_bad_arguments_are_one_clear_sentence():
    with pytest.raises(TinyGPTError, match="takes no arguments"):
        parse("/quit now")
    with pytest.raises(TinyGPTError, match="at most 1"):
        parse("/load a b")
    with pytest.raises(TinyGPTError, match="at most 1"):
        parse("/seed 1 2")
    with pytest.raises(TinyGPTError, match="Cannot read the arguments"):
        parse('/params stop="open')
    with pytest.raises(TinyGPTError, match="lone"):
        parse("/")


def test_apply_params_sets_validates_and_returns_a_new_config():
    base = SamplingConfig()
    new = apply_params(base, ["temperature=0.7", "top_k=50", "top_p=0.9", "tokens=32", "samples=2", "seed=7"])
    assert (new.temperature, new.top_k, new.top_p, new.max_new_tokens, new.num_samples, new.seed) == (
        0.7, 50, 0.9, 32, 2, 7)
    assert base.temperature == 0.8  # the original is untouched
    aliased = apply_params(base, ["temp=0", "k=0", "p=1", "max_tokens=5", "n_tokens=6", "TOP-K=3"])
    assert (aliased.temperature, aliased.top_k, aliased.top_p, aliased.max_new_tokens) == (0.0, 3, 1.0, 6)
    assert apply_params(new, ["seed=random"]).seed is None


def test_stop_strings_collect_unescape_and_clear():
    p = apply_params(SamplingConfig(), ["stop=\\n", "stop=The end"])
    assert p.stop == ["\n", "The end"]
    assert apply_params(p, ["stop="]).stop == []
    assert apply_params(p, ["top_k=3"]).stop == ["\n", "The end"]


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("temprature=0.5", "'temprature' is not a sampling setting."),
        ("temperature=hot", "'hot' is not a valid value for temperature."),
        ("top_k=2.5", "'2.5' is not a valid value for top_k."),
        ("temperature=99", "temperature 99.0 is out of range."),
        ("top_p=0", "top_p 0.0 must be in (0, 1]."),
        ("samples=0", "num_samples 0 must be between 1 and 64."),
        ("temperature", "'temperature' is not an assignment."),
        ("top_k=", "top_k needs a value."),
    ],
)
def test_bad_param_name_or_value_is_one_sentence(assignment, message):
    with pytest.raises(ConfigError) as err:
        apply_params(SamplingConfig(), [assignment])
    assert err.value.message == message
    if assignment.startswith("temprature"):
        assert err.value.hint.startswith("did you mean temperature?")


def test_params_rows_show_every_setting():
    rows = params_rows(SamplingConfig(stop=["\n"]))
    names = [r[0] for r in rows]
    assert names[:3] == ["temperature", "top_k", "top_p"] and "stop" in names
    assert dict((r[0], r[1]) for r in rows)["seed"] == "random"
    assert dict((r[0], r[1]) for r in rows)["stop"] == "'\\n'"


def test_completions_for_commands_params_runs_and_help():
    assert completions("/pa") == ["/params"]
    assert set(completions("/")) == {f"/{n}" for n in COMMANDS}
    assert completions("/params te") == ["temperature="]
    assert completions("/params temperature=0.5 top") == ["top_k=", "top_p="]
    assert completions("/params top_k=5") == []
    assert completions("/load q", ["quick", "small", "quiet"]) == ["quick", "quiet"]
    assert completions("/load quick x", ["quick"]) == []
    assert completions("/help pa") == ["params"]
    assert completions("/seed r") == ["random"]
    assert completions("hello /pa") == [] and completions("/nosuch x") == []


def test_the_core_sampling_modules_import_no_ui_library():
    import subprocess
    import sys

    code = ("import sys, tinygpt_tui.commands, tinygpt_tui.generate; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'prompt_toolkit', 'textual'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_save_delete_and_rename_parse_with_their_arguments():
    from tinygpt_tui.commands import save_args

    assert parse("/rename a b").args == ["a", "b"]
    assert parse("/delete a").name == "delete"
    with pytest.raises(TinyGPTError, match="at most 1"):
        parse("/delete a b")
    assert save_args(parse('/save tokens "my file.csv"').args) == ("tokens", "my file.csv", None)
    assert save_args(["METRICS", "m.json", "quick"]) == ("metrics", "m.json", "quick")
    with pytest.raises(TinyGPTError, match="cannot save 'token'") as e:
        save_args(["token", "t.csv"])
    assert "did you mean tokens?" in e.value.hint
    with pytest.raises(TinyGPTError, match="needs what to save and a file name"):
        save_args(["tokens"])
    with pytest.raises(TinyGPTError, match="takes no run"):
        save_args(["samples", "s.csv", "quick"])
    assert completions("/save t") == ["tokens"]
    assert completions("/save metrics m.csv q", ["quick", "other"]) == ["quick"]


def test_branches_arguments():
    from tinygpt_tui.commands import branches_args

    assert branches_args([]) == ("list", None)
    assert branches_args(["3"]) == ("go", 3)
    assert branches_args(["sample", "2"]) == ("sample", 1)  # shown from 1, kept from 0
    assert branches_args(["save", "t.json"]) == ("save", "t.json")
    for bad in (["sample", "0"], ["sample", "x"], ["sample"], ["nope"]):
        with pytest.raises(TinyGPTError) as err:
            branches_args(bad)
        assert err.value.hint
