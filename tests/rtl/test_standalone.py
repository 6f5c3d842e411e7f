"""Layer modules built for the range proven upstream say so (port comment, rtl.json), and
``standalone_layers`` emits each layer exact for every value of its declared input format: the module equals
the one emitted for that layer alone, which co-simulates exactly over the whole input range."""

from __future__ import annotations

import copy
import json

from hwq.ir.graph import Graph
from hwq.ir.random_graph import random_graph
from hwq.rtl import emit
from hwq.sim.verify import verify

from .conftest import need_icarus


def _narrowing_graph():
    for seed in range(40):
        g = random_graph(seed, ops=["dense", "relu", "dense"], max_width=8, rounding=["TRN"], name="sa")
        relu = next(o for o in g.ops if o.kind == "relu")
        f = g.tensor(relu.output).fmt
        if f.signed and f.raw_min < 0:
            return g
    raise AssertionError("no random graph with a signed ReLU output")


def _layer_graph(g: Graph, layer: dict) -> Graph:
    """The layer's ops alone, as a graph named like ``g`` (same module names)."""
    ops = [copy.deepcopy(o) for o in g.ops if o.name in layer["ops"]]
    sub = Graph(g.name, [ops[0].inputs[0]], [ops[-1].output])
    for name in {n for o in ops for n in [*o.inputs, o.output]}:
        t = g.tensor(name)
        sub.add_tensor(name, t.shape, t.fmt)
    for o in ops:
        sub.add_op(o)
    sub.validate()
    return sub


def _body(path) -> str:
    return "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith("// "))


def test_narrowed_ports_are_stated_and_standalone_layers_are_exact(tmp_path):
    need_icarus()
    g = _narrowing_graph()
    emit(g, tmp_path / "narrow", io="parallel")
    emit(g, tmp_path / "alone", io="parallel", standalone_layers=True)
    m = json.loads((tmp_path / "narrow" / "rtl.json").read_text())
    ms = json.loads((tmp_path / "alone" / "rtl.json").read_text())
    assert ms["standalone_layers"] is True and not any(lay["in_narrowed"] for lay in ms["layers"])
    narrowed = [lay for lay in m["layers"] if lay["in_narrowed"]]
    assert narrowed, "the layer after the ReLU should be built for the ReLU's range only"
    lay = narrowed[0]
    text = (tmp_path / "narrow" / f"{lay['module']}.v").read_text()
    lo, hi = lay["in_range"]
    assert f"NARROWED: exact only for raws in [{lo}, {hi}]" in text
    assert "NARROWED" not in (tmp_path / "alone" / f"{lay['module']}.v").read_text()
    # the standalone module is the module of that layer emitted on its own (full-range input) ...
    sub = _layer_graph(g, lay)
    emit(sub, tmp_path / "sub", io="parallel")
    assert _body(tmp_path / "alone" / f"{lay['module']}.v") == _body(tmp_path / "sub" / f"{lay['module']}.v")
    # ... which is exact for every value of the input format (random vectors over the whole raw range)
    rep = verify("rtl", tmp_path / "sub", vectors=500, seed=3, simulator="icarus")
    assert rep.mismatches == 0, "\n".join(rep.detail_lines())
    # and the whole design stays exact either way
    for d in ("narrow", "alone"):
        rep = verify("rtl", tmp_path / d, vectors=300, seed=1, simulator="icarus")
        assert rep.mismatches == 0, "\n".join(rep.detail_lines())


def test_bad_standalone_value_is_refused(tmp_path):
    import pytest

    from hwq.rtl import RtlError

    with pytest.raises(RtlError, match="standalone_layers must be true/false"):
        emit(_narrowing_graph(), tmp_path, standalone_layers="yes")
