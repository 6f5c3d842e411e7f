"""Patch-based inference with ``input=stream`` (issue 14): the patch loop fetches each input window through
the user's callback ``hwq_<model>_read_input_window`` instead of reading the whole input array, so the
input image leaves the peak SRAM. Bit-exact against the layer-by-layer program and ``hwq.ir.run`` (host C
through ctypes with a callback that reads a buffer the program never sees, the real harness, QEMU M4).
"""

from __future__ import annotations

import ctypes as C
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwq.ir import run
from hwq.mcu.emit import emit, generate
from hwq.mcu.kernels import McuEmitError
from hwq.mcu.lower import lower
from hwq.mcu.patch import choose_plan, enumerate_plans, mcu_split_points
from hwq.mcu.patch.models import inverted_residual_stage
from hwq.mcu.patch.search import build
from tests.mcu.conftest import need_tool
from tests.mcu.test_patch import RUNTIME, _runtime_so, _vectors, run_c

#: the test's callback: reads the window from an image the test sets (CHW storage), never from ``in``
CALLBACK_C = """#include <stdint.h>
static const int8_t *hwq_test_image;
static int32_t hwq_test_calls;
void hwq_test_set_image(const int8_t *img) { hwq_test_image = img; hwq_test_calls = 0; }
int32_t hwq_test_calls_made(void) { return hwq_test_calls; }
int32_t hwq_%(m)s_read_input_window(const int8_t *in, int32_t y0, int32_t x0, int32_t h, int32_t w,
    int8_t *dst)
{
    int32_t y, x, ch;
    (void)in;
    hwq_test_calls++;
    if (y0 < 0 || x0 < 0 || y0 + h > %(h)d || x0 + w > %(w)d) { return 1; }
    for (y = 0; y < h; y++) {
        for (x = 0; x < w; x++) {
            for (ch = 0; ch < %(c)d; ch++) {
                *dst++ = hwq_test_image[ch * %(h)d * %(w)d + (y0 + y) * %(w)d + x0 + x];
            }
        }
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def stage():
    """The MobileNetV2-style test stage of ``test_patch`` (stem, strided inverted residual, residual add)."""
    return inverted_residual_stage(16, 14, seed=0)


def run_stream(files: dict, g, x: np.ndarray, work: Path) -> tuple[np.ndarray, int]:
    """Build the emitted model C with the test's callback and run every vector: ``in`` is an all-zero
    array (the program must not read it), the callback reads the vector. (raw outputs, callback calls)."""
    man = json.loads(files["mcu.json"])
    single = bool(man["single_rounding"])
    work.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        if "/" not in rel or rel.startswith("target/"):
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(data) if isinstance(data, str) else (work / rel).write_bytes(data)
    m = man["identifier"]
    c, h, w = g.tensor(g.inputs[0]).shape
    (work / "callback.c").write_text(CALLBACK_C % {"m": m, "c": c, "h": h, "w": w})
    so = _runtime_so(single, work)
    flags = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if single else []
    lib = work / "model.so"
    srcs = [str(work / f) for f in man.get("sources", [f"hwq_{m}.c", f"hwq_{m}_weights.c"])]
    subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", *flags,
                    "-I", str(RUNTIME / "Include"), "-I", str(work), "-I", str(work / "target"), *srcs,
                    str(work / "callback.c"), str(so), f"-Wl,-rpath,{so.parent}", "-o", str(lib)],
                   check=True)  # fmt: skip
    dll = C.CDLL(str(lib))
    fn = getattr(dll, f"hwq_{m}_run")
    (inp,), (outp,) = man["inputs"], man["outputs"]
    xs = (x.reshape(x.shape[0], -1) + inp["storage_offset"]).astype(np.int8)
    ys = np.zeros((x.shape[0], outp["count"]), dtype=np.int8)
    blank = np.zeros(inp["count"], dtype=np.int8)
    calls = 0
    for i in range(x.shape[0]):
        xi = np.ascontiguousarray(xs[i])
        dll.hwq_test_set_image(xi.ctypes.data_as(C.c_void_p))
        rc = fn(blank.ctypes.data_as(C.c_void_p), ys[i].ctypes.data_as(C.c_void_p))
        assert rc == 0, f"hwq_{m}_run returned {rc}"
        calls += dll.hwq_test_calls_made()
    return ys.astype(np.int64) - outp["storage_offset"], calls


# ------------------------------------------------------------------------------------------ planner
def test_stream_peak_drops_exactly_the_input_image(stage):
    """Same arena and window buffer; the input array's bytes leave io and the peak; mcu.json says both."""
    prog = lower(stage)
    nin = int(np.prod(stage.tensor(stage.inputs[0]).shape))
    for split in mcu_split_points(prog):
        for grid, halo in (((2, 2), "cache"), ((3, 1), "recompute"), ((1, 4), "rows")):
            a = build(prog, split, grid, halo, input="sram")
            b = build(prog, split, grid, halo, input="stream")
            assert a.plan.arena_bytes == b.plan.arena_bytes
            assert a.plan.peak_sram_bytes - b.plan.peak_sram_bytes == nin
            sa, sb = a.summary(), b.summary()
            assert sa["input_image_bytes"] == sb["input_image_bytes"] == nin
            assert sb["peak_sram_with_input_image_bytes"] == sa["peak_sram_bytes"]
            assert sa["peak_sram_without_input_image_bytes"] == sb["peak_sram_bytes"]
            assert 0 < sb["input_window_bytes"] <= nin
            assert sb["input_read_bytes"] >= nin * (halo != "cache")  # every pixel read at least once
            assert b.subs[0].kind == "fetch" and a.subs[0].kind == "gather"
    d = json.loads(generate(stage, patches="3x2", split="conv110", halo="cache", input="stream")["mcu.json"])
    p = d["patch"]
    assert p["input"] == "stream" and p["layer_by_layer"]["input"] == "sram"
    assert p["peak_sram_bytes"] == d["memory"]["peak_sram_bytes"] == d["memory"]["arena_bytes"] + 5
    assert p["layer_by_layer"]["peak_sram_bytes"] > p["peak_sram_with_input_image_bytes"] > p["peak_sram_bytes"]


def test_stream_budget_and_refusals(stage):
    """A budget between the two peaks fits only with streamed input; unknown modes and a stream input
    without a patch loop are refused by name."""
    prog = lower(stage)
    sram = enumerate_plans(prog, halos=("cache",))
    stream = enumerate_plans(prog, halos=("cache",), input="stream")
    best_sram = min(c.peak_sram_bytes for c in sram)
    best_stream = min(c.peak_sram_bytes for c in stream)
    assert best_stream < best_sram
    with pytest.raises(McuEmitError, match="no plan fits"):
        choose_plan(prog, "auto", "auto", sram=best_stream, halo="cache")
    chosen, _ = choose_plan(prog, "auto", "auto", sram=best_stream, halo="cache", input="stream")
    assert chosen.peak_sram_bytes <= best_stream and chosen.input == "stream" and chosen.pp.input == "stream"
    with pytest.raises(McuEmitError, match="input='camera'"):
        generate(stage, patches="2x2", input="camera")
    with pytest.raises(McuEmitError, match="input=stream: only the patch loop"):
        generate(stage, input="stream")


def test_stream_header_declares_the_callback(stage):
    files = generate(stage, patches="2x2", split="add126", halo="cache", input="stream")
    h = files["hwq_irstage.h"]
    assert "int32_t hwq_irstage_read_input_window(const int8_t *in, int32_t y0, int32_t x0" in h
    assert "#define HWQ_IRSTAGE_INPUT_WIDTH 14" in h
    c = files["hwq_irstage.c"]
    assert "hwq_patch_gather_s8" not in c and "hwq_irstage_read_input_window(in, y0, x0" in c
    assert "hwq_irstage_read_input_window" in files["hwq_model.h"]  # the harness's implementation
    plain = generate(stage, patches="2x2", split="add126", halo="cache")
    assert "read_input_window" not in plain["hwq_irstage.h"] + plain["hwq_irstage.c"]


# ------------------------------------------------------------------------------------------ C on the host
def _stream_sweep(stage, tmp_path, plans, n):
    need_tool("gcc")
    x = _vectors(stage, n, seed=11)
    ref = run(stage, x).outputs()[0].reshape(n, -1)
    layer = run_c(generate(stage), stage, x, tmp_path / "layer")
    np.testing.assert_array_equal(layer, ref)
    prog = lower(stage)
    count = 0
    for split, grid, halo in plans:
        files = generate(stage, patches=f"{grid[0]}x{grid[1]}", split=split, halo=halo, input="stream")
        y, calls = run_stream(files, stage, x, tmp_path / f"{split}_{grid[0]}x{grid[1]}_{halo}")
        np.testing.assert_array_equal(y, layer, err_msg=f"split {split} grid {grid} halo {halo}")
        pp = build(prog, split, grid, halo, input="stream")
        windows = sum(1 for gg in pp.subs[0].geom if gg.in_h > 0)  # cached patches may need no new input
        assert calls == n * windows and 0 < windows <= len(pp.sch.patches)
        count += 1
    return count


def test_host_stream_equals_layer_by_layer_and_interpreter(stage, tmp_path):
    """1,000 vectors on 4 plans (3 splits, 4 grids, every halo mode)."""
    plans = [("conv110", (2, 2), "cache"), ("add126", (3, 3), "rows"), ("dw106", (1, 4), "recompute"),
             ("add126", (4, 3), "cache")]  # fmt: skip
    assert _stream_sweep(stage, tmp_path, plans, 1000) == 4


@pytest.mark.slow
def test_host_stream_every_split_many_grids(stage, tmp_path):
    """Every split x 6 grids x 3 halo modes, 1,000 vectors each."""
    splits = mcu_split_points(lower(stage))
    grids = [(1, 1), (2, 3), (3, 2), (4, 4), (1, 3), (4, 1)]
    plans = [(s, g, h) for s in splits for g in grids for h in ("recompute", "rows", "cache")]
    assert _stream_sweep(stage, tmp_path, plans, 1000) == len(plans) == 90


def test_hwq_verify_host_stream_folder(stage, tmp_path):
    """The emitted folder through the real harness (``hwq verify mcu``; hwq_model.h's callback reads the
    test vector), 1,000 vectors against hwq.ir.run."""
    from hwq.sim.verify import verify

    need_tool("make")
    need_tool("gcc")
    out = tmp_path / "m"
    emit(stage, out, patches="3x2", split="add126", halo="cache", input="stream")
    rep = verify("mcu", out, vectors=1000, target="host", cache_dir=tmp_path / "cache")
    assert (rep.vectors, rep.mismatches) == (1000, 0)


@pytest.mark.slow
@pytest.mark.parametrize("split,grid,halo", [("add126", "3x2", "cache"), ("conv110", "4x4", "recompute")])
def test_qemu_cortex_m4_stream(stage, tmp_path, split, grid, halo):
    from hwq.sim.verify import verify

    for tool in ("make", "arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm"):
        need_tool(tool)
    out = tmp_path / "m"
    emit(stage, out, patches=grid, split=split, halo=halo, input="stream")
    rep = verify("mcu", out, vectors=100, target="cortex-m4", cache_dir=tmp_path / "cache")
    assert (rep.vectors, rep.mismatches) == (100, 0)
    man = json.loads((out / "mcu.json").read_text())
    assert rep.extra["arena_bytes"] == man["patch"]["arena_bytes"]
    est = man["patch"]["instructions_estimate"]
    assert 0.8 * est < rep.extra["total_instructions"] < 1.25 * est
