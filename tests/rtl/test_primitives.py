"""cocotb tests of the Verilog primitives the emitter instantiates (Icarus; Verilator for the skid buffer)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from hwq.sim.rtlsim import run_bench

from .conftest import need_icarus, need_verilator

BENCH = "hwq.sim.cocotb_primitives_bench"


def _prim(name: str) -> Path:
    return Path(str(resources.files("hwq.rtl").joinpath("primitives", name)))


@pytest.mark.parametrize("width", [1, 8, 37])
def test_skid_buffer_icarus(width):
    need_icarus()
    ok, _, _ = run_bench(
        [_prim("hwq_skid_buffer.v")],
        "hwq_skid_buffer",
        BENCH,
        "icarus",
        {"DATA_WIDTH": width},
        {"HWQ_PRIM_WIDTH": str(width), "HWQ_PRIM_BEATS": "1500"},
        testcase="skid_buffer_stream",
    )
    assert ok


@pytest.mark.slow
def test_skid_buffer_verilator():
    need_verilator()
    ok, _, _ = run_bench(
        [_prim("hwq_skid_buffer.v")],
        "hwq_skid_buffer",
        BENCH,
        "verilator",
        {"DATA_WIDTH": 16},
        {"HWQ_PRIM_WIDTH": "16", "HWQ_PRIM_BEATS": "1000"},
        testcase="skid_buffer_stream",
    )
    assert ok


def test_primitives_lint_clean():
    need_verilator()
    import subprocess

    from hwq.rtl.tools import verilator_bin, verilator_env

    for name, top in (("hwq_skid_buffer.v", "hwq_skid_buffer"),):
        p = subprocess.run(
            [verilator_bin(), "--lint-only", "-Wall", "--top-module", top, str(_prim(name))],
            env=verilator_env(),
            capture_output=True,
            text=True,
        )
        assert p.returncode == 0 and "%Warning" not in p.stderr, p.stderr
