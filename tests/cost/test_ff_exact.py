"""Flip-flops of the FPGA model equal to yosys's netlist on every calibration design, both targets.

Fixture ``data/ff_yosys.json``: the FF cell counts yosys (version and scripts recorded in the file) gave for
every design of ``calibrate.design_set()`` on xc7 and iCE40, taken from the calibration's synthesis cache
(real yosys runs of the emitted Verilog), with a hash of each design's IR so that a changed design is never
compared with an old count. The model (``hwq.cost.fpga``: ``rtl_model`` + ``bitflow``) is an independent
computation from the emitter's datapath, so equality is a real check. Re-record after a change of the
emitter or the design set (needs the synthesis cache: ``hwq cost calibrate --target T`` for both targets):

    python -m tests.cost.test_ff_exact --record

The live tests (``slow``, need yosys) emit and synthesise a few designs, including forms the calibration
set lacks (a streamed layer whose input comes from a ReLU, pipeline 0 and 3), and compare there too.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from hwq.cost import fpga, load_target
from hwq.cost.bitflow import ONE, ZERO, node_bits, register_count
from tests.tools import require_tool

DATA = Path(__file__).parent / "data" / "ff_yosys.json"
TARGETS = ("xc7", "ice40")


def _key(d: dict) -> str:
    return f"{d['group']} | {d['format']}"


def _ir_hash(d: dict) -> str:
    from hwq.ir.serialize import dumps

    return hashlib.sha256(f"{dumps(d['graph'])}\n{d['pipeline']}".encode()).hexdigest()[:16]


def record() -> dict:
    """The fixture from the synthesis cache (every design of the set, both targets; stale Verilog allowed:
    such a design is marked, its Verilog differs from the current emitter's only in form)."""
    from hwq.cost import calibrate

    out = {"yosys": calibrate.yosys_version(), "scripts": {}, "designs": {}}
    for t in TARGETS:
        tgt = load_target(t)
        out["scripts"][t] = tgt["synth"]["script"]
        for d in calibrate.synthesise(calibrate.design_set(), tgt, jobs=1, cached_only=True, strict=False):
            row = out["designs"].setdefault(_key(d), {"ir": _ir_hash(d), "pipeline": d["pipeline"]})
            row[t] = d["measured"]["FF"]
            if d["stale_verilog"]:
                row.setdefault("stale_verilog", []).append(t)
    out["designs"] = dict(sorted(out["designs"].items()))
    return out


@pytest.fixture(scope="module")
def recorded():
    return json.loads(DATA.read_text())


@pytest.mark.parametrize("target", TARGETS)
def test_ff_equal_yosys_on_every_calibration_design(recorded, target):
    from hwq.cost import calibrate

    tgt = load_target(target)
    assert recorded["scripts"][target] == tgt["synth"]["script"], "target script changed: re-record the fixture"
    compared, wrong = 0, []
    for d in calibrate.design_set():
        row = recorded["designs"].get(_key(d))
        if row is None or target not in row or row["ir"] != _ir_hash(d):
            continue
        compared += 1
        got = fpga(d["graph"], tgt, pipeline=d["pipeline"])["total"]["FF"]
        if got != row[target]:
            wrong.append(f"{_key(d)}: model {got}, yosys {row[target]}")
    assert compared >= 100, f"only {compared} designs of the fixture match the design set: re-record it"
    assert not wrong, f"{len(wrong)}/{compared} designs differ on {target}:\n" + "\n".join(wrong)


# ------------------------------------------------------------------------------ bit-level reading
def _sym(k: int, j: int):
    return ("s", (k, j), False)


def test_add_with_constant_low_zero_bits_passes_them_through():
    # {out} = 0xc + x (6 bits): opt_expr strips the two low bits (constant 0) off the adder: wires to x
    x = [_sym(0, j) for j in range(6)]
    bits = node_bits(["assign {out} = $signed(6'hc) + {0};"], 6, [x])
    assert bits[0] == x[0] and bits[1] == x[1]
    assert all(b[0] == "f" for b in bits[2:])  # carry chain from bit 2 (the constant's first 1)


def test_subtract_from_constant_is_logic_not_a_wire():
    # 0x8 - x: bit 0 equals x[0] logically, but the $alu keeps it (no LSB strip): a new carry-chain bit
    x = [_sym(0, j) for j in range(5)]
    bits = node_bits(["assign {out} = $signed(5'h8) - {0};"], 5, [x])
    assert bits[0][0] == "f"


def test_relu_sign_bit_is_constant_and_bias_low_bits_are_constants():
    x = [_sym(0, j) for j in range(8)]
    relu = node_bits(["assign {out} = {0}[7] ? $signed(8'h0) : {0};"], 8, [x])
    assert relu[7] == ZERO and relu[0][0] == "f"
    body = ["wire signed [5:0] {out}_hi = $signed(6'h4) + {0};", "assign {out} = $signed({{out}_hi, 3'h5});"]
    acc = node_bits(body, 9, [x[:6]])
    assert acc[:3] == [ONE, ZERO, ONE]


def test_equal_saturation_bits_are_one_net():
    # limits 0x7f / 0x80 and a value whose bits 1, 2 are the constant 1: both select bits are the same mux
    r = [_sym(0, 0), ONE, ONE] + [_sym(0, j) for j in range(3, 10)]
    body = [
        "wire signed [9:0] {out}_r = {0};",
        "wire {out}_ovf_hi = {out}_r > $signed(10'h7f);",
        "wire {out}_ovf_lo = {out}_r < $signed(10'h380);",
        "assign {out} = {out}_ovf_hi ? $signed(8'h7f) : {out}_ovf_lo ? $signed(8'h80) : $signed({out}_r[7:0]);",
    ]
    y = node_bits(body, 8, [r])
    assert y[1] == y[2] and y[1] != y[0]


def test_register_count_keeps_one_flop_per_net_and_drops_unread_bits():
    from hwq.formats import parse
    from hwq.rtl.datapath import Datapath, Value

    dp = Datapath()
    fmt = parse("fixed<4,1>")
    a = dp.input("x0", 0, fmt, -8, 7, "")
    b = dp.input("x1", 4, fmt, -8, 7, "")
    s = dp.adder("s", a.name, b.name, 2, 1, -8 - 32, 7 + 28)  # x0 + (x1 << 2): 2 low bits are x0's
    ff, declared, ff_lcu = register_count(dp.nodes, [Value(s.name, 0)], 4, s.level, 1)
    # one stage (the output register) of 4 bits: s[1:0] are x0[1:0] (wires), s[3:2] sums; + valid
    assert (ff, ff_lcu) == (5, 5) and declared == 1 + s.width


# ------------------------------------------------------------------------------ live yosys checks
#: (shape, pipeline, seed); (3, 6) p1 seed 4 is the case the earlier liveness model over-counted by one bit
LIVE = [((3, 6), 1, 4), ((3, 6), 0, 4), ((4, 5), 3, 5), ((6, 4), 2, 7)]


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape,pipeline,seed", LIVE)
def test_ff_equal_yosys_live(tmp_path, target, shape, pipeline, seed):
    require_tool("yosys", "synthesis counts of emitted Verilog")
    from hwq.cost.calibrate import count_cells
    from hwq.rtl import emit
    from hwq.rtl.tools import synth_report

    from .graphs import random_dense

    g = random_dense(*shape, seed)
    emit(g, tmp_path, pipeline=pipeline)
    tgt = load_target(target)
    got = count_cells(synth_report(tmp_path, script=tgt["synth"]["script"])["cells"], tgt["synth"])
    assert fpga(g, tgt, pipeline=pipeline)["total"]["FF"] == got["FF"]


if __name__ == "__main__":
    if "--record" in sys.argv:
        from hwq.io import atomic_write

        rec = record()
        atomic_write(DATA, json.dumps(rec, indent=1) + "\n")
        n = {t: sum(t in r for r in rec["designs"].values()) for t in TARGETS}
        print(f"recorded {len(rec['designs'])} designs ({n}) with {rec['yosys']} to {DATA}")
    else:
        print(__doc__)
