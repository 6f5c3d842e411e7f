"""yosys synthesis of emitted Verilog: no DSP blocks (multiplier-free), and the counter sees DSPs when a
design does multiply."""

from __future__ import annotations

import json

from hwq.rtl import emit, synth_report

from .conftest import need_yosys
from .graphs import mlp


def test_emitted_mlp_uses_no_dsp(tmp_path):
    need_yosys()
    g = mlp([8, 6, 4], "fixed<8,3>", "fixed<6,1>", "fixed<8,3,RND,SAT>", "ufixed<8,3,RND,SAT>", 0, "syn")
    emit(g, tmp_path, pipeline=2)
    rep = synth_report(tmp_path)
    assert rep["DSP"] == 0
    assert rep["LUT"] > 50 and rep["CARRY"] > 10 and rep["FF"] > 0
    assert not any(c.startswith("DSP") or c == "$mul" for c in rep["cells"])


def test_dsp_counter_sees_a_multiplier(tmp_path):
    need_yosys()
    v = tmp_path / "mul.v"
    v.write_text(
        "module mul(input wire clk, input wire signed [15:0] a, input wire signed [15:0] b,"
        " output reg signed [31:0] y);\nalways @(posedge clk) y <= a * b;\nendmodule\n"
    )
    rep = synth_report(files=[v], top="mul")
    assert rep["DSP"] >= 1


def test_adders_stay_separate_carry_chains(tmp_path):
    """Every adder is written as an unsigned sum of operands extended to its width, so yosys keeps each
    one its own $alu (carry chain) instead of merging adder trees into $macc cells, which synth_xilinx
    builds as LUT carry-save trees (about 10 % more LUTs on the bench matrices)."""
    import re
    import subprocess

    import numpy as np

    from hwq.formats import FixedFormat
    from hwq.ir import Dense, Graph

    need_yosys()
    kernel = np.random.default_rng(0).integers(-8, 8, size=(6, 12))
    g = Graph("chains", ["x"], ["y"])
    g.add_tensor("x", (12,), "fixed<8,8>")
    g.add_tensor("y", (6,), FixedFormat(16, 16))
    z = np.zeros(6, np.int64)
    g.add_op(Dense("m", ["x"], "y", kernel, z, FixedFormat(4, 4), FixedFormat(4, 4), FixedFormat(16, 16)))
    emit(g, tmp_path, pipeline=0)
    (layer,) = [p for p in tmp_path.glob("hwq_chains_*.v")]
    script = f"read_verilog {layer}; hierarchy -top {layer.stem}; proc; opt; wreduce; alumacc"
    out = subprocess.run(["yosys", "-p", script], capture_output=True, text=True, check=True).stdout
    alu, macc = (int(v) for v in re.search(r"created (\d+) \$alu and (\d+) \$macc cells", out).groups())
    adders = json.loads((tmp_path / "rtl.json").read_text())["layers"][0]["adders"]
    # a few merges remain where a sum is only read modulo its own width (the signed form: 6 here, 48 $alu)
    assert macc <= 2 and alu >= adders - 4, (alu, macc, adders)
