"""machine.py: a trainer's CPU and memory and its machine's CPU, read from /proc (or psutil), and the GPU
figures the trainer reports in its events."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest

from tinygpt_tui import events
from tinygpt_tui.machine import MachineSampler, ProcSource, PsutilSource, source


def fake_proc(root: Path, *, ticks: dict[int, tuple[int, int]], rss_kb: dict[int, int],
              children: dict[int, list[int]], machine: tuple[int, int]) -> None:
    """A /proc laid out like Linux's: per process stat (utime, stime), status (VmRSS) and its main
    thread's children; the machine's stat (busy as user time, idle), with two cores."""
    for pid, (utime, stime) in ticks.items():
        d = root / str(pid)
        (d / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
        # the command name may hold spaces and parentheses: fields count from after its last ')'
        rest = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0", str(utime), str(stime)] + ["0"] * 30
        (d / "stat").write_text(f"{pid} (python (rank) 1) " + " ".join(rest) + "\n")
        (d / "status").write_text(f"Name:\tpython\nVmPeak:\t 999 kB\nVmRSS:\t {rss_kb[pid]} kB\n")
        (d / "task" / str(pid) / "children").write_text(" ".join(map(str, children.get(pid, []))))
    busy, idle = machine
    (root / "stat").write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n"
                               f"cpu1 1 0 0 1 0 0 0 0 0 0\nintr 0\n")


def test_a_trainer_and_its_ranks_are_read_together(tmp_path):
    layout = dict(rss_kb={10: 1000, 11: 2000, 12: 3000}, children={10: [11, 12]})
    fake_proc(tmp_path, ticks={10: (0, 0), 11: (100, 0), 12: (50, 50)}, machine=(1000, 1000), **layout)
    clock = iter([100.0, 102.0])
    sampler = MachineSampler(10, ProcSource(tmp_path, ticks=100), clock=lambda: next(clock))
    first = sampler.sample()
    assert first.processes == 3 and first.rss == 6000 * 1024 and first.cores == 2
    assert first.cpu is None and first.machine_cpu is None  # a rate needs two readings
    # two seconds later the ranks used 3 and 2 more seconds of CPU; the machine 300 busy of 400 ticks
    fake_proc(tmp_path, ticks={10: (0, 0), 11: (400, 0), 12: (100, 200)}, machine=(1300, 1100), **layout)
    second = sampler.sample()
    assert second.cpu == pytest.approx(250.0)  # 5 CPU seconds in 2: two and a half cores
    assert second.machine_cpu == pytest.approx(75.0)


def test_a_process_that_is_gone_gives_no_reading(tmp_path):
    fake_proc(tmp_path, ticks={10: (0, 0)}, rss_kb={10: 1}, children={}, machine=(1, 1))
    assert MachineSampler(99, ProcSource(tmp_path, ticks=100)).sample() is None


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux's /proc")
def test_this_machine_reads_a_busy_child_process():
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: sum(range(10000))"])
    try:
        sampler = MachineSampler(os.getpid())
        assert isinstance(sampler.source, ProcSource)
        first = sampler.sample()
        assert first.processes >= 2 and first.rss > 10_000_000  # this interpreter and its child
        src = sampler.source
        start = src.cpu_seconds(child.pid)
        while src.cpu_seconds(child.pid) == start:  # until the child has used a clock tick
            pass
        second = sampler.sample()
        assert second.cpu is not None and second.cpu > 0 and 0 <= second.machine_cpu <= 100
    finally:
        child.kill()
        child.wait()


def test_psutil_stands_in_where_there_is_no_proc(tmp_path, monkeypatch):
    class Proc:
        def __init__(self, pid):
            if pid != 7:
                raise LookupError("no such process")
            self.pid = pid

        def children(self, recursive):
            return [SimpleNamespace(pid=8)]

        def cpu_times(self):
            return SimpleNamespace(user=1.5, system=0.5)

        def memory_info(self):
            return SimpleNamespace(rss=4096)

    times = namedtuple("scputimes", "user system idle iowait")
    fake = SimpleNamespace(Process=Proc, cpu_count=lambda: 4, cpu_times=lambda: times(3.0, 1.0, 5.0, 1.0))
    src = PsutilSource(fake)
    assert src.tree(7) == [7, 8] and src.tree(9) == [] and src.cpu_seconds(9) is None
    assert src.cpu_seconds(7) == 2.0 and src.rss(7) == 4096 and src.cores() == 4
    assert src.machine() == (4.0, 10.0)  # busy: all but idle and iowait
    monkeypatch.setitem(sys.modules, "psutil", None)  # not installed either
    assert source(tmp_path / "nothing") is None


def test_the_gpu_figures_travel_in_the_events_and_old_metrics_lack_them():
    start = events.Start(step=0, max_steps=10, max_time=None, params=1, tokens_per_step=1, device="cuda",
                         dtype="bfloat16", resumed=False, compile=False, threads=1, peak_flops=1.0, elapsed_s=0.0,
                         gpu_mem_total=80_000_000_000)
    step = events.Step(step=1, loss=1.0, lr=1.0, tokens_per_s=1.0, mfu=None, elapsed_s=1.0, eta_s=None,
                       grad_norm=None, tokens=1, threads=1, gpu_util=45.0, gpu_mem=2_000_000_000)
    state = events.fold([events.from_json(start.to_json()), events.from_json(step.to_json())])
    assert (state.gpu_util, state.gpu_mem, state.gpu_mem_total) == (45.0, 2_000_000_000, 80_000_000_000)
    old = step.to_dict()
    del old["gpu_util"], old["gpu_mem"]
    assert events.decode(old).gpu_mem is None
    # a new session forgets the last one's readings until its own first step
    assert events.reduce(state, start).gpu_mem is None
