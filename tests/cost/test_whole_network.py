"""The exact xc7 model on a whole trained network against RECORDED yosys counts (real tool output, stored in
``data/whole_mlp_e4m3_yosys.json`` with the yosys version and script): the digits MLP with e4m3 weights and
activations (``benchmarks/minifloat_vs_fixed.py``), whose fc2 and fc3 decode 64 + 32 minifloat inputs.

Without the decoder feature (``rtl_model.decode_bits``) the whole design is -7.3 % and fc3 alone -22 %
(8,743 vs 11,262 LUT); the test asserts the whole design within the target's held-out p90 and fc3 within
7 %, so it fails when the decoders go unpriced. The full table for MLP and CNN is
``benchmarks/results/cost_whole_network.md``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwq.cost.fpga import fpga
from hwq.cost.rtl_model import decode_bits
from hwq.cost.targets import load_target
from hwq.ir.serialize import loads

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def estimate():
    rec = json.loads((DATA / "whole_mlp_e4m3_yosys.json").read_text())
    g = loads((DATA / rec["graph"]).read_text())
    return fpga(g, "xc7"), rec


def test_whole_mlp_e4m3_within_p90(estimate):
    est, rec = estimate
    p90 = load_target("xc7")["calibration"]["p90_ape"]
    meas = rec["counts"]["all"]["LUT"]
    err = abs(est["total"]["LUT"] - meas) / meas * 100
    assert err <= p90, f"whole MLP e4m3: {est['total']['LUT']} LUT vs yosys {meas} ({err:.1f} % > p90 {p90} %)"


def test_fc3_minifloat_decoders_priced(estimate):
    est, rec = estimate
    fc3 = next(x for x in est["layers"] if x["name"] == "fc3")
    meas = rec["counts"]["fc3"]["LUT"]
    assert fc3["features"]["dec_bits"] > 0
    assert abs(fc3["LUT"] - meas) / meas <= 0.07, f"fc3: {fc3['LUT']} LUT vs yosys {meas}"


def test_decode_bits_counts_shift_matrix():
    class Node:
        width = 19
        body = [
            "wire [3:0] {out}_mfe = {0}[6:3];",
            "wire [3:0] {out}_mfsh = {out}_mfe - 4'd1;",
            "wire [17:0] {out}_mfone = {{14{1'b0}}, {1'b1, {0}[2:0]}};",
            "wire [17:0] {out}_mfmag = ({out}_mfe == 4'd0) ? {{15{1'b0}}, {0}[2:0]} : ({out}_mfone << {out}_mfsh);",
            "wire signed [18:0] {out}_mfpos = $signed({1'b0, {out}_mfmag});",
            "wire signed [18:0] {out}_mfv = {0}[7] ? -{out}_mfpos : {out}_mfpos;",
            "assign {out} = {out}_mfv;",
        ]

    # shifts 0..14 of a 4-bit significand into 18 bits: 4 x 15 = 60 entries, then 19 signed value bits
    assert decode_bits(Node) == 60 + 19
    Node.body = [ln.replace("{0}[7] ?", "{0}[3] ?") for ln in Node.body]
    assert decode_bits(Node) == 0  # a 4-bit code folds into the reading adders' LUTs


def test_whole_cnn_fixed4_low_zero_bits():
    """The digits CNN with 4-bit fixed formats: its ReLUs emit ``{x, 1'b0}`` (one more fraction bit), which
    yosys carries into the next layers (``rtl_model.low_zero_bits``). Without it the estimate is +31 % LUT
    and +19 % FF against the recorded yosys counts; with it +14.6 % and +6.0 %. Asserted: LUT within the
    issue's 15 % p90 goal, FF within 8 %."""
    rec = json.loads((DATA / "whole_cnn_fixed4_yosys.json").read_text())
    est = fpga(loads((DATA / rec["graph"]).read_text()), "xc7")["total"]
    meas = rec["counts"]["all"]
    assert abs(est["LUT"] - meas["LUT"]) / meas["LUT"] <= 0.15, f"CNN fixed4: {est['LUT']} LUT vs yosys {meas['LUT']}"
    assert abs(est["FF"] - meas["FF"]) / meas["FF"] <= 0.08, f"CNN fixed4: {est['FF']} FF vs yosys {meas['FF']}"
