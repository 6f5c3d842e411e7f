"""Output sums whose lowest-shift terms are all negative end without a negation (``rtl.matrix._reverse_sub``).

Before, such an output was summed as ``-(n - (p << d))`` and then negated (``acc = -sum``): one more adder and
one more level. On bench_rtl.py's 16x64 matrix that made ``adders=balanced`` 7 levels deep where the plain
adder tree (and da4ml) needs 6.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hwq.formats import FixedFormat
from hwq.formats.csd import csd_digits
from hwq.ir import Dense, Graph
from hwq.rtl import emit
from hwq.rtl.mcm import build_adder_graph, plain_depth

from .conftest import cosim, need_icarus

_NEG = re.compile(r"\b\w+_acc\d+ = -")  # acc = -sum (a wire or an assign)


def _dense(w: np.ndarray, name: str = "signs", bits: int = 6) -> Graph:
    """y = W @ x (W: outputs x inputs), 8-bit signed integer x, zero bias, lossless WRAP accumulator."""
    m, n = w.shape
    width = (int(np.abs(w).sum(axis=1).max()) * 128).bit_length() + 1
    acc = FixedFormat(width, width)
    g = Graph(name, ["x"], ["y"])
    g.add_tensor("x", (n,), "fixed<8,8>")
    g.add_tensor("y", (m,), acc)
    g.add_op(
        Dense(
            "fc",
            ["x"],
            "y",
            weight=w.astype(np.int64),
            bias=np.zeros(m, np.int64),
            weight_fmt=FixedFormat(bits, bits),
            bias_fmt=FixedFormat(bits, bits),
            acc_fmt=acc,
        )
    )
    g.validate()
    return g


def _flipped_outputs(w, **options) -> list[int]:
    """Outputs of the adder graph whose remaining terms at the lowest shift are all negative while some term
    is positive (the outputs ``_reverse_sub`` is for)."""
    g = build_adder_graph(w, **options)
    out = []
    for j, terms in enumerate(g.outputs):
        if terms:
            low = min(k for _, k, _ in terms)
            if all(s < 0 for _, k, s in terms if k == low) and any(s > 0 for _, _, s in terms):
                out.append(j)
    return out


_BALANCED = {"decompose": False, "transpose": False, "depth_bound": "plain"}
#: rows with CSD digits -1 at shift 0 and positive digits above; the last row is all negative (a negation stays)
_HAND = np.array(
    [
        [-1, 2, 4, -1, 6, 0],
        [-1, -1, 8, 0, 0, 12],
        [-3, 2, -1, 16, -5, 31],
        [-1, 0, 0, 0, 0, 2],
        [-1, -2, -4, -1, 0, 0],
    ]
)


def test_the_hand_matrix_exercises_the_path():
    flipped = _flipped_outputs(_HAND.tolist(), **_BALANCED)
    assert len(flipped) >= 3, flipped
    assert all(s < 0 for _, _, s in build_adder_graph(_HAND.tolist(), **_BALANCED).outputs[4])
    assert [len(csd_digits(int(v))) for v in _HAND[3]] == [1, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("style", ["balanced", "fewest", "shallow"])
def test_no_negation_unless_every_term_is_negative(tmp_path, style):
    """Emitted Verilog: the all-negative output keeps its negation, the others have none."""
    emit(_dense(_HAND), tmp_path, pipeline=0, adders=style)
    negs = _NEG.findall((tmp_path / "hwq_signs_fc.v").read_text())
    assert len(negs) == 1 and "_acc4 " in negs[0], negs


def test_bench_16x64_balanced_at_the_plain_depth(tmp_path):
    """bench_rtl.py's 16x64 kernel: ``adders=balanced`` is 6 levels deep (the plain tree's and da4ml's), where
    it was 7 with the three output negations; no output negation is left."""
    w = np.random.default_rng(0).integers(-32, 32, size=(16, 64)).T
    assert len(_flipped_outputs(w.tolist(), **_BALANCED)) >= 3
    emit(_dense(w, "b16x64"), tmp_path, pipeline=0, adders="balanced")
    layer = json.loads((tmp_path / "rtl.json").read_text())["layers"][0]
    assert layer["levels"] == plain_depth(w) == 6
    assert not _NEG.findall((tmp_path / "hwq_b16x64_fc.v").read_text())


@pytest.mark.parametrize("pipeline,seed", [(1, 0), (2, 1)])
def test_reverse_subtractors_cosimulate_exactly(tmp_path, pipeline, seed):
    """Icarus, random vectors with gaps and back-pressure: the hand matrix plus 12 random 6-bit rows."""
    need_icarus()
    rnd = np.random.default_rng(seed).integers(-32, 32, size=(12, 6))
    w = np.vstack([_HAND, rnd])
    assert len(_flipped_outputs(w.tolist(), **_BALANCED)) >= 4
    cosim(_dense(w), tmp_path, 200, pipeline=pipeline, seed=seed)
