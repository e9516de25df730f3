"""The hardware a run trains on: device and dtype resolution, CPU threads, measured peak FLOP/s.

- :func:`resolve_device` / :func:`resolve_dtype` turn the config's ``auto``/``cuda``/``bfloat16``...
  into torch objects, refusing what this machine lacks with one clear sentence;
- :func:`set_threads` and :func:`probe_threads` pick how many CPU threads the matmuls get;
- :func:`measure_peak_flops` times this machine's matmuls once and caches the best figure in
  ``models/.peak_flops.json`` (MFU is measured against it, never against a datasheet);
- :func:`autocast` is the mixed-precision context for a (device, dtype) pair.
"""

from __future__ import annotations

import json
import os
import platform
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch

from .atomic import atomic_write_text
from .config import TinyGPTError


def resolve_device(name: str) -> torch.device:
    """The torch device for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; one clear sentence for a device
    this machine lacks."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TinyGPTError("--device cuda was asked for but no CUDA GPU is available.", "use --device cpu or auto.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TinyGPTError("--device mps was asked for but Metal is not available.", "use --device cpu or auto.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TinyGPTError(f"'{name}' is not a device.", "use auto, cpu, cuda, cuda:N or mps.") from None


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device, peak_table: Path | None = None) -> torch.dtype:
    """The autocast dtype (float32 means no autocast). ``auto``: bf16 where the GPU has it, else fp16
    with a GradScaler; on CPU bf16 only when this machine's measured bf16 matmul is clearly faster
    (figures kept in ``peak_table``, see :func:`measure_peak_flops`)."""
    if name != "auto":
        dtype = _DTYPES[name]
        if dtype == torch.float16 and device.type == "cpu":
            raise TinyGPTError("float16 training is not supported on the CPU.", "use --dtype bfloat16 or float32.")
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        try:
            fast = (measure_peak_flops(device, torch.bfloat16, table=peak_table)
                    > 1.2 * measure_peak_flops(device, torch.float32, table=peak_table))
        except RuntimeError:  # no bf16 kernels at all
            fast = False
        return torch.bfloat16 if fast else torch.float32
    return torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[dtype]


def device_label(device: torch.device) -> str:
    """A name for the hardware, used to key the measured peaks."""
    if device.type == "cuda":
        return "cuda:" + torch.cuda.get_device_name(device)
    if device.type == "cpu":
        # one model name covers machines whose vector units differ (an EPYC with AVX-512 bf16 multiplies
        # bf16 some fifty times faster than one with AVX2 only), so the kernels torch picks and the bf16
        # instructions are part of the key
        info: dict[str, str] = {}
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())  # the first processor's
        except OSError:
            pass
        name = info.get("model name") or platform.processor() or platform.machine()
        flags = set(info.get("flags", "").split())
        isa = torch.backends.cpu.get_cpu_capability()
        bf16 = "+bf16" if flags & {"avx512_bf16", "amx_bf16"} else ""
        return f"cpu:{name}:{isa}{bf16}:threads={available_cores()}"
    return device.type


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a timing measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


PEAK_TABLE = ".peak_flops.json"
"""The file, in the models folder, that keeps the measured peaks (see :func:`peak_table_path`)."""


def peak_table_path(models: Path) -> Path:
    """Where the measured matmul peaks of this machine are kept: ``<models>/.peak_flops.json``."""
    return Path(models) / PEAK_TABLE


def _peak_table(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    try:
        table = json.loads(path.read_text())
        if not isinstance(table, dict):
            table = {}
    except (OSError, ValueError, RecursionError):
        table = {}
    return table


def measure_peak_flops(device: torch.device, dtype: torch.dtype, *, cache: bool = True,
                       table: Path | None = None) -> float:
    """Matmul FLOP/s this machine reaches in ``dtype``; MFU is measured against this figure.

    ``table`` is the file that keeps the figures (:func:`peak_table_path`; None keeps nothing). With
    ``cache`` a figure already there (keyed by hardware, threads and dtype) is returned without timing
    anything; otherwise products are timed and the file keeps the best figure ever measured (a busy
    machine measures low; the hardware's peak is the best seen).
    """
    key = f"{device_label(device)}|{dtype_name(dtype)}"
    path = table
    figures = _peak_table(path)
    known = figures.get(key)
    if cache and isinstance(known, (int, float)) and known > 0:
        return float(known)
    n = 4096 if device.type == "cuda" else 1024
    gen = torch.Generator().manual_seed(0)  # private: the global RNG belongs to training
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)

    def fastest_product(threads: int) -> float:
        """Seconds of the fastest of many single products: on a shared machine some of them run
        undisturbed, and a peak is what the hardware can do, not what it did on average."""
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        a @ b  # warm up kernels and caches
        sync(device)
        best = time.perf_counter() - t0
        spent = 0.0
        for i in range(200):
            t0 = time.perf_counter()
            a @ b
            sync(device)
            dt = time.perf_counter() - t0
            best, spent = min(best, dt), spent + dt
            # a dtype without fast kernels here (bf16 on a CPU without it takes seconds a product)
            # is told apart by a few products; a minute spent on it would only be a slower start
            if spent > 0.6 and (i >= 10 or spent > 2.0):
                break
        return best

    before = torch.get_num_threads()
    cores = available_cores() if device.type == "cpu" else 1
    peak = 2 * n**3 / fastest_product(cores)
    if cores > 1:
        # when other processes keep the cores busy, every all-core product is slowed down; one core's
        # rate times the number of cores (matmuls scale almost linearly) is then the better estimate
        peak = max(peak, cores * 2 * n**3 / fastest_product(1))
    torch.set_num_threads(before)
    best_known = max(peak, float(known) if isinstance(known, (int, float)) else 0.0)
    if best_known != known and path is not None:
        figures[key] = best_known
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(figures, indent=2) + "\n")
        except OSError:
            pass
    return best_known if cache else peak


def available_memory(device: torch.device) -> int | None:
    """Bytes a new allocation can still get on ``device`` (free GPU memory, or the machine's
    MemAvailable on CPU), or None where it cannot be told."""
    try:
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            return int(free)
        if device.type == "cpu":
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
    except (OSError, ValueError, RuntimeError):
        return None
    return None


_NVML = True
"""Whether NVML answered (torch.cuda.utilization needs the pynvml package): asked once, not every step."""


def gpu_usage(device: torch.device) -> tuple[float | None, int | None]:
    """(utilisation in percent, bytes this process's CUDA allocator holds) of a CUDA ``device``; (None,
    None) on other devices. Utilisation is NVML's and None where NVML is missing."""
    global _NVML
    if device.type != "cuda":
        return None, None
    util: float | None = None
    if _NVML:
        try:
            util = float(torch.cuda.utilization(device))
        except Exception:  # no pynvml, or a driver without NVML: say nothing rather than guess
            _NVML = False
    return util, int(torch.cuda.memory_reserved(device))


def gpu_memory_total(device: torch.device) -> int | None:
    """The CUDA ``device``'s memory in bytes; None on other devices."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.get_device_properties(device).total_memory)


def available_cores() -> int:
    """CPU cores this process may run on (``$TINYGPT_THREADS`` overrides)."""
    if os.environ.get("TINYGPT_THREADS"):
        return max(1, int(os.environ["TINYGPT_THREADS"]))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """Use ``n`` (default: every available core) threads inside each op and one between ops: the
    model is a chain of big ops, so parallelism inside each op is what pays."""
    torch.set_num_threads(max(1, n or available_cores()))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # can only be set before the first parallel op
        pass
    return torch.get_num_threads()


def probe_threads(dtype: torch.dtype, cores: int | None = None) -> int:
    """How many threads run this machine's matmuls fastest right now: all cores, or one.

    On a machine shared with other busy processes, every parallel op waits for its slowest thread,
    and a thread that shares a core with someone else is slow: one thread is then often faster than
    two (measured 2-3x on a loaded two-core machine). A short interleaved timing decides.
    """
    cores = cores or available_cores()
    if cores <= 1:
        return 1
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2048, 256, generator=gen).to(dtype)
    b = torch.randn(256, 768, generator=gen).to(dtype)
    before = torch.get_num_threads()
    times: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(5):
        for n in times:
            torch.set_num_threads(n)
            t0 = time.perf_counter()
            a @ b
            a @ b
            times[n].append(time.perf_counter() - t0)
    torch.set_num_threads(before)
    median = {n: sorted(v)[len(v) // 2] for n, v in times.items()}
    return 1 if median[1] < 0.9 * median[cores] else cores


def autocast(device: torch.device, dtype: torch.dtype) -> AbstractContextManager:
    """Mixed precision in ``dtype`` on ``device``; float32 means none."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
