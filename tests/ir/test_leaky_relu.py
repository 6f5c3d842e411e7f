"""LeakyReLU (slope 2**-shift), the op added through the contributor recipe: the interpreter equals the
scalar oracle, the JSON round trip keeps it, bad slopes are refused naming the op, and every backend that
registers it is bit-exact: HLS C-simulation (g++) and RTL co-simulation (Icarus), streamed and parallel."""

from __future__ import annotations

import json
import re

import pytest

import hwq.hls as hls
import hwq.rtl as rtl
from hwq.ir import run
from hwq.ir.graph import GraphError
from hwq.ir.random_graph import OPT_IN_KINDS, random_graph, random_inputs
from hwq.ir.serialize import dumps, loads
from hwq.rtl.emit import PRIMITIVES
from hwq.sim.verify import verify

from ..tools import require_tool
from .test_ops_oracle import check_graph_against_oracle

CHAINS = [["leaky_relu"], ["dense", "leaky_relu"], ["conv2d", "leaky_relu", "maxpool"], ["leaky_relu", "leaky_relu"]]


def test_random_graph_builds_it_on_request_only():
    assert "leaky_relu" in OPT_IN_KINDS
    assert all(op.kind != "leaky_relu" for s in range(30) for op in random_graph(s, n_ops=4).ops)


@pytest.mark.parametrize("seed", range(16))
def test_matches_oracle(seed):
    g = random_graph(seed, ops=CHAINS[seed % len(CHAINS)], max_width=14)
    assert any(op.kind == "leaky_relu" for op in g.ops)
    check_graph_against_oracle(g, n_vectors=4, seed=seed)


def test_json_round_trip_keeps_slope():
    g = random_graph(3, ops=["leaky_relu"])
    g2 = loads(dumps(g))
    assert [op.shift for op in g2.ops if op.kind == "leaky_relu"] == [op.shift for op in g.ops]
    x = random_inputs(g, 16, 0)
    assert (run(g, x).outputs()[0] == run(g2, x).outputs()[0]).all()


@pytest.mark.parametrize("shift", [0, 32, 1.5, True])
def test_bad_slope_is_refused_naming_the_op(shift):
    g = random_graph(0, ops=["leaky_relu"])
    op = next(o for o in g.ops if o.kind == "leaky_relu")
    op.shift = shift
    with pytest.raises(GraphError, match=rf"op '{op.name}' \(leaky_relu\): shift must be an integer in \[1, 31\]"):
        g.validate()


@pytest.mark.parametrize("seed", range(3))
def test_hls_csim_exact(tmp_path, seed):
    require_tool("g++", "HLS C-simulation")
    g = random_graph(seed, ops=CHAINS[seed + 1], max_width=12)
    hls.emit(g, tmp_path / "hls")
    rep = verify("hls", tmp_path / "hls", vectors=2000, seed=seed)
    assert rep.vectors == 2000 and rep.mismatches == 0, "\n".join(rep.detail_lines())


@pytest.mark.parametrize("io", ["parallel", "stream"])
@pytest.mark.parametrize("seed", range(2))
def test_rtl_cosim_exact(tmp_path, io, seed):
    require_tool("iverilog", "RTL co-simulation")
    g = random_graph(10 + seed, ops=CHAINS[2 - seed], max_width=10)
    rtl.emit(g, tmp_path / "rtl", io=io, pipeline=seed)
    srcs = json.loads((tmp_path / "rtl" / "rtl.json").read_text())["sources"]  # the design, not a test bench
    text = "".join((tmp_path / "rtl" / f).read_text() for f in srcs if f not in PRIMITIVES)
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)
    assert "*" not in code.replace("@*", "")  # no Verilog multiply operator outside comments
    rep = verify("rtl", tmp_path / "rtl", vectors=500, seed=seed, simulator="icarus")
    assert rep.vectors == 500 and rep.mismatches == 0, "\n".join(rep.detail_lines())
