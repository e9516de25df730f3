"""The machine's side of a training, sampled from outside the trainer by its pid: the CPU its processes
use (a torchrun launcher and its ranks counted together), the whole machine's CPU, and the trainer's
resident memory (RSS).

On Linux the figures are read from ``/proc`` (no dependency). Elsewhere ``psutil`` is used when it is
installed; without it :func:`source` is None and :data:`UNAVAILABLE` says why there are no figures.
The GPU's side is the trainer's to measure (only its own process sees its CUDA allocator): it comes
in the step events (events.Step ``gpu_util``, ``gpu_mem``).

CPU figures are rates, so they need two samples: :class:`MachineSampler` keeps the previous one, and
its first :class:`Usage` has memory but no CPU yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

UNAVAILABLE = "CPU and memory figures need Linux's /proc or the psutil package (pip install psutil)."


@dataclass(frozen=True)
class Usage:
    """One reading of a trainer and its machine."""

    pid: int
    processes: int
    """The trainer's process and its descendants (DDP ranks under torchrun)."""
    rss: int | None
    """Resident memory of those processes, in bytes."""
    cpu: float | None
    """Their CPU use since the previous reading, in percent of one core (250 = two and a half cores
    busy); None on the first reading."""
    machine_cpu: float | None
    """The whole machine's CPU use since the previous reading, in percent of all its cores."""
    cores: int


class Source(Protocol):
    """Where readings come from: /proc, or psutil."""

    def tree(self, pid: int) -> list[int]: ...
    def cpu_seconds(self, pid: int) -> float | None: ...
    def rss(self, pid: int) -> int | None: ...
    def machine(self) -> tuple[float, float] | None: ...
    def cores(self) -> int: ...


class ProcSource:
    """Readings from a Linux ``/proc`` (``root`` is another folder laid out like it, in tests)."""

    def __init__(self, root: Path | str = "/proc", ticks: int | None = None) -> None:
        self.root = Path(root)
        self.ticks = ticks or os.sysconf("SC_CLK_TCK")

    def _read(self, *parts: str | int) -> str | None:
        try:
            return self.root.joinpath(*map(str, parts)).read_text(encoding="ascii", errors="replace")
        except OSError:  # gone, or not ours to read
            return None

    def _stat_fields(self, pid: int) -> list[str] | None:
        text = self._read(pid, "stat")
        if text is None or ")" not in text:
            return None
        # the command name (field 2) is in parentheses and may hold spaces: split after its end
        return text[text.rindex(")") + 2:].split()

    def tree(self, pid: int) -> list[int]:
        """``pid`` and its descendants (from each thread's ``children``), ``pid`` first; [] when it is gone."""
        if self._stat_fields(pid) is None:
            return []
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            if p in out:
                continue
            out.append(p)
            try:
                tasks = [t.name for t in (self.root / str(p) / "task").iterdir()]
            except OSError:
                continue
            for task in tasks:
                text = self._read(p, "task", task, "children") or ""
                todo.extend(int(c) for c in text.split() if c.isdigit())
        return out

    def cpu_seconds(self, pid: int) -> float | None:
        fields = self._stat_fields(pid)
        if fields is None or len(fields) < 13:
            return None
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime (fields 14 and 15)

    def rss(self, pid: int) -> int | None:
        for line in (self._read(pid, "status") or "").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # kB
        return None

    def machine(self) -> tuple[float, float] | None:
        """(busy, total) seconds of all cores since boot, from the first line of ``stat``."""
        first = (self._read("stat") or "").partition("\n")[0].split()
        if not first or first[0] != "cpu":
            return None
        values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        return (sum(values) - idle) / self.ticks, sum(values) / self.ticks

    def cores(self) -> int:
        text = self._read("stat") or ""
        n = sum(1 for line in text.splitlines() if line.startswith("cpu") and line[3:4].isdigit())
        return n or (os.cpu_count() or 1)


class PsutilSource:
    """Readings through psutil (macOS, Windows, or a Linux without /proc)."""

    def __init__(self, psutil: Any) -> None:
        self.psutil = psutil

    def _proc(self, pid: int) -> Any:
        try:
            return self.psutil.Process(pid)
        except Exception:  # psutil.NoSuchProcess, AccessDenied
            return None

    def tree(self, pid: int) -> list[int]:
        proc = self._proc(pid)
        if proc is None:
            return []
        try:
            return [pid, *(c.pid for c in proc.children(recursive=True))]
        except Exception:
            return [pid]

    def cpu_seconds(self, pid: int) -> float | None:
        proc = self._proc(pid)
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except Exception:
            return None

    def rss(self, pid: int) -> int | None:
        proc = self._proc(pid)
        try:
            return int(proc.memory_info().rss)
        except Exception:
            return None

    def machine(self) -> tuple[float, float] | None:
        t = self.psutil.cpu_times()
        total = sum(t)
        return total - t.idle - getattr(t, "iowait", 0.0), total

    def cores(self) -> int:
        return self.psutil.cpu_count() or 1


def source(proc_root: Path | str = "/proc") -> Source | None:
    """/proc where the system has it, else psutil where installed, else None (:data:`UNAVAILABLE`)."""
    if (Path(proc_root) / "self" / "stat").is_file() or (Path(proc_root) / "stat").is_file():
        return ProcSource(proc_root)
    try:
        import psutil
    except ImportError:
        return None
    return PsutilSource(psutil)


class MachineSampler:
    """Readings of process ``pid`` (and its descendants) and of the machine, one per :meth:`sample`."""

    def __init__(self, pid: int, src: Source | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.pid = pid
        self.source = src if src is not None else source()
        self.clock = clock
        self._last: tuple[float, float, tuple[float, float] | None] | None = None
        """(clock, the tree's CPU seconds, the machine's busy and total seconds) at the last reading."""

    def sample(self) -> Usage | None:
        """A reading now; None when the process is gone or there is no source of readings."""
        src = self.source
        if src is None:
            return None
        pids = src.tree(self.pid)
        if not pids:
            self._last = None
            return None
        now = self.clock()
        seconds = [s for s in map(src.cpu_seconds, pids) if s is not None]
        rss = [r for r in map(src.rss, pids) if r is not None]
        machine = src.machine()
        cpu = machine_cpu = None
        if self._last is not None:
            then, cpu_then, machine_then = self._last
            if now > then:
                cpu = max(0.0, 100.0 * (sum(seconds) - cpu_then) / (now - then))  # a rank that exited: not < 0
            if machine is not None and machine_then is not None and machine[1] > machine_then[1]:
                busy = (machine[0] - machine_then[0]) / (machine[1] - machine_then[1])
                machine_cpu = 100.0 * min(1.0, max(0.0, busy))  # clock ticks read apart: never past all of it
        self._last = (now, sum(seconds), machine)
        return Usage(pid=self.pid, processes=len(pids), rss=sum(rss) if rss else None, cpu=cpu,
                     machine_cpu=machine_cpu, cores=src.cores())
