"""distributed.py and the trainer under torchrun: 2 CPU processes (gloo) against one, a killed rank,
an exact resume after SIGINT, another world size; the CUDA choices as far as a CPU allows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import torch

from tinygpt_tui import checkpoint, distributed, events, runs, train, train_dist
from tinygpt_tui.config import TinyGPTError
from tinygpt_tui.device import resolve_dtype
from tinygpt_tui.distributed import DistContext
from tinygpt_tui.presets import preset_config

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------------
# the pieces


def test_context_from_env():
    assert distributed.context_from_env({}) == DistContext()
    ctx = distributed.context_from_env({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"})
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.local_world_size) == (3, 1, 4, 2)
    assert ctx.enabled and not ctx.is_main
    with pytest.raises(TinyGPTError, match="not inside WORLD_SIZE"):
        distributed.context_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_accumulation_divides_across_ranks_or_is_refused():
    assert distributed.split_accum(8, 1) == 8
    assert distributed.split_accum(8, 4) == 2
    with pytest.raises(TinyGPTError, match="grad_accum 3 does not divide across 2 processes") as err:
        distributed.split_accum(3, 2)
    assert "multiple of 2" in err.value.hint


def test_backend_and_device_per_rank():
    assert distributed.backend_for("cuda") == "nccl" and distributed.backend_for("cpu") == "gloo"
    two = DistContext(rank=1, local_rank=1, world_size=2, local_world_size=2)
    assert distributed.rank_device("auto", two, cuda_available=True) == "cuda:1"
    assert distributed.rank_device("cuda", two, cuda_available=True) == "cuda:1"
    assert distributed.rank_device("auto", two, cuda_available=False) == "cpu"
    assert distributed.rank_device("auto", DistContext(), cuda_available=True) == "auto"


def test_cuda_dtype_choice_bf16_where_supported_else_fp16():
    cuda = torch.device("cuda")
    with mock.patch("torch.cuda.is_bf16_supported", return_value=True):
        assert resolve_dtype("auto", cuda) == torch.bfloat16
    with mock.patch("torch.cuda.is_bf16_supported", return_value=False):
        assert resolve_dtype("auto", cuda) == torch.float16
    with mock.patch("torch.cuda.is_available", return_value=True):
        from tinygpt_tui.device import resolve_device
        assert resolve_device("auto").type == "cuda"


def test_gradient_scaler_skips_a_step_with_overflowed_gradients_and_backs_off():
    """The fp16 path's scaler logic, on the CPU: an inf gradient skips the step and halves the scale;
    finite ones step the optimizer with the unscaled gradient."""
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    scaler.scale((w * torch.tensor([1.0, float("inf"), 1.0])).sum()).backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    assert torch.equal(w.detach(), torch.ones(3)) and scaler.get_scale() == 512.0
    opt.zero_grad()
    scaler.scale(w.sum()).backward()
    scaler.unscale_(opt)
    assert torch.allclose(w.grad, torch.ones(3))  # unscaled before clipping
    scaler.step(opt)
    scaler.update()
    assert torch.allclose(w.detach(), torch.full((3,), 0.9)) and scaler.get_scale() == 1024.0


def test_launch_command_uses_the_launcher_for_several_processes():
    one = distributed.launch_command(1, ["--run", "x"], python="py")
    assert one == ["py", "-m", "tinygpt_tui.train", "--run", "x"]
    two = distributed.launch_command(2, ["--run", "x"], python="py")
    assert two[:3] == ["py", "-m", "torch.distributed.run"] and "--nproc_per_node=2" in two
    assert two[-4:] == ["tinygpt_tui.train", "--", "--run", "x"]


def test_start_event_world_size_defaults_to_one_for_old_metrics():
    old = {"event": "start", "v": 1, "time": 0.0, "step": 0, "max_steps": 5, "max_time": None, "params": 1,
           "tokens_per_step": 8, "device": "cpu", "dtype": "float32", "resumed": False, "compile": False,
           "threads": 1, "peak_flops": 1.0, "elapsed_s": 0.0}
    assert events.decode(old).world_size == 1
    new = events.decode({**old, "world_size": 4})
    assert events.reduce(events.TrainingState(), new).world_size == 4


def test_world_change_note_says_what_a_resume_does():
    cfg = preset_config("micro", "x", {"train": {"grad_accum": 4}})
    assert train_dist.world_change_note(2, 2, cfg) is None
    note = train_dist.world_change_note(2, 4, cfg)
    assert "trained with 2 processes and resumes with 4" in note and "1 micro-batch per process (was 2)" in note


# --------------------------------------------------------------------------------------------------
# 2 CPU processes against one


def _make_run(name: str, corpus: Path, **train_kw) -> None:
    overrides = {"data": {"source": str(corpus)}, "tokenizer": {"vocab_size": 300}, "model": {"dropout": 0.0},
                 "train": {"dtype": "float32", "device": "cpu", "grad_accum": 2, "log_interval": 1,
                           "compile": False, **train_kw}}
    runs.create_run(Path("models"), preset_config("micro", name, overrides))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TINYGPT_THREADS": "1", "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1"}


def _torchrun(name: str, nproc: int = 2) -> subprocess.Popen:
    cmd = distributed.launch_command(nproc, ["--run", name, "--models-dir", "models", "--data-dir", "data"])
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)


def _stderr(proc: subprocess.Popen) -> str:
    """A failed launch's stderr without the launcher's own traceback: the ranks' words come first."""
    text = proc.communicate()[1]
    return "\n".join(line for line in text.splitlines() if "torch/distributed/" not in line)[:3000]


def _losses(name: str) -> dict[int, float]:
    metrics, _ = runs.read_metrics(Path("models") / name)
    return {e["step"]: e["loss"] for e in metrics if e["event"] == "step"}


def _wait_for(name: str, kind: str, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        metrics, _ = runs.read_metrics(Path("models") / name) if (Path("models") / name).exists() else ([], 0)
        if any(e["event"] == kind and e["step"] >= step for e in metrics):
            return
        assert proc.poll() is None, _stderr(proc)
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event at step {step}")


@pytest.fixture
def corpus(write_stories) -> Path:
    return write_stories(7, 1500)


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_same_global_batch(home, workspace, corpus, monkeypatch):
    monkeypatch.setenv("TINYGPT_THREADS", "1")
    _make_run("one", corpus, max_steps=8, eval_interval=4)
    train.train_run(workspace, "one")
    _make_run("two", corpus, max_steps=8, eval_interval=4)
    # through the command line's --nproc, as a user starts it
    out = subprocess.run([sys.executable, "-m", "tinygpt_tui", "train", "--run", "two", "--nproc", "2", "--json"],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wire = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    start = next(e for e in wire if e["event"] == "start")
    assert start["world_size"] == 2
    one, two = _losses("one"), _losses("two")
    assert sorted(one) == sorted(two) == list(range(1, 9))
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-5, abs=1e-6)
    a, _ = checkpoint.read_safetensors(Path("models/one/model.safetensors"), checkpoint.WEIGHTS_FORMAT)
    b, _ = checkpoint.read_safetensors(Path("models/two/model.safetensors"), checkpoint.WEIGHTS_FORMAT)
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key
    # rank 0 alone wrote: one start event, one metrics line per event
    assert [e["event"] for e in runs.read_metrics(Path("models/two"))[0]].count("start") == 1


@pytest.mark.slow
def test_resume_after_sigint_with_two_processes_is_exact(home, corpus):
    _make_run("whole", corpus, max_steps=150, eval_interval=50)
    proc = _torchrun("whole")
    assert proc.wait(timeout=300) == 0, _stderr(proc)
    _make_run("cut", corpus, max_steps=150, eval_interval=50)
    proc = _torchrun("cut")
    _wait_for("cut", "step", 5, proc)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C at a terminal: the launcher and both ranks get it
    proc.wait(timeout=60)
    stopped = runs.state_summary(Path("models/cut"))["step"]
    assert 5 <= stopped < 150
    assert _losses("cut")[stopped] == _losses("whole")[stopped]
    proc = _torchrun("cut")
    assert proc.wait(timeout=300) == 0, _stderr(proc)
    whole, cut = _losses("whole"), _losses("cut")
    assert all(cut[s] == whole[s] for s in range(1, 151)), stopped  # bit for bit
    metrics, _ = runs.read_metrics(Path("models/cut"))
    assert [e["resumed"] for e in metrics if e["event"] == "start"] == [False, True]


@pytest.mark.slow
def test_killing_one_rank_stops_the_others_and_keeps_the_checkpoint(home, corpus):
    _make_run("kill", corpus, max_steps=100000, eval_interval=3)
    proc = _torchrun("kill")
    _wait_for("kill", "checkpoint", 3, proc)
    ranks = _rank_pids(proc.pid)
    assert sorted(ranks) == [0, 1]
    os.kill(ranks[1], signal.SIGKILL)
    t0 = time.monotonic()
    proc.wait(timeout=60)
    took = time.monotonic() - t0
    assert took < 20, took
    assert proc.returncode != 0
    for pid in ranks.values():
        assert not _alive(pid)
    model, tok, cfg = checkpoint.load_model(Path("models/kill"), which="latest")
    assert checkpoint.load_state(Path("models/kill")) is not None
    assert not runs.is_training(Path("models/kill"))


@pytest.mark.slow
def test_resume_with_another_world_size_keeps_the_global_batch(home, workspace, corpus, monkeypatch):
    monkeypatch.setenv("TINYGPT_THREADS", "1")
    _make_run("grow", corpus, max_steps=4, eval_interval=4)
    train.train_run(workspace, "grow")  # one process
    cfg = runs.load_run_config(Path("models/grow"))
    cfg.train.max_steps = 6
    runs.save_run_config(Path("models/grow"), cfg)
    proc = _torchrun("grow")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    stages = [json.loads(line) for line in out.splitlines() if line.startswith('{"event": "stage"')]
    assert any("trained with 1 process and resumes with 2" in s["message"] for s in stages)
    assert max(_losses("grow")) == 6


def _rank_pids(launcher: int) -> dict[int, int]:
    """The training processes under the launcher, by their RANK."""
    out: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(out) < 2 and time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                env = (entry / "environ").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if f" {launcher} " not in stat.split(")", 1)[1][:40]:
                continue  # not a child of the launcher
            for item in env:
                if item.startswith(b"RANK="):
                    out[int(item[5:])] = int(entry.name)
        time.sleep(0.1)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(")", 1)[1].split()[0] != "Z"


def test_new_run_form_checks_the_number_of_processes():
    from tinygpt_tui.forms import RunForm, validate_run_form
    from tinygpt_tui.presets import PRESETS

    assert "nproc" not in validate_run_form(RunForm(nproc="1"))
    assert "positive whole number" in validate_run_form(RunForm(nproc="zero"))["nproc"]
    accum = PRESETS["tiny"].get("train", {}).get("grad_accum", 1)
    assert "do not divide" in validate_run_form(RunForm(nproc=str(accum + 1)))["nproc"]


def test_repl_nproc_argument():
    from tinygpt_tui.commands import nproc_arg

    assert nproc_arg(["run", "nproc=2"]) == (["run"], 2)
    assert nproc_arg([]) == ([], 1)
    with pytest.raises(TinyGPTError, match="whole number"):
        nproc_arg(["nproc=x"])
