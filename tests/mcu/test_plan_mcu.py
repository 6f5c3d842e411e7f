"""The MCU static memory planner (hwq.mcu.plan_memory): valid placements, never worse than TFLite Micro's
greedy order, in-place element-wise ops, scratch sizes equal to the runtime's C *_get_buffer_size."""

from __future__ import annotations

import subprocess

import pytest

from hwq.mcu import lower, plan_memory
from hwq.mcu.plan import ALIGN, plan_program, scratch_bytes

from .conftest import need_tool
from .graphs_c import conv_graph, random_cmsis_graph


def _check_plan(prog, plan):
    by_name = {p.name: p for p in plan.placements}
    for s in prog.steps:  # every buffer a step touches is live there, and no two live buffers overlap
        live = [p for p in plan.placements if p.first <= s.index <= p.last]
        for i, a in enumerate(live):
            assert a.offset % ALIGN == 0 and a.offset + a.size <= plan.arena_bytes
            for b in live[i + 1 :]:
                same = a.offset == b.offset and a.size == b.size and (a.name in plan.inplace or b.name in plan.inplace)
                if not same:
                    assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (s.index, a, b)
        for name in [*s.inputs, s.output]:
            if prog.buffers[name].place == "arena":
                assert by_name[name].first <= s.index <= by_name[name].last


@pytest.mark.parametrize("seed", range(40))
def test_plan_valid_and_not_worse_than_tflm(seed):
    g = random_cmsis_graph(seed, n_layers=4)
    prog = lower(g)
    plan = plan_program(prog)
    _check_plan(prog, plan)
    assert plan.lower_bound <= plan.arena_bytes <= plan.tflm_bytes <= plan.naive_bytes
    assert plan.peak_sram_bytes == plan.arena_bytes + plan.io_bytes
    assert plan.flash_weight_bytes > 0 or not any(s.layer and "weight" in s.layer.params for s in prog.steps)


def test_beats_tflm_somewhere():
    wins = [s for s in range(40) if (lambda p: p.arena_bytes < p.tflm_bytes)(plan_memory(random_cmsis_graph(s)))]
    assert wins, "best-fit never beat the TFLM greedy order on 40 graphs"


def test_inplace_elementwise():
    g = random_cmsis_graph(1, kinds=["conv", "add"], dense=False)
    prog = lower(g)
    plan = plan_program(prog)
    add = next(s for s in prog.steps if s.func == "arm_elementwise_add_s8")
    a = prog.buffers[add.inputs[0]]
    if a.place == "arena" and prog.buffers[add.output].place == "arena":
        assert add.output in plan.inplace
        assert plan.offset(add.output) == plan.offset(add.inputs[0])


def test_naive_is_sum_of_buffers():
    g = conv_graph()
    prog = lower(g)
    plan = plan_program(prog)
    arena = [b for b in prog.buffers.values() if b.place == "arena"]
    expect = sum((b.nbytes + ALIGN - 1) // ALIGN * ALIGN for b in arena) + sum(
        (s.scratch + ALIGN - 1) // ALIGN * ALIGN for s in prog.steps
    )
    assert plan.naive_bytes == expect


def test_int4_weights_halve_flash():
    a = plan_memory(conv_graph(wbits=8, dense=False))
    b = plan_memory(conv_graph(wbits=4, dense=False))
    nw = 4 * 3 * 3 * 3
    assert a.flash_weight_bytes - b.flash_weight_bytes == nw - (nw + 1) // 2


_SIZE_C = r"""
#include <stdio.h>
#include "arm_nnfunctions.h"
int main(void)
{
    int n, cin, h, w, cout, kh, kw, sh, sw, pt, pl, dw;
    while (scanf("%d %d %d %d %d %d %d %d %d %d %d %d",
                 &n, &cin, &h, &w, &cout, &kh, &kw, &sh, &sw, &pt, &pl, &dw) == 12) {
        cmsis_nn_dims in = {1, h, w, cin}, out = {1, 1, 1, cout};
        if (dw) {
            cmsis_nn_dims f = {1, kh, kw, cout};
            cmsis_nn_dw_conv_params p = {0, 0, cout / cin, {sw, sh}, {pl, pt}, {1, 1}, {-128, 127}};
            printf("%d\n", (int)arm_depthwise_conv_wrapper_s8_get_buffer_size(&p, &in, &f, &out));
        } else {
            cmsis_nn_dims f = {cout, kh, kw, cin};
            cmsis_nn_conv_params p = {0, 0, {sw, sh}, {pl, pt}, {1, 1}, {-128, 127}};
            printf("%d\n", (int)arm_convolve_wrapper_s8_get_buffer_size(&p, &in, &f, &out));
        }
        (void)n;
    }
    return 0;
}
"""


def test_portable_scratch_equals_runtime_functions(tmp_path):
    from pathlib import Path

    import hwq.mcu

    need_tool("gcc")
    rt = Path(hwq.mcu.__file__).parent / "runtime"
    (tmp_path / "s.c").write_text(_SIZE_C)
    exe = tmp_path / "s"
    srcs = [str(p) for p in sorted((rt / "Source").glob("*.c"))]
    subprocess.run(["gcc", "-std=c99", "-w", f"-I{rt / 'Include'}", str(tmp_path / "s.c"), *srcs, "-o", str(exe)],
                   check=True)  # fmt: skip
    lines, expect, checked = [], [], 0
    for seed in range(30):
        prog = lower(random_cmsis_graph(seed, kinds=["conv", "depthwise"], dense=False), "portable")
        for s in prog.steps:
            if s.layer is None or not s.func.startswith(("arm_convolve", "arm_depthwise")):
                continue
            p = s.layer.params
            dw = int(s.func.startswith("arm_depthwise"))
            lines.append(f"0 {p['cin']} {p['h']} {p['w']} {p['cout']} {p['kh']} {p['kw']} {p['stride'][0]} "
                         f"{p['stride'][1]} {p['padding'][0]} {p['padding'][2]} {dw}")  # fmt: skip
            expect.append(scratch_bytes(s, "portable"))
            assert s.scratch == expect[-1]
            assert scratch_bytes(s, "cmsis-nn") >= expect[-1]
            checked += 1
    out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    assert [int(v) for v in out.stdout.split()] == expect
    assert checked > 20


def test_supports_agrees_with_emit():
    from hwq.mcu import McuEmitError, supports

    from .graphs_c import conv_graph as cg

    for seed in range(15):
        g = random_cmsis_graph(seed)
        assert [supports(o, g) for o in g.ops] == [None] * len(g.ops)
    bad = cg(cin=4, cout=4, groups=2, pool=False)
    reasons = {o.name: supports(o, bad) for o in bad.ops}
    assert reasons["conv"] and "grouped" in reasons["conv"]
    with pytest.raises(McuEmitError, match=reasons["conv"].split(" (")[0]):
        lower(bad)


def test_plan_memory_check_false_same_plan():
    g = random_cmsis_graph(4)
    assert plan_memory(g, check=False) == plan_memory(g)


def test_flash_weight_bytes_equal_the_object_file(tmp_path):
    need_tool("arm-none-eabi-gcc")
    from .graphs_c import s16_graph

    for i, g in enumerate(
        [random_cmsis_graph(6, kinds=["conv", "depthwise", "add"], dense=True), conv_graph(), s16_graph()]
    ):
        _check_flash(g, tmp_path / f"m{i}")


def _check_flash(g, d):
    from hwq.mcu import emit

    emit(g, d)
    src = next(d.glob("hwq_*_weights.c"))
    obj = d / "w.o"
    cc = ["arm-none-eabi-gcc", "-std=c99", "-O2", "-mcpu=cortex-m4", "-mthumb", "-c"]
    subprocess.run([*cc, str(src), "-o", str(obj)], check=True)
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(obj)], capture_output=True, text=True, check=True).stdout
    rodata = sum(int(p[1], 16) for p in (ln.split() for ln in out.splitlines()) if len(p) == 4)  # symbol sizes
    assert rodata == plan_memory(g).flash_weight_bytes
