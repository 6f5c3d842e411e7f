"""Padded streamed windows at one input pixel per cycle (``hwq_window_pad.v``, issue 12 item 7).

The primitive is checked against the independent window model of the primitives bench
(``hwq.sim.cocotb_primitives_bench.window_model``) by a plain Verilog bench on Icarus: random frames back to
back, random input gaps and output back-pressure for the first half, then neither, where every frame must
take exactly IN_H*IN_W cycles (one input pixel per cycle, the padding costs none). The emitter's choice of
primitive, the FIFO sizing of branching designs and whole designs under back-pressure are checked too.
Expected integers come from the model / the interpreter, never from the emitter.
"""

from __future__ import annotations

import random
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hwq.rtl import emit
from hwq.rtl.stream import Window

from .conftest import need_icarus

# geometries meeting the one-pixel-per-cycle requirements (same-padded convs, padded pools, 1-D, dilation,
# stride, asymmetric padding)
FULL_RATE = {
    "3x3_pad1_8x8": dict(IN_H=8, IN_W=8, KH=3, KW=3, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "3x3_s2_pad1_7x7": dict(PIXEL_WIDTH=5, IN_H=7, IN_W=7, KH=3, KW=3, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "3x3_dil2_pad2_7x6": dict(IN_H=7, IN_W=6, KH=3, KW=3, DH=2, DW=2, PAD_T=2, PAD_B=2, PAD_L=2, PAD_R=2),
    "conv1d_k3_pad1_w16": dict(PIXEL_WIDTH=16, IN_H=1, IN_W=16, KH=1, KW=3, PAD_L=1, PAD_R=1),
    "5x5_pad2_5x6": dict(IN_H=5, IN_W=6, KH=5, KW=5, PAD_T=2, PAD_B=2, PAD_L=2, PAD_R=2),
    "3x2_asym_pad_6x5": dict(IN_H=6, IN_W=5, KH=3, KW=2, SH=1, SW=2, PAD_T=0, PAD_B=2, PAD_L=1, PAD_R=0),
    "pool3x3_s2_pad1_6x6": dict(IN_H=6, IN_W=6, KH=3, KW=3, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "3x3_pad1_2x3": dict(PIXEL_WIDTH=3, IN_H=2, IN_W=3, KH=3, KW=3, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "2x2_pad_br_4x4": dict(IN_H=4, IN_W=4, KH=2, KW=2, PAD_B=1, PAD_R=1),
}

_NAMES = ("PIXEL_WIDTH", "IN_H", "IN_W", "KH", "KW", "SH", "SW", "DH", "DW", "PAD_T", "PAD_B", "PAD_L", "PAD_R")


def _window(p: dict) -> Window:
    g = {"SH": 1, "SW": 1, "DH": 1, "DW": 1, "PAD_T": 0, "PAD_B": 0, "PAD_L": 0, "PAD_R": 0, **p}
    return Window(
        g["IN_H"], g["IN_W"], g["KH"], g["KW"], g["SH"], g["SW"], g["DH"], g["DW"],
        g["PAD_T"], g["PAD_B"], g["PAD_L"], g["PAD_R"],
    )  # fmt: skip


def parse_bench_output(out: str, pw: int, taps: int) -> tuple[list, list, list]:
    """The window bench's printout as (output beats, input transfer cycles, beats after the last frame); a
    beat is (tap values, pad flags), ``pw`` bits per tap."""
    mask = (1 << pw) - 1

    def beat(data: str, pad: str) -> tuple:
        d, f = int(data, 16), int(pad, 16)
        return (tuple((d >> (t * pw)) & mask for t in range(taps)), tuple((f >> t) & 1 for t in range(taps)))

    outs, ins, tail = [], [], []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "O":
            outs.append(beat(f[2], f[3]))
        elif f and f[0] == "I":
            ins.append(int(f[1]))
        elif f and f[0] == "T":
            tail.append(beat(f[1], f[2]))
    return outs, ins, tail


def _bench(p: dict, n_in: int, n_out: int, free_from: int, seed: int) -> str:
    """Plain Verilog bench: beats from in.hex; input gaps / back-pressure (30 %) before input ``free_from``;
    prints ``I <cycle>`` per input transfer and ``O <cycle> <tdata> <tpad>`` per output transfer, then runs
    40 idle cycles (``T`` lines: outputs after the last frame)."""
    pw, taps = p.get("PIXEL_WIDTH", 8), p["KH"] * p["KW"]
    params = ", ".join(
        f".{k}({p.get(k, 1 if k in ('SH', 'SW', 'DH', 'DW') else 0)})" for k in _NAMES if k != "PIXEL_WIDTH"
    )
    params += f", .PIXEL_WIDTH({pw})"
    return f"""`timescale 1ns / 1ps
module tb;
reg clk = 0, rst = 1;
always #5 clk = !clk;
reg [{pw - 1}:0] mem [0:{n_in - 1}];
reg [{pw - 1}:0] s_tdata;
reg s_tvalid = 0, m_tready = 0;
wire s_tready, m_tvalid;
wire [{taps * pw - 1}:0] m_tdata;
wire [{taps - 1}:0] m_tpad;
integer sent = 0, got = 0, cycle = 0, seed = {seed}, idle = 0;
hwq_window_pad #({params}) dut (.clk(clk), .rst(rst), .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid),
    .s_axis_tready(s_tready), .m_axis_tdata(m_tdata), .m_axis_tpad(m_tpad), .m_axis_tvalid(m_tvalid),
    .m_axis_tready(m_tready));
initial begin
    $readmemh("in.hex", mem);
    repeat (3) @(posedge clk);
    rst <= 0;
    while ((sent < {n_in} || got < {n_out}) && cycle < {40 * (n_in + n_out) + 1000}) begin
        @(negedge clk);
        if (!s_tvalid && sent < {n_in} && (sent >= {free_from} || ($random(seed) & 3) != 0)) begin
            s_tvalid = 1;
            s_tdata = mem[sent];
        end
        m_tready = sent >= {free_from} || ($random(seed) & 3) != 0;
        #1;
        if (m_tvalid && m_tready) begin
            $display("O %0d %h %h", cycle, m_tdata, m_tpad);
            got = got + 1;
        end
        if (s_tvalid && s_tready) begin
            $display("I %0d", cycle);
            sent = sent + 1;
        end
        @(posedge clk);
        if (s_tvalid && s_tready) s_tvalid = 0;
        cycle = cycle + 1;
    end
    s_tvalid = 0;
    m_tready = 1;
    for (idle = 0; idle < 40; idle = idle + 1) begin
        @(negedge clk);
        #1;
        if (m_tvalid) $display("T %h %h", m_tdata, m_tpad);
        @(posedge clk);
    end
    $finish;
end
endmodule
"""


def _run_window(p: dict, frames: int, seed: int, tmp: Path, prim=None) -> tuple[list, list, list, list]:
    """Simulate (``prim``: the primitive's file, default the packaged one); returns (expected beats, output
    beats, input transfer cycles, tail beats)."""
    from hwq.sim.cocotb_primitives_bench import window_geometry, window_model

    g = window_geometry(p)
    rng = random.Random(seed)
    pw, taps = g["PIXEL_WIDTH"], g["KH"] * g["KW"]
    fr = [[[rng.getrandbits(pw) for _ in range(g["IN_W"])] for _ in range(g["IN_H"])] for _ in range(frames)]
    expected = [b for f in fr for b in window_model(f, g)]
    beats = [v for f in fr for row in f for v in row]
    per = g["IN_H"] * g["IN_W"]
    (tmp / "in.hex").write_text("".join(f"{v:x}\n" for v in beats))
    (tmp / "tb.v").write_text(_bench(p, len(beats), len(expected), (frames // 2) * per, seed))
    prim = prim or resources.files("hwq.rtl").joinpath("primitives", "hwq_window_pad.v")
    subprocess.run(["iverilog", "-g2005", "-o", "sim.vvp", "tb.v", str(prim)], cwd=tmp, check=True)
    out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp, check=True, capture_output=True, text=True).stdout
    return (expected, *parse_bench_output(out, pw, taps))


@pytest.mark.parametrize("name", sorted(FULL_RATE))
def test_window_pad_matches_the_model_at_one_pixel_per_cycle(name, tmp_path):
    """Every tap and pad flag equals the model over 6 frames (random gaps and back-pressure, then none);
    without either, every frame takes IN_H*IN_W cycles; nothing comes out after the last frame."""
    need_icarus()
    p = FULL_RATE[name]
    assert _window(p).full_rate, name
    expected, outs, ins, tail = _run_window(p, 6, len(name), tmp_path)
    assert outs == expected
    assert tail == []
    per = p["IN_H"] * p["IN_W"]
    starts = [ins[f * per] for f in range(3, 6)]
    assert [b - a for a, b in zip(starts, starts[1:])] == [per, per]
    assert ins[-1] - ins[3 * per] == 3 * per - 1  # one input pixel per cycle in the free phase


def test_a_broken_mask_is_caught(tmp_path):
    """The check can fail: a window that forgets to mask the bottom padding differs from the model."""
    need_icarus()
    src = resources.files("hwq.rtl").joinpath("primitives", "hwq_window_pad.v").read_text()
    bad = src.replace("assign row_in[ga] = lo_ok && hi_ok;", "assign row_in[ga] = lo_ok;")
    assert bad != src
    (tmp_path / "bad.v").write_text(bad)
    expected, outs, _, _ = _run_window(FULL_RATE["3x3_pad1_8x8"], 2, 1, tmp_path, prim=tmp_path / "bad.v")
    assert outs != expected


def test_full_rate_geometries():
    """Which windows use hwq_window_pad: padded ones whose emissions fit one per input pixel."""
    assert _window(dict(IN_H=8, IN_W=8, KH=3, KW=3, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1)).full_rate
    assert not _window(dict(IN_H=8, IN_W=8, KH=3, KW=3)).full_rate  # no padding: hwq_window, unchanged
    assert not _window(dict(IN_H=3, IN_W=3, KH=2, KW=2, PAD_T=3, PAD_B=3, PAD_L=3, PAD_R=3)).full_rate
    assert not _window(dict(IN_H=5, IN_W=5, KH=1, KW=1, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1)).full_rate
    w = _window(dict(IN_H=4, IN_W=5, KH=3, KW=3, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1))
    assert w.emissions()[0] == 5 + 1 and w.emissions()[-1] == 4 * 5 + 5  # e(0, 0), e(3, 4)
    assert w.primitive == "hwq_window_pad"


def test_emitted_padded_design_uses_the_full_rate_window(tmp_path):
    from .graphs_stream import stream_cnn

    emit(stream_cnn(seed=1), tmp_path, tb_vectors=0)
    text = (tmp_path / "hwq_scnn_conv1.v").read_text()
    assert "hwq_window_pad #(" in text
    assert "hwq_window_pad.v" in (tmp_path / "rtl.json").read_text()


def random_padded_geometry(seed: int, accept, min_in_w: int = 2, max_pad: int = 2) -> dict:
    """The first random padded window geometry (a parameter dict) drawn from ``random.Random(seed)`` for
    which ``accept(Window)`` holds and the output is at least 1x1; the input is ``min_in_w``..9 wide and
    every side is padded by 0..``max_pad``."""
    rng = random.Random(seed)
    while True:
        p = dict(
            PIXEL_WIDTH=rng.choice([1, 4, 8]),
            IN_H=rng.choice([1, 2, 3, 5, 7]),
            IN_W=rng.randint(min_in_w, 9),
            KH=rng.randint(1, 4),
            KW=rng.randint(1, 4),
            SH=rng.randint(1, 3),
            SW=rng.randint(1, 3),
            DH=rng.randint(1, 2),
            DW=rng.randint(1, 2),
            PAD_T=rng.randint(0, max_pad),
            PAD_B=rng.randint(0, max_pad),
            PAD_L=rng.randint(0, max_pad),
            PAD_R=rng.randint(0, max_pad),
        )
        w = _window(p)
        if w.out_h >= 1 and w.out_w >= 1 and accept(w):
            return p


def random_full_rate_geometry(index: int) -> dict:
    """A random padded geometry that ``hwq_window_pad`` takes (fixed seed per index)."""
    return random_padded_geometry(5000 + index, lambda w: w.full_rate)


@pytest.mark.parametrize("index", range(6))
def test_window_pad_random_geometry(index, tmp_path):
    """hwq_window_pad = the model on random padded geometries it takes (a sweep of 200 passed in development)."""
    need_icarus()
    p = random_full_rate_geometry(index)
    expected, outs, ins, tail = _run_window(p, 4, index, tmp_path)
    assert outs == expected, p
    assert tail == [], p
    per = p["IN_H"] * p["IN_W"]
    assert ins[-1] - ins[2 * per] == 2 * per - 1, p


def test_padded_designs_stream_one_pixel_per_cycle(tmp_path):
    """Whole designs without gaps or back-pressure: the streamed CNN (two padded convs) takes 64 cycles per
    8x8 frame and the residual CNN (three padded convs, a skip FIFO) 36 per 6x6 frame; outputs exact."""
    need_icarus()
    import importlib.util
    import sys

    from hwq.ir import run
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    from .graphs_stream import stream_cnn

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rtl_residual.py"
    spec = importlib.util.spec_from_file_location("bench_rtl_residual", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_rtl_residual"] = mod
    spec.loader.exec_module(mod)
    for k, (g, per) in enumerate([(stream_cnn(seed=3), 64), (mod.residual_cnn(6, 2, seed=1), 36)]):
        d = tmp_path / str(k)
        d.mkdir()
        emit(g, d, pipeline=1)
        x = random_inputs(g, 12, seed=k)
        out, extra = run_rtl(d, g, x, "icarus", backpressure=0.0, gap=0.0)
        assert np.array_equal(out[0], run(g, x).outputs()[0])
        assert extra["cycles_per_vector"] == per, g.name
