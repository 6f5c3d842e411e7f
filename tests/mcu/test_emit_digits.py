"""The digits MLP, CNN, depthwise-separable CNN and residual CNN in the CMSIS-NN profile through the MCU
generator: host builds, 2,000 vectors each, every output byte equal to hwq.ir.run; int4 weights, int16
activations, both rounding builds; QEMU Cortex-M4 / M55 on the MLP and CNN (slow)."""

from __future__ import annotations

import pytest

from hwq.mcu import emit, plan_memory
from hwq.sim.verify import verify

from .conftest import need_tool
from .models_c import cmsis_graph

CASES = [
    ("mlp", "int8", "int8", False),
    pytest.param(("mlp", "int8", "int8", True), marks=pytest.mark.slow),
    ("cnn", "int8", "int8", False),
    ("cnn", "int8", "int8", True),
    ("dscnn", "int8", "int8", False),
    ("rescnn", "int8", "int8", True),
    pytest.param(("rescnn", "int8", "int8", False), marks=pytest.mark.slow),
    ("mlp", "int4", "int8", False),
    ("cnn", "int4", "int8", True),
    ("mlp", "int8", "int16", False),
    ("cnn", "int8", "int16", False),
]


def _ids(c):
    c = c.values[0] if hasattr(c, "values") else c
    return f"{c[0]}-{c[1]}w-{c[2]}a-{'single' if c[3] else 'double'}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_digits_cmsis_host_exact(case, tmp_path):
    need_tool("gcc")
    arch, w, a, single = case
    g = cmsis_graph(arch, w, a, single)
    emit(g, tmp_path / "m")
    r = verify("mcu", tmp_path / "m", vectors=2000, seed=1)
    assert r.vectors == 2000 and r.mismatches == 0, r.detail_lines()[:5]
    text = next((tmp_path / "m").glob("hwq_digits_*[!s].c")).read_text()
    expect = {"int4": "_s4(", "int16": "_s16("}
    for key in (w, a):
        if key in expect:
            assert expect[key] in text
    if arch == "rescnn":
        assert "arm_elementwise_add_s8(" in text and "arm_avgpool_s8(" in text
    if arch == "dscnn":
        assert "arm_depthwise_conv_wrapper_s8(" in text


def test_digits_plans():
    for arch in ("mlp", "cnn", "dscnn", "rescnn"):
        p = plan_memory(cmsis_graph(arch))
        assert p.lower_bound <= p.arena_bytes <= p.tflm_bytes <= p.naive_bytes
        assert p.flash_weight_bytes > 1000


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_digits_qemu_exact(arch, target, tmp_path):
    need_tool("arm-none-eabi-gcc")
    need_tool("qemu-system-arm")
    emit(cmsis_graph(arch), tmp_path / "m")
    r = verify("mcu", tmp_path / "m", vectors=50, seed=2, target=target)
    assert r.vectors == 50 and r.mismatches == 0, r.detail_lines()[:5]
    assert r.extra["target"] == target
    layers = r.extra["layer_instructions"]
    steps = len(plan_memory(cmsis_graph(arch)).scratch)
    assert len(layers) == steps + 1  # one count per generated call, then the return after the last mark
    assert all(n > 100 for n in layers[:steps])
    assert r.extra["stack_bytes"] and r.extra["stack_bytes"] > 0
