"""Pass fold_batchnorm: exact folds are bit-identical, inexact folds are refused (or forced)."""

from __future__ import annotations

import pytest

from hwq.formats import FixedFormat as F
from hwq.ir import run
from hwq.ir.passes import (
    PassError,
    fold_batchnorm,
    infer_accumulators,
)
from hwq.ir.random_graph import random_graph
from hwq.ir.serialize import dumps

from .pass_helpers import dense_bn, extreme_inputs, same_results


def test_fold_batchnorm_exact_case_is_bit_identical():
    g = dense_bn(F(24, 12), F(24, 12))  # lossless accumulator and output
    before = dumps(g)
    f = fold_batchnorm(g)
    assert dumps(g) == before
    assert [op.kind for op in f.ops] == ["dense"] and f.ops[0].output == "y" and "h" not in f.tensors
    # folded weight raw = w * s, at F_w + F_s = 4 + 4 fractional bits
    assert f.ops[0].weight.tolist() == [[55, -33, 77], [48, -12, -6]]
    assert f.ops[0].weight_fmt.frac_bits == 8
    same_results(g, f, extreme_inputs(g, 200, 0))


def test_fold_batchnorm_refuses_a_fold_that_changes_results():
    g = dense_bn(F(8, 4, True, "RND", "SAT"), F(24, 12))  # output rounds 7 fractional bits to 4
    with pytest.raises(PassError, match=r"folding 'bn' into 'fc' \(dense\) would change results: its output format"):
        fold_batchnorm(g)
    g = dense_bn(F(24, 12), F(10, 2, True, "TRN", "SAT"))  # accumulator saturates
    with pytest.raises(PassError, match=r"its accumulator fixed<10,2,TRN,SAT> can overflow"):
        fold_batchnorm(g)
    folded = fold_batchnorm(g, require_exact=False)
    assert [op.kind for op in folded.ops] == ["dense"]
    run(folded, extreme_inputs(g, 10, 1))


@pytest.mark.parametrize("seed", range(6))
def test_fold_batchnorm_conv2d_random(seed):
    g = random_graph(seed, ops=["conv2d", "batchnorm"])
    conv = g.ops[0]
    # make the conv path lossless so that the fold must be exact
    g = infer_accumulators(g)
    lo_hi = g.ops[0].acc_fmt
    g.tensors[conv.output].fmt = F(lo_hi.width + 2, lo_hi.int_bits + 2)
    g.validate()
    f = fold_batchnorm(g)
    assert [op.kind for op in f.ops] == ["conv2d"]
    same_results(g, f, extreme_inputs(g, 30, seed))


def test_fold_batchnorm_skips_shared_intermediates():
    g = dense_bn(F(24, 12), F(24, 12))
    g.outputs = ["y", "h"]  # h is also a graph output: nothing to fold
    assert [op.kind for op in fold_batchnorm(g).ops] == ["dense", "batchnorm"]
