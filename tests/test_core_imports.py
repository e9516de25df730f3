"""The core never imports a face's libraries (Textual, Rich, prompt-toolkit), and the app starts light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

CORE = ["config", "model", "runs", "tokenizer", "shards", "sources", "storybook", "train", "generate",
        "commands", "workbench", "forms", "supervise", "attention", "workspace", "atomic", "units", "device", "evaluate", "checkpoint", "prepare", "events", "corpus", "corpora", "vocab",
        "textfiles", "tokenizer_training", "present"]
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


# -- the direction of every import ------------------------------------------------------------------
PACKAGE = Path(__file__).resolve().parent.parent / "tinygpt_tui"
LAYERS = {  # DESIGN.md: faces > facade > work > parts > ground; an import goes down, never up or round
    4: ["tui", "cli", "repl", "commands", "__main__"],
    3: ["workbench", "forms", "supervise"],
    2: ["train", "generate", "evaluate", "prepare", "checkpoint", "events", "optim", "attention", "tokenizer_training"],
    1: ["model", "tokenizer", "shards", "corpus", "corpora", "sources", "textfiles", "storybook", "vocab", "device",
        "runs", "distributed"],
    0: ["config", "atomic", "units", "present", "workspace", ""],
}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next(rank for rank, names in LAYERS.items() if top in names)


def _imports() -> dict[str, set[str]]:
    """Every module's imports of the package's modules, function-level ones included (type-only not)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if package else parts)] = (path, package)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and getattr(node.test, "id", None) == "TYPE_CHECKING" for b in node.body for n in ast.walk(b)}
        here = name if package else name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom):
                base = here.split(".")[: len(here.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges[name].add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names)
        edges[name] = {t for t in edges[name] if t in modules and t not in (name, "tinygpt_tui")}
    return edges


def test_imports_go_down_the_layers():
    up = [f"{m} -> {t}" for m, targets in _imports().items() for t in targets if _layer(t) > _layer(m)]
    assert up == []


def test_no_import_cycles():
    edges = _imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []
