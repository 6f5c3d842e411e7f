"""The C-simulation's per-layer dump (``-DHWQ_LAYER_DUMP``) and first-diverging-layer report.

Unmutated: the debug build's dump of every op output equals the interpreter's tensors. Mutated: one
weight constant flipped in the emitted ``firmware/weights/<layer>.h`` (a weight chosen so that the
interpreter, given the same flip in the IR, changes some output) makes ``hwq verify hls`` fail and name
that layer, vector and element, with raw and real values from the interpreter and from the C++.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from hwq.hls import emit
from hwq.ir import run
from hwq.ir.random_graph import random_inputs
from hwq.ir.serialize import load
from hwq.sim.csim import layer_dump
from hwq.sim.verify import verify

from ..rtl.graphs import mlp
from .conftest import need_csim_toolchain


def _graph():
    return mlp([12, 10, 8, 4], "fixed<8,3>", "fixed<6,2>", "fixed<10,5,RND,SAT>", "ufixed<8,4,RND,SAT>", seed=2)


@pytest.mark.slow
def test_layer_dump_equals_the_interpreter(tmp_path):
    need_csim_toolchain()
    g = _graph()
    emit(g, tmp_path)
    x = random_inputs(g, 20, 1)
    dump = layer_dump(tmp_path, g, x)
    res = run(g, x, trace=True).raw
    assert set(dump) == {op.output for op in g.ops}
    for t, arr in dump.items():
        np.testing.assert_array_equal(arr.astype(np.int64), np.asarray(res[t]).reshape(20, -1), err_msg=t)


def _flip(g, layer: str, x) -> tuple[int, int]:
    """A weight (j, i) of dense ``layer`` whose sign flip changes the interpreter's outputs on ``x``."""
    base = run(g, x).outputs()[0]
    op = g.op(layer)
    for j, i in np.ndindex(*op.weight.shape):
        w = int(op.weight[j, i])
        if w in (0, op.weight_fmt.raw_min):
            continue
        op.weight[j, i] = -w
        changed = np.any(run(g, x).outputs()[0] != base)
        op.weight[j, i] = w
        if changed:
            return j, i
    pytest.fail(f"no weight of {layer} changes the outputs")


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["fc1"])  # fc0 and fc2 pass too (about a minute each under load)
def test_flipped_weight_constant_names_its_layer(tmp_path, layer):
    need_csim_toolchain()
    g = _graph()
    emit(g, tmp_path)
    x = random_inputs(g, 40, 0)
    j, i = _flip(load(tmp_path / "graph.json"), layer, x)
    f = tmp_path / "firmware" / "weights" / f"{layer}.h"
    text = f.read_text()
    n = g.op(layer).weight.shape[1]
    head = re.search(rf"{layer}_w\[\d+\]\[\d+\] = \{{", text)
    m = list(re.finditer(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text[head.end() :]))[j * n + i]
    a, b = head.end() + m.start(), head.end() + m.end()
    old = text[a:b]
    f.write_text(text[:a] + (old[1:] if old.startswith("-") else "-" + old) + text[b:])
    rep = verify("hls", tmp_path, vectors_file=None, vectors=40, seed=0)
    assert rep.mismatches > 0
    d = rep.extra["first_diverging_layer"]
    assert d["layer"] == layer and d["tensor"] == g.op(layer).output
    assert rep.extra["layer_errors"][layer] > 0
    exp = np.asarray(run(g, x, trace=True).raw[d["tensor"]]).reshape(40, -1)[d["vector"], d["index"]]
    assert d["expected_raw"] == int(exp) and d["got_raw"] != d["expected_raw"]
    fmt = g.tensor(d["tensor"]).fmt
    assert d["got_real"] == float(fmt.from_raw(np.array([d["got_raw"]]))[0])
