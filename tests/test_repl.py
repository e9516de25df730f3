"""The ``tinygpt demo`` REPL driven through prompt-toolkit's pipe input, printing into a StringIO."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from tinygpt_tui import checkpoint, runs
from tinygpt_tui.model import GPT
from tinygpt_tui.presets import preset_config
from tinygpt_tui.repl import Repl, SlashCompleter, history_path
from tinygpt_tui.tokenizer import CharTokenizer
from tinygpt_tui.workbench import Workbench
from tinygpt_tui.workspace import Workspace

torch.set_num_threads(1)

MODELS = Path("models")  # tests run in ``home`` (conftest): its models/ folder


def make_run(name: str = "tiny", seed: int = 0) -> None:
    """A run on disk: config.json, a char tokenizer and random micro-GPT weights."""
    tok = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz .,\n"))
    cfg = preset_config("micro", name=name, overrides={"tokenizer": {"kind": "char"},
                                                      "model": {"vocab_size": tok.vocab_size}})
    d = runs.create_run(MODELS, cfg)
    tok.save(d / runs.TOKENIZER)
    torch.manual_seed(seed)
    checkpoint.save_weights(d / runs.WEIGHTS, GPT(cfg.model), step=0)


def drive(keys: str, run: str | None = "tiny", history=None, patch=None) -> tuple[str, Repl]:
    """Type ``keys`` into a fresh REPL, run it until it leaves, return what it printed."""
    buf = io.StringIO()
    console = Console(file=buf, width=120, color_system=None, force_terminal=False, highlight=False)
    with create_pipe_input() as inp:
        repl = Repl(run, console=console, input=inp, output=DummyOutput(), history=history, workbench=Workbench(Workspace(MODELS, Path("data"))))
        if patch:
            patch(repl)
        inp.send_text(keys)
        assert repl.run() == 0
    return buf.getvalue(), repl


@pytest.fixture
def run(home, monkeypatch):
    monkeypatch.setenv("TINYGPT_HISTORY", str(home / "history"))
    make_run()
    make_run("other", seed=1)
    return home


def test_a_prompt_shows_the_story_first_then_a_short_summary(run):
    out, _ = drive("/params tokens=5 seed=3\rab c\r/quit\r")
    assert "set tokens=5, seed=3" in out
    for part in ("5 tokens", "mean surprisal", "most surprising: ", "/seed 3 repeats this.", "bye"):
        assert part in out, part
    answer = out[out.index("ab c"):]
    assert answer.index("ab c") < answer.index("5 tokens")  # the story comes before anything about it
    assert "Per token" not in out and "Token boundaries" not in out  # the tables are a command away


def test_the_full_tables_are_one_command_away_and_it_repeats_the_answer(run, capsys):
    import shlex

    from tinygpt_tui.cli import main

    out, _ = drive("/params tokens=40 seed=3 temperature=0.9\rab c\r/quit\r")
    answer = out[out.index("ab c"):]
    assert len(answer[:answer.index("bye")].splitlines()) <= 12  # a 40-token answer is a few lines, not ~250
    line = next(line for line in out.splitlines() if line.startswith("tinygpt generate"))
    argv = shlex.split(line)[1:]
    assert argv[argv.index("--show") + 1] == "all"
    story = answer.splitlines()[0]
    assert main(argv) == 0
    full = capsys.readouterr().out
    assert story in full  # the same answer (same seed and settings) ...
    for part in ("Token ID", "Token boundaries", "Pieces", "Per token", "Top alternatives"):
        assert part in full, part  # ... with every table


def test_help_lists_every_command_and_details_one(run):
    out, _ = drive("/help\r/help params\r/?\r/quit\r")
    for name in ("/help", "/params", "/tokens", "/train", "/stop", "/load RUN", "/new", "/clear", "/seed",
                 "/quit"):
        assert name in out, name
    assert "Esc then Enter" in out and "e.g. /params temperature=0.7 top_k=50" in out


def test_params_show_and_set_and_bad_values_keep_the_repl_going(run):
    out, repl = drive("/params\r/params temp=0 k=3\r/params temprature=1\r/params top_p=7\r"
                      "/params top_k=x\r/params\r/quit\r")
    assert "Sampling settings" in out and "temperature" in out
    assert "set temp=0.0, k=3" in out
    assert "error: 'temprature' is not a sampling setting." in out and "did you mean temperature?" in out
    assert "error: top_p 7.0 must be in (0, 1]." in out
    assert "error: 'x' is not a valid value for top_k." in out
    assert repl.params.temperature == 0.0 and repl.params.top_k == 3 and repl.params.top_p != 7


def test_seed_repeats_a_generation_and_shows_itself(run):
    out, repl = drive("/params tokens=8 temperature=1\r/seed 11\r/seed\rabc\rabc\r/seed random\r/quit\r")
    assert "seed set to 11" in out and "seed: 11" in out and "seed set to random" in out
    stories = re.findall(r"^abc.*$", out, flags=re.M)  # the streamed answers
    surprises = re.findall(r"^most surprising: .*$", out, flags=re.M)
    assert len(stories) == 2 and stories[0] == stories[1] and len(surprises) == 2 and surprises[0] == surprises[1]
    assert repl.params.seed is None


def test_tokens_load_new_clear_and_unknown_commands(run):
    out, repl = drive("/tokens\r/load\r/load other\r/load nosuch\r/clear\r/parms\r/quit extra\r/exit\r")
    assert "Vocabulary" in out and "char" in out and "31" in out  # 30 characters + <|endoftext|>
    assert "Runs" in out and "other" in out and "Loaded run 'other'" in out
    assert "error: There is no run named 'nosuch'" in out
    assert "error: Unknown command '/parms'." in out and "did you mean /params?" in out
    assert "error: /quit takes no arguments." in out
    assert repl.workbench.run_name == "other" and out.rstrip().endswith("bye")


def test_new_train_and_stop(run):
    started, stopped = [], []

    def patch(repl):
        def start_training(name, extra_args=None, nproc=1):
            started.append(name)
            proc = SimpleNamespace(proc=SimpleNamespace(pid=4242), run=getattr(name, "name", name))
            repl.workbench.active_training = lambda: [proc]
            return proc

        def stop_training(run, wait=None):
            stopped.append(run)
            repl.workbench.active_training = lambda: []  # a stopped process is no longer active

        repl.workbench.start_training = start_training
        repl.workbench.stop_training = stop_training

    out, _ = drive("/stop\r/train\r/new tiny\r/new fresh\r/stop other\r/stop\r/quit\r", patch=patch)
    assert "Nothing is training here." in out
    assert started[0] == "tiny" and "Training 'tiny' in the background (pid 4242)" in out
    assert "error: A run named 'tiny' already exists." in out and "/train tiny resumes it" in out
    assert started[1].name == "fresh" and started[1].preset == "tiny" and started[1].data.source == "storybook"
    assert "Created run 'fresh'" in out
    assert stopped == ["fresh"] and "Stopped training 'fresh'" in out
    out, _ = drive("/train nosuch\r/quit\r")  # the real workbench refuses a run that does not exist
    assert "error: There is no run named 'nosuch'." in out


def test_bad_prompts_and_no_run_are_one_sentence(run):
    out, _ = drive("ÄÖ\r/quit\r")
    assert "error: The prompt contains 'Ä' (U+00C4)" in out and "Token ID" not in out
    out, _ = drive("hello\r/quit\r", run=None)
    assert "No run loaded" in out and "error: No run is loaded" in out and "hint: load one with /load RUN" in out


def test_multiline_input_by_backslash_and_escape_enter(run):
    seen = []

    def patch(repl):
        repl.generate = seen.append

    drive("one\\\rtwo\rthree\x1b\rfour\r//slash\r\r/quit\r", patch=patch)
    assert seen == ["one\ntwo", "three\nfour", "/slash", ""]


def test_ctrl_d_leaves_and_history_persists_across_sessions(run):
    out, _ = drive("/seed 5\r\x04", history=FileHistory(str(history_path())))
    assert out.rstrip().endswith("bye")
    assert "/seed 5" in history_path().read_text()
    # a second session finds the line with Up
    out, repl = drive("\x1b[A\r/quit\r", history=FileHistory(str(history_path())))
    assert "seed set to 5" in out and repl.params.seed == 5


def test_completion_of_commands_params_and_run_names(run):
    comp = SlashCompleter(lambda: {"tiny", "other"})

    def words(text):
        return [c.text for c in comp.get_completions(Document(text), None)]

    assert words("/lo") == ["/load"]
    assert words("/load o") == ["other"]
    assert words("/params top") == ["top_k=", "top_p="]
    assert words("a prompt") == []


def test_quitting_stops_what_this_session_started(run):
    stopped = []

    def patch(repl):
        proc = SimpleNamespace(run="tiny")
        repl.workbench.active_training = lambda: [proc] if not stopped else []
        repl.workbench.stop_training = lambda run, wait=None: stopped.append(run)

    out, _ = drive("/quit\r", patch=patch)
    assert stopped == ["tiny"] and "Stopping the training of 'tiny'" in out and out.rstrip().endswith("bye")


def test_the_toolbar_shows_live_training_status(run):
    from tinygpt_tui.events import EventError, TrainingState, reduce

    _, repl = drive("/quit\r")
    assert repl.training_status() is None  # nothing started here: no toolbar
    starting = SimpleNamespace(run="a", state=TrainingState(status="preparing", stage="tokenizer",
                                                            stage_message="training a bpe tokenizer"))
    going = TrainingState(status="training", step=1200, loss=1.23456, tokens_per_s=12345.0, eta_s=95.0,
                          val_loss=1.5, val_bpb=0.6, session_logs=3)
    ended = TrainingState(status="done", step=10, reason="finished", message="trained 10 steps")
    warming = TrainingState(status="training", step=5, loss=3.0, tokens_per_s=453.0, eta_s=1680.0, session_logs=1)
    under = TrainingState(status="done", step=360, reason="time", message="trained 360 steps", best_val_bpb=1.45,
                          tokens=1_474_560, elapsed_s=140.0, undertrained=True,
                          undertrained_why="it ran 360 of the 1,000 steps planned in its 140 s budget")
    damaged = reduce(going, EventError("A training event has no 'event' name.", "the stream is damaged."))
    repl.workbench.started_training = lambda: [starting, SimpleNamespace(run="b", state=going),
                                            SimpleNamespace(run="c", state=ended),
                                            SimpleNamespace(run="d", state=damaged),
                                            SimpleNamespace(run="e", state=warming),
                                            SimpleNamespace(run="f", state=under)]
    lines = repl.training_status().splitlines()
    assert lines[0] == " a: training a bpe tokenizer"
    assert lines[1].startswith(" b: step 1,200  loss 1.235  val 1.500 (0.600 bits/byte)  12.3k tok/s  ETA 1m35s")
    assert lines[2].startswith(" c: done: trained 10 steps result:") and "Under-trained" not in lines[2]
    assert "warming up" in lines[4] and "453" not in lines[4] and "ETA" not in lines[4]
    assert "best val 1.450 bits/byte, 1.5M tokens, 2m20s" in lines[5]
    assert "Under-trained: it ran 360 of the 1,000 steps" in lines[5] and "/continue 2m f" in lines[5]
    assert lines[3].startswith(" d: step 1,200") and lines[3].endswith(
        "(A training event has no 'event' name. Hint: the stream is damaged.)")


def test_continue_trains_a_run_further(run):
    """/continue N [RUN] extends the run's budget and resumes its training in the background."""
    started = []

    def patch(repl):
        repl.workbench.start_training = lambda name: started.append(name) or SimpleNamespace(
            proc=SimpleNamespace(pid=42))
    out, repl = drive("/continue 300\r/continue 2m other\r/continue soon\r/quit\r", patch=patch)
    assert started == ["tiny", "other"]
    assert "Continuing 'tiny' for 300 more steps" in out and "Continuing 'other' for 2m00s more" in out
    assert repl.workbench.run_config("tiny").train.max_steps == 300
    assert repl.workbench.run_config("other").train.max_time == 120.0
    assert "no run named 'soon'" in out


def test_a_resumable_end_is_worded_as_before():
    from tinygpt_tui.events import TrainingState, fold
    from tinygpt_tui.repl import end_message

    done = {"event": "done", "step": 5, "reason": "interrupted", "resumable": True, "stage": "training",
            "path": "m"}
    assert end_message(fold([done])) == \
        "stopped at step 5; checkpoint saved in m. Run the same command again to resume."
    early = {**done, "stage": "corpus", "began": False}
    assert end_message(fold([early])) == "stopped before training began; run the same command again to continue."
    assert end_message(TrainingState(status="error", message="boom", resumable=True)) == "boom"


def test_markup_in_params_prompts_and_names_is_shown_as_text(run):
    """Issue 15 item 1: /params stop=[/INST] then /params killed the REPL (and orphaned its runs)."""
    out, repl = drive("/params stop=[/INST]\r/params\r/params stop=[/]\r/params\r/load [/x]\r/quit\r")
    assert "[/INST]" in out and "bye" in out
    assert repl.params.stop == ["[/]"]


@pytest.mark.slow
def test_leaving_the_repl_saves_a_checkpoint_of_a_real_training_process(run, write_stories, monkeypatch, request):
    """No fakes: /train spawns the trainer; /quit must stop it with SIGINT so it saves a resume point
    (evaluations are too rare here for a checkpoint to come from anywhere else)."""
    import os
    import time as _time

    from tinygpt_tui.workbench import Workbench as _Workbench

    root = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    corpus = write_stories(3, 200)
    cfg = preset_config("micro", name="live", overrides={
        "data": {"source": str(corpus)}, "tokenizer": {"kind": "char"},
        "train": {"dtype": "float32", "device": "cpu", "max_steps": 100_000, "eval_interval": 100_000,
                  "log_interval": 1}})
    runs.create_run(MODELS, cfg)
    real_start = _Workbench.start_training

    def start_and_wait_for_steps(self, name, *a, **k):
        proc = real_start(self, name, *a, **k)
        # a failing test must not leave a trainer of 100,000 steps running behind it
        request.addfinalizer(lambda: proc._signal(signal.SIGKILL))
        deadline = _time.monotonic() + 90
        while _time.monotonic() < deadline:
            if any(e.get("event") == "step" for e in runs.read_metrics(MODELS / "live")[0]):
                return proc
            _time.sleep(0.1)
        raise AssertionError("the trainer never reached a step")

    monkeypatch.setattr(_Workbench, "start_training", start_and_wait_for_steps)
    out, repl = drive("/train live\r/quit\r", run=None)
    assert "Stopping the training of 'live'" in out and out.rstrip().endswith("bye")
    summary = runs.state_summary(MODELS / "live")
    assert summary is not None and summary["step"] >= 1, "leaving the REPL saved no checkpoint"
    checkpoint.load_model(MODELS / "live", "latest")
    assert not runs.is_training(MODELS / "live") and not (MODELS / "live" / runs.LOCK).exists()
    done = [e for e in runs.read_metrics(MODELS / "live")[0] if e.get("event") == "done"]
    assert done and done[-1]["reason"] == "interrupted" and done[-1]["step"] == summary["step"]


def test_lens_and_cuts_look_into_a_token_of_the_last_generation(run):
    out, repl = drive("/lens 1\r/params tokens=6 seed=3 temperature=0.8 top_k=4 samples=2\rab c\r"
                      "/lens 2\r/cuts 2 2\r/lens 9\r/cuts 1 3\r/lens x\r/quit\r")
    assert "error: There is no generation to look into yet." in out
    prompt, records, params = repl.last_generation
    assert (prompt, params.top_k, params.num_samples) == ("ab c", 4, 2)
    # the lens of token 2 of the first sample: one row per layer (emb and each block), the last
    # one's probability being the record's own
    rec = next(r for r in records if r.sample == 0 and r.index == 1)  # token 2, numbered from 1
    lens_part = out.split("Logit lens of token 2")[1].split("The sampler's cuts")[0]
    n_layer = repl.workbench.config.model.n_layer
    rows = [line.split() for line in lens_part.splitlines() if re.match(r"^\s+(emb|\d+)\s+\d", line)]
    assert [r[0] for r in rows] == ["emb"] + [str(i) for i in range(1, n_layer + 1)]
    assert rows[-1][1] == f"{rec.prob * 100:.1f}%" and rows[-1][2] == str(rec.rank)
    # the cuts of token 2 of the second sample: its last stage is what the sampler drew from
    rec2 = next(r for r in records if r.sample == 1 and r.index == 1)
    cuts_part = out.split("The sampler's cuts at token 2")[1]
    stages = {line.split()[0]: line.split() for line in cuts_part.splitlines()
              if re.match(r"^\s+(raw|temperature|top-k|top-p)\s", line)}
    assert list(stages) == ["raw", "temperature", "top-k", "top-p"]
    assert stages["top-k"][1:3] == ["top_k=4", "4"]  # four tokens left
    assert stages["raw"][4] == f"{rec2.prob * 100:.1f}%" and stages["raw"][5] == str(rec2.rank)
    assert f"{rec2.prob_sampled * 100:.1f}%" in stages["top-k"]
    assert "error: There is no token 9: the sample has 6 tokens." in out
    assert "error: The last generation has no sample 3." in out
    assert "error: 'x' is not a token number." in out


def test_branch_continues_from_an_alternative_and_branches_lists_saves_and_opens(run, home):
    keys = "/params tokens=12 seed=5 temperature=1\rabc\r"
    _, first = drive(keys + "/quit\r")
    seq = first.tree.sequence(0)
    assert len(seq) > 2, "the fixture sample ended too early to branch from"
    # the rank (as the per-token table shows it) of an alternative that is not the sampled token
    rank, alt = next((k, a) for k, a in enumerate(seq[1].alternatives, 1) if a.id != seq[1].id)  # token 2
    out, repl = drive(keys + f"/branch 2 {rank}\r/branches\r/branches save tree.json\r/branches 0\r"
                      "/branches open tree.json\r/quit\r")
    tree = repl.tree
    assert len(tree.branches) == 2 and tree.branches[1].token == alt.id and tree.branches[1].position == 1
    assert tree.branches[1].records[0].id == alt.id
    total = f"{tree.total_logprob(1):.3f}"
    assert f"branch 1: root → #2 {alt.text!r}" in out and f"total ln P {total}" in out
    assert "Branches of 'abc'" in out and total in out.split("Branches of 'abc'")[1]
    assert "Saved 2 branches to tree.json" in out and "Opened tree.json: 2 branches." in out
    assert (home / "tree.json").is_file() and repl.branch_id == 0


def test_branch_mistakes_are_one_sentence(run, home):
    (home / "bad.json").write_text('{"format": "something else"}', encoding="utf-8")
    out, repl = drive("/branch 1 1\r/params tokens=6 seed=5\rabc\r/branch x 1\r/branch 99 1\r/branch 1 99\r"
                      "/branch 1 text=abc\r/branches 7\r/branches open nosuch.json\r/branches open bad.json\r"
                      "/branches frob\r/quit\r")
    for sentence in ("There is nothing to branch from yet.", "'x' is not a token position.", "not #99.",
                     "alternatives shown, not 99.", "'abc' is 3 tokens, not one.", "There is no branch 7.",
                     "There is no file nosuch.json.", "bad.json is not a branch tree of tinygpt.",
                     "/branches does not know 'frob'."):
        assert sentence in out, sentence
    assert "Traceback" not in out and len(repl.tree.branches) == 1


@pytest.mark.bare_models  # checks everything the models folder holds
def test_rename_delete_after_asking_and_save_in_the_repl(run):
    import csv
    import json

    out, repl = drive("/rename other second\r/rename second tiny\r/delete tiny\r"
                      "/delete second\rn\r/delete second\ry\r/delete second\r"
                      "/params tokens=6 seed=2 samples=2\rab\r/save tokens t.csv\r/save samples s.json\r"
                      "/save tokens t.csv\r/save metrics m.csv\r/quit\r")
    assert "Renamed run 'other' to 'second'." in out
    assert "error: The name 'tiny' is taken" in out
    assert "error: Run 'tiny' is loaded here, so it cannot be deleted." in out
    assert "Kept run 'second'." in out and "Deleted run 'second' (3 files" in out
    assert "error: There is no run named 'second'" in out
    assert sorted(p.name for p in MODELS.iterdir()) == ["tiny"]
    records = repl.last_records
    assert len({r.sample for r in records}) == 2
    with open("t.csv", newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert [int(r["id"]) for r in back] == [r.id for r in records] and f"Saved {len(records)} tokens to t.csv" in out
    samples = json.load(open("s.json", encoding="utf-8"))
    assert [s["text"] for s in samples] == ["".join(r.text for r in records if r.sample == k) for k in (0, 1)]
    assert all(s["prompt"] == "ab" for s in samples)
    assert "error: t.csv already exists; saving never replaces a file." in out
    assert "error: Run 'tiny' has no metrics yet." in out


def test_each_sample_has_its_own_branch_tree(run, home):
    """Two samples: /branches sample 2 shows the second's tree, /branch grows it (with its own seed),
    the first keeps its own; save and open keep both."""
    keys = "/params tokens=10 seed=5 temperature=1 samples=2\rabc\r"
    _, first = drive(keys + "/quit\r")
    assert first.trees.samples() == [0, 1] and first.trees.current == 0
    second = first.trees.trees[1]
    assert second.params.seed == 6 and second.sample == 1
    seq = second.sequence(0)
    assert len(seq) > 2, "the fixture's second sample ended too early to branch from"
    rank, alt = next((k, a) for k, a in enumerate(seq[1].alternatives, 1) if a.id != seq[1].id)
    out, repl = drive(keys + f"/branches sample 2\r/branch 2 {rank}\r/branches sample 1\r/branches save trees.json\r"
                      "/branches sample 3\r/branches sample 2\r/branches open trees.json\r/quit\r")
    trees = repl.trees
    assert trees.samples() == [0, 1] and len(trees.trees[1].branches) == 2 and len(trees.trees[0].branches) == 1
    assert trees.trees[1].branches[1].token == alt.id
    assert "Sample 2's tree (each sample has its own: 1, 2;" in out
    assert "Saved 3 branches in 2 samples' trees to trees.json" in out
    assert "Sample 3 has no branch tree (samples with one: 1, 2)." in out
    assert "Opened trees.json: 3 branches in 2 samples' trees." in out
    assert trees.current == 0 and repl.branch_id == 0  # saved with sample 1 in view


def test_compare_prints_the_runs_table_and_an_unknown_run_is_one_sentence(run):
    import json

    from fixtures_runs import metric_events

    # "other" has metrics: its row has its best validation bits per byte, and the chart its curve
    lines = metric_events(50)
    (MODELS / "other" / runs.METRICS).write_text("".join(json.dumps(e) + "\n" for e in lines))
    out, _ = drive("/compare tiny other\r/compare tiny nope\r/compare\r/quit\r")
    best = min(e["val_bpb"] for e in lines if e["event"] == "eval")
    table = out[out.index("runs compared"):]
    assert "tiny" in table and "other" in table and f"{best:.4f}" in table
    assert "validation bits per byte" in out and "tokens seen" in out  # the chart
    assert "no run named 'nope'" in out and "Which runs?" in out


def test_timelapse_reads_a_text_under_each_checkpoint_of_the_history(run):
    from tinygpt_tui import history

    out, _ = drive("/timelapse ab c\r/quit\r")
    assert "no checkpoint history" in out and "--more" in out  # one sentence, and the REPL goes on
    cfg = runs.load_run_config(MODELS / "tiny")
    for step, seed in ((0, 5), (10, 0)):
        torch.manual_seed(seed)
        history.save_frame(MODELS / "tiny", GPT(cfg.model), step=step, tokens=step * 64, val_loss=None, bound=24)
    out, _ = drive("/timelapse ab c\r/quit\r")
    assert "tiny: 2 checkpoints, steps 0 to 10" in out and "step 10" in out and "mean" in out
    rows = [line for line in out.splitlines() if line.startswith(("a ", "b ", "c "))]
    assert len(rows) == 3 and all("█" in r for r in rows)
