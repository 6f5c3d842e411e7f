"""Bit-exact co-simulation of emitted Verilog against the IR interpreter (hwq.ir.run), under random
back-pressure on m_axis_tready and random gaps on s_axis_tvalid.

Broad random coverage runs on Icarus (fast builds); the digits-sized MLPs run on Verilator. The expected
integers come from the interpreter (``hwq.sim.verify``), never from the emitter.
"""

from __future__ import annotations

import json

import pytest

from hwq.rtl import emit
from hwq.sim.verify import verify

from .conftest import cosim, need_icarus, need_verilator
from .graphs import (
    OVERFLOW_MODES,
    avgpool_chain,
    conv1d_chain,
    digits_mlp,
    elementwise_chain,
    mode_chain,
    random_chain,
    small_cnn,
)


def _cosim(graph, out_dir, simulator: str, vectors: int, pipeline: int = 1, seed: int = 0, io: str = "stream"):
    return cosim(graph, out_dir, vectors, pipeline, seed, io, simulator)


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
def test_every_rounding_and_overflow_mode_icarus(tmp_path, overflow):
    need_icarus()
    _cosim(mode_chain(overflow, seed=1), tmp_path, "icarus", 1000, pipeline=2)


@pytest.mark.parametrize("seed", range(6))
def test_random_dense_relu_chains_icarus(tmp_path, seed):
    need_icarus()
    _cosim(random_chain(seed), tmp_path, "icarus", 1000, pipeline=seed % 3, seed=seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_clip_requantize_flatten_reshape_icarus(tmp_path, seed):
    need_icarus()
    _cosim(elementwise_chain(seed), tmp_path, "icarus", 400, pipeline=1, seed=seed)


# streamed designs take one cycle per pixel (and the bench one Python step per cycle): fewer vectors
IO_VECTORS = [("parallel", 1000), ("stream", 250)]


@pytest.mark.parametrize("io, vectors", IO_VECTORS)
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_small_cnn_conv_relu_maxpool_dense_icarus(tmp_path, variant, io, vectors):
    """Conv2d + ReLU + MaxPool + Conv2d + Flatten + Dense, three formats/modes/geometries, fully parallel
    and streamed (line buffers, then a frame collect into the dense layer)."""
    need_icarus()
    g = small_cnn(variant, seed=variant)
    _cosim(g, tmp_path, "icarus", vectors, pipeline=[2, 0, 3][variant], seed=variant, io=io)


@pytest.mark.parametrize("io, vectors", IO_VECTORS)
def test_conv1d_chain_icarus(tmp_path, io, vectors):
    need_icarus()
    _cosim(conv1d_chain(seed=4), tmp_path, "icarus", vectors, pipeline=1, seed=4, io=io)


@pytest.mark.parametrize("io, vectors", IO_VECTORS)
def test_avgpool_global_avgpool_icarus(tmp_path, io, vectors):
    """Power-of-two AvgPool (zero padding counted) and GlobalAvgPool after a conv: sums, then a shift."""
    need_icarus()
    _cosim(avgpool_chain(seed=5), tmp_path, "icarus", vectors, pipeline=2, seed=5, io=io)


def test_a_broken_rounding_step_is_caught(tmp_path):
    """The harness can fail: drop every RND increment from an emitted layer and expect mismatches."""
    need_icarus()
    g = mode_chain("WRAP", seed=1)
    emit(g, tmp_path)
    victim = tmp_path / "hwq_modes_wrap_l2.v"  # layer 2 rounds with RND
    text = victim.read_text()
    assert "RND increment" in text
    victim.write_text(
        "\n".join(ln.replace("_up = ", "_up = 1'b0 & ") if "RND increment" in ln else ln for ln in text.splitlines())
        + "\n"
    )
    rep = verify("rtl", tmp_path, vectors=200, simulator="icarus")
    assert rep.mismatches > 0
    assert json.loads((tmp_path / "verify.json").read_text())["mismatches"] == rep.mismatches


def test_latency_and_full_throughput_without_backpressure(tmp_path):
    need_icarus()
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    g = mode_chain("SAT", seed=2)
    emit(g, tmp_path, pipeline=1)
    expect_latency = json.loads((tmp_path / "rtl.json").read_text())["latency"]
    x = random_inputs(g, 200, seed=3)
    _, extra = run_rtl(tmp_path, g, x, "icarus", backpressure=0.0, gap=0.0)
    assert extra["latency_cycles"] == extra["latency_max_cycles"] == expect_latency
    assert extra["throughput_outputs_per_cycle"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fixed8", "fixed4", "csd2"])
def test_digits_mlp_verilator(tmp_path, kind):
    need_verilator()
    rep = _cosim(digits_mlp(kind), tmp_path, "verilator", 1000, pipeline=2)
    assert rep.extra["throughput_outputs_per_cycle"] > 0.3  # random gaps and back-pressure at 30 % each


def test_cli_verify_icarus(tmp_path, capsys):
    need_icarus()
    from hwq.cli import main
    from hwq.ir.serialize import save

    save(random_chain(11), tmp_path / "g.json")
    out = tmp_path / "out"
    assert main(["emit", "rtl", "--ir", str(tmp_path / "g.json"), "--out", str(out)]) == 0
    assert main(["verify", "rtl", str(out), "--vectors", "150", "--simulator", "icarus"]) == 0
    assert "verify rtl: 150 vectors, 0 mismatches" in capsys.readouterr().out
