"""The faces on Hugging Face models: tinygpt generate/score --hf, tinygpt export, tinygpt-tui --hf."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from hf_fixtures import build  # noqa: E402

from tinygpt_tui.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    return build("llama", tmp_path_factory.mktemp("llama"))


def test_generate_and_score_with_hf(home, llama_folder, capsys):
    assert main(["generate", "--hf", str(llama_folder), "--prompt", "Tom ran", "--tokens", "5", "--seed", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["run"] == f"hf:{llama_folder}" and len(out["records"]) == 5
    assert main(["score", "--hf", str(llama_folder), "Tom ran to the park", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["tokens"] > 3 and scored["bits_per_byte"] > 0


def test_hf_errors_are_one_sentence(home, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["generate", "--hf", "no-such-user/no-such-model-xyz"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "hub" in err


def test_export_command(home, capsys):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from fixtures_runs import make_run

    make_run(home / "models", "fixture")
    assert main(["export", "--run", "fixture", "--out", str(home / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(home / "out")
    assert (home / "out" / "model.safetensors").is_file() and (home / "out" / "README.md").is_file()
    assert main(["export", "--run", "fixture", "--out", str(home / "out")]) != 0
    assert "not empty" in capsys.readouterr().err


@pytest.mark.anyio
async def test_tui_opens_an_hf_model_in_the_explorer(home, llama_folder):
    from tinygpt_tui.tui.app import TinyGPTApp
    from tinygpt_tui.tui.screens.explorer import ExplorerScreen
    from tinygpt_tui.workspace import Workspace

    app = TinyGPTApp(Workspace(home / "models", home / "data"), hf=str(llama_folder))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, ExplorerScreen):
                break
        assert isinstance(app.screen, ExplorerScreen)
        await pilot.pause(0.3)  # let the explorer finish mounting its tabs before the test ends the app
        assert app.workbench.run_name == f"hf:{llama_folder}"
