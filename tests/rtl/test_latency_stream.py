"""Latency of streamed designs is exact (issue 11): ``rtl.timing`` (a cycle model of the top's handshakes),
the emitter's ``rtl.json`` ("latency", "latency_max", "cycles_per_frame") and the FPGA cost model
(``hwq.cost.fpga(...)["total"]["latency"]``, ``latency_exact``) against the real simulator.

The co-simulation (Icarus, no gaps, no back-pressure: the model's stimulus) measures ``latency_cycles`` =
first input beat of a vector -> its last output beat, minimum over the vectors, and the maximum; both must
equal the model as integers. Designs: conv1d / conv2d at stride 1 and 2, the three line buffers
(``hwq_window`` walking a padded frame, ``hwq_window_pad``, ``hwq_window_hold``), maxpool, two and three
streamed layers in a row, conv then dense (frame collect), dense then conv (frame split, whose back-pressure
makes the latency grow frame by frame until the blocks in front fill), layer DAGs (residual add, inception
concat, input gate, downsample block: forks, FIFOs, joins), and random chains of random geometries.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from hwq.formats import parse
from hwq.ir import Conv2d, Dense, Flatten, Graph, MaxPool, ReLU, Reshape
from hwq.rtl import emit
from hwq.rtl.layer import latency as layer_latency
from hwq.rtl.plan import plan_layers
from hwq.rtl.stream import Window
from hwq.rtl.timing import ChainLayer, dag_timing, stream_timing

from .conftest import need_icarus
from .graphs import _conv_op, conv1d_chain, lossless_acc
from .graphs_residual import downsample_block, inception, input_gate
from .graphs_stream import BF, GEOMETRIES, WF, _one_conv, stream_cnn

VECTORS = 10  # enough for dense_reshape_conv's growing latency to reach its steady state (frame 8)


def _hold_cnn():
    from .test_stream_hold import hold_cnn

    return hold_cnn()


# name -> (graph builder, pipeline)
DESIGNS = {
    "conv1d_stride2_pad_dil2": (lambda: GEOMETRIES["conv1d"](1), 1),  # hwq_window_pad, Conv1d
    "conv2d_stride1_walk": (lambda: GEOMETRIES["groups2"](1), 2),  # hwq_window, no padding
    "conv2d_stride2_pad1": (lambda: GEOMETRIES["stride2_pad1"](1), 0),  # hwq_window_pad
    "conv2d_hold": (lambda: GEOMETRIES["asymmetric_pad"](1), 1),  # hwq_window_hold
    "conv2d_walk_padded": (
        lambda: _one_conv("walk_pad", (2, 3, 2), (3, 2, 1, 2), (3, 3, 5), 1, padding=(0, 0, 2, 2)),
        2,
    ),  # hwq_window walking a padded frame (its rows go back: SH*IN_W < (WO-1)*SW)
    "maxpool_pad": (lambda: GEOMETRIES["maxpool_pad_input"](1), 1),
    "two_avg_layers": (lambda: GEOMETRIES["avgpool3x3_pad"](1), 2),  # conv -> avgpool, both streamed
    "conv1d_chain": (lambda: conv1d_chain(), 1),  # three streamed Conv1d layers
    "stream_cnn_conv_dense": (lambda: stream_cnn(), 1),  # conv, maxpool, conv stride 2, collect, dense
    "hold_cnn": (_hold_cnn, 2),  # hold, pad, hold windows, then dense
    "dense_reshape_conv": (lambda: GEOMETRIES["dense_reshape_conv"](1), 2),  # frame split
    # layer DAGs (rtl/branch.py): forks, skid buffers or FIFOs, joins
    "dag_residual_add": (lambda: GEOMETRIES["residual_add"](1), 2),
    "dag_inception": (lambda: inception(), 0),
    "dag_input_gate": (lambda: input_gate(), 2),
    "dag_downsample_block": (lambda: downsample_block(), 2),  # then collect and dense
}

# Icarus, no gaps / back-pressure, 10 vectors (hwq 0.1, session 8): latency_cycles, latency_max_cycles,
# cycles_per_vector as tb_report.json gave them; the model must give the same integers
MEASURED = {
    "conv1d_stride2_pad_dil2": (21, 21, 13.0),
    "conv2d_stride1_walk": (30, 30, 25.0),
    "conv2d_stride2_pad1": (58, 58, 49.0),
    "conv2d_hold": (50, 50, 35.0),
    "conv2d_walk_padded": (20, 20, 18.0),
    "maxpool_pad": (53, 53, 42.0),
    "two_avg_layers": (47, 47, 30.0),
    "conv1d_chain": (38, 38, 16.0),
    "stream_cnn_conv_dense": (107, 107, 64.0),
    "hold_cnn": (106, 111, 86.0),
    "dense_reshape_conv": (23, 55, 9.0),
    "dag_residual_add": (42, 42, 20.0),
    "dag_inception": (44, 44, 30.0),
    "dag_input_gate": (49, 49, 30.0),
    "dag_downsample_block": (84, 84, 56.0),
}


def _emit(graph, out_dir, pipeline: int) -> dict:
    emit(graph, out_dir, pipeline=pipeline, tb_vectors=0)
    return json.loads((out_dir / "rtl.json").read_text())


def _chain(manifest: dict) -> list[ChainLayer]:
    """The model's input from the manifest alone: style, datapath latency, window of each layer."""
    out = []
    for lay in manifest["layers"]:
        win = Window(**{k.lower(): v for k, v in lay["window"].items()}) if "window" in lay else None
        out.append(ChainLayer(lay["style"], layer_latency(lay["levels"], manifest["pipeline"]), win))
    return out


def _model(graph, man: dict, frames: int):
    """``rtl.timing`` over ``frames`` vectors: a chain from the manifest alone; a layer DAG from the
    emitter's plan with the manifest's levels and windows."""
    if not any(lay["style"] == "pixel" or "inputs" in lay for lay in man["layers"]):
        return stream_timing(_chain(man), frames=frames)
    layers = plan_layers(graph, "stream", branches=True)
    for lay, m in zip(layers, man["layers"]):
        assert lay.name == m["name"]
        lay.levels = m["levels"]
        lay.window = Window(**{k.lower(): v for k, v in m["window"].items()}) if "window" in m else None
    return dag_timing(graph, layers, man["pipeline"], frames=frames)


def _check(name: str, graph, man: dict, measured: tuple, vectors: int = VECTORS) -> None:
    """The manifest and the model over ``vectors`` frames equal the measured figures (integers)."""
    lat, lat_max, cpv = measured
    t = _model(graph, man, vectors)
    assert (t.latency, t.latency_max) == (lat, lat_max), (name, t.latencies, measured)
    assert (t.ends[-1] - t.ends[0]) / (vectors - 1) == cpv, (name, t.ends, measured)
    assert man["latency"] == lat, (name, man["latency"], measured)
    assert man["latency_max"] == lat_max, (name, man["latency_max"], measured)  # steady state within 10
    # the figure before this model (layers + skid buffers, no line buffer) is not the measured one
    assert sum(c.latency for c in _chain(man)) + len(man["layers"]) - 1 != lat, name


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_manifest_and_model_equal_the_recorded_simulation(name, tmp_path):
    """No simulator needed: the emitted rtl.json and the model equal the figures Icarus measured."""
    build, pipeline = DESIGNS[name]
    g = build()
    _check(name, g, _emit(g, tmp_path, pipeline), MEASURED[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_latency_equals_the_cosimulation(name, tmp_path):
    """Emit, run the cocotb bench on Icarus without gaps or back-pressure: measured latency (min and max over
    10 vectors) = rtl.json = the FPGA cost model (latency_exact True) = the recorded figures."""
    need_icarus()
    from hwq.cost import fpga
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    build, pipeline = DESIGNS[name]
    g = build()
    man = _emit(g, tmp_path, pipeline)
    _, extra = run_rtl(tmp_path, g, random_inputs(g, VECTORS, seed=3), "icarus", backpressure=0.0, gap=0.0)
    measured = (extra["latency_cycles"], extra["latency_max_cycles"], extra["cycles_per_vector"])
    assert measured == MEASURED[name], (name, measured)
    _check(name, g, man, measured)
    total = fpga(g, "xc7", pipeline=pipeline)["total"]  # layer DAGs too (hwq.cost.rtl_dag)
    assert (total["latency"], total["latency_exact"]) == (man["latency"], True)


def random_stream_graph(seed: int) -> tuple[Graph, int]:
    """(graph, pipeline): [dense -> reshape ->] 1..3 streamed Conv2d (random kernel 1..3, stride 1..2,
    dilation 1..2, padding 0..2 per side; ReLU) or 2x2 maxpool layers [-> flatten -> dense], small random
    frames and channels; pipeline 0..2. Every line buffer type occurs."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    g = Graph(f"lat{seed}", ["x"], [])
    c, h, w = rng.randint(1, 2), rng.choice([1, 2, 3, 4, 5]), rng.randint(2, 6)
    fmt = "ufixed<4,2,RND,SAT>"
    if rng.random() < 0.25:  # a parallel layer first: frame split into the first streamed layer
        g.add_tensor("x", (5,), "fixed<6,2>")
        wt = nrng.integers(WF.raw_min, WF.raw_max + 1, size=(c * h * w, 5))
        b = nrng.integers(BF.raw_min, BF.raw_max + 1, size=(c * h * w,))
        acc = lossless_acc(parse("fixed<6,2>"), WF, wt, b, BF)
        g.add_tensor("d", (c * h * w,), fmt)
        g.add_op(Dense("fc0", ["x"], "d", weight=wt, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc))
        g.add_tensor("img", (c, h, w), fmt)
        g.add_op(Reshape("reshape", ["d"], "img"))
        cur = "img"
    else:
        g.add_tensor("x", (c, h, w), fmt)
        cur = "x"
    for k in range(rng.randint(1, 3)):
        if rng.random() < 0.25 and h >= 2 and w >= 2:
            pad = rng.randint(0, 1)
            ho, wo = (h + 2 * pad - 2) // 2 + 1, (w + 2 * pad - 2) // 2 + 1
            g.add_tensor(f"p{k}", (c, ho, wo), fmt)
            g.add_op(MaxPool(f"pool{k}", [cur], f"p{k}", kernel=(2, 2), stride=(2, 2), padding=(pad,) * 4))
            cur, h, w = f"p{k}", ho, wo
            continue
        while True:
            kh, kw = rng.randint(1, 3), rng.randint(1, 3)
            sh, sw, dh, dw = rng.randint(1, 2), rng.randint(1, 2), rng.randint(1, 2), rng.randint(1, 2)
            pads = tuple(rng.randint(0, 2) for _ in range(4))
            ho = (h + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
            wo = (w + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
            if ho >= 1 and wo >= 1 and ho * wo <= 64:
                break
        co = rng.randint(1, 3)
        _conv_op(
            Conv2d, g, f"conv{k}", cur, f"c{k}", (co, ho, wo), "fixed<6,3,RND,SAT>", (co, c, kh, kw), WF, BF, nrng,
            stride=(sh, sw), dilation=(dh, dw), padding=pads,
        )  # fmt: skip
        g.add_tensor(f"r{k}", (co, ho, wo), fmt)
        g.add_op(ReLU(f"relu{k}", [f"c{k}"], f"r{k}"))
        cur, c, h, w = f"r{k}", co, ho, wo
    if rng.random() < 0.4:  # frame collect into a dense layer
        n = c * h * w
        g.add_tensor("flat", (n,), fmt)
        g.add_op(Flatten("flatten", [cur], "flat"))
        wt = nrng.integers(WF.raw_min, WF.raw_max + 1, size=(3, n))
        b = nrng.integers(BF.raw_min, BF.raw_max + 1, size=(3,))
        g.add_tensor("out", (3,), "fixed<8,4,RND,SAT>")
        acc = lossless_acc(parse(fmt), WF, wt, b, BF)
        g.add_op(Dense("fc", ["flat"], "out", weight=wt, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc))
        cur = "out"
    g.outputs = [cur]
    g.validate()
    return g, rng.randint(0, 2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_random_chains_equal_the_cosimulation(seed, tmp_path):
    """Random chains of random geometries: the model over the bench's vector count equals the measured
    minimum and maximum latency and the mean cycles per vector; rtl.json's latency is the minimum."""
    need_icarus()
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    g, pipeline = random_stream_graph(seed)
    man = _emit(g, tmp_path, pipeline)
    vectors = 6
    _, extra = run_rtl(tmp_path, g, random_inputs(g, vectors, seed=seed), "icarus", backpressure=0.0, gap=0.0)
    t = stream_timing(_chain(man), frames=vectors)
    kinds = [lay.get("window") and Window(**{k.lower(): v for k, v in lay["window"].items()}).primitive
             for lay in man["layers"]]  # fmt: skip
    got = (t.latency, t.latency_max, (t.ends[-1] - t.ends[0]) / (vectors - 1))
    want = (extra["latency_cycles"], extra["latency_max_cycles"], extra["cycles_per_vector"])
    assert got == want, (seed, kinds, t.latencies)
    assert man["latency"] == extra["latency_cycles"], (seed, kinds)
