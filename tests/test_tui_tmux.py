"""The installed ``tinygpt-tui`` in a real terminal (tmux): type a prompt, read the tokens off the screen.

This is the one test that goes through a real pseudo-terminal, key parsing and the console script,
the way a user meets the app. It skips, saying why, where tmux or the installed script is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tinygpt_tui.config import SamplingConfig

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import make_run  # noqa: E402

PROMPT = "Once upon a time"


def _script() -> str | None:
    """The console script next to this interpreter (a venv), or on PATH."""
    beside = Path(sys.executable).with_name("tinygpt-tui")
    if beside.is_file():
        return str(beside)
    return shutil.which("tinygpt-tui")


class Terminal:
    """A tmux server of this test's own (its own socket, no user configuration) and one session on it.

    A private server per test: on the shared default server, one test's last session closing makes the
    server exit while the next test's ``new-session`` connects to it ("server exited unexpectedly")."""

    def __init__(self) -> None:
        # a short folder of its own under /tmp: a socket's path must stay under about 100 characters
        self.folder = Path(tempfile.mkdtemp(prefix="tinygpt-tmux-"))
        self.socket = str(self.folder / "socket")
        self.session = "app"

    def _command(self, *args: str) -> list[str]:
        return ["tmux", "-S", self.socket, "-f", "/dev/null", *args]

    def tmux(self, *args: str) -> str:
        return subprocess.run(self._command(*args), check=True, capture_output=True, text=True).stdout

    def start(self, cwd: Path, command: str, width: int, height: int) -> None:
        self.tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), "-c", str(cwd),
                  command)
        # keep the pane at this size whatever the server's defaults say
        self.tmux("set-option", "-t", self.session, "window-size", "manual")
        self.tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def screen(self, colours: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", self.session)

    def wait(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if needle in text:
                return text
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} did not appear on screen; the screen was:\n{text}")

    def alive(self) -> bool:
        return subprocess.run(self._command("has-session", "-t", self.session), capture_output=True).returncode == 0

    def wait_closed(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.2)
        assert not self.alive(), f"the app did not exit; the screen was:\n{self.screen()}"

    def close(self) -> None:
        subprocess.run(self._command("kill-server"), capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def terminal():
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux); this test drives the app in a real terminal")
    term = Terminal()
    yield term
    term.close()


@pytest.mark.slow
def test_typed_prompt_streams_tokens_onto_a_real_terminal(home, terminal):
    script = _script()
    if script is None:
        pytest.skip("the tinygpt-tui console script is not installed (pip install -e .)")
    make_run(home / "models")

    # what the fixture model writes for this seed, computed in-process: the screen must show the same
    from tinygpt_tui.workbench import Workbench
    from tinygpt_tui.workspace import Workspace

    workbench = Workbench(Workspace(home / "models", home / "data"))
    workbench.load("fixture")
    seed = next(s for s in range(500) if _first_line_tokens(workbench, s))
    tokens = _first_line_tokens(workbench, seed)
    expected = PROMPT + "".join(f"[{t}]" for t in tokens)

    env = {"TINYGPT_MODELS": str(home / "models"), "TINYGPT_DATA": str(home / "data"), "TERM": "xterm-256color"}
    # COLUMNS/LINES inherited from a test runner would pin the app's size: drop them
    command = "env -u COLUMNS -u LINES " + " ".join(f"{k}={v}" for k, v in env.items()) + f" {script} --run fixture"
    terminal.start(home, command, 120, 36)
    terminal.wait("Prompt, or /command")
    terminal.wait("Loaded fixture")
    terminal.keys("-l", f"/params seed={seed} max_new_tokens={len(tokens)}")
    terminal.keys("Enter")
    terminal.wait(f"seed={seed}")
    terminal.keys("-l", PROMPT)
    terminal.keys("Enter")
    screen = terminal.wait("tokens/s")
    assert expected in screen, f"expected {expected!r} on screen:\n{screen}"
    # select the second token with the keyboard: the detail panel shows its id
    terminal.keys("Tab")
    terminal.keys("Right")
    terminal.keys("Right")
    terminal.wait("token 2 of")
    # ctrl+q quits (nothing is training): the app exits and its tmux session with it
    terminal.keys("C-q")
    terminal.wait_closed()


def _first_line_tokens(workbench, seed: int) -> list[str]:
    """At least four tokens for ``seed`` that print on one line as plain visible characters, or []."""
    out = []
    for record in workbench.generate(PROMPT, SamplingConfig(seed=seed, max_new_tokens=8)):
        if not record.text.isprintable() or not record.text.strip() or record.text == "<|endoftext|>":
            break
        out.append(record.text)
    return out if len(out) >= 4 else []



@pytest.mark.slow
def test_help_and_enter_in_one_burst_on_a_fresh_first_screen_show_the_help(home, terminal):
    """'/help' and Enter arriving together (a paste, tmux, a fast typist) on the very first screen: the
    slash is kept (not selected and replaced), the help opens, and the quick start does not start."""
    script = _script()
    if script is None:
        pytest.skip("the tinygpt-tui console script is not installed (pip install -e .)")
    (home / "models").mkdir(exist_ok=True)
    env = {"TINYGPT_MODELS": str(home / "models"), "TINYGPT_DATA": str(home / "data"), "TERM": "xterm-256color"}
    command = "env -u COLUMNS -u LINES " + " ".join(f"{k}={v}" for k, v in env.items()) + f" {script}"
    terminal.start(home, command, 120, 36)
    terminal.wait("Quick start")
    terminal.keys("/help", "Enter")  # one send: one burst of bytes
    screen = terminal.wait("/params")  # the help lists the commands
    assert "plain text is a prompt" not in screen.lower()
    time.sleep(1.0)
    assert not (home / "models" / "quick").exists(), "a stray Enter started the quick start"
    terminal.keys("Escape")
    terminal.keys("C-q")
    terminal.wait_closed()


STORY_HEADING = re.compile(r"validation story at step (\d+)")


def _story(terminal: Terminal) -> tuple[int | None, str, str]:
    """The story panel's step (None while it is not on screen), its heading, and its lines with their
    colours (the pane captured with escape sequences, from the heading to the samples' title)."""
    lines = terminal.screen(colours=True).splitlines()
    plain = [re.sub(r"\x1b\[[0-9;:]*m", "", line) for line in lines]
    start = next((i for i, line in enumerate(plain) if STORY_HEADING.search(line)), None)
    if start is None:
        return None, "", ""
    end = next((i for i in range(start, len(lines)) if "latest samples" in plain[i]), len(lines))
    return int(STORY_HEADING.search(plain[start]).group(1)), plain[start], "\n".join(lines[start + 1:end])


@pytest.mark.slow
def test_a_live_run_s_story_panel_changes_from_one_evaluation_to_the_next(home, terminal):
    """A real micro run trained in the app: the story panel shows the untrained model's story, then the
    next evaluation's, coloured differently (and with the tokens that fell most underlined); the machine
    panel shows the trainer's CPU meanwhile."""
    script = _script()
    if script is None:
        pytest.skip("the tinygpt-tui console script is not installed (pip install -e .)")
    from tinygpt_tui import runs
    from tinygpt_tui.presets import preset_config

    # micro, characters, a small corpus of built-in stories; evaluations every 50 steps from step 0
    cfg = preset_config("micro", "live", {"tokenizer": {"kind": "char"}, "data": {"max_bytes": 200_000},
                                          "train": {"max_steps": 200, "eval_interval": 50}})
    runs.create_run(home / "models", cfg)
    env = {"TINYGPT_MODELS": str(home / "models"), "TINYGPT_DATA": str(home / "data"), "TERM": "xterm-256color",
           "TINYGPT_THREADS": "1",
           # this checkout's package, also in the training process the app starts
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = "env -u COLUMNS -u LINES " + " ".join(f"{k}={v}" for k, v in env.items()) + f" {script} --run live"
    terminal.start(home, command, 120, 40)
    terminal.wait("not training (s starts or resumes)")
    terminal.keys("s")
    deadline = time.monotonic() + 180
    first: tuple[int, str, str] | None = None
    second: tuple[int, str, str] | None = None
    machine = False
    while time.monotonic() < deadline and second is None:
        step, heading, story = _story(terminal)
        machine = machine or "trainer cpu" in terminal.screen()
        if step is not None and first is None:
            first = (step, heading, story)
        elif step is not None and first is not None and step > first[0]:
            second = (step, heading, story)
        time.sleep(0.1)
    assert first is not None and second is not None, f"the story did not change; the screen was:\n{terminal.screen()}"
    assert second[2] != first[2], "the story's colours did not change between two evaluations"
    assert "\x1b[" in second[2]  # coloured by surprisal
    # the later heading names the evaluation before it, whose surprisals the underlined tokens fell from
    since = re.search(r"fell most since step (\d+)", second[1])
    assert since is not None and first[0] <= int(since.group(1)) < second[0], second[1]
    assert machine, "the machine panel never showed the trainer's CPU while it trained"
    terminal.wait("result:", timeout=180)  # trained to its end: quitting asks nothing
    terminal.keys("C-q")
    terminal.wait_closed()
