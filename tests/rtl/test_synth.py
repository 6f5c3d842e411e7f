"""yosys synthesis of emitted Verilog: no DSP blocks (multiplier-free), and the counter sees DSPs when a
design does multiply."""

from __future__ import annotations

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
