"""macc_bits: adders yosys merges into multi-operand carry-save trees, only inside one register stage."""

from __future__ import annotations

import numpy as np

from hwq.cost.rtl_model import plan_rtl

from .graphs import dense_graph


def _one_output_sum(n: int = 16):
    """One output summing ``n`` inputs with power-of-two weights: a plain adder tree, no sharing."""
    w = np.array([[1 << (i % 3) for i in range(n)]], dtype=np.int64)
    return dense_graph(w, w_fmt="fixed<6,1>", relu=False)


def test_an_unregistered_adder_tree_is_merged_and_a_registered_one_is_not():
    g = _one_output_sum()
    (flat,) = plan_rtl(g, pipeline=0, cache=False)
    (staged,) = plan_rtl(g, pipeline=1, cache=False)  # a register after every adder level
    assert 0 < flat.macc_bits <= flat.add_bits
    assert staged.macc_bits == 0
    assert staged.add_bits == flat.add_bits  # the same adders, only the registers differ


def test_shared_subexpressions_are_not_merged():
    # two outputs reading the same pair sum: the shared adder has two readers, so it stays a binary adder
    w = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=np.int64)
    (f,) = plan_rtl(dense_graph(w, w_fmt="fixed<6,1>", relu=False), pipeline=0, cache=False)
    assert f.macc_bits < f.add_bits
