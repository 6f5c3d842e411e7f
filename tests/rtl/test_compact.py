"""Compact deep datapaths: saturating (ordered) accumulation chains with hwq_taps delay lines and
just-in-time products stay exact under every PIPELINE, lint clean, and emit far less Verilog."""

from __future__ import annotations

import json

import pytest

import hwq.rtl.layer as layer
import hwq.rtl.ordered as ordered
from hwq.formats import parse
from hwq.rtl import emit, lint

from .conftest import cosim, need_icarus, need_verilator
from .graphs import mlp


def _saturating_mlp(sizes, name: str, seed: int = 3):
    """ReLU MLP whose accumulators saturate (narrow SAT): every output is an ordered chain, one level per step."""
    g = mlp(sizes, "fixed<8,3>", "fixed<6,1>", "fixed<10,5,RND,SAT>", "ufixed<8,4,RND,SAT>", seed=seed, name=name)
    for op in g.ops:
        if op.kind == "dense":
            op.acc_fmt = parse("fixed<14,8,TRN,SAT>")
    return g


def _size(d) -> int:
    return sum(p.stat().st_size for p in d.glob("*.v"))


@pytest.mark.parametrize("pipeline", [1, 3, 0])
def test_deep_saturating_chain_cosimulates_exactly(tmp_path, pipeline):
    need_icarus()
    g = _saturating_mlp([20, 12, 5], f"satchain{pipeline}")
    rep = cosim(g, tmp_path, vectors=150, pipeline=pipeline, seed=pipeline)
    m = json.loads((tmp_path / "rtl.json").read_text())
    assert "hwq_taps.v" in m["sources"]
    assert max(lay["levels"] for lay in m["layers"]) >= 20  # a deep chain: delay lines were needed
    assert rep.mismatches == 0


def test_taps_lint_clean(tmp_path):
    need_verilator()
    emit(_saturating_mlp([16, 8, 4], "satlint"), tmp_path, pipeline=2)
    assert "hwq_taps #(" in "".join(p.read_text() for p in tmp_path.glob("hwq_satlint_*.v"))
    assert lint(tmp_path) == []


def test_shallow_designs_do_not_use_taps(tmp_path):
    """Values crossing fewer than TAPS_MIN_STAGES stages keep per-stage registers (unchanged output)."""
    g = mlp([24, 16, 6], "fixed<8,3>", "fixed<6,1>", "fixed<10,5>", "fixed<8,4>", seed=3, name="notaps")
    emit(g, tmp_path, pipeline=1)
    assert "hwq_taps.v" not in json.loads((tmp_path / "rtl.json").read_text())["sources"]


def test_saturating_mlp_text_is_several_times_smaller(tmp_path, monkeypatch):
    """The same design without delay lines, packed stages and just-in-time products (as before) is much
    larger (1.8x here; 8x on a 64-64-32-10 MLP, where values live through more stages)."""
    g = _saturating_mlp([32, 24, 6], "satsize")
    emit(g, tmp_path / "now", pipeline=1)
    with monkeypatch.context() as mp:
        mp.setattr(layer, "TAPS_MIN_STAGES", 10**9)
        mp.setattr(layer, "PACK_MIN_VALUES", 10**9)
        mp.setattr(ordered, "_just_in_time", lambda *a, **k: None)
        emit(g, tmp_path / "before", pipeline=1)
    now, before = _size(tmp_path / "now"), _size(tmp_path / "before")
    assert now * 1.5 < before
    a = json.loads((tmp_path / "now" / "rtl.json").read_text())
    b = json.loads((tmp_path / "before" / "rtl.json").read_text())
    assert a["latency"] <= b["latency"]  # wiring-only casts share their operand's level
    assert [lay["adders"] for lay in a["layers"]] == [lay["adders"] for lay in b["layers"]]
