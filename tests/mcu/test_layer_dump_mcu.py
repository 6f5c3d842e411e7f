"""The MCU host harness's per-layer dump (``hwq.sim.mcurun.layer_dump``) and first-diverging-layer report.

Unmutated: every step output the debug build dumps equals the interpreter's tensor. Mutated: one constant
of a layer's weight array in the emitted ``hwq_*_weights.c`` changed makes ``hwq verify mcu`` fail and name
that layer (the first op of the step that uses the array), with vector, element and raw/real values.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from hwq.ir import run
from hwq.ir.random_graph import random_inputs
from hwq.mcu import emit
from hwq.sim.mcurun import layer_dump
from hwq.sim.verify import verify

from .conftest import need_tool
from .graphs_c import random_cmsis_graph


def _graph():
    return random_cmsis_graph(12, kinds=["conv"], dense=True)


def test_layer_dump_equals_the_interpreter(tmp_path):
    need_tool("gcc")
    g = _graph()
    emit(g, tmp_path)
    x = random_inputs(g, 12, 3)
    dump = layer_dump(tmp_path, g, x)
    res = run(g, x, trace=True).raw
    assert len(dump) >= 2
    for t, arr in dump.items():
        np.testing.assert_array_equal(arr, np.asarray(res[t]), err_msg=t)


@pytest.mark.parametrize("layer", ["conv2", "fc8"])
def test_changed_weight_constant_names_its_layer(tmp_path, layer):
    need_tool("gcc")
    g = _graph()
    emit(g, tmp_path)
    wfile = next(tmp_path.glob("hwq_*_weights.c"))
    text = wfile.read_text()
    head = re.search(rf"_{layer}_weight\[\d*\]\s*=\s*\{{", text)
    assert head, f"no weight array of {layer} in {wfile.name}"
    for m in list(re.finditer(r"-?\d+", text[head.end() :]))[:8]:  # the first constant that changes outputs
        a, b = head.end() + m.start(), head.end() + m.end()
        old = int(text[a:b])
        wfile.write_text(text[:a] + str(old - 100 if old > 0 else old + 100) + text[b:])
        rep = verify("mcu", tmp_path, vectors=40, seed=0)
        if rep.mismatches:
            break
        wfile.write_text(text)
    assert rep.mismatches > 0
    d = rep.extra["first_diverging_layer"]
    assert d["layer"] == layer, d
    assert rep.extra["layer_errors"][layer] > 0
    x = random_inputs(g, 40, 0)
    exp = np.asarray(run(g, x, trace=True).raw[d["tensor"]]).reshape(40, -1)[d["vector"], d["index"]]
    assert d["expected_raw"] == int(exp) and d["got_raw"] != d["expected_raw"]
