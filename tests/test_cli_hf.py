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


async def _wait_for(pilot, cond, tries: int = 200) -> bool:
    for _ in range(tries):
        if cond():
            return True
        await pilot.pause(0.05)
    return cond()


@pytest.mark.anyio
async def test_runs_screen_opens_an_hf_folder_typed_in_its_dialog(home, tmp_path):
    """o on the runs screen asks for a hub id or folder and opens it in the explorer, as --hf does."""
    from tinygpt_tui.tui.app import TinyGPTApp
    from tinygpt_tui.tui.screens.confirm import AskTextScreen
    from tinygpt_tui.tui.screens.explorer import ExplorerScreen
    from tinygpt_tui.tui.screens.runs import RunsScreen
    from tinygpt_tui.workspace import Workspace

    folder = build("gpt2", tmp_path / "gpt2-tiny")
    app = TinyGPTApp(Workspace(home / "models", home / "data"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await _wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("o")
        assert await _wait_for(pilot, lambda: isinstance(app.screen, AskTextScreen))
        # escape leaves the dialog and opens nothing
        await pilot.press("escape")
        assert await _wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert not app.workbench.loaded
        await pilot.press("o")
        assert await _wait_for(pilot, lambda: isinstance(app.screen, AskTextScreen))
        app.screen.query_one("#ask-input").value = str(folder)
        await pilot.press("enter")
        assert await _wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await pilot.pause(0.3)  # let the explorer finish mounting its tabs before the test ends the app
        assert app.workbench.run_name == f"hf:{folder}"


@pytest.mark.anyio
async def test_runs_screen_says_one_sentence_for_an_unknown_hub_id(home, monkeypatch):
    import huggingface_hub.constants

    from tinygpt_tui.tui.app import TinyGPTApp
    from tinygpt_tui.tui.screens.confirm import AskTextScreen
    from tinygpt_tui.tui.screens.runs import RunsScreen
    from tinygpt_tui.tui.widgets.command_bar import CommandBar
    from tinygpt_tui.workspace import Workspace

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the variable is read when huggingface_hub is imported, which an earlier test may have done
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    app = TinyGPTApp(Workspace(home / "models", home / "data"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert await _wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("o")
        assert await _wait_for(pilot, lambda: isinstance(app.screen, AskTextScreen))
        app.screen.query_one("#ask-input").value = "no-such-user/no-such-model-xyz"
        await pilot.press("enter")

        def said() -> str:
            return app.screen.query_one(CommandBar).message_text if isinstance(app.screen, RunsScreen) else ""

        assert await _wait_for(pilot, lambda: "hub" in said())
        assert "no-such-user/no-such-model-xyz" in said() and "Traceback" not in said()
        assert isinstance(app.screen, RunsScreen) and not app.workbench.loaded
