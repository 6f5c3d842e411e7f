"""Streamed convolutions and pooling (``io="stream"``): bit-exact co-simulation against ``hwq.ir.run`` under
random gaps and back-pressure (Icarus), window geometries, PIPELINE 0/1/2, lint, determinism, area that does
not grow with the image, throughput, refusals, and the ``--io`` command-line option.

Expected integers always come from the interpreter (``hwq.sim.verify``), never from the emitter.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq.ir.random_graph import random_graph
from hwq.ir.serialize import save
from hwq.rtl import RtlError, emit, lint
from hwq.sim.verify import verify

from .conftest import cosim, need_icarus, need_verilator
from .graphs_stream import GEOMETRIES, stream_cnn

_cosim = cosim  # Icarus co-simulation with 0 mismatches (conftest)


def _manifest(out_dir) -> dict:
    return json.loads((out_dir / "rtl.json").read_text())


@pytest.mark.slow
def test_stream_cnn_1000_vectors_icarus(tmp_path):
    """conv3x3 pad 1 -> ReLU -> maxpool 2 -> conv3x3 stride 2 -> ReLU -> flatten -> dense, 1,000 vectors."""
    need_icarus()
    g = stream_cnn(seed=1)
    rep = _cosim(g, tmp_path, 1000, pipeline=1, seed=1)
    m = _manifest(tmp_path)
    assert m["io"] == "stream"
    assert [(lay["name"], lay["style"]) for lay in m["layers"]] == [
        ("conv1", "stream"),
        ("pool1", "stream"),
        ("conv2", "stream"),
        ("flatten", "parallel"),
    ]
    assert m["in"] == {
        "count": 64,
        "format": "fixed<6,2>",
        "width": 6,
        "beats": 64,
        "per_beat": 1,
        "order": "pixel-major (y, x); channels within a beat",
    }
    assert (m["out"]["beats"], m["out"]["per_beat"], m["out"]["order"]) == (1, 10, "row-major")
    assert rep.extra["beats_in"] == 64 and rep.extra["beats_out"] == 1


@pytest.mark.parametrize("pipeline", [0, 2])
def test_stream_cnn_pipeline_icarus(tmp_path, pipeline):
    need_icarus()
    _cosim(stream_cnn(seed=2 + pipeline), tmp_path, 150, pipeline=pipeline, seed=pipeline)


@pytest.mark.parametrize("case", sorted(GEOMETRIES))
def test_stream_geometry_icarus(tmp_path, case):
    """One streamed layer (or pool/avgpool/split case) per geometry, 300 vectors, PIPELINE 0/1/2."""
    need_icarus()
    g = GEOMETRIES[case](7)
    k = sorted(GEOMETRIES).index(case)
    emit(g, tmp_path, pipeline=k % 3)
    m = _manifest(tmp_path)
    assert any(lay["style"] == "stream" for lay in m["layers"])
    rep = verify("rtl", tmp_path, vectors=300, seed=k, simulator="icarus")
    assert rep.mismatches == 0, "\n".join(rep.detail_lines())
    assert rep.extra["scoreboard_errors"] == 0


def test_graph_output_streamed_pixel_major(tmp_path):
    """A conv as the last op: m_axis carries one pixel per beat and the manifest says so."""
    g = GEOMETRIES["stride2_pad1"](0)
    emit(g, tmp_path)
    m = _manifest(tmp_path)
    assert m["out"] == {
        "count": 48,
        "format": "ufixed<6,3,RND,SAT>",
        "width": 18,
        "beats": 16,
        "per_beat": 3,
        "order": "pixel-major (y, x); channels within a beat",
    }
    top = (tmp_path / f"{m['top']}.v").read_text()
    assert "pixel-streamed, 16 beats per vector" in top and "pixel-streamed, 49 beats per vector" in top
    assert m["layers"][0]["style"] == "stream"
    assert m["layers"][0]["window"] == {
        "IN_H": 7,
        "IN_W": 7,
        "KH": 3,
        "KW": 3,
        "SH": 2,
        "SW": 2,
        "DH": 1,
        "DW": 1,
        "PAD_T": 1,
        "PAD_B": 1,
        "PAD_L": 1,
        "PAD_R": 1,
    }
    # exact (rtl.timing; tests/rtl/test_latency_stream.py checks it against the co-simulation): the 7x7
    # frame at one pixel per cycle, the line buffer's fill and the datapath
    assert (m["latency"], m["latency_max"], m["cycles_per_frame"]) == (66, 66, 49)  # Icarus measured 66, 66, 49


@pytest.mark.slow
def test_streamed_padded_maxpool_verilator(tmp_path):
    need_verilator()
    emit(GEOMETRIES["maxpool_pad_input"](2), tmp_path, pipeline=1)
    rep = verify("rtl", tmp_path, vectors=300, seed=2, simulator="verilator")
    assert rep.mismatches == 0, "\n".join(rep.detail_lines())


def test_a_wrong_window_geometry_is_caught(tmp_path):
    """The streamed harness can fail: shift the window down one row (same output count) -> mismatches."""
    need_icarus()
    g = GEOMETRIES["stride2_pad1"](3)
    emit(g, tmp_path)
    m = _manifest(tmp_path)
    layer = tmp_path / f"{m['layers'][0]['module']}.v"
    text = layer.read_text()
    assert ".PAD_T(1)," in text and ".PAD_B(1)," in text
    layer.write_text(text.replace(".PAD_T(1),", ".PAD_T(0),").replace(".PAD_B(1),", ".PAD_B(2),"))
    rep = verify("rtl", tmp_path, vectors=50, simulator="icarus")
    assert rep.mismatches > 0


def test_full_throughput_without_backpressure(tmp_path):
    """No padding, stride 1, no gaps or back-pressure: one input pixel per cycle, frames back to back."""
    need_icarus()
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    g = GEOMETRIES["groups2"](1)  # 4 x 5 x 5 input, 3x3 kernel, no padding
    emit(g, tmp_path, pipeline=1)
    x = random_inputs(g, 40, seed=3)
    out, extra = run_rtl(tmp_path, g, x, "icarus", backpressure=0.0, gap=0.0)
    from hwq.ir import run

    assert np.array_equal(out[0], run(g, x).outputs()[0])
    assert extra["beats_per_cycle_in"] == 1.0
    assert extra["cycles_per_vector"] == 25.0
    assert extra["latency_cycles"] == extra["latency_max_cycles"] and extra["latency_cycles"] >= 25


def test_area_does_not_grow_with_the_image(tmp_path):
    """Streamed: one weight matrix per layer whatever the image size; parallel: one row per output pixel."""
    adders = {}
    for io in ("stream", "parallel"):
        for size in (6, 12):
            d = tmp_path / f"{io}{size}"
            d.mkdir()
            emit(stream_cnn(seed=0, size=size), d, io=io)
            adders[io, size] = [lay["adders"] for lay in _manifest(d)["layers"]]
    assert adders["stream", 6][:3] == adders["stream", 12][:3]  # conv1, pool1, conv2
    assert sum(adders["parallel", 12]) > 3 * sum(adders["parallel", 6])


def test_lint_clean_and_deterministic(tmp_path):
    need_verilator()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    g = stream_cnn(seed=4)
    fa = emit(g, a, command="hwq emit rtl", pipeline=2)
    fb = emit(stream_cnn(seed=4), b, command="hwq emit rtl", pipeline=2)
    assert [f.name for f in fa] == [f.name for f in fb]
    for x, y in zip(fa, fb):
        assert x.read_bytes() == y.read_bytes(), x.name
    assert lint(a) == []
    for case in ("maxpool_pad_input", "dense_reshape_conv", "conv1d"):
        d = tmp_path / case
        d.mkdir()
        emit(GEOMETRIES[case](0), d, pipeline=1)
        assert lint(d) == [], case


def test_parallel_io_keeps_one_beat_per_tensor(tmp_path):
    g = stream_cnn(seed=0)
    emit(g, tmp_path, io="parallel")
    m = _manifest(tmp_path)
    assert m["io"] == "parallel"
    assert all(lay["style"] == "parallel" for lay in m["layers"])
    assert (m["in"]["beats"], m["in"]["per_beat"], m["in"]["width"]) == (1, 64, 64 * 6)
    assert "hwq_window.v" not in m["sources"]


def test_parallel_io_cosim_icarus(tmp_path):
    need_icarus()
    _cosim(stream_cnn(seed=5), tmp_path, 200, pipeline=1, io="parallel")


def test_unknown_io_is_refused(tmp_path):
    with pytest.raises(RtlError, match=r"io must be one of stream, parallel, got 'pixel'"):
        emit(stream_cnn(), tmp_path, io="pixel")


def test_streamed_module_name_clash_is_refused(tmp_path):
    """A streamed layer needs two modules (<layer> and <layer>_datapath); a clash is refused by name."""
    g = stream_cnn(seed=0)
    g.ops[-2].name = "conv2_datapath"  # the flatten + dense layer's module would be <top>_conv2_datapath
    g.validate()
    with pytest.raises(RtlError, match=r"module name 'hwq_scnn_conv2_datapath' is used twice"):
        emit(g, tmp_path)


def test_cli_emit_io_option(tmp_path, capsys):
    from hwq.cli import main

    save(stream_cnn(seed=0), tmp_path / "g.json")
    for io in ("parallel", "stream"):
        out = tmp_path / io
        assert main(["emit", "rtl", "--ir", str(tmp_path / "g.json"), "--out", str(out), "--io", io]) == 0
        assert _manifest(out)["io"] == io
    out = tmp_path / "default"
    assert main(["emit", "rtl", "--ir", str(tmp_path / "g.json"), "--out", str(out)]) == 0
    assert _manifest(out)["io"] == "stream"
    bad = ["emit", "rtl", "--ir", str(tmp_path / "g.json"), "--out", str(tmp_path / "x"), "--io", "stream"]
    assert main(bad + ["-O", "io=parallel"]) == 2
    assert "contradicts" in capsys.readouterr().err


def test_output_finished_before_the_last_input_rows_is_scored(tmp_path):
    """A stride-3 pool that never reads the frame's last row: the streamed design finishes each output
    vector before that row's input beats; the scoreboard pairs them once both are complete."""
    need_icarus()
    g = random_graph(249, n_ops=5, max_width=12)
    assert any(op.kind == "avgpool" and tuple(op.stride)[0] == 3 for op in g.ops)
    emit(g, tmp_path, pipeline=1)
    assert json.loads((tmp_path / "rtl.json").read_text())["in"]["beats"] > 1
    rep = verify("rtl", tmp_path, vectors=200, seed=2, simulator="icarus")
    assert rep.vectors == 200 and rep.mismatches == 0
    assert rep.extra["scoreboard_errors"] == 0
