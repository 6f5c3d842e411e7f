"""The trace tool: per-tensor summaries, first mismatch (Python API and ``hwq trace``)."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.cli import main
from hwq.ir import GraphError
from hwq.ir.random_graph import random_graph, random_inputs
from hwq.ir.serialize import save
from hwq.ir.trace import execution_order, first_mismatch, trace


@pytest.fixture
def graph():
    return random_graph(4, ops=["conv2d", "relu", "flatten", "dense", "requantize"])


def test_stats_follow_execution_order_and_match_the_raw_tensors(graph):
    x = random_inputs(graph, 5, 0)
    res, rows = trace(graph, x)
    assert [r.name for r in rows] == [t for t, _, _ in execution_order(graph)]
    for r in rows:
        raw = res.raw[r.name]
        assert (r.raw_min, r.raw_max) == (int(raw.min()), int(raw.max()))
        assert r.shape == graph.tensor(r.name).shape
        f = graph.tensor(r.name).fmt.frac_bits
        assert r.real_min == float(int(raw.min())) * 2.0**-f


def test_first_mismatch_names_the_first_differing_tensor_and_element(graph):
    x = random_inputs(graph, 3, 1)
    res, _ = trace(graph, x)
    other = {k: v.copy() for k, v in res.raw.items()}
    assert first_mismatch(graph, x, other).ok
    # corrupt the 2nd op's output (and, as a real implementation would, everything after it)
    victim = graph.ops[1]
    bad = other[victim.output]
    pos = (2,) + tuple(s - 1 for s in bad.shape[1:])
    bad[pos] += 1
    later = graph.ops[-1].output
    other[later] = other[later] + 1
    rep = first_mismatch(graph, x, other)
    assert not rep.ok
    assert (rep.tensor, rep.op, rep.kind) == (victim.output, victim.name, victim.kind)
    assert rep.vector == 2 and rep.index == pos[1:]
    assert rep.got == rep.expected + 1 and rep.count == 1
    assert f"first mismatch: tensor {victim.output!r}" in str(rep)


def test_first_mismatch_partial_dumps_and_errors(graph):
    x = random_inputs(graph, 1, 2)
    res, _ = trace(graph, x)
    out = graph.outputs[0]
    rep = first_mismatch(graph, x, {out: res.raw[out][0]})  # one vector without its batch axis
    assert rep.ok and rep.compared == [out] and "input" in rep.missing
    with pytest.raises(GraphError, match=r"has no tensor\(s\) named \['nope'\]"):
        first_mismatch(graph, x, {"nope": np.zeros(3)})
    with pytest.raises(GraphError, match=r"gives float64 values; raw integers expected"):
        first_mismatch(graph, x, {out: res.raw[out].astype(np.float64)})
    with pytest.raises(GraphError, match=r"gives shape \(7,\), expected"):
        first_mismatch(graph, x, {out: np.zeros(7, dtype=np.int64)})


def test_cli_trace_prints_every_tensor(tmp_path, graph, capsys):
    p = save(graph, tmp_path / "graph.json")
    assert main(["trace", str(p)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"trace {graph.name}: {len(graph.ops) + 1} tensors, 1 vector"
    assert out[1].split()[:4] == ["tensor", "op", "kind", "format"]
    assert [line.split()[0] for line in out[2:]] == [t for t, _, _ in execution_order(graph)]


def test_cli_trace_against_reports_first_mismatch(tmp_path, graph, capsys):
    p = save(graph, tmp_path / "graph.json")
    x = random_inputs(graph, 4, 3)["input"]
    np.save(tmp_path / "x.npy", x)
    res, _ = trace(graph, {"input": x})
    dump = {k: v.copy() for k, v in res.raw.items()}
    np.savez(tmp_path / "same.npz", **dump)
    assert main(["trace", str(p), "--input", str(tmp_path / "x.npy"), "--against", str(tmp_path / "same.npz")]) == 0
    assert "no mismatch" in capsys.readouterr().out
    victim = graph.ops[2].output
    dump[victim][3].flat[0] += 5
    np.savez(tmp_path / "bad.npz", **dump)
    args = ["trace", str(p), "--input", str(tmp_path / "x.npy"), "--against", str(tmp_path / "bad.npz")]
    assert main(args) == 1
    text = capsys.readouterr().out
    assert f"first mismatch: tensor {victim!r}" in text and "vector 3," in text
    # --index selects the same vector from the input and the dump
    assert main(args + ["--index", "3"]) == 1
    assert "vector 0," in capsys.readouterr().out
    assert main(args + ["--index", "1"]) == 0


def test_cli_trace_user_errors(tmp_path, graph, capsys):
    p = save(graph, tmp_path / "graph.json")
    assert main(["trace", str(p), "--input", str(tmp_path / "missing.npy")]) == 2
    assert "hwq trace: error:" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", random_inputs(graph, 2, 0)["input"])
    assert main(["trace", str(p), "--input", str(tmp_path / "x.npy"), "--index", "5"]) == 2
    assert "--index 5 is outside the input batch of 2 vectors" in capsys.readouterr().err
    assert main(["trace", str(tmp_path / "nope.json")]) == 2
    assert "no such IR file" in capsys.readouterr().err


def test_cli_trace_multi_input_npz(tmp_path, capsys):
    from hwq.formats import FixedFormat as F
    from hwq.ir import Add, Graph

    g = Graph("two", ["a", "b"], ["s"])
    g.add_tensor("a", (3,), F(8, 4))
    g.add_tensor("b", (3,), F(6, 1))
    g.add_tensor("s", (3,), F(10, 5, True, "RND", "SAT"))
    g.add_op(Add("sum", ["a", "b"], "s"))
    p = save(g, tmp_path / "graph.json")
    # real inputs, quantised by the tensors' formats: a = 1.5 -> raw 24 (F=4); b = -0.25 -> raw -8 (F=5)
    np.savez(tmp_path / "in.npz", a=np.array([[1.5, 0, 0]]), b=np.array([[-0.25, 0, 0]]))
    assert main(["trace", str(p), "--input", str(tmp_path / "in.npz")]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["a"][5:7] == ["0", "24"] and rows["b"][5:7] == ["-8", "0"]
    assert rows["s"][5:7] == ["0", "40"]  # 1.5 - 0.25 = 1.25 at F=5
