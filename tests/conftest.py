"""Shared fixtures: an isolated home for runs and data, and the shared real-data files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A temporary working folder with its own models/ and data/, used as the current directory."""
    (tmp_path / "models").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("TINYGPT_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("TINYGPT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


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
