"""The interpreter's API: input forms, quantisation of real inputs, RunResult, named errors."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import FixedFormat as F
from hwq.ir import Add, Graph, GraphError, ReLU, run


def two_input_graph() -> Graph:
    g = Graph("g", ["a", "b"], ["s", "r"])
    g.add_tensor("a", (2,), F(8, 4, True, "RND"))  # F = 4
    g.add_tensor("b", (2,), F(6, 2))  # F = 4
    g.add_tensor("s", (2,), F(10, 6))
    g.add_tensor("r", (2,), F(10, 6))
    g.add_op(Add("add", ["a", "b"], "s"))
    g.add_op(ReLU("relu", ["s"], "r"))
    return g


def test_dict_list_and_real_inputs_agree():
    g = two_input_graph()
    a_raw, b_raw = np.array([[24, -8]]), np.array([[-4, 3]])
    by_dict = run(g, {"a": a_raw, "b": b_raw})
    by_list = run(g, [a_raw, b_raw])
    # real inputs are quantised with each input's format: 1.5 -> 24, -0.5 -> -8 (F = 4)
    by_real = run(g, {"a": np.array([[1.5, -0.5]]), "b": np.array([[-0.25, 0.1875]])})
    for r in (by_dict, by_list, by_real):
        s, relu = r.outputs()
        assert s.tolist() == [[20, -5]] and relu.tolist() == [[20, 0]]  # (24-4, -8+3) at F = 4
    assert by_dict.real("s").tolist() == [[1.25, -0.3125]]
    assert set(by_dict.raw) == {"s", "r"}  # only outputs unless traced
    assert set(run(g, [a_raw, b_raw], trace=True).raw) == {"a", "b", "s", "r"}


def test_real_inputs_use_the_input_rounding():
    g = two_input_graph()
    # a = 0.03125 is half an LSB of fixed<8,4,RND>: RND rounds the tie up to raw 1
    r = run(g, {"a": np.array([[0.03125, 0.0]]), "b": np.zeros((1, 2))}, trace=True)
    assert r.raw["a"].tolist() == [[1, 0]]


def test_input_errors_name_the_input():
    g = two_input_graph()
    with pytest.raises(GraphError, match=r"graph 'g' has 2 inputs; pass a dict by name"):
        run(g, np.zeros((1, 2), np.int64))
    with pytest.raises(GraphError, match=r"no value given for input 'b'"):
        run(g, {"a": np.zeros((1, 2), np.int64)})
    with pytest.raises(GraphError, match=r"input 'a' expects shape \(batch, 2\), got \(1, 3\)"):
        run(g, {"a": np.zeros((1, 3), np.int64), "b": np.zeros((1, 2), np.int64)})
    with pytest.raises(GraphError, match=r"raw input 'b' outside the range of fixed<6,2>"):
        run(g, {"a": np.zeros((1, 2), np.int64), "b": np.array([[32, 0]])})
