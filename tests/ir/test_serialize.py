"""JSON (de)serialisation: bit-identical round trips of random graphs, clear errors on bad files."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwq.formats import FixedFormat
from hwq.ir import Dense, Graph, GraphError, ReLU, run
from hwq.ir.random_graph import KINDS, random_graph, random_inputs
from hwq.ir.serialize import SCHEMA_VERSION, dumps, graph_to_dict, load, loads, save


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n_ops=st.integers(1, 6),
    wide=st.booleans(),
    mini=st.booleans(),
    csd=st.booleans(),
)
def test_random_graph_round_trips_bit_identically(seed, n_ops, wide, mini, csd):
    minifloats = ("e4m3fn", "e5m2", "e2m1fn", "e4m3fnuz") if mini else ()
    g = random_graph(seed, n_ops=n_ops, wide=wide, max_width=40 if wide else 16, minifloats=minifloats, csd=csd)
    text = dumps(g)
    g2 = loads(text)
    assert dumps(g2) == text  # byte-identical re-serialisation
    x = random_inputs(g, 8, seed)
    a, b = run(g, x, trace=True), run(g2, x, trace=True)
    assert a.raw.keys() == b.raw.keys()
    for name in a.raw:
        assert a.raw[name].dtype == b.raw[name].dtype, name
        assert np.array_equal(a.raw[name], b.raw[name]), name


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_round_trips(kind):
    g = random_graph(7, ops=[kind])
    text = dumps(g)
    assert dumps(loads(text)) == text
    assert json.loads(text)["hwq_ir"] == SCHEMA_VERSION


def _tiny() -> Graph:
    g = Graph("tiny", ["x"], ["y"])
    g.add_tensor("x", (3,), "fixed<8,3>")
    g.add_tensor("h", (2,), "fixed<12,6>")
    g.add_tensor("y", (2,), "ufixed<8,4>")
    w = np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int64)
    g.add_op(Dense("fc", ["x"], "h", w, np.array([1, 2]), FixedFormat(6, 2), FixedFormat(8, 4), FixedFormat(20, 10)))
    g.add_op(ReLU("act", ["h"], "y"))
    return g


def test_unknown_version_is_refused():
    d = graph_to_dict(_tiny())
    d["hwq_ir"] = 99
    with pytest.raises(GraphError, match=r"schema version 99 is not supported"):
        loads(json.dumps(d), "g.json")


def test_not_an_ir_file():
    with pytest.raises(GraphError, match=r"g\.json: not an hwq IR file"):
        loads('{"name": "x"}', "g.json")


@pytest.mark.parametrize("cut", [1, 50, 200, -2])
def test_truncated_file_is_refused(tmp_path, cut):
    text = dumps(_tiny())
    p = tmp_path / "graph.json"
    p.write_text(text[:cut])
    with pytest.raises(GraphError, match=r"graph\.json: not valid JSON \(truncated or corrupt\?\)"):
        load(p)


def test_missing_file():
    with pytest.raises(GraphError, match="no such IR file"):
        load("/nonexistent/graph.json")


def test_mismatched_shapes_name_the_op():
    d = graph_to_dict(_tiny())
    d["tensors"][0]["shape"] = [4]  # x is (4,), weight expects (3,)
    with pytest.raises(GraphError, match=r"op 'fc' \(dense\): input 'x' has shape \(4,\), weight expects \(3,\)"):
        loads(json.dumps(d))


def test_weight_outside_its_format_is_refused():
    g = _tiny()
    g.ops[0].weight[0, 0] = 99  # fixed<6,2> holds raws -32..31
    with pytest.raises(GraphError, match=r"op 'fc' \(dense\): weight has raw values in \[-6, 99\], outside"):
        loads(dumps(g))


def test_unknown_op_kind():
    d = graph_to_dict(_tiny())
    d["ops"][1]["kind"] = "softmax9"
    with pytest.raises(GraphError, match=r"op 'act' has unknown kind 'softmax9'; known: \["):
        loads(json.dumps(d))


def test_unknown_attribute():
    d = graph_to_dict(_tiny())
    d["ops"][0]["colour"] = "red"
    with pytest.raises(GraphError, match=r"op 'fc' \(dense\): unknown attribute 'colour'"):
        loads(json.dumps(d))


def test_bad_format_string_names_the_tensor():
    d = graph_to_dict(_tiny())
    d["tensors"][1]["format"] = "fixed<8,3,RND,SATURATE>"
    with pytest.raises(GraphError, match=r"tensor 'h': .*unknown overflow mode"):
        loads(json.dumps(d))


def test_missing_key():
    d = graph_to_dict(_tiny())
    del d["outputs"]
    with pytest.raises(GraphError, match=r"missing key 'outputs'"):
        loads(json.dumps(d))


def test_million_weights_save_and_load(tmp_path, capsys):
    """A 1000x1000 dense layer (10**6 weights): measured, printed, not asserted (no timed asserts)."""
    rng = np.random.default_rng(0)
    g = Graph("big", ["x"], ["y"])
    g.add_tensor("x", (1000,), "fixed<8,2>")
    g.add_tensor("y", (1000,), "fixed<16,8>")
    w = rng.integers(-128, 128, size=(1000, 1000), dtype=np.int64)
    b = rng.integers(-128, 128, size=(1000,), dtype=np.int64)
    g.add_op(Dense("fc", ["x"], "y", w, b, FixedFormat(8, 1), FixedFormat(8, 1), FixedFormat(32, 10)))
    p = tmp_path / "big.json"
    t0 = time.perf_counter()
    save(g, p)
    t1 = time.perf_counter()
    g2 = load(p)
    t2 = time.perf_counter()
    assert np.array_equal(g2.ops[0].weight, w) and g2.ops[0].weight.dtype == np.int64
    with capsys.disabled():
        size = p.stat().st_size
        print(f"\n[serialize] 1,000,000 weights: save {t1 - t0:.3f} s, load {t2 - t1:.3f} s, {size:,} bytes")
