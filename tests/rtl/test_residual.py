"""Streamed branching regions (``rtl/branch.py``): residual Add, Concat and Mul of pixel streams through
hwq_fork, skip FIFOs and joins, co-simulated bit-exact against ``hwq.ir.run`` under random gaps and
back-pressure (Icarus); planning, FIFO sizing, area against the one-parallel-layer fallback, lint.

Expected integers always come from the interpreter (``hwq.sim.verify``), never from the emitter.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from hwq.rtl import emit, lint
from hwq.rtl.branch import window_needs
from hwq.rtl.plan import plan_layers
from hwq.rtl.stream import Window
from hwq.sim.rtlsim import SimulationError
from hwq.sim.verify import verify

from .conftest import cosim, need_icarus, need_verilator
from .graphs_residual import BRANCHING

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rtl_residual.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_rtl_residual", _BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_rtl_residual"] = mod
    spec.loader.exec_module(mod)
    return mod


def _manifest(out_dir) -> dict:
    return json.loads((out_dir / "rtl.json").read_text())


def test_residual_cnn_plan_streams_every_conv(bench):
    """stem conv+ReLU, conv+BN+ReLU, conv, Add+ReLU (pixel layer joining the skip), maxpool, dense head."""
    g = bench.residual_cnn(8, 2)
    layers = plan_layers(g, "stream", branches=True)
    assert [(lay.style, lay.inputs) for lay in layers] == [
        ("stream", ["x"]),
        ("stream", ["r0"]),
        ("stream", ["r1"]),
        ("pixel", ["r0", "c2"]),
        ("stream", ["r2"]),
        ("parallel", ["p"]),
    ]
    assert [op.kind for op in layers[3].ops] == ["add", "relu"]
    # without branch streaming the residual region is one parallel layer (the fallback)
    assert [lay.style for lay in plan_layers(g, "stream")] == ["stream", "parallel", "parallel"]


@pytest.mark.slow
def test_residual_cnn_cosim_icarus(bench, tmp_path):
    """The residual CNN (8x8, 2 channels), 200 vectors with random gaps and back-pressure, 0 mismatches; the
    streamed residual region has a few hundred adders (the fallback: thousands)."""
    need_icarus()
    g = bench.residual_cnn(8, 2, seed=3)
    cosim(g, tmp_path, 200, pipeline=1, seed=5)
    m = _manifest(tmp_path)
    region = [lay for lay in m["layers"] if lay["style"] in ("stream", "pixel")]
    assert len(region) == 5 and sum(lay["adders"] for lay in region) < 400
    assert m["layers"][3]["inputs"] == ["r0", "c2"]
    top = (tmp_path / f"{m['top']}.v").read_text()
    assert "hwq_fork #(" in top and "hwq_fifo #(" in top
    assert {"hwq_fork.v", "hwq_fifo.v"} <= set(m["sources"])


@pytest.mark.parametrize("case", sorted(BRANCHING))
def test_branching_cosim_icarus(tmp_path, case):
    """Concat of two paths (fork on the graph input), a Mul/Add gate reading the input three times (a pixel
    layer as the graph output) and a strided downsampling block (skip through a strided 1x1 conv); PIPELINE
    0/1/2, 120 vectors each."""
    need_icarus()
    k = sorted(BRANCHING).index(case)
    g = BRANCHING[case](k + 1)
    cosim(g, tmp_path, 120, pipeline=k % 3, seed=k + 7)
    m = _manifest(tmp_path)
    assert any(lay["style"] == "pixel" and len(lay.get("inputs", [])) > 1 for lay in m["layers"])
    assert all(lay["style"] != "parallel" or lay["ops"][0] == "flatten" for lay in m["layers"])
    assert m["in"]["beats"] > 1


@pytest.mark.slow
def test_resnet_stage_cosim_icarus(bench, tmp_path):
    """Two residual blocks, graph output streamed from the last join (pixel-major beats), 100 vectors."""
    need_icarus()
    g = bench.resnet_stage(6, 3, 2, seed=1)
    cosim(g, tmp_path, 100, pipeline=1, seed=2)
    m = _manifest(tmp_path)
    assert m["out"]["beats"] == 36 and m["layers"][-1]["style"] == "pixel"


def test_too_small_skip_fifo_deadlocks(bench, tmp_path, monkeypatch):
    """The skip FIFO depth matters: with it cut to 2 entries the bench times out (the check can fail)."""
    need_icarus()
    from hwq.rtl import branch

    real = branch.fifo_depths
    monkeypatch.setattr(branch, "fifo_depths", lambda g, lays, **kw: {k: 2 for k in real(g, lays, **kw)})
    g = bench.residual_cnn(6, 1, seed=0)
    emit(g, tmp_path, pipeline=1)
    assert "hwq_fifo #(.DATA_WIDTH(6), .DEPTH(2))" in (tmp_path / "hwq_rescnn6x1.v").read_text()
    with pytest.raises(SimulationError, match="hung valid/ready"):
        verify("rtl", tmp_path, vectors=20, seed=0, simulator="icarus")


def test_window_needs():
    """Input beats consumed when each output pixel leaves the window (3x3 'same' on 4x3, and stride 2)."""
    w = Window(4, 3, 3, 3, pad_t=1, pad_b=1, pad_l=1, pad_r=1)
    # hwq_window_pad: output (i, j) leaves at input position (i+1)*3 + j+1 (padding aliases later pixels);
    # the last four need up to 4 beats of the next frame (or leave after inserted zeros when there is none)
    assert w.full_rate
    assert window_needs(w).tolist() == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    # hwq_window_hold: whole windows of padding; the first (all padding) leaves at pixel 0's position, the
    # last two after the tail's inserted zeros (no beat of the next frame: its first output is at position 0)
    w1 = Window(2, 2, 2, 2, pad_t=2, pad_b=2, pad_l=0, pad_r=0)
    assert not w1.full_rate and w1.hold_rate
    assert window_needs(w1).tolist() == [1, 2, 4, 4, 4]  # 5 x 1 outputs, output i on rows i-2, i-1
    # hwq_window (walks the padded frame): output rows wider than two input rows go back, neither masking
    # primitive takes them; output (i, j) needs the real pixels up to its bottom-right tap
    w3 = Window(2, 2, 1, 3, pad_l=2, pad_r=2)
    assert w3.primitive == "hwq_window"
    assert window_needs(w3).tolist() == [1, 2, 2, 2, 3, 4, 4, 4]
    w2 = Window(4, 4, 1, 1, sh=2, sw=2)
    assert window_needs(w2).tolist() == [1, 3, 9, 11]


def test_stage_emits_small_and_deterministic(bench, tmp_path):
    """A 16x16 stage of 3 blocks: Verilog size does not grow with blocks x pixels; two emits are identical."""
    g = bench.resnet_stage(16, 4, 3)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    emit(g, a, tb_vectors=0)
    emit(g, b, tb_vectors=0)
    for f in sorted(a.iterdir()):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    m = _manifest(a)
    assert [lay["style"] for lay in m["layers"]].count("pixel") == 3
    assert sum(f.stat().st_size for f in a.glob("*.v")) < 2_000_000


def test_lint_clean(tmp_path):
    need_verilator()
    emit(BRANCHING["downsample"](0), tmp_path)
    assert lint(tmp_path) == []


def test_adders_match_the_per_pixel_datapaths(bench, tmp_path):
    """Branch streaming: the residual CNN's conv/add layers have the adders of their per-pixel datapaths (a
    few hundred); the fallback unrolls the residual region over every pixel (more than 10x as many)."""
    g = bench.residual_cnn(6, 2)
    (tmp_path / "b").mkdir()
    (tmp_path / "s").mkdir()
    _, man = bench._emit(g, tmp_path / "b", "branch")
    _, single = bench._emit(g, tmp_path / "s", "single")
    region = sum(lay["adders"] for lay in man["layers"] if lay["style"] != "parallel")
    fallback = sum(lay["adders"] for lay in single["layers"] if lay["style"] == "parallel" and "fc" not in lay["ops"])
    assert 50 < region < 400
    assert fallback > 10 * region
