"""Flip-flops, DSPs and CARRY cells of the FPGA model against yosys on emitted designs (needs yosys)."""

from __future__ import annotations

import pytest

from hwq.cost import fpga, load_target
from hwq.cost.calibrate import count_cells
from hwq.rtl import emit
from hwq.rtl.tools import synth_report
from tests.tools import require_tool

from .graphs import random_dense

CASES = [((2, 3), 1, 1), ((2, 4), 2, 2), ((3, 6), 1, 4), ((4, 5), 0, 5), ((3, 4), 3, 6)]


@pytest.mark.slow
@pytest.mark.parametrize("shape,pipeline,seed", CASES)
def test_flip_flops_equal_yosys_ice40(tmp_path, shape, pipeline, seed):
    require_tool("yosys", "synthesis counts of emitted Verilog")
    g = random_dense(*shape, seed)
    emit(g, tmp_path, pipeline=pipeline)
    tgt = load_target("ice40")
    rep = synth_report(tmp_path, script=tgt["synth"]["script"])
    got = count_cells(rep["cells"], tgt["synth"])
    est = fpga(g, tgt, pipeline=pipeline)["total"]
    assert est["FF"] == got["FF"]
    assert est["DSP"] == got["DSP"] == 0
