"""The facade's training desk: start, extend, stop and attach to the training of runs, each in its own
process (:mod:`~tinygpt_tui.supervise`).

A part of :class:`~tinygpt_tui.workbench.Workbench` (a base class of it), split off by job; faces reach
it through the workbench, never directly.
"""

from __future__ import annotations

import subprocess

from . import runs
from .config import RunConfig, TinyGPTError
from .supervise import MetricsFollower, TrainingProcess
from .workbench_runs import RunShelf
from .workspace import Workspace


class TrainingDesk(RunShelf):
    """The training processes of one workspace, on top of its shelf of runs (``training``: the
    processes this workbench started, by run; set by the workbench)."""

    # -- training ----------------------------------------------------------------------------------
    def start_training(self, run: str | RunConfig, extra_args: list[str] | None = None,
                       nproc: int = 1) -> TrainingProcess:
        """Start (or resume) training ``run`` in a new process (``nproc`` processes: DDP through torchrun);
        a RunConfig is created first."""
        from .distributed import check_nproc

        if isinstance(run, RunConfig):
            check_nproc(nproc, run.train.grad_accum)
            if not self.run_exists(run.name):
                self.create_run(run)
            name = run.name
        else:
            name = run
        if not self.run_exists(name):
            raise TinyGPTError(f"There is no run named '{name}'.", "create it first with /new.")
        current = self.training.get(name)
        if current is not None and current.alive:
            finishing = current.stop_requested or current.state.status in ("done", "error")
            if not finishing:
                return current
            # it said its last word and is exiting: let it release the run's lock first
            try:
                current.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise TinyGPTError(f"Run '{name}' is still saving its checkpoint.",
                                   "try again in a moment.") from None
        if self.is_training(name):
            raise TinyGPTError(f"Run '{name}' is already training in another process.",
                               "watch it with /train (it attaches) or stop that process first.")
        check_nproc(nproc, self.run_config(name).train.grad_accum if nproc > 1 else 1)
        proc = TrainingProcess(name, Workspace(self.models_dir, self.data_dir), extra_args, nproc=nproc)
        self.training[name] = proc
        return proc

    def extend_run(self, run: str, *, steps: int | None = None, seconds: float | None = None) -> str:
        """Give ``run`` more to train from where it stopped: ``steps`` more optimizer steps or ``seconds``
        more of training time (neither: its preset's budget again, in its own unit). Rewrites its
        ``max_steps``/``max_time``; training it again resumes exactly from its checkpoint. Returns what
        was added, as words ("300 more steps", "2m 0s more")."""
        from .presets import PRESETS
        from .units import duration

        if steps is not None and steps <= 0 or seconds is not None and seconds <= 0:
            raise TinyGPTError("Continue for a positive number of steps or seconds.",
                               "for example /continue 500 (steps) or /continue 2m.")
        if self.is_training(run):
            raise TinyGPTError(f"Run '{run}' is training right now.", "stop it first (x or /stop).")
        folder = self.run_folder(run)
        cfg = self.run_config(run)
        kept = runs.state_summary(folder) or {}
        step, elapsed = int(kept.get("step", 0)), float(kept.get("elapsed", 0.0))
        tc = cfg.train
        if steps is None and seconds is None:
            plan = PRESETS.get(cfg.preset, {}).get("train", {})
            if tc.max_time:
                seconds = float(plan.get("max_time") or tc.max_time)
            else:
                steps = int(plan.get("max_steps") or tc.max_steps)
        if seconds is not None:
            # a time budget counts from the time already trained; the step plan stays (it sets warmup)
            tc.max_time = (elapsed if kept else 0.0) + seconds
            added = f"{duration(seconds)} more"
        else:
            assert steps is not None
            tc.max_time = None
            tc.max_steps = (step if kept else 0) + steps
            added = f"{steps:,} more steps"
        runs.save_run_config(folder, cfg)
        return added

    def stop_training(self, run: str, wait: float | None = None) -> bool:
        """Stop the training of ``run`` gracefully (it saves a checkpoint): this workbench's own process,
        or one another app, REPL or terminal left training (SIGINT to the pid its lock names, once the
        process's start time matches the lock's). False when nothing could be stopped."""
        proc = self.training.get(run)
        if proc is not None and proc.alive:
            proc.stop(wait=wait)
            return True
        if not self.run_exists(run):
            return False
        return runs.interrupt_trainer(self.run_folder(run)) is not None

    def started_training(self) -> list[TrainingProcess]:
        """Every training process this workbench started, running or finished."""
        return list(self.training.values())

    def active_training(self) -> list[TrainingProcess]:
        """Training processes this workbench started that are still training (not those that said
        their last word and are only exiting)."""
        return [p for p in self.training.values() if p.running]

    def attach(self, run: str, since_offset: int = 0) -> MetricsFollower:
        """Follow a run being trained elsewhere (metrics.jsonl), from ``since_offset``."""
        if not self.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "check the name on the runs screen.")
        return MetricsFollower(self.run_folder(run), since_offset=since_offset)

    def shutdown(self, stop_training: bool = True, wait: float = 30.0) -> None:
        """Stop this workbench's training processes gracefully (each saves a checkpoint)."""
        if not stop_training:
            return
        for proc in self.active_training():
            proc.stop(wait=wait)
