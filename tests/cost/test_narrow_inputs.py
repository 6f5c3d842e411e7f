"""Narrow inputs in the FPGA cost model: the 3-5-bit unsigned inputs a ReLU layer feeds its successor.

yosys narrows an unsigned sum of zero-extended operands by its zero sign bit (``wreduce``) and removes a
rounding increment that only reads constant accumulator bits; ``rtl_model.zero_sign_nodes`` and
``_round_up_is_zero`` count that. The calibration design set holds such layers (fitted and held out).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwq.cost import fpga
from hwq.cost.calibrate import FIT_SIZE, design_set
from hwq.cost.rtl_model import _round_up_is_zero, zero_sign_nodes
from hwq.cost.rtl_plan import plan_rtl
from hwq.formats import parse
from hwq.ir.serialize import loads
from hwq.rtl import emit
from hwq.rtl.build import build_layer
from hwq.rtl.plan import plan_layers
from hwq.rtl.tools import sources

from ..tools import require_tool
from .graphs import dense_graph

DATA = Path(__file__).parent / "data"

#: yosys 0.23 (git sha1 7ce5011c24b), ``synth_xilinx -flatten -nosrl -noiopad -noclkbuf`` (the xc7 target's
#: script), on the Verilog ``hwq.rtl.emit(graph, d, tb_vectors=0)`` writes for ``data/flow_mlp_chosen.json``
#: (the flow's chosen digits-MLP point, ``runs/explore-s4/mlp/chosen/graph.json``: 64-64-32-10, inputs
#: ufixed<5,1>, ReLU outputs ufixed<3,2> / ufixed<3,3>, weights fixed<2,0> / e2m1); emitted Verilog sha
#: 99d8f71ff644ab33 (``benchmarks/bench_explore_verify.py``), measured at 9a00b38, same Verilog at 2bd2ba0
FLOW_MLP_YOSYS = {"LUT": 9811, "FF": 14636, "CARRY": 3531}


def _datapath(graph):
    lay = plan_layers(graph, "stream")[0]
    x = graph.tensor(graph.inputs[0])
    dp, _, _ = build_layer(graph, lay, [(x.fmt.raw_min, x.fmt.raw_max)] * x.size, adders="balanced")
    return dp


def test_design_set_has_narrow_unsigned_and_signed_inputs_fitted_and_held_out():
    ds = design_set()
    assert sum(d["fit"] for d in ds) == FIT_SIZE <= 12
    narrow_u = [d for d in ds if not parse(d["input"]).signed and parse(d["input"]).width <= 5]
    narrow_s = [d for d in ds if parse(d["input"]).signed and parse(d["input"]).width <= 5]
    assert any(d["fit"] for d in narrow_u)
    assert len([d for d in narrow_u if not d["fit"]]) >= 14 and len(narrow_s) >= 5
    groups: dict[str, set] = {}
    for d in narrow_u + narrow_s:
        groups.setdefault(d["group"], set()).add(d["format"])
        assert not d["graph"].tensor("x").fmt.signed or d in narrow_s
    assert len(groups) >= 4 and all(len(f) >= 5 for f in groups.values())
    assert any(f.startswith("float") for d in narrow_u for f in [d["format"]] if not d["fit"])


def test_zero_sign_nodes_are_sums_of_unsigned_values_only():
    w = np.array([[1, 2, 4, 1, 2, 4, 1, 2]], dtype=np.int64)  # powers of two: a plain adder tree, no subtraction
    dp = _datapath(dense_graph(w, x_fmt="ufixed<3,2>", relu=False))
    adders = [n.name for n in dp.nodes.values() if n.level > 0 and len(n.operands) == 2]
    assert adders and set(adders) <= zero_sign_nodes(dp.nodes)
    # the same sums of signed inputs: no zero sign bit anywhere
    dp = _datapath(dense_graph(w, x_fmt="fixed<4,2>", relu=False))
    assert not zero_sign_nodes(dp.nodes)
    # a subtraction (weight -1) is never counted, even where the range analysis proves it >= 0
    w2 = np.array([[1, -1, 2, 4, 1, 2, 4, 1]], dtype=np.int64)
    dp = _datapath(dense_graph(w2, x_fmt="ufixed<3,2>", relu=False))
    zero = zero_sign_nodes(dp.nodes)
    subs = [n for n in dp.nodes.values() if n.level > 0 and any(" - " in line for line in n.body)]
    assert subs and not any(n.name in zero for n in subs)


def test_unsigned_sums_are_priced_one_bit_narrower():
    w = np.array([[1, 2, 4, 1, 2, 4, 1, 2]] * 3, dtype=np.int64)
    (u,) = plan_rtl(dense_graph(w, x_fmt="ufixed<3,2>", relu=False), pipeline=0, cache=False)
    (s,) = plan_rtl(dense_graph(w, x_fmt="fixed<4,2>", relu=False), pipeline=0, cache=False)
    # same widths declared (a 3-bit unsigned input is a 4-bit signed wire), the unsigned sums 1 bit narrower each
    assert u.adders == s.adders > 0
    assert s.own_bits - u.own_bits >= u.adders - 3  # every tree adder (but the bias adds) loses a bit
    assert u.carry4 < s.carry4


def test_rounding_increment_reading_constant_bits_is_not_counted():
    # weights multiples of 8 (products end in 3 zero bits below the bias's own bits): the cast to
    # fixed<8,3> drops bits that are all constant, so its rounding increment is a constant
    rng = np.random.default_rng(5)
    w = 8 * rng.integers(-3, 4, size=(4, 12))
    g = dense_graph(w, x_fmt="ufixed<3,2>", w_fmt="fixed<8,1>", relu=False)
    dp = _datapath(g)
    ups = [n for n in dp.nodes.values() if any("{out}_up" in line for line in n.body)]
    assert ups
    zero = [n.name for n in ups if _round_up_is_zero(n, dp.nodes)]
    # the same weights not multiples of 8: the increment reads product bits, never constant
    dp2 = _datapath(dense_graph(w + 1, x_fmt="ufixed<3,2>", w_fmt="fixed<8,1>", relu=False))
    assert not any(_round_up_is_zero(n, dp2.nodes) for n in dp2.nodes.values())
    # which outputs' increments vanish depends on their bias bits; dense_graph's bias 3j - m has some
    assert 0 < len(zero) <= len(ups)


def _alu_bits(folder: Path) -> int:
    """Sum of the $alu/$macc result widths after the coarse part of the xc7 script (wreduce, alumacc)."""
    top, files = sources(folder)
    out = folder / "coarse.json"
    script = (
        f"read_verilog {' '.join(str(p) for p in files)}; hierarchy -top {top}; "
        f"synth_xilinx -flatten -nosrl -noiopad -noclkbuf -run :map_memory; write_json {out}"
    )
    subprocess.run(["yosys", "-q", "-p", script], check=True, capture_output=True, timeout=600)
    mod = json.loads(out.read_text())["modules"][top]
    return sum(int(c["parameters"]["Y_WIDTH"], 2) for c in mod["cells"].values() if c["type"] in ("$alu", "$macc"))


@pytest.mark.slow
def test_adder_bits_follow_yosys_on_narrow_unsigned_layers(tmp_path):
    require_tool("yosys", "counts the adder bits yosys keeps after wreduce")
    rng = np.random.default_rng(3)
    graphs = {
        "mixed": dense_graph(rng.integers(-8, 8, size=(4, 12)), x_fmt="ufixed<3,2>", w_fmt="fixed<4,1>"),
        "mul8": dense_graph(8 * rng.integers(-4, 4, size=(4, 12)), x_fmt="ufixed<3,2>", w_fmt="fixed<6,1>"),
    }
    for name, g in graphs.items():
        (f,) = plan_rtl(g, pipeline=1, cache=False)
        emit(g, tmp_path / name, pipeline=1, tb_vectors=0)
        got = _alu_bits(tmp_path / name)
        model = f.add_bits + f.const_bits
        assert abs(model - got) <= 0.06 * got, (name, model, got)


#: LUT error bound (percent) of a whole trained network against its recorded yosys count: the issue's
#: median goal for single layers (a fixed bound: tying it to the target file's held-out p90, 3.4-4.7 %
#: between fits, made a re-fit that moved the estimate by 0.7 % fail it); the model before the
#: narrow-input features was +10.9 % on this network
WHOLE_NET_TOL = 5.0


def test_flow_point_estimate_within_5_percent():
    # a recorded yosys count (FLOW_MLP_YOSYS) of the flow's narrow-unsigned-input network (issue 15)
    g = loads((DATA / "flow_mlp_chosen.json").read_text())
    r = fpga(g, "xc7")["total"]
    err = abs(r["LUT"] - FLOW_MLP_YOSYS["LUT"]) / FLOW_MLP_YOSYS["LUT"] * 100
    assert err <= WHOLE_NET_TOL, (r["LUT"], FLOW_MLP_YOSYS["LUT"])
    assert r["CARRY"] == pytest.approx(FLOW_MLP_YOSYS["CARRY"], rel=0.10)
