"""hub.py: whether the Hugging Face hub can be asked, decided when asked and in seconds."""

from __future__ import annotations

import socket

import pytest

from tinygpt_tui import hub
from tinygpt_tui.config import TinyGPTError


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable_hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")


def test_offline_mode_is_read_when_asked(monkeypatch):
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not hub.offline_mode()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.offline_mode() and hub.local_only()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "true")
    assert hub.offline_mode()


def test_a_hub_that_refuses_connections_is_out_of_reach(unreachable_hub):
    assert hub.host() == "127.0.0.1"
    assert not hub.reachable(timeout=1.0)
    assert hub.local_only()


def test_a_hub_that_listens_is_reachable(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
        assert hub.reachable(timeout=1.0) and not hub.local_only()


def test_a_hub_model_with_the_hub_out_of_reach_reads_the_cache_only(unreachable_hub, tmp_path, monkeypatch):
    """No HF_HUB_OFFLINE: the model is looked for in the (empty) cache alone and refused in one sentence
    that says why, instead of transformers retrying the hub first."""
    pytest.importorskip("transformers")
    from tinygpt_tui.hf import open_hf

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(TinyGPTError, match=r"cannot be reached \(or HF_HUB_OFFLINE is set\)"):
        open_hf("no-such-user/no-such-model-xyz")


def test_a_hub_import_with_the_hub_out_of_reach_reads_the_cache_only(unreachable_hub, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    from tinygpt_tui import hf_import

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    calls = []
    import huggingface_hub

    real = huggingface_hub.snapshot_download

    def spy(*args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", spy)
    with pytest.raises(TinyGPTError, match="cannot be reached"):
        hf_import.resolve_folder("no-such-user/no-such-model-xyz")
    assert calls == [True]
