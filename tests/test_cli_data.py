"""``tinygpt data prepare|info|sample`` through the real entry point."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest

from tinygpt_tui.cli import main
from tinygpt_tui.config import EOT


def test_prepare_prints_a_summary_and_reuses(home, capsys):
    assert main(["data", "prepare", "--max-bytes", "200k"]) == 0
    out = capsys.readouterr().out
    assert "Prepared storybook-200kb" in out and "documents" in out and "corpus.txt" in out
    corpus = home / "data" / "storybook-200kb" / "corpus.txt"
    assert corpus.is_file() and corpus.stat().st_size <= 200_000
    assert corpus.read_text().endswith(f"\n{EOT}\n")
    assert main(["data", "prepare", "--max-bytes", "200k"]) == 0
    assert "Already prepared" in capsys.readouterr().out


def test_prepare_json_name_seed_and_val_fraction(home, capsys):
    code = main(["data", "prepare", "--source", "storybook", "--name", "kids", "--max-bytes", "50kb",
                 "--seed", "4", "--val-fraction", "0.05", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["name"] == "kids" and result["seed"] == 4 and result["complete"] is True
    assert result["bytes"] <= 50_000 and result["reused"] is False
    assert (home / "data" / "kids" / "source.json").is_file()


def test_prepare_from_a_real_file(home, capsys, tinystories):
    assert main(["data", "prepare", "--source", str(tinystories), "--name", "ts", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["documents"] == 3998


def test_info_table_and_details(home, capsys):
    assert main(["data", "info"]) == 0
    assert "No prepared datasets" in capsys.readouterr().out
    main(["data", "prepare", "--max-bytes", "30k", "--name", "little"])
    capsys.readouterr()
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert "little" in out and "storybook" in out
    assert main(["data", "info", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "little" and listed[0]["complete"] is True
    assert main(["data", "info", "little"]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and "corpus.txt" in out
    assert main(["data", "info", "little", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] > 0


def test_sample_prints_documents(capsys):
    assert main(["data", "sample", "-n", "2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("words") >= 2 and "storybook" in out
    assert main(["data", "sample", "-n", "2", "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 2 and all(isinstance(d, str) and len(d) > 100 for d in docs)


def test_user_errors_exit_2_with_a_hint(home, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a hub that refuses at once, online or not
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for argv in (["data", "prepare", "--source", "tinystories"],
                 ["data", "sample", "--source", "hf:someone/some-set?split=train"],
                 ["data", "prepare", "--source", "missing.jsonl"],
                 ["data", "prepare", "--source", "0*storybook + 1*storybook"],
                 ["data", "prepare", "--max-bytes", "lots"],
                 ["data", "prepare", "--val-fraction", "0.9"],
                 ["data", "info", "nothing-here"],
                 ["data", "sample", "--source", "what"],
                 ["data", "sample", "-n", "0"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "error:" in err and "hint:" in err and "Traceback" not in err, argv


def test_data_alone_prints_help(capsys):
    assert main(["data"]) == 0
    assert "prepare" in capsys.readouterr().out


def test_cli_data_does_not_import_torch():
    import subprocess

    code = ("import sys; from tinygpt_tui.cli import data; "
            "print('torch' in sys.modules, 'textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_markup_in_names_and_files_is_printed_as_text(home, capsys):
    """Issue 15 item 1: names and documents holding [/] or [/INST] went through Rich markup."""
    (home / "a[b].txt").write_text("the [/INST] fox [/quote] ran.\n\nthe [bold]dog[/] sat.\n")
    assert main(["data", "prepare", "--source", str(home / "a[b].txt"), "--name", "x-1"]) == 0
    # a long temporary path wraps at the table's width: read the lines joined
    assert "a[b].txt" in capsys.readouterr().out.replace("\n", "")
    assert main(["data", "info"]) == 0 and main(["data", "info", "x-1"]) == 0
    assert "a[b].txt" in capsys.readouterr().out.replace("\n", "")
    assert main(["data", "sample", "--source", str(home / "a[b].txt"), "-n", "2"]) == 0
    assert "[/INST]" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_prepare_is_resumed_by_the_same_command(home, tmp_path, capsys, monkeypatch, how):
    from tinygpt_tui import corpora, sources
    from tinygpt_tui.config import DataConfig

    rows = [{"text": f"Story {i}: the owl counted {i} stars before dawn."} for i in range(2000)]
    data = tmp_path / "stories.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = f"hf:{data}?streaming=1"
    reference = corpora.prepare(tmp_path / "reference", DataConfig(source=spec, dataset="ref"))
    real = sources.HFSource._documents_from
    armed = [True]

    def interrupted(source, skip, stream=None):
        for i, row in enumerate(real(source, skip, stream)):
            if armed[0] and i == 500:
                armed[0] = False
                if how == "ctrl-c":
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signal.SIGTERM)  # as a timeout or docker stop would
            yield row

    monkeypatch.setattr(sources.HFSource, "_documents_from", interrupted)
    argv = ["data", "prepare", "--source", spec, "--name", "streamed"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "the corpus written so far is kept; the same command resumes it" in err
    assert not (home / "data" / "streamed" / "corpus.txt").exists()
    assert main(["data", "info", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["complete"] is False and listed[0]["partial"]["documents"] in (500, 501)
    assert main(["data", "info", "streamed"]) == 0
    assert "resumable at" in capsys.readouterr().out
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "resuming the corpus at 50" in captured.err
    assert "Prepared (resumed at 50" in captured.out and "2,000 documents" in captured.out
    assert (home / "data" / "streamed" / "corpus.txt").read_bytes() == \
        (reference.path / "corpus.txt").read_bytes()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the command put it back
