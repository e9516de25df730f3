"""Import a run's starting point from a GPT-2 transformers folder: our logits equal transformers' right
after import, training fine-tunes it from step 0 and resumes; other architectures are refused."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402
from hf_fixtures import TEXT, build  # noqa: E402

from tinygpt_tui import checkpoint, runs, train  # noqa: E402
from tinygpt_tui.cli import main  # noqa: E402
from tinygpt_tui.config import TinyGPTError  # noqa: E402
from tinygpt_tui.forms import configure_run  # noqa: E402
from tinygpt_tui.hf_import import import_run  # noqa: E402


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    return build("gpt2", tmp_path_factory.mktemp("gpt2"), seed=3)


def _transformers_logits(folder, ids):
    import transformers

    hf = transformers.GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return hf(torch.tensor([ids])).logits[0]


def test_imported_model_computes_transformers_logits(home, gpt2_folder):
    import transformers

    cfg = import_run(home / "models", gpt2_folder, "tuned", source="stories.txt")
    m = cfg.model
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size) == (2, 4, 32, 64)
    assert m.bias and m.tie_weights and m.activation == "gelu_tanh"  # GPT-2's gelu_new
    assert cfg.tokenizer.kind == "bpe" and cfg.data.source == "stories.txt" and cfg.train.optimizer == "adamw"

    model, tok, _ = checkpoint.load_model(home / "models" / "tuned", which="latest")
    hf_tok = transformers.AutoTokenizer.from_pretrained(gpt2_folder)
    text = TEXT[:300] + "<|endoftext|>Lily ran."
    ids = tok.encode(text)
    assert ids == hf_tok(text, add_special_tokens=False)["input_ids"]  # the same ids as the folder's tokenizer
    ids = ids[:64]
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0]
    torch.testing.assert_close(ours, _transformers_logits(gpt2_folder, ids), atol=1e-4, rtol=0)


def test_a_shorter_context_keeps_the_first_positions(home, gpt2_folder):
    cfg = import_run(home / "models", gpt2_folder, "short", block_size=16)
    assert cfg.model.block_size == 16
    model, tok, _ = checkpoint.load_model(home / "models" / "short", which="latest")
    ids = tok.encode(TEXT)[:16]
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0]
    torch.testing.assert_close(ours, _transformers_logits(gpt2_folder, ids), atol=1e-4, rtol=0)
    with pytest.raises(TinyGPTError, match="does not fit the model's 64 positions"):
        import_run(home / "models", gpt2_folder, "long", block_size=65)


def test_training_fine_tunes_from_step_zero_and_resumes(home, workspace, gpt2_folder, write_stories):
    corpus = write_stories(5, 200)
    import_run(workspace.models, gpt2_folder, "ft", source=str(corpus), preset="micro", block_size=32)
    # a start point has read no batch yet: its batch size may still change
    configure_run(workspace.models, "ft", None, {"train": {"batch_size": 4, "max_steps": 4, "eval_interval": 2,
                                                          "eval_iters": 1, "log_interval": 1, "device": "cpu",
                                                          "dtype": "float32"}})
    folder = workspace.models / "ft"
    before = checkpoint.read_safetensors(folder / runs.STATE, runs.STATE_FORMAT)[0]["model.transformer.wte.weight"]

    events: list[dict] = []
    done = train.train_run(workspace, "ft", on_event=events.append)
    assert done["reason"] == "finished" and done["step"] == 4
    start = next(e for e in events if e["event"] == "start")
    assert start["resumed"] is False and start["step"] == 0
    evals = [e for e in events if e["event"] == "eval"]
    assert evals[0]["step"] == 0  # the imported model is measured before any step
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    # the tokenizer the run trained with is the imported one (its BPE, not one trained on the corpus)
    tok = checkpoint.load_model(folder, which="latest")[1]
    assert tok.kind == "bpe" and tok.vocab_size == 320
    after = checkpoint.read_safetensors(folder / runs.STATE, runs.STATE_FORMAT)[0]
    assert not torch.equal(after["model.transformer.wte.weight"], before)  # the weights moved
    assert any(k.startswith("optim.") for k in after)  # a real resume point now

    configure_run(workspace.models, "ft", None, {"train": {"max_steps": 6}})
    events = []
    done = train.train_run(workspace, "ft", on_event=events.append)
    start = next(e for e in events if e["event"] == "start")
    assert start["resumed"] is True and start["step"] == 4 and done["step"] == 6


def test_other_architectures_are_refused_in_one_sentence(home, tmp_path):
    neo = build("gpt_neo", tmp_path / "neo")
    with pytest.raises(TinyGPTError, match="gpt_neo model; only GPT-2's architecture maps"):
        import_run(home / "models", neo, "neo")
    assert not (home / "models" / "neo").exists()


def test_options_our_gpt_does_not_compute_are_named(home, tmp_path):
    folder = build("gpt2", tmp_path / "g")
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(layer_norm_epsilon=1e-6, scale_attn_by_inverse_layer_idx=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(TinyGPTError, match=r"layer_norm_epsilon 1e-06 .*scale_attn_by_inverse_layer_idx"):
        import_run(home / "models", folder, "g")


def test_pickle_only_weights_are_never_opened(home, tmp_path):
    folder = build("gpt2", tmp_path / "p")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not to be unpickled")
    with pytest.raises(TinyGPTError, match="only as pickle files"):
        import_run(home / "models", folder, "p")
    assert not (home / "models" / "p").exists()


def test_a_tokenizer_that_does_not_map_is_refused(home, tmp_path):
    folder = build("gpt2", tmp_path / "t")
    data = json.loads((folder / "tokenizer.json").read_text())
    for t in data["added_tokens"]:
        t["content"] = "<eos>"
    vocab = data["model"]["vocab"]
    vocab["<eos>"] = vocab.pop("<|endoftext|>")
    (folder / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TinyGPTError, match="has no <\\|endoftext\\|> token"):
        import_run(home / "models", folder, "t")


def test_gpt2_vocabulary_becomes_the_gpt2_kind(home, tmp_path, gpt2_cache):
    """A folder with GPT-2's own vocabulary (vocab.json, 50257 tokens) imports with our gpt2 tokenizer."""
    import transformers

    from tinygpt_tui.pieces import bytes_to_piece
    from tinygpt_tui.tokenizer import gpt2_tokenizer

    enc = gpt2_tokenizer()
    folder = tmp_path / "real-vocab"
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50257, n_embd=8, n_layer=1, n_head=2,
                                                                 n_positions=16))
    model.save_pretrained(folder)
    vocab = {bytes_to_piece(enc.token_bytes(i)): i for i in range(50256)} | {"<|endoftext|>": 50256}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    cfg = import_run(home / "models", folder, "g2")
    assert cfg.tokenizer.kind == "gpt2" and cfg.model.vocab_size == 50257
    ours, tok, _ = checkpoint.load_model(home / "models" / "g2", which="latest")
    ids = tok.encode("Once upon a time")
    with torch.no_grad():
        torch.testing.assert_close(ours(torch.tensor([ids])).logits[0], model.eval()(torch.tensor([ids])).logits[0],
                                   atol=1e-4, rtol=0)


def test_import_command(home, gpt2_folder, capsys):
    assert main(["import", "--hf", str(gpt2_folder), "--run", "cli", "--source", "notes.txt", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"] == "cli" and out["tokenizer"] == "bpe" and out["model"]["n_layer"] == 2
    assert runs.load_run_config(home / "models" / "cli").data.source == "notes.txt"
    assert main(["import", "--hf", str(gpt2_folder), "--run", "cli"]) != 0
    assert "already exists" in capsys.readouterr().err
    assert main(["import", "--hf", str(home / "nowhere"), "--run", "x"]) != 0
    err = capsys.readouterr().err
    assert "is not a folder" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------
# a hub id: huggingface_hub.snapshot_download stands in for the network, serving folders built here


@pytest.fixture
def fake_hub(monkeypatch, tmp_path, gpt2_folder):
    """``snapshot_download`` serving ``tiny/gpt2`` (with a pickle file beside its safetensors) and
    ``tiny/neo`` from local folders: it copies what ``allow_patterns`` matches, as the real one
    downloads, and records every call; other ids are not on this hub."""
    import fnmatch
    import shutil

    import httpx2
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    repos = {"tiny/gpt2": gpt2_folder, "tiny/neo": build("gpt_neo", tmp_path / "neo-repo")}
    (gpt2_folder / "pytorch_model.bin").write_bytes(b"never to be downloaded")
    calls: list[tuple[str, list[str]]] = []

    def snapshot_download(repo_id, allow_patterns=None, **kwargs):
        calls.append((repo_id, list(allow_patterns or [])))
        if repo_id not in repos:
            request = httpx2.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
            raise RepositoryNotFoundError("404 Repository Not Found", response=httpx2.Response(404, request=request))
        out = tmp_path / "hub-cache" / repo_id.replace("/", "--")
        out.mkdir(parents=True, exist_ok=True)
        for f in repos[repo_id].iterdir():
            if any(fnmatch.fnmatch(f.name, p) for p in allow_patterns):
                shutil.copy(f, out / f.name)
        return str(out)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_a_hub_id_imports_through_snapshot_download(home, gpt2_folder, fake_hub):
    from tinygpt_tui.hf_import import HUB_FILES

    cfg = import_run(home / "models", "tiny/gpt2", "hub", block_size=16)
    # the config alone first (checked before any weight downloads), then weights and tokenizer only
    assert fake_hub == [("tiny/gpt2", ["config.json"]), ("tiny/gpt2", HUB_FILES)]
    assert cfg.tokenizer.kind == "bpe" and cfg.model.n_layer == 2
    model, tok, _ = checkpoint.load_model(home / "models" / "hub", which="latest")
    ids = tok.encode(TEXT)[:16]
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0]
    torch.testing.assert_close(ours, _transformers_logits(gpt2_folder, ids), atol=1e-4, rtol=0)
    assert checkpoint.load_state(home / "models" / "hub")[1]["imported_from"] == "tiny/gpt2"  # the id, not the cache


def test_the_hub_snapshot_holds_no_pickle_weights(home, fake_hub, tmp_path):
    import_run(home / "models", "tiny/gpt2", "hub2")
    cached = {p.name for p in (tmp_path / "hub-cache" / "tiny--gpt2").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= cached
    assert "pytorch_model.bin" not in cached


def test_import_command_takes_a_hub_id(home, fake_hub, capsys):
    assert main(["import", "--hf", "tiny/gpt2", "--run", "fromhub", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"] == "fromhub" and out["tokenizer"] == "bpe"


def test_a_hub_model_that_does_not_map_or_fit_is_refused_before_its_weights_download(home, fake_hub):
    with pytest.raises(TinyGPTError, match="gpt_neo model; only GPT-2's architecture maps"):
        import_run(home / "models", "tiny/neo", "neo")
    with pytest.raises(TinyGPTError, match=r"Importing tiny/gpt2 needs about .* more than the"):
        import_run(home / "models", "tiny/gpt2", "big", memory=1000)
    assert fake_hub == [("tiny/neo", ["config.json"]), ("tiny/gpt2", ["config.json"])]  # no weights fetched
    assert not (home / "models" / "neo").exists() and not (home / "models" / "big").exists()


def test_a_local_folder_too_large_for_memory_is_refused_before_loading(home, gpt2_folder):
    with pytest.raises(TinyGPTError, match="needs about .* of memory") as err:
        import_run(home / "models", gpt2_folder, "big", memory=1000)
    assert err.value.hint == "pick a smaller model."
    assert not (home / "models" / "big").exists()


def _one_sentence(err) -> str:
    text = str(err.value.message)
    assert err.value.hint and "\n" not in text and "Traceback" not in text
    return text


def test_a_wrong_hub_id_is_one_sentence(home, fake_hub, capsys):
    with pytest.raises(TinyGPTError) as err:
        import_run(home / "models", "nobody/no-such-model", "x")
    assert "There is no model 'nobody/no-such-model' on the Hugging Face hub" in _one_sentence(err)
    assert main(["import", "--hf", "nobody/no-such-model", "--run", "x"]) != 0
    printed = capsys.readouterr().err
    assert "There is no model" in printed and "Traceback" not in printed
    assert not (home / "models" / "x").exists()


@pytest.mark.parametrize("raised", ["LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError"])
def test_offline_is_one_sentence(home, monkeypatch, raised):
    import huggingface_hub
    from huggingface_hub import errors

    exc = getattr(errors, raised, None) or ConnectionError

    def snapshot_download(repo_id, **kwargs):
        raise exc("Cannot find an appropriate cached snapshot folder for the specified revision on the local disk")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(TinyGPTError) as err:
        import_run(home / "models", "openai-community/gpt2", "offline")
    assert "the Hugging Face hub cannot be reached (offline)" in _one_sentence(err)
    assert "connect once" in err.value.hint
    assert not (home / "models" / "offline").exists()


def test_offline_for_real_with_an_empty_cache(home, monkeypatch, tmp_path):
    """The real snapshot_download with HF_HUB_OFFLINE and an empty cache: the same sentence, no network."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(TinyGPTError) as err:
        import_run(home / "models", "openai-community/gpt2", "offline")
    assert "cannot be reached (offline)" in _one_sentence(err)


def test_a_name_that_is_neither_folder_nor_id(home):
    for name in ("./missing-folder", "a/b/c", "has space"):
        with pytest.raises(TinyGPTError, match="is not a folder") as err:
            import_run(home / "models", name, "x")
        assert "hub id" in err.value.hint
