"""Deterministic runs on disk for the TUI and workbench tests: a micro GPT with seeded random weights,
a character tokenizer and a fixed ``metrics.jsonl``, written in the layout runs.py defines.

Nothing here depends on the clock: the metric events carry fixed times and the files get fixed
modification times, so screens (and their snapshots) look the same on every run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tinygpt_tui.presets import preset_config

TEXT = (
    "Once upon a time there was a little fox. The fox liked to run in the green woods.\n"
    "One day the fox met a kind bear, and they played all day. The end.\n"
)
FIXED_TIME = 1_700_000_000.0


STORY = TEXT.split("\n")[0]


def story_event(step: int, t: float) -> dict:
    """A fixed scoring of the validation story (one character a token): each token's surprisal falls
    with the step, some much faster than others, so that the ones that fell most are well defined."""
    bits = [round((1 + (i * 7) % 11) * (0.9 if i % 3 else 0.4) ** (step / 25), 3) for i in range(len(STORY))]
    return {"event": "story", "step": step, "tokens": list(STORY), "bits": bits, "time": t}


def metric_events(max_steps: int = 50, *, stories: bool = False) -> list[dict]:
    """A plausible, fixed training history: stages, start, steps, evals, samples, checkpoints, done;
    with ``stories``, the validation story scored at each evaluation too."""
    t = FIXED_TIME
    events: list[dict] = [
        {"event": "stage", "stage": "corpus", "message": "preparing the corpus from storybook", "time": t},
        {"event": "stage", "stage": "tokenizer", "message": "training a char tokenizer", "time": t + 1},
        {"event": "stage", "stage": "shards", "message": "tokenizing the corpus into shards", "time": t + 2},
        {"event": "stage", "stage": "model", "message": "building the model", "time": t + 3},
        {"event": "stage", "stage": "training", "message": "training on cpu in float32", "time": t + 3},
        {"event": "start", "step": 0, "max_steps": max_steps, "max_time": None, "params": 27_000,
         "tokens_per_step": 256, "device": "cpu", "dtype": "float32", "resumed": False, "compile": False,
         "threads": 2, "peak_flops": 1e10, "elapsed_s": 0.0, "time": t + 4},
    ]
    for step in range(5, max_steps + 1, 5):
        loss = 3.6 * (0.97 ** step) + 0.9
        events.append({"event": "step", "step": step, "loss": round(loss, 4), "lr": 3e-3 * (1 - step / 60),
                       "tokens_per_s": 41_000.0, "mfu": 0.0123, "elapsed_s": step * 0.2,
                       "eta_s": (max_steps - step) * 0.2, "grad_norm": 0.8, "tokens": 256 * step, "threads": 2,
                       "time": t + 4 + step * 0.2})
        if step % 25 == 0:
            val = loss + 0.05
            events.append({"event": "eval", "step": step, "train_loss": round(loss, 4), "val_loss": round(val, 4),
                           "val_bpb": round(val / 0.6931, 4), "best": True, "time": t + 5 + step * 0.2})
            events.append({"event": "sample", "step": step, "text": "Once upon a time the fox ran to the bear.",
                           "time": t + 5 + step * 0.2})
            if stories:
                events.append(story_event(step, t + 5 + step * 0.2))
            events.append({"event": "checkpoint", "step": step, "path": "model.safetensors", "best": True,
                           "time": t + 5 + step * 0.2})
    events.append({"event": "done", "step": max_steps, "reason": "finished",
                   "message": f"trained {max_steps} steps", "time": t + 20})
    return events


def make_run(models: Path, name: str = "fixture", *, seed: int = 0, trained: bool = True,
             mtime: float = FIXED_TIME, stories: bool = False, history: int = 0) -> Path:
    """Write run ``name`` under the models folder ``models``; returns its folder.

    ``trained=False`` writes only the config (a run that has not been trained yet); ``stories`` adds
    the validation story's scorings to its metrics; ``history`` keeps that many checkpoints in its
    history (for the time-lapse), spread from step 0 to 50: the latest weights last, and before them
    those weights with seeded noise, more the earlier the frame.
    """
    import torch

    from tinygpt_tui import checkpoint, runs
    from tinygpt_tui import history as history_module
    from tinygpt_tui.model import GPT
    from tinygpt_tui.tokenizer import CharTokenizer

    tok = CharTokenizer(sorted(set(TEXT)))
    cfg = preset_config("micro", name, {"tokenizer": {"kind": "char"}})
    cfg.model.vocab_size = tok.vocab_size
    d = runs.create_run(models, cfg)
    if trained:
        tok.save(d / runs.TOKENIZER)
        torch.manual_seed(seed)
        model = GPT(cfg.model)
        events = metric_events(cfg.train.max_steps, stories=stories)
        # the state's best validation figures are those of its own metrics (as a trainer writes them)
        best = min((e for e in events if e["event"] == "eval"), key=lambda e: e["val_loss"])
        last = [e for e in events if e["event"] == "eval"][-1]
        checkpoint.save_weights(d / runs.WEIGHTS, model, step=50, val_loss=last["val_loss"])
        checkpoint.save_weights(d / runs.BEST, model, step=best["step"], val_loss=best["val_loss"])
        checkpoint.save_state(d, {"step_marker": torch.zeros(1)},
                              {"step": 50, "best_val_loss": best["val_loss"], "best_val_bpb": best["val_bpb"],
                               "best_step": best["step"], "elapsed": 10.0})
        with open(d / runs.METRICS, "w", encoding="utf-8") as f:
            for event in events:
                f.write(json.dumps(event) + "\n")
        for i in range(history):
            step = round(50 * i / max(1, history - 1))
            frame = GPT(cfg.model)
            frame.load_state_dict(model.state_dict())
            if i < history - 1:  # earlier frames: the latest weights, further off the earlier they are
                gen = torch.Generator().manual_seed(seed + 1 + i)
                with torch.no_grad():
                    for p in frame.parameters():
                        p.add_(torch.randn(p.shape, generator=gen) * 0.3 * (history - 1 - i))
            history_module.save_frame(d, frame, step=step, tokens=256 * step, val_loss=round(4.5 - 0.04 * step, 4),
                                      bound=history)
    for p in [d, *d.iterdir(), *(d / runs.HISTORY).glob("*")]:
        os.utime(p, (mtime, mtime))
    return d


def new_app(**kwargs):
    """A TinyGPTApp for pilot and snapshot tests (imported late: Textual stays out of core tests)."""
    from tinygpt_tui.tui.app import TinyGPTApp
    from tinygpt_tui.workspace import Workspace

    # the current folder's models/ and data/ (tests run in ``home``), as an entry point's defaults
    kwargs.setdefault("workspace", Workspace.from_env(environ={}).resolved())
    return TinyGPTApp(**kwargs)
