"""The exact xc7 model on a whole trained network against RECORDED yosys counts (real tool output, stored in
``data/whole_mlp_e4m3_yosys.json`` with the yosys version and script): the digits MLP with e4m3 weights and
activations (``benchmarks/minifloat_vs_fixed.py``), whose fc2 and fc3 decode 64 + 32 minifloat inputs.

Without the decoder feature (``rtl_model.decode_bits``) the whole design is -7.3 % and fc3 alone -22 %
(8,743 vs 11,262 LUT); the test asserts the whole design within 5 % and fc3 alone
within 8 % (it is -7.9 %), so it fails when the decoders go unpriced. The full table for MLP and CNN is
``benchmarks/results/cost_whole_network.md``."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest

from hwq.cost import rtl_model
from hwq.cost.bitflow import node_bits
from hwq.cost.fpga import fpga
from hwq.cost.rtl_model import decode_bits, input_dup_bits
from hwq.ir.serialize import loads

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def estimate():
    rec = json.loads((DATA / "whole_mlp_e4m3_yosys.json").read_text())
    g = loads((DATA / rec["graph"]).read_text())
    return fpga(g, "xc7"), rec


def test_whole_mlp_e4m3_within_5_percent(estimate):
    """Within 5 % (the issue's single-layer median goal; a fixed bound, see ``test_narrow_inputs``)."""
    est, rec = estimate
    meas = rec["counts"]["all"]["LUT"]
    err = abs(est["total"]["LUT"] - meas) / meas * 100
    assert err <= 5.0, f"whole MLP e4m3: {est['total']['LUT']} LUT vs yosys {meas} ({err:.1f} % > 5 %)"


def _alone(graph) -> dict:
    """The estimate with every layer's inputs free ports (no constant or equal bits carried over from the
    layer before), as a layer module synthesised alone sees them."""
    rtl_model.clear_cache()
    with (
        mock.patch.object(rtl_model, "_cross_layer_constants", lambda: False),
        mock.patch.object(rtl_model, "_out_low_zero", lambda node, tz: 0),
    ):
        out = fpga(graph, "xc7")
    rtl_model.clear_cache()
    return out


def test_fc3_minifloat_decoders_priced(estimate):
    """fc3 synthesised alone (recorded) against fc3 estimated alone: its inputs free ports, so the codes'
    sign bits, constant after fc2's ReLU in the whole design, are not constant here. 10,377 vs 11,262 LUT
    (-7.9 %; -22 % without the decoders). Until session 7 this compared fc3 of the whole-graph estimate,
    which applied fc2's ReLU sign to fc3's inputs, with the module alone (within 7 %); the bound is 8 % since
    the comparison is like for like."""
    _, rec = estimate
    est = _alone(loads((DATA / rec["graph"]).read_text()))
    fc3 = next(x for x in est["layers"] if x["name"] == "fc3")
    meas = rec["counts"]["fc3"]["LUT"]
    assert fc3["features"]["dec_bits"] > 0
    assert abs(fc3["LUT"] - meas) / meas <= 0.08, f"fc3: {fc3['LUT']} LUT vs yosys {meas}"


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
    and +19 % FF against the recorded yosys counts; with it +14.6 % LUT. Asserted: LUT within the issue's
    15 % p90 goal; FF: ``test_whole_cnn_fixed4_ff_exact``."""
    rec = json.loads((DATA / "whole_cnn_fixed4_yosys.json").read_text())
    est = fpga(loads((DATA / rec["graph"]).read_text()), "xc7")["total"]
    meas = rec["counts"]["all"]
    assert abs(est["LUT"] - meas["LUT"]) / meas["LUT"] <= 0.15, f"CNN fixed4: {est['LUT']} LUT vs yosys {meas['LUT']}"


def test_whole_cnn_fixed4_ff_exact():
    """Flip-flops of the whole streamed CNN (conv, maxpool, conv, maxpool, dense; skid buffers, line
    buffers, frame collect) equal to the recorded yosys count (11,562). Two causes found in the netlist
    (session 7; the estimate was 12,256, +6.0 %): (1) the constant ``{x, 1'b0}`` low bits of every channel
    leave no flip-flop in the skid buffer, the line buffer's shift and window registers and the frame
    collect behind the layer (``rtl_model.input_dup_bits``: -560 FF); (2) a rounding increment reads
    ``|acc[k:0]`` of bits of which the bias makes one constant 1, so yosys keeps none of them (``bitflow``
    reduction operators: -44 FF in conv1, -48 in conv2, -42 in the dense layer)."""
    rec = json.loads((DATA / "whole_cnn_fixed4_yosys.json").read_text())
    est = fpga(loads((DATA / rec["graph"]).read_text()), "xc7")
    meas = rec["counts"]["all"]["FF"]
    assert est["total"]["FF"] == meas, f"CNN fixed4: {est['total']['FF']} FF vs yosys {meas}"
    pool1 = next(x for x in est["layers"] if x["name"] == "pool1")["features"]
    # 8 channels x 1 constant low bit: 13 pixels in the 2x2 window's registers (9 shift + 4 taps), 8 skid bits
    assert (pool1["window_const_bits"], pool1["skid_const_bits"]) == (13 * 8, 8)


def test_whole_cnn_e2m1_ff_exact():
    """The digits CNN with e2m1 weights and activations: flip-flops of the whole design and of every layer
    module synthesised alone equal to the recorded yosys counts (whole: 13,386; the estimate was 14,587,
    +9.0 %, before session 7). What the netlists showed: the output registers hold float codes (3 bits
    after a ReLU: the sign is constant), the rounding encoder reads only acc bits 11..18 (a constant carry
    above the bias's constant bits, 5 possible leading-one shifts, a sticky OR that always covers a
    constant 1), and the codes' constant sign bit leaves no flip-flop in the next layer's registers."""
    rec = json.loads((DATA / "whole_cnn_e2m1_yosys.json").read_text())
    graph = loads((DATA / rec["graph"]).read_text())
    est = fpga(graph, "xc7")["total"]["FF"]
    assert est == rec["counts"]["all"]["FF"], f"CNN e2m1: {est} FF vs yosys {rec['counts']['all']['FF']}"
    alone = {x["name"]: x["features"]["ff"] for x in _alone(graph)["layers"]}
    for name in ("conv1", "pool1", "conv2", "pool2"):
        assert alone[name] == rec["counts"][f"{name}_datapath"]["FF"], (name, alone[name])
    assert alone["flatten"] == rec["counts"]["flatten"]["FF"]


def test_reduction_with_a_constant_one_is_constant():
    """``bitflow`` reads ``|x`` / ``&x`` / ``^x``: an OR over bits one of which is constant 1 is 1 (so the
    bits it reads are not needed), an AND with a constant 0 is 0, a single variable bit passes through."""
    a = [("s", (0, i), False) for i in range(4)]
    c = [("c", 0), ("c", 1)]
    up = node_bits(["assign {out} = {0}[3] & ((|{0}[5:0]) | {0}[4]);"], 1, [a + c])
    assert up == [("s", (0, 3), False)]  # acc[3] & 1: the OR is constant, bits 0-2 and 4 not read
    assert node_bits(["assign {out} = &{0}[5:0];"], 1, [a + c]) == [("c", 0)]
    assert node_bits(["assign {out} = |{0}[4:4];"], 1, [a + c])[0][0] == "c"
    two = node_bits(["assign {out} = |{0}[1:0];"], 1, [a])[0]
    assert two[0] == "f" and {(0, 0), (0, 1)} <= set(two[2])  # new logic reading both bits


def test_float_encoder_reads_only_the_bits_yosys_keeps():
    """A float encoder after a bias whose low bits are constant (0xd6): the magnitude ``n ? -acc : acc``
    has constant borrow above a constant 1 bit (no chain through the bits below), the leading-one shift
    takes 5 of the 8 amounts its 3 bits hold, and the sticky OR over the shifted bits always covers a
    constant 1. yosys keeps acc bits 11..18 of the digits CNN e2m1 conv1 register (netlist, session 7);
    reading the encoder as new logic on every bit kept 8..18."""
    body = [
        "wire {out}_mfn = {0}[18];",
        "wire [18:0] {out}_mfa0 = {out}_mfn ? -{0} : {0};",
        "wire [19:0] {out}_mfa = {{out}_mfa0[17:0], 2'b0};",
        "wire [2:0] {out}_mfls = {out}_mfa[19] ? 3'd0 : {out}_mfa[18] ? 3'd1 : {out}_mfa[17] ? 3'd2 : "
        "{out}_mfa[16] ? 3'd3 : 3'd4;",
        "wire [19:0] {out}_mfb = {out}_mfa << {out}_mfls;",
        "wire [1:0] {out}_mfq = {out}_mfb[19:18];",
        "assign {out} = {out}_mfb[17] & ((|{out}_mfb[16:0]) | {out}_mfq[0]);",
    ]
    acc = [("c", (0xD6 >> j) & 1) if j < 8 else ("s", (0, j), False) for j in range(19)]
    (up,) = node_bits(body, 1, [acc])
    assert sorted(j for _, j in up[2]) == list(range(11, 19))


def test_input_dup_bits():
    assert input_dup_bits(None, 32) == 0  # unknown: every bit a flip-flop
    assert input_dup_bits(24, 32) == 8
    assert input_dup_bits(40, 32) == 0
