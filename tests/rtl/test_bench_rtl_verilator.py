"""benchmarks/bench_rtl.py ``--verilator`` (the exactness check on Verilator) and ``--cache`` (results reused only
for byte-identical Verilog)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from ..tools import require_tool

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rtl.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_rtl_v", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_rtl_v"] = mod
    spec.loader.exec_module(mod)
    return mod


def _kernel() -> np.ndarray:
    k = np.random.default_rng(5).integers(-32, 32, size=(4, 3))
    k[:, 2] = -np.abs(k[:, 2]) - 1
    return k


def test_verilator_check_exact_and_catches_a_wrong_design(bench, tmp_path):
    require_tool("verilator", "bench_rtl --verilator")
    k = _kernel()
    w = bench.out_width(k)
    v = tmp_path / "naive.v"
    v.write_text(bench.naive_verilog(k, "naive_v", w))
    got = bench.verify("naive", [v], "naive_v", False, k, w, 12, tmp_path / "ok", "verilator")
    assert got == "12 vectors exact (Verilator)"
    bad = k.copy()
    bad[1, 2] -= 1
    v.write_text(bench.naive_verilog(bad, "naive_v", w))
    with pytest.raises(RuntimeError, match=r"naive: vector \d+, output 2: .*\(verilator\)"):
        bench.verify("naive", [v], "naive_v", False, k, w, 12, tmp_path / "bad", "verilator")


def test_cache_reuses_only_byte_identical_sources(bench, tmp_path):
    require_tool("iverilog", "bench_rtl check")
    k = _kernel()
    w = bench.out_width(k)
    cache = bench._Cache(tmp_path / "cache")
    v = tmp_path / "naive.v"
    v.write_text(bench.naive_verilog(k, "naive_c", w))
    first = bench.verify("naive", [v], "naive_c", False, k, w, 8, tmp_path / "s1", "icarus", cache)
    assert first == "8 vectors exact"
    again = bench.verify("naive", [v], "naive_c", False, k, w, 8, tmp_path / "s2", "icarus", cache)
    assert again == "8 vectors exact (cached check: byte-identical sources)"
    assert not (tmp_path / "s2").exists()  # not simulated
    # one changed byte (a wrong weight): no cache hit, the simulation runs and catches it
    bad = k.copy()
    bad[0, 0] += 1
    v.write_text(bench.naive_verilog(bad, "naive_c", w))
    with pytest.raises(RuntimeError, match="naive: vector"):
        bench.verify("naive", [v], "naive_c", False, k, w, 8, tmp_path / "s3", "icarus", cache)
    # other vectors count or kernel: other keys
    v.write_text(bench.naive_verilog(k, "naive_c", w))
    assert bench.verify("naive", [v], "naive_c", False, k, w, 9, tmp_path / "s4", "icarus", cache) == "9 vectors exact"
