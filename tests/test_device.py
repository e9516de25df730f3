"""device.py: device and dtype resolution, threads, the measured peak and its cache."""

from __future__ import annotations

import json

import pytest
import torch

from tinygpt_tui import device
from tinygpt_tui.config import TinyGPTError


@pytest.mark.bare_models  # measures its own peaks
def test_peak_flops_is_measured_once_and_cached(home):
    table_path = device.peak_table_path(home / "models")
    assert device.measure_peak_flops(torch.device("cpu"), torch.float32, table=None) > 1e8
    assert not table_path.exists()  # no table given: nothing kept
    peak = device.measure_peak_flops(torch.device("cpu"), torch.float32, table=table_path)
    assert peak > 1e8  # any CPU of this century does more than 0.1 GFLOP/s
    table = json.loads((home / "models" / ".peak_flops.json").read_text())
    key = next(iter(table))
    assert "float32" in key and table[key] == peak
    table[key] = 123.0
    (home / "models" / ".peak_flops.json").write_text(json.dumps(table))
    assert device.measure_peak_flops(torch.device("cpu"), torch.float32, table=table_path) == 123.0


def test_devices_and_dtypes_resolve_or_refuse_in_one_sentence():
    assert device.resolve_device("cpu") == torch.device("cpu")
    assert device.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(TinyGPTError, match="is not a device"):
        device.resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(TinyGPTError, match="no CUDA GPU"):
            device.resolve_device("cuda")
    cpu = torch.device("cpu")
    assert device.resolve_dtype("float32", cpu) == torch.float32
    assert device.resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(TinyGPTError, match="float16 training is not supported on the CPU"):
        device.resolve_dtype("float16", cpu)
    assert device.dtype_name(torch.bfloat16) == "bfloat16"


def test_autocast_is_a_no_op_in_float32_and_casts_in_bfloat16():
    cpu = torch.device("cpu")
    a = torch.ones(4, 4)
    with device.autocast(cpu, torch.float32):
        assert (a @ a).dtype == torch.float32
    with device.autocast(cpu, torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16


def test_threads_follow_the_override(monkeypatch):
    monkeypatch.setenv("TINYGPT_THREADS", "1")
    assert device.available_cores() == 1
    before = torch.get_num_threads()
    try:
        assert device.set_threads() == 1
        assert device.probe_threads(torch.float32) == 1  # one core: nothing to probe
    finally:
        torch.set_num_threads(before)
    assert device.device_label(torch.device("cpu")).endswith("threads=1")


def test_gpu_figures_are_none_off_cuda_and_read_on_it():
    assert device.gpu_usage(torch.device("cpu")) == (None, None)
    assert device.gpu_memory_total(torch.device("cpu")) is None
    if not torch.cuda.is_available():
        return  # the CUDA half runs where there is a GPU
    cuda = torch.device("cuda")
    x = torch.ones(1024, 1024, device=cuda)
    util, mem = device.gpu_usage(cuda)
    assert mem >= x.numel() * 4 and (util is None or 0 <= util <= 100)
    assert device.gpu_memory_total(cuda) > mem


def test_the_peaks_key_tells_apart_cpus_of_one_name_with_other_vector_units(monkeypatch):
    """Two machines both called 'AMD EPYC', one with AVX-512 bf16 and one with AVX2 only, multiply bf16
    some fifty times apart: a peak measured on one must not be read on the other."""
    here = device.device_label(torch.device("cpu"))
    assert torch.backends.cpu.get_cpu_capability() in here
    other = "AVX2" if torch.backends.cpu.get_cpu_capability() != "AVX2" else "DEFAULT"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: other)
    assert device.device_label(torch.device("cpu")) != here
