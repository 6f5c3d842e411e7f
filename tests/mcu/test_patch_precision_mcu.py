"""Per-patch mixed precision on the MCU backend (``patch_quant`` -> ``hwq_patch_pack_s8`` into a packed arena
buffer, ``hwq_patch_unpack_s8`` before each reader): host builds equal ``hwq.ir.run`` on 1,000 digits vectors
(residual and plain CNN, uneven grids, per-patch steps); the packed bytes equal a Python bit-stream reference and
the C buffer-size function; the planner sizes the packed buffer and the residual net's arena shrinks; QEMU
Cortex-M4 equals the interpreter too (slow)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from hwq.ir.ops.patch_quant import packed_bytes, patch_bounds, requant_codes
from hwq.mcu import emit, plan_memory
from hwq.mcu.kernels import McuEmitError
from hwq.sim.verify import verify

from ..nn.test_patch_precision import MAPS, digits_net
from .conftest import need_tool


def patch_graph(case):
    """IR graph of a digits net with one patch_quant node (``MAPS`` entry)."""
    import torch

    from hwq.nn.patch_precision import insert_patch_quant

    arch, after, grid, bits, shifts = case
    net, split = digits_net(arch)
    pn = insert_patch_quant(net, after, grid, bits, shifts)
    return pn.lower_to_ir(torch.as_tensor(split.x_train[:1]).float(), f"digits_{arch}_pq_{after}")


def _ids(c):
    return f"{c[0]}-{c[1]}-{c[2][0]}x{c[2][1]}"


@pytest.mark.parametrize("case", MAPS, ids=_ids)
def test_host_exact_1000_vectors(case, tmp_path):
    need_tool("gcc")
    g = patch_graph(case)
    emit(g, tmp_path / "m")
    r = verify("mcu", tmp_path / "m", vectors=1000, seed=3)
    assert r.vectors == 1000 and r.mismatches == 0, r.detail_lines()[:5]
    text = next((tmp_path / "m").glob("hwq_digits_*_pq_*[!s].c")).read_text()
    readers = 2 if case[0] == "rescnn" else 1  # the residual block reads its input twice (conv, add)
    assert text.count("hwq_patch_pack_s8(") == 1 and text.count("hwq_patch_unpack_s8(") == readers


def reference_pack(x_hwc: np.ndarray, grid, bits, shifts, base: int) -> bytes:
    """Python bit-stream packing of an (H, W, C) int8 map (hwq_patch_pack.h layout), independent of the C."""
    h, w, _ = x_hwc.shape
    out = bytearray()
    p = 0
    for r0, r1 in patch_bounds(h, grid[0]):
        for c0, c1 in patch_bounds(w, grid[1]):
            codes, _ = requant_codes(x_hwc[r0:r1, c0:c1, :].ravel(), bits[p], shifts[p], base, -128, 127)
            acc = sum(int(q) << (i * bits[p]) for i, q in enumerate(codes))
            out += acc.to_bytes((len(codes) * bits[p] + 7) // 8, "little")
            p += 1
    return bytes(out)


C_MAIN = r"""
#include <stdio.h>
#include "hwq_patch_pack.h"
static const int8_t x[] = { %(x)s };
static const int8_t bits[] = { %(bits)s };
static const int8_t shifts[] = { %(shifts)s };
int main(void)
{
    static uint8_t packed[4096];
    static int8_t y[sizeof(x)];
    const hwq_patch_quant_params p = { %(rows)d, %(cols)d, bits, shifts, %(base)d, -128, 127 };
    const cmsis_nn_dims d = { 1, %(h)d, %(w)d, %(c)d };
    int32_t i, n = hwq_patch_pack_s8_get_buffer_size(&p, &d);
    if (hwq_patch_pack_s8(&p, &d, x, packed) != ARM_CMSIS_NN_SUCCESS) return 1;
    if (hwq_patch_unpack_s8(&p, &d, packed, y) != ARM_CMSIS_NN_SUCCESS) return 2;
    printf("%%d\n", (int)n);
    for (i = 0; i < n; i++) printf("%%02x", packed[i]);
    printf("\n");
    for (i = 0; i < (int32_t)sizeof(x); i++) printf("%%d ", y[i]);
    printf("\n");
    return 0;
}
"""


@pytest.mark.parametrize("seed", range(4))
def test_c_packing_equals_reference_bit_stream(seed, tmp_path):
    gcc = need_tool("gcc")
    from pathlib import Path

    import hwq.mcu

    rng = np.random.default_rng(seed)
    c, h, w = int(rng.integers(1, 5)), int(rng.integers(2, 11)), int(rng.integers(2, 11))
    grid = (int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1)))
    bits = [int(b) for b in rng.integers(1, 9, grid[0] * grid[1])]
    shifts = [int(rng.integers(0, 9 - b)) for b in bits]
    base = int(rng.integers(-128, 10))
    x = rng.integers(-128, 128, (h, w, c))
    target = Path(hwq.mcu.__file__).parent / "target"
    runtime = Path(hwq.mcu.__file__).parent / "runtime" / "Include"
    src = tmp_path / "main.c"
    arrays = {k: ", ".join(map(str, v)) for k, v in (("x", x.ravel()), ("bits", bits), ("shifts", shifts))}
    src.write_text(C_MAIN % dict(arrays, rows=grid[0], cols=grid[1], base=base, h=h, w=w, c=c))
    exe = tmp_path / "main"
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{target}", f"-I{runtime}"]
    subprocess.run([gcc, *flags, str(src), str(target / "hwq_patch_pack.c"), "-o", str(exe)], check=True)
    n, hexbytes, ys = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert int(n) == packed_bytes((c, h, w), grid, bits)
    assert bytes.fromhex(hexbytes) == reference_pack(x, grid, bits, shifts, base)
    want = np.empty_like(x)
    p = 0
    for r0, r1 in patch_bounds(h, grid[0]):
        for c0, c1 in patch_bounds(w, grid[1]):
            want[r0:r1, c0:c1] = requant_codes(x[r0:r1, c0:c1], bits[p], shifts[p], base, -128, 127)[1]
            p += 1
    assert [int(v) for v in ys.split()] == want.ravel().tolist()


def test_planner_sizes_the_packed_buffer_and_the_residual_arena_shrinks():
    case = MAPS[0]
    g = patch_graph(case)
    plan = plan_memory(g)
    packed = next(p for p in plan.placements if p.name == "patch_quant")
    assert packed.size == (packed_bytes((8, 8, 8), case[2], case[3]) + 3) // 4 * 4
    assert packed.size < 512
    net, _ = digits_net("rescnn")
    import torch

    from hwq.data.digits import load_digits_split

    g0 = net.lower_to_ir(torch.as_tensor(load_digits_split(image=True).x_train[:1]).float(), "digits_rescnn")
    base = plan_memory(g0)
    assert plan.arena_bytes < base.arena_bytes  # the skip tensor lives packed across the residual body
    assert base.arena_bytes - plan.arena_bytes == 512 - packed.size


def test_graph_output_is_refused_naming_the_op():
    from hwq.formats import parse
    from hwq.ir import Graph
    from hwq.ir.ops.patch_quant import PatchQuant

    g = Graph("pq", ["x"], ["y"])
    g.add_tensor("x", (2, 4, 4), parse("int<8>"))
    g.add_tensor("y", (2, 4, 4), parse("int<8>"))
    g.add_op(PatchQuant("pq", ["x"], "y", grid=(2, 2), bits=(8, 4, 4, 2)))
    with pytest.raises(McuEmitError, match=r"op 'pq' \(patch_quant\): its output is a graph output"):
        plan_memory(g)


@pytest.mark.slow
def test_qemu_cortex_m4_exact(tmp_path):
    need_tool("arm-none-eabi-gcc")
    need_tool("qemu-system-arm")
    emit(patch_graph(MAPS[0]), tmp_path / "m")
    r = verify("mcu", tmp_path / "m", vectors=50, seed=4, target="cortex-m4")
    assert r.vectors == 50 and r.mismatches == 0, r.detail_lines()[:5]
    assert r.extra["stack_bytes"] > 0
    layers = r.extra["layer_instructions"]
    assert len(layers) == len(plan_memory(patch_graph(MAPS[0])).scratch) + 1
    assert all(n > 100 for n in layers[:-1])
