"""Shared fixtures: an isolated home for runs and data, and the shared real-data files."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from tinygpt_tui.config import EOT
from tinygpt_tui.workspace import Workspace

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def measured_peaks(tmp_path_factory) -> Path:
    """This machine's matmul peaks in float32 and bfloat16, measured once a session (2-3 s) into a
    peak table (device.measure_peak_flops), instead of once in every test's fresh models folder."""
    import torch

    from tinygpt_tui import device

    path = tmp_path_factory.mktemp("peaks") / device.PEAK_TABLE
    for dtype in (torch.float32, torch.bfloat16):
        device.measure_peak_flops(torch.device("cpu"), dtype, table=path)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch, request) -> Path:
    """A temporary working folder with its own models/ and data/, used as the current directory (so
    the entry points' default folders, ./models and ./data, are these). Folder variables a developer
    has set are cleared: the entry points would read them. Its models folder starts with the session's
    measured peaks, as one that has trained before keeps them; a test marked ``bare_models`` (one that
    checks everything a models folder holds) starts with an empty one."""
    (tmp_path / "models").mkdir()
    if request.node.get_closest_marker("bare_models") is None:
        peaks = request.getfixturevalue("measured_peaks")
        shutil.copyfile(peaks, tmp_path / "models" / peaks.name)
    (tmp_path / "data").mkdir()
    monkeypatch.delenv("TINYGPT_MODELS", raising=False)
    monkeypatch.delenv("TINYGPT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def workspace(home) -> Workspace:
    """The workspace of ``home``: its models/ and data/ folders, as absolute paths."""
    return Workspace(home / "models", home / "data")


@pytest.fixture(scope="session")
def tinystories() -> Path:
    """Real TinyStories text shipped beside the project for tests; skipped where absent."""
    path = SHARED_DATA / "tinystories" / "sample.txt"
    if not path.is_file():
        pytest.skip(f"real TinyStories sample not found at {path} (only development checkouts have it)")
    return path


@pytest.fixture
def gpt2_cache(monkeypatch) -> Path:
    """Point tiktoken at the offline GPT-2 cache; skipped where absent."""
    path = SHARED_DATA / "tiktoken"
    if not (path.is_dir() and any(path.iterdir())):
        pytest.skip(f"offline tiktoken cache not found at {path}; GPT-2 encoding needs it without a network")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def _single_thread_torch():
    """Keep each test on modest threads so the suite behaves on two cores."""
    yield


def pytest_configure(config):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


NAMES = ["Lily", "Tom", "Mia", "Ben", "Sam", "Zoe"]
THINGS = ["a red ball", "a small cat", "a big tree", "a blue kite", "a shiny stone", "a little boat"]
PLACES = ["the park", "the garden", "the beach", "the forest", "the town"]
FEELINGS = ["happy", "sad", "brave", "tired", "curious"]


def made_up_stories(seed: int, n: int) -> list[str]:
    """Small made-up stories for tests (deterministic, independent of the story generator)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name, thing, place = rng.choice(NAMES), rng.choice(THINGS), rng.choice(PLACES)
        lines = [f"Once upon a time, {name} went to {place}.", f"{name} saw {thing}.",
                 f"{name} felt {rng.choice(FEELINGS)}.", f'"Look at {thing}!" said {name}.',
                 f"Then {name} went home and slept."]
        out.append(" ".join(lines[: rng.randint(3, 5)]))
    return out


@pytest.fixture
def write_stories(home):
    """Write ``n`` made-up stories (seed ``seed``) as a local corpus file in ``home``; returns its path."""

    def write(seed: int, n: int, name: str = "stories.txt") -> Path:
        return write_corpus(home / name, made_up_stories(seed, n))

    return write


def write_corpus(path: Path, docs: list[str]) -> Path:
    """Write ``docs`` in the corpus format: each document followed by an <|endoftext|> line."""
    path.write_text("".join(f"{d}\n{EOT}\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture
def runs_home(home) -> Path:
    """Two runs on disk: 'fixture' (trained micro model, char tokenizer) and 'fresh' (config only)."""
    from fixtures_runs import make_run

    make_run(home / "models")
    make_run(home / "models", "fresh", trained=False, mtime=1_600_000_000)
    return home
