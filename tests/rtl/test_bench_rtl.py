"""benchmarks/bench_rtl.py: the three designs it compares are exact and have the same ports (small kernels)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hwq.rtl import emit

from ..tools import require_module
from .conftest import need_icarus, need_yosys

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rtl.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_rtl", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_rtl"] = mod
    spec.loader.exec_module(mod)
    return mod


def _kernel() -> np.ndarray:
    """5 inputs x 4 outputs: a zero column, an all-even column (da4ml drops its zero LSBs), a negative one."""
    k = np.random.default_rng(3).integers(-32, 32, size=(5, 4))
    k[:, 1] = 0
    k[:, 2] = 4 * np.random.default_rng(4).integers(-8, 8, size=5)
    k[:, 3] = -np.abs(k[:, 3]) - 1
    return k


def test_naive_design_is_exact_and_a_wrong_one_is_caught(bench, tmp_path):
    need_icarus()
    k = _kernel()
    w = bench.out_width(k)
    v = tmp_path / "naive.v"
    v.write_text(bench.naive_verilog(k, "naive_t", w))
    assert bench.verify("naive", [v], "naive_t", False, k, w, 60, tmp_path / "ok") == "60 vectors exact"
    bad = k.copy()
    bad[2, 0] += 1
    v.write_text(bench.naive_verilog(bad, "naive_t", w))
    with pytest.raises(RuntimeError, match=r"naive: vector \d+, output 0"):
        bench.verify("naive", [v], "naive_t", False, k, w, 60, tmp_path / "bad")


def test_hwq_design_is_exact(bench, tmp_path):
    need_icarus()
    k = _kernel()
    g = bench.cmvm_graph(k, "t")
    emit(g, tmp_path / "hwq", pipeline=0)
    layer = json.loads((tmp_path / "hwq" / "rtl.json").read_text())["layers"][0]
    files = [tmp_path / "hwq" / f"{layer['module']}.v"]
    w = bench.out_width(k)
    assert g.tensor("y").fmt.width == w
    assert bench.verify("hwq", files, layer["module"], True, k, w, 60, tmp_path / "sim") == "60 vectors exact"


def test_da4ml_design_is_exact(bench, tmp_path):
    require_module("da4ml", "the peer in the adder benchmark", extra="bench")
    need_icarus()
    k = _kernel()
    w = bench.out_width(k)
    comb = bench.da4ml_solution(k)
    files, top = bench.da4ml_verilog(comb, "da4ml_t", tmp_path / "da", w)
    assert bench.verify("da4ml", files, top, False, k, w, 60, tmp_path / "sim") == "60 vectors exact"


def test_da4ml_reference_adders(bench):
    require_module("da4ml", "the peer in the adder benchmark", extra="bench")
    assert bench.da4ml_version() == "0.6.0", "REFERENCE.md figures are for da4ml 0.6.0 (the bench extra pins it)"
    comb = bench.da4ml_solution(bench.case_matrix(16, 64))
    assert bench.da4ml_adders(comb) == bench.DA4ML_REFERENCE["16x64"]["adders"]


@pytest.mark.slow
def test_run_tiny_case_end_to_end(bench):
    """bench_rtl.run on a 4x3 kernel: four yosys runs (about 30-50 s)."""
    need_yosys()
    rows = bench.run(["4x3"], "synth_xilinx -flatten", vectors=20, log=lambda *_: None, styles=("balanced",))
    by = {r["design"]: r for r in rows}
    assert by["hwq balanced"]["DSP"] == 0 and by["naive x*w -nodsp"]["DSP"] == 0
    assert by["hwq balanced"]["adders"] > 0 and by["naive x*w"]["adders"] is None
    if bench.da4ml_version() is not None:
        da = by[f"da4ml {bench.da4ml_version()}"]
        assert da["DSP"] == 0 and da["adders"] > 0
