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


def _saturating_mlp(sizes, name: str, seed: int = 3, acc: str = "fixed<14,8,TRN,SAT>"):
    """ReLU MLP whose accumulators can saturate (SAT, products rounded one by one): every output is an
    ordered chain; the narrower ``acc``, the earlier its first possible saturation and the deeper the chain."""
    g = mlp(sizes, "fixed<8,3>", "fixed<6,1>", "fixed<10,5,RND,SAT>", "ufixed<8,4,RND,SAT>", seed=seed, name=name)
    for op in g.ops:
        if op.kind == "dense":
            op.acc_fmt = parse(acc)
    return g


def _size(d) -> int:
    return sum(p.stat().st_size for p in d.glob("*.v"))


@pytest.mark.parametrize("pipeline", [1, 3, 0])
def test_deep_saturating_chain_cosimulates_exactly(tmp_path, pipeline):
    need_icarus()
    g = _saturating_mlp([20, 12, 5], f"satchain{pipeline}", acc="fixed<10,5,TRN,SAT>")
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
    g = _saturating_mlp([32, 24, 6], "satsize", acc="fixed<10,5,TRN,SAT>")  # deep chains
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


@pytest.mark.parametrize("pipeline", [1, 0])
def test_exact_prefix_tree_with_shared_products_cosimulates_exactly(tmp_path, pipeline):
    """A wide saturating accumulator: each chain's never-saturating prefix is an adder tree over products
    shared between outputs (fewer adders, far fewer levels), the rest the ordered chain; exact."""
    need_icarus()
    g = _saturating_mlp([24, 16, 5], f"satprefix{pipeline}")
    rep = cosim(g, tmp_path, vectors=200, pipeline=pipeline, seed=pipeline + 7)
    assert rep.mismatches == 0
    text = "".join(p.read_text() for p in tmp_path.glob(f"hwq_satprefix{pipeline}_*.v"))
    assert "an adder tree (never saturates)" in text
    assert any(f"_x{i}_k" in text for i in range(24))  # x[i] * odd built once, read by several outputs
    assert "SAT" in text and "_ovf_" in text  # and the chains' saturating tails remain


def test_exact_prefix_is_sound():
    """``exact_prefix`` counts steps whose partial sums stay in range for every input, never one more:
    brute force over every combination of small product ranges."""
    import itertools

    from hwq.rtl.ordered import exact_prefix

    ranges = [(-3, 2), (0, 4), (-5, -1), (1, 3)]
    limits = (-6, 6)
    for bias in range(-6, 7):
        k = exact_prefix(bias, ranges, limits)
        worst = len(ranges)
        for combo in itertools.product(*[range(a, b + 1) for a, b in ranges]):
            acc = bias
            for i, c in enumerate(combo):
                acc += c
                if not limits[0] <= acc <= limits[1]:
                    worst = min(worst, i)
                    break
        assert k == worst, (bias, k, worst)


def test_wide_saturating_mlp_shares_products(tmp_path, monkeypatch):
    """On the wide saturating MLP the exact prefixes and shared products cut adders and levels against
    every step chained (the previous design), with the same outputs (cosimulated above)."""
    g = _saturating_mlp([32, 24, 6], "satshare")
    emit(g, tmp_path / "now", pipeline=1)
    with monkeypatch.context() as mp:
        mp.setattr(ordered, "exact_prefix", lambda *a, **k: 0)
        emit(g, tmp_path / "chain", pipeline=1)
    a = json.loads((tmp_path / "now" / "rtl.json").read_text())
    b = json.loads((tmp_path / "chain" / "rtl.json").read_text())
    assert sum(lay["adders"] for lay in a["layers"]) < 0.85 * sum(lay["adders"] for lay in b["layers"])
    assert a["latency"] < b["latency"]
    assert _size(tmp_path / "now") < _size(tmp_path / "chain")
