"""The core never imports a face's libraries (Textual, Rich, prompt-toolkit), and the app starts light.

The direction of every import (DESIGN.md's layers) and the absence of cycles are checked by
import-linter's contracts in pyproject.toml, which `make test` runs (`lint-imports`).
"""

from __future__ import annotations

import json
import subprocess
import sys

CORE = ["config", "model", "runs", "tokenizer", "shards", "sources", "storybook", "train", "generate", "commands",
        "workbench", "forms", "supervise", "attention", "workspace", "atomic", "units", "device", "evaluate",
        "checkpoint", "prepare", "events", "corpus", "corpora", "vocab", "textfiles", "tokenizer_training", "present",
        "optim", "distributed", "train_dist", "preflight", "outcome", "meter", "records", "pieces", "story", "curves", "compare", "machine"]
FACE_LIBRARIES = ("textual", "rich", "prompt_toolkit")

PROBE = """
import importlib, json, sys
blame = {}
for name in %r:
    before = set(sys.modules)
    importlib.import_module("tinygpt_tui." + name)
    new = set(sys.modules) - before
    blame[name] = sorted(m for m in new if m.split(".")[0] in %r)
print(json.dumps(blame))
"""


def test_core_modules_import_no_ui_library():
    """Each core module is imported in turn in a fresh interpreter; none may pull in a UI library."""
    code = PROBE % (CORE, FACE_LIBRARIES)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    blame = json.loads(result.stdout)
    assert set(blame) == set(CORE)
    offenders = {name: mods for name, mods in blame.items() if mods}
    assert offenders == {}, f"core modules importing UI libraries: {offenders}"


def test_facade_and_app_import_without_torch():
    """The faces paint before torch loads: neither the facade nor the app module imports it."""
    code = ("import sys, tinygpt_tui.workbench, tinygpt_tui.forms, tinygpt_tui.cli, tinygpt_tui.tui.app; "
            "print(sorted(m for m in ('torch', 'numpy', 'tokenizers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
