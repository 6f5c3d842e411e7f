"""Per-patch precision inside the patch loop (issue 14, items 3 and 4 together): a ``patch_quant`` on the split
op's output with the patch grid is applied per patch by the generated nested loops (each output patch packed at its
own bits into the packed map, never whole in int8) and equals the interpreter's per-patch model
(``run_patchwise``, which requantises each patch as it is computed) and ``hwq.ir.run`` on 1,000 vectors (host C)
and on QEMU Cortex-M4 (slow); a grid that differs from the op's keeps the layer-by-layer pack after the loop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwq.ir import run
from hwq.ir.ops.patch_quant import packed_bytes
from hwq.ir.patchwise import fused_patch_quant, run_patchwise, schedule
from hwq.mcu.emit import emit, generate
from hwq.mcu.lower import lower
from hwq.mcu.patch.models import inverted_residual_stage, with_patch_quant
from tests.mcu.conftest import need_tool
from tests.mcu.test_patch import _vectors, run_c

#: split op -> the tensor it outputs (the stage output) in ``inverted_residual_stage(16, 14)``
SPLITS = {"conv2": "t3", "conv102": "t103", "dw106": "t107", "conv110": "t111", "add126": "t125"}
GRIDS = [(r, c) for r in range(1, 5) for c in range(1, 5)]


@pytest.fixture(scope="module")
def stage():
    return inverted_residual_stage(16, 14, seed=0)


def pq_graph(stage, split: str, grid, seed: int = 0):
    """The stage with a patch_quant of random per-patch bits (one patch kept at 8) and steps on ``split``'s output."""
    rng = np.random.default_rng(seed)
    n = grid[0] * grid[1]
    bits = [int(b) for b in rng.integers(1, 8, n)]
    if n > 1:
        bits[int(rng.integers(0, n))] = 8
    shifts = [int(rng.integers(0, 9 - b)) for b in bits]
    return with_patch_quant(stage, SPLITS[split], grid, bits, shifts)


def _cached_all(g, split):
    return [u.output for u in schedule(g, split, (1, 1)).units[:-1]]


def _reference_sweep(stage, grids, n):
    x = _vectors(stage, n, seed=2)
    count = 0
    for split, t in SPLITS.items():
        for grid in grids:
            g = pq_graph(stage, split, grid, seed=count)
            assert fused_patch_quant(g, t, grid) is not None
            ref = run(g, x).outputs()[0]
            for cached in ((), _cached_all(g, split)):
                y = run_patchwise(g, x, split, grid, cached).outputs()[0]
                np.testing.assert_array_equal(y, ref, err_msg=f"split {split} grid {grid} cached {bool(cached)}")
            count += 1
    return x


def test_reference_per_patch_model(stage):
    """run_patchwise applies the op per patch (fused) and equals hwq.ir.run: every split, four grids, both
    halo modes; the per-patch model is not the identity."""
    x = _reference_sweep(stage, [(1, 1), (2, 3), (4, 4), (3, 1)], 16)
    g = with_patch_quant(stage, "t111", (2, 2), [2] * 4, [6] * 4)
    assert not np.array_equal(run_patchwise(g, x, "conv110", (2, 2)).outputs()[0], run(stage, x).outputs()[0])


@pytest.mark.slow
def test_reference_per_patch_model_every_grid(stage):
    """Every split x every grid 1x1..4x4 (all fit the 4x4 and 8x7 stage outputs) x halo mode."""
    _reference_sweep(stage, GRIDS, 32)


#: (split, grid, halo): every split, grids from 1x1 to 4x4, every halo mode (rows / rows and columns cached)
HOST_CASES = [("conv2", (2, 2), "recompute"), ("dw106", (4, 4), "recompute"), ("conv110", (2, 3), "cache"),
              ("add126", (3, 3), "rows"),
              pytest.param("conv102", (3, 2), "cache", marks=pytest.mark.slow),
              pytest.param("dw106", (1, 1), "recompute", marks=pytest.mark.slow),
              pytest.param("add126", (4, 1), "cache", marks=pytest.mark.slow),
              pytest.param("add126", (1, 4), "recompute", marks=pytest.mark.slow)]  # fmt: skip


@pytest.mark.parametrize(
    "split,grid,halo", HOST_CASES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else v
)
def test_host_loop_packs_per_patch_1000_vectors(stage, tmp_path, split, grid, halo):
    need_tool("gcc")
    g = pq_graph(stage, split, grid, seed=sum(grid))
    x = _vectors(g, 1000, seed=11)
    cached = _cached_all(g, split) if halo in ("rows", "cache") else ()
    model = run_patchwise(g, x, split, grid, cached, None, cached if halo == "cache" else ()).outputs()[0]
    np.testing.assert_array_equal(model, run(g, x).outputs()[0])
    files = generate(g, patches=f"{grid[0]}x{grid[1]}", split=split, halo=halo)
    man = json.loads(files["mcu.json"])
    pq = man["patch"]["patch_quant"]
    op = g.op("pq")
    assert pq["packed_bytes"] == packed_bytes(g.tensor(SPLITS[split]).shape, grid, op.bits) < pq["int8_bytes"]
    text = files["hwq_irstage_pq.c"]
    at = text.index("for (pc = 0;")
    loop = text[at : text.index("HWQ_PROFILE_MARK(", at)]
    assert loop.count("hwq_patch_pack_s8(") == 1 and text.count("hwq_patch_pack_s8(") == 1  # only in the loop
    readers = len(g.consumers(op.output))
    assert text.count("hwq_patch_unpack_s8(") == readers
    # the int8 stage output has no arena placement: only the packed map lives across the loop
    prog = lower(g)
    names = {p["name"] for p in man["memory"]["placements"]}
    assert prog.tensor_buffer[op.output] in names and prog.tensor_buffer[SPLITS[split]] not in names
    y = run_c(files, g, x, tmp_path / "c").reshape(model.shape)
    np.testing.assert_array_equal(y, model)


def test_grid_differs_pack_after_the_loop(stage, tmp_path):
    """A patch_quant grid other than the patch grid is not fused: packed whole after the loop, still exact."""
    need_tool("gcc")
    g = pq_graph(stage, "dw106", (1, 3), seed=5)
    files = generate(g, patches="2x2", split="dw106", halo="cache")
    assert "patch_quant" not in json.loads(files["mcu.json"])["patch"]
    text = files["hwq_irstage_pq.c"]
    at = text.index("for (pc = 0;")
    assert "hwq_patch_pack_s8(" not in text[at : text.index("HWQ_PROFILE_MARK(", at)]
    assert text.count("hwq_patch_pack_s8(") == 1  # the layer-by-layer pack step after the loop
    x = _vectors(g, 300, seed=12)
    y = run_c(files, g, x, tmp_path / "c")
    np.testing.assert_array_equal(y, run(g, x).outputs()[0].reshape(len(x), -1))


def test_packing_in_the_loop_saves_arena(stage):
    """The fused plan's arena is below the same patch plan's without the op (int8 stage output) and below the
    layer-by-layer program with the op (the whole int8 map exists before it is packed)."""
    grid = (4, 4)
    g = with_patch_quant(stage, "t107", grid, [2] * 16, [6] * 16)
    fused = json.loads(generate(g, patches="4x4", split="dw106", halo="recompute")["mcu.json"])
    plain = json.loads(generate(stage, patches="4x4", split="dw106", halo="recompute")["mcu.json"])
    layer = json.loads(generate(g)["mcu.json"])
    a = fused["memory"]["arena_bytes"]
    assert a == fused["patch"]["arena_bytes"]
    assert a < plain["memory"]["arena_bytes"] and a < layer["memory"]["arena_bytes"]


@pytest.mark.slow
@pytest.mark.parametrize("split,grid,halo", [("dw106", (4, 4), "recompute"), ("conv110", (2, 3), "cache")])
def test_qemu_cortex_m4_loop_packs_per_patch(stage, tmp_path, split, grid, halo):
    from hwq.sim.verify import verify

    for tool in ("make", "arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm"):
        need_tool(tool)
    g = pq_graph(stage, split, grid, seed=sum(grid))
    out = tmp_path / "m"
    emit(g, out, patches=f"{grid[0]}x{grid[1]}", split=split, halo=halo)
    man = json.loads((out / "mcu.json").read_text())
    assert "patch_quant" in man["patch"]
    rep = verify("mcu", out, vectors=100, seed=4, target="cortex-m4", cache_dir=tmp_path / "cache")
    assert (rep.vectors, rep.mismatches) == (100, 0), rep.detail_lines()[:5]
    assert rep.extra["arena_bytes"] == man["patch"]["arena_bytes"]
    assert Path(out / "target" / "hwq_patch_pack.c").exists()
