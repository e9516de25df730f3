"""Fuzzing with hypothesis: whatever a user types or a file holds ends in one sentence, never a
traceback, a hang, or a change on disk the user did not ask for.

- slash commands and ``/params`` values (commands.py, and the REPL handling a line),
- ``tinygpt`` argument vectors through ``cli.main`` in this process (exit 0 or 2, one sentence),
- prompts (any Unicode, control characters) and bytes on standard input,
- run folders whose files are truncated, bit-flipped or replaced,
- data files: bad Parquet, deep JSON nesting, invalid UTF-8, one huge line.

The example counts here keep the normal suite fast; ``pytest -m soak tests/test_fuzz.py`` runs the
same properties with many more examples (``TINYGPT_FUZZ_EXAMPLES``, default 1000).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tinygpt_tui import checkpoint, cli, commands, runs
from tinygpt_tui.config import SamplingConfig, TinyGPTError

FAST = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SOAK = settings(max_examples=int(os.environ.get("TINYGPT_FUZZ_EXAMPLES", "1000")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# any text, markup ('[' opens a Rich/Textual tag) included: foreign text is always shown as text
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
TEXT = ANY_TEXT
MARKUP = st.sampled_from(["[/INST]", "[/]", "[bold]x", "[/quote]", "[link=x]y[/link]", "[[", "\\[x]"])
NUMBERS = st.sampled_from(["0", "1", "2", "-1", "0.5", "nan", "inf", "-inf", "1e309", "3", "x", "", " ",
                           "007", "1_0", "0x10", "true", "none"])


# --------------------------------------------------------------------------------------------------
# helpers


def tree(root: Path) -> dict[str, str]:
    """Hashes of every file under ``root`` (what 'nothing on disk changed' compares)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], stdin: bytes | str | None = None) -> tuple[int, str, str]:
    """``cli.main(argv)`` in this process: (exit code, stdout, stderr). Anything it raises but
    SystemExit (argparse's usage errors) fails the test with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        raw = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(argv)
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 2
    finally:
        sys.stdin = old_stdin
    return rc, out.getvalue(), err.getvalue()


def assert_sentence(rc: int, out: str, err: str, argv: object = None) -> None:
    """Exit 0, or exit 2 with a short message (one sentence and a hint, or argparse's usage)."""
    assert rc in (0, 2), (argv, rc, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out, (argv, err[-2000:])
    if rc == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines, (argv, "exit 2 without a word")
        assert lines[-1].startswith(("error:", "hint:", "tinygpt")) or "error:" in err, (argv, err)


# --------------------------------------------------------------------------------------------------
# slash commands and /params


COMMAND_NAMES = st.sampled_from([f"/{n}" for n in commands.command_names()]
                                + ["/", "//", "/?", "/PARAMS", "/temp", "/x", "/ params"])
ASSIGNMENT = st.builds(lambda k, v: f"{k}={v}",
                       st.sampled_from([*commands.param_names(), "temp", "k", "p", "tokens", "bogus", "", "top-k"]),
                       st.one_of(NUMBERS, TEXT))


def check_line(line: str) -> None:
    try:
        cmd = commands.parse(line)
    except TinyGPTError as e:
        assert e.message and "\n" not in e.message.strip()
        return
    if cmd is not None:
        commands.lookup(cmd.name)
        assert cmd.raw == line
    else:
        assert isinstance(commands.prompt_text(line), str)


@FAST
@given(st.one_of(ANY_TEXT, st.builds(lambda c, a: f"{c} {' '.join(a)}", COMMAND_NAMES, st.lists(st.one_of(TEXT, ASSIGNMENT), max_size=4))))
def test_any_line_parses_or_is_refused_in_one_sentence(line):
    check_line(line)


@FAST
@given(st.lists(st.one_of(ASSIGNMENT, TEXT), max_size=5))
def test_any_params_are_applied_validated_or_refused(assignments):
    before = SamplingConfig()
    try:
        after = commands.apply_params(before, assignments)
    except TinyGPTError as e:
        assert e.message
        return
    assert before == SamplingConfig()  # never modified in place
    SamplingConfig(**{f: getattr(after, f) for f in commands.param_names()})  # the result is valid
    commands.format_params(after)
    assert [r[0] for r in commands.params_rows(after)] == commands.param_names()


@FAST
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_completions_never_raise(text):
    for candidate in commands.completions(text, ["fixture", "fresh"]):
        assert isinstance(candidate, str)


# --------------------------------------------------------------------------------------------------
# the REPL, one line at a time


def _repl(home: Path):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    from rich.console import Console

    from tinygpt_tui.repl import Repl
    from tinygpt_tui.workbench import Workbench
    from tinygpt_tui.workspace import Workspace

    buf = io.StringIO()
    console = Console(file=buf, width=100, color_system=None, force_terminal=False, highlight=False)
    ctx = create_pipe_input()
    inp = ctx.__enter__()
    repl = Repl("fixture", console=console, input=inp, output=DummyOutput(),
                workbench=Workbench(Workspace(home / "models", home / "data")))
    return repl, buf, ctx


SAFE_COMMANDS = st.sampled_from(["/params", "/help", "/tokens", "/seed", "/clear", "/load", "/stop", "/?",
                                 "/bogus", "/", "//"])


def _repl_lines(text: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    line = st.one_of(text, st.builds(lambda c, a: f"{c} {' '.join(a)}", SAFE_COMMANDS,
                                     st.lists(st.one_of(text, ASSIGNMENT), max_size=3)))
    return st.lists(line, min_size=1, max_size=4)


def _drive_repl(home: Path, lines: list[str]) -> str:
    repl, buf, ctx = _repl(home)
    try:
        assert repl.handle("/params tokens=2 samples=1 seed=1") is True
        for line in lines:
            assert repl.handle(line) is True, line  # nothing here asks to leave
        assert repl.handle("/params") is True
    finally:
        ctx.__exit__(None, None, None)
    out = buf.getvalue()
    assert "Traceback" not in out
    return out


@pytest.fixture
def fixture_home(runs_home, monkeypatch):
    monkeypatch.setenv("TINYGPT_HISTORY", str(runs_home / "history"))
    return runs_home


@FAST
@given(lines=_repl_lines(TEXT))
def test_the_repl_answers_any_line_and_keeps_going(fixture_home, lines):
    models = fixture_home / "models"
    before = tree(models)
    _drive_repl(fixture_home, lines)
    assert tree(models) == before


@settings(FAST, max_examples=10)
@given(lines=_repl_lines(st.one_of(TEXT, MARKUP)))
@example(lines=["/params stop=[/INST]"])
def test_the_repl_shows_markup_as_text(fixture_home, lines):
    out = _drive_repl(fixture_home, lines)
    for line in lines:
        for part in line.split():
            if part.startswith("stop=[/"):
                assert part[5:] in out


# --------------------------------------------------------------------------------------------------
# command lines through cli.main


FLAG_VALUES = {
    "--tokens": st.sampled_from(["0", "1", "3", "-1", "x", "", "1e3"]),
    "--samples": st.sampled_from(["0", "1", "2", "-3", "x"]),
    "--temperature": NUMBERS, "--top-k": NUMBERS, "--top-p": NUMBERS, "--seed": NUMBERS,
    "--alternatives": st.sampled_from(["0", "1", "5", "-1", "x", "100000"]),
    "--show": st.sampled_from(["text", "tokens", "table", "bogus", "", "text,table", "all", "attention"]),
    "--stop": TEXT, "--prompt": TEXT, "--checkpoint": st.sampled_from(["best", "latest", "worst"]),
    "--run": st.sampled_from(["fixture", "fresh", "nope", "", "../x", "a/b", ".", "-x"]),
    "--top": st.sampled_from(["0", "1", "-1", "x", "3"]),
    "--kind": st.sampled_from(["char", "bpe", "gpt2", "x"]),
    "--device": st.sampled_from(["cpu", "auto", "x", ""]),
    "--which": st.sampled_from(["best", "latest", "x"]),
    "--batch-size": st.sampled_from(["1", "0", "-1", "x"]),
    "-n": st.sampled_from(["0", "1", "2", "-1", "x"]),
    "--source": st.sampled_from(["storybook", "nosuch.txt", "hf:", "", "a.parquet", "mix:", "x:y", "/"]),
}
SUBCOMMANDS = {
    ("generate",): ["--run", "--prompt", "--tokens", "--samples", "--temperature", "--top-k", "--top-p",
                    "--seed", "--stop", "--alternatives", "--show", "--checkpoint", "--json"],
    ("score",): ["--run", "--checkpoint", "--json", "--table"],
    ("tokenize",): ["--run", "--json"],
    ("tokenizer", "info"): ["--run", "--json"],
    ("vocab",): ["--run", "--top", "--json"],
    ("data", "info"): ["--json"],
    ("data", "sample"): ["--source", "-n", "--seed", "--json"],
    ("eval",): ["--run", "--which", "--batch-size", "--json"],
}


@st.composite
def argvs(draw, text: st.SearchStrategy[str] = TEXT) -> list[str]:
    head = draw(st.sampled_from(sorted(SUBCOMMANDS)))
    argv = list(head)
    flags = draw(st.lists(st.sampled_from(SUBCOMMANDS[head] + ["--bogus", "-h"]), max_size=4))
    for flag in flags:
        argv.append(flag)
        if flag in ("--json", "--table", "--bogus", "-h"):
            continue
        argv.append(draw(FLAG_VALUES.get(flag, text)))
    if head in (("tokenize",), ("score",)):
        argv.append(draw(text))  # the text positional
    if head == ("eval",):
        argv += ["--data", draw(st.sampled_from(["nosuch.txt", "story.txt", ""]))]
    if head == ("data", "info"):
        argv += draw(st.lists(text, max_size=1))
    if "--run" not in argv and head in (("tokenize",), ("tokenizer", "info"), ("vocab",), ("eval",)):
        argv += ["--run", "fixture"]
    return argv


@FAST
@given(argv=argvs())
@example(argv=["generate", "--run", "fixture", "--tokens", "3", "--seed", "1", "--show", "all"])
@example(argv=["tokenize", "--run", "fixture", "a\x00b\x1b[31mc\r\n"])
@example(argv=["score", "--run", "fresh", "x"])
def test_any_command_line_ends_in_exit_0_or_one_sentence(fixture_home, argv):
    (fixture_home / "story.txt").write_text("Once upon a time there was a fox.\n", encoding="utf-8")
    before = tree(fixture_home / "models")
    rc, out, err = run_cli(argv)
    assert_sentence(rc, out, err, argv)
    assert tree(fixture_home / "models") == before


def test_a_dataset_name_with_markup_is_text(fixture_home):
    rc, out, err = run_cli(["data", "info", "a[/]"])
    assert_sentence(rc, out, err)
    assert rc == 2 and "'a[/]'" in err


@FAST
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_prompt_tokenizes_through_stdin(fixture_home, text):
    rc, out, err = run_cli(["tokenize", "--run", "fixture", "--json", "-"], stdin=text)
    assert_sentence(rc, out, err)
    if rc == 0:  # standard input arrives whole, every character accounted for
        shown = json.loads(out)
        assert shown["text"] == text and shown["count"] == len(shown["tokens"])


@settings(FAST, max_examples=10)
@given(data=st.binary(max_size=40))
@example(data=b"abc\xff\xfe")
def test_invalid_utf8_on_stdin_is_one_sentence(fixture_home, data):
    rc, out, err = run_cli(["tokenize", "--run", "fixture", "-"], stdin=data)
    assert_sentence(rc, out, err)


# --------------------------------------------------------------------------------------------------
# damaged run folders: listing, loading and resuming each refuse in one sentence, and change nothing


DEEP = b"[" * 100_000 + b"]" * 100_000  # deeper than Python's recursion limit
RUN_FILES = [runs.CONFIG, runs.TOKENIZER, runs.STATE_JSON, runs.METRICS, runs.WEIGHTS, runs.BEST, runs.STATE]


@st.composite
def damage(draw, files=RUN_FILES):
    """(file name, how, parameter): truncate at a fraction, flip one bit, or replace with bytes."""
    name = draw(st.sampled_from(files))
    how = draw(st.sampled_from(["truncate", "flip", "replace", "empty"]))
    if how == "truncate":
        return name, how, draw(st.floats(0, 1, exclude_max=True))
    if how == "flip":
        return name, how, (draw(st.floats(0, 1, exclude_max=True)), draw(st.integers(0, 7)))
    if how == "replace":
        return name, how, draw(st.one_of(st.binary(max_size=64), st.just(b"\xff\xfe\x00"),
                                          st.just(b"{}"), st.just(b"[]"), st.just(b"null"),
                                          st.just(DEEP)))
    return name, how, None


def apply_damage(run: Path, name: str, how: str, param) -> None:
    path = run / name
    data = path.read_bytes()
    if how == "truncate":
        data = data[: int(len(data) * param)]
    elif how == "flip":
        at = min(int(len(data) * param[0]), len(data) - 1)
        data = data[:at] + bytes([data[at] ^ (1 << param[1])]) + data[at + 1:]
    elif how == "replace":
        data = param
    else:
        data = b""
    path.write_bytes(data)


def open_run_every_way(home: Path) -> None:
    """List, load (best and latest), check the resume point, and generate through the CLI."""
    from tinygpt_tui.tokenizer import load_tokenizer

    models = home / "models"
    run = models / "fixture"
    runs.list_runs(models)
    for which in ("best", "latest"):
        try:
            checkpoint.load_model(run, which)
        except TinyGPTError as e:
            assert e.message
    try:
        cfg = runs.load_run_config(run)
        tok = load_tokenizer(run / runs.TOKENIZER)
        checkpoint.check_resume_point(run, cfg, tok)
    except TinyGPTError as e:
        assert e.message
    runs.read_metrics(run)
    runs.state_summary(run)
    rc, out, err = run_cli(["generate", "--run", "fixture", "--tokens", "2", "--seed", "1"])
    assert_sentence(rc, out, err)
    rc, out, err = run_cli(["tokenizer", "info", "--run", "fixture"])
    assert_sentence(rc, out, err)


def _damaged_run_check(home: Path, hurt: tuple) -> None:
    run = home / "models" / "fixture"
    saved = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    try:
        apply_damage(run, *hurt)
        before = tree(home / "models")
        open_run_every_way(home)
        assert tree(home / "models") == before, "opening a damaged run changed it"
    finally:
        for name, data in saved.items():
            (run / name).write_bytes(data)


@FAST
@given(hurt=damage(files=[runs.STATE_JSON, runs.METRICS, runs.WEIGHTS, runs.BEST, runs.STATE]))
@example(hurt=(runs.WEIGHTS, "flip", (0.9, 3)))
@example(hurt=(runs.STATE, "truncate", 0.5))
@example(hurt=(runs.METRICS, "replace", b"\xff\xfe{\n[1,2]\n\"x\"\n"))
@example(hurt=(runs.METRICS, "replace", DEEP + b"\n"))
@example(hurt=(runs.STATE_JSON, "replace", DEEP))
def test_a_damaged_checkpoint_or_log_is_refused_in_one_sentence(fixture_home, hurt):
    _damaged_run_check(fixture_home, hurt)


@FAST
@given(hurt=damage(files=[runs.CONFIG, runs.TOKENIZER]))
@example(hurt=(runs.CONFIG, "truncate", 0.5))
@example(hurt=(runs.TOKENIZER, "flip", (0.5, 1)))
@example(hurt=(runs.TOKENIZER, "replace", b"{}"))
@example(hurt=(runs.TOKENIZER, "replace", DEEP))
@example(hurt=(runs.CONFIG, "replace", DEEP))
def test_a_damaged_config_or_tokenizer_file_is_refused_in_one_sentence(fixture_home, hurt):
    _damaged_run_check(fixture_home, hurt)


@pytest.mark.parametrize("config", [{"data": {"source": 5}}, {"model": []}, {"name": 7}])
def test_a_config_with_wrong_types_is_refused_in_one_sentence(fixture_home, config):
    path = fixture_home / "models" / "fixture" / runs.CONFIG
    cfg = json.loads(path.read_text())
    for section, value in config.items():
        cfg[section] = {**cfg[section], **value} if isinstance(value, dict) else value
    path.write_text(json.dumps(cfg))
    before = tree(fixture_home / "models")
    open_run_every_way(fixture_home)
    assert tree(fixture_home / "models") == before


# --------------------------------------------------------------------------------------------------
# data files


def _deep_json(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}\n"


def _bad_parquet(home: Path) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = home / "good.parquet"
    pq.write_table(pa.table({"text": ["Once upon a time.", "The end."]}), path)
    data = path.read_bytes()
    path.unlink()
    return data[: len(data) // 2] + data[-8:]  # a header that lies about its footer


DATA_FILES = {
    "bad.parquet": lambda home: b"PAR1 not really a parquet file PAR1",
    "truncated.parquet": _bad_parquet,
    "deep.jsonl": lambda home: _deep_json(100_000),
    "notjson.jsonl": lambda home: b'{"text": "ok"}\n{"text": \n[1, 2]\n"just a string"\n',
    "latin1.txt": lambda home: "caf\xe9 na\xefve\n".encode("latin-1") + b"\xff\xfe\x80\n",
    "huge.txt": lambda home: b"a" * 8_000_000,
    "empty.txt": lambda home: b"",
    "nul.txt": lambda home: b"\x00" * 1000,
}


@pytest.mark.parametrize("name", sorted(DATA_FILES))
def test_a_bad_data_file_is_read_or_refused_in_one_sentence(home, name):
    path = home / name
    path.write_bytes(DATA_FILES[name](home))
    data_before = tree(home / "data")
    rc, out, err = run_cli(["data", "sample", "--source", str(path), "-n", "2"])
    assert_sentence(rc, out, err, name)
    assert tree(home / "data") == data_before  # sampling writes nothing
    rc, out, err = run_cli(["data", "prepare", "--source", str(path), "--name", "fz", "--json"])
    assert_sentence(rc, out, err, name)
    if rc == 2:  # a refused preparation leaves no half-made dataset behind
        assert not (home / "data" / "fz" / "source.json").exists()


# --------------------------------------------------------------------------------------------------
# the same properties, many more examples (on demand)


@pytest.mark.soak
@SOAK
@given(line=st.one_of(ANY_TEXT, st.builds(lambda c, a: f"{c} {' '.join(a)}", COMMAND_NAMES, st.lists(st.one_of(TEXT, ASSIGNMENT), max_size=6))))
def test_soak_lines(line):
    check_line(line)


@pytest.mark.soak
@SOAK
@given(argv=argvs())
def test_soak_command_lines(fixture_home, argv):
    (fixture_home / "story.txt").write_text("Once upon a time there was a fox.\n", encoding="utf-8")
    before = tree(fixture_home / "models")
    rc, out, err = run_cli(argv)
    assert_sentence(rc, out, err, argv)
    assert tree(fixture_home / "models") == before


@pytest.mark.soak
@SOAK
@given(hurt=damage())
def test_soak_damaged_runs(fixture_home, hurt):
    _damaged_run_check(fixture_home, hurt)
