"""Padded streamed windows that ``hwq_window_pad`` does not take, without walking the padding
(``hwq_window_hold.v``, issue 12 item 7).

Those windows (an output grid wider than the frame, outputs wholly in the top/left padding, a bottom border
that overlaps the next frame's first outputs) used to fall back to ``hwq_window``, which spends one cycle on
every position of the padded frame. The primitive is checked against the independent window model of the
primitives bench (``hwq.sim.cocotb_primitives_bench.window_model``) by the plain Verilog bench of
``test_stream_pad`` on Icarus (random gaps and back-pressure for the first half of the frames, then none,
where each frame must take ``Window.cycles_per_frame()`` cycles, fewer than the padded frame's positions).
A whole design is checked against the interpreter, with and without back-pressure, at the new rate.
Expected integers come from the model / the interpreter, never from the emitter.
"""

from __future__ import annotations

import random
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hwq.formats import parse
from hwq.ir import Conv2d, Dense, Flatten, Graph, MaxPool, ReLU
from hwq.rtl import emit
from hwq.rtl.branch import window_needs
from hwq.rtl.stream import Window

from .conftest import need_icarus, need_verilator
from .graphs import _conv_op, lossless_acc
from .test_stream_pad import _bench, parse_bench_output, random_padded_geometry

# geometries hwq_window_pad refuses (what each exercises in the primitive)
HOLD = {
    # output row wider than the frame: the last output of a row shares its position with the next row's
    # first (a hold cycle), and the bottom row's tail overlaps the next frame's first outputs
    "2x2_pad1_8x8": dict(IN_H=8, IN_W=8, KH=2, KW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    # padded 2x2 pool: a tail that inserts zeros (the next frame's first output is at position 0)
    "pool2x2_s2_pad1_8x8": dict(IN_H=8, IN_W=8, KH=2, KW=2, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    # outputs wholly in the padding (negative positions, emitted at position 0)
    "1x1_s2_pad1_5x5": dict(PIXEL_WIDTH=5, IN_H=5, IN_W=5, KH=1, KW=1, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    # a tail longer than the next frame's first position: zeros first, then the next frame's pixels
    "4x4_pad2_6x6": dict(IN_H=6, IN_W=6, KH=4, KW=4, PAD_T=2, PAD_B=2, PAD_L=2, PAD_R=2),
    "conv1d_k2_pad1_w9": dict(PIXEL_WIDTH=12, IN_H=1, IN_W=9, KH=1, KW=2, PAD_L=1, PAD_R=1),
    "3x2_dil2_asym_5x7": dict(IN_H=5, IN_W=7, KH=3, KW=2, DH=2, SW=2, PAD_T=3, PAD_B=2, PAD_L=1, PAD_R=0),
}

_KEYS = ("IN_H", "IN_W", "KH", "KW", "SH", "SW", "DH", "DW", "PAD_T", "PAD_B", "PAD_L", "PAD_R")
_DEFAULTS = {"SH": 1, "SW": 1, "DH": 1, "DW": 1, "PAD_T": 0, "PAD_B": 0, "PAD_L": 0, "PAD_R": 0}


def _window(p: dict) -> Window:
    g = {**_DEFAULTS, **p}
    return Window(*(g[k] for k in _KEYS))


def _run(p: dict, frames: int, seed: int, tmp: Path, src: str | None = None) -> tuple[list, list, list, list]:
    """Simulate hwq_window_hold (``src``: its Verilog text, default the packaged file) on ``frames`` random
    frames; returns (expected beats, output beats, input transfer cycles, beats after the last frame)."""
    from hwq.sim.cocotb_primitives_bench import window_geometry, window_model

    g = window_geometry(p)
    rng = random.Random(seed)
    pw, taps = g["PIXEL_WIDTH"], g["KH"] * g["KW"]
    fr = [[[rng.getrandbits(pw) for _ in range(g["IN_W"])] for _ in range(g["IN_H"])] for _ in range(frames)]
    expected = [b for f in fr for b in window_model(f, g)]
    beats = [v for f in fr for row in f for v in row]
    per = g["IN_H"] * g["IN_W"]
    (tmp / "in.hex").write_text("".join(f"{v:x}\n" for v in beats))
    tb = _bench(p, len(beats), len(expected), (frames // 2) * per, seed)
    assert "hwq_window_pad #(" in tb
    (tmp / "tb.v").write_text(tb.replace("hwq_window_pad #(", "hwq_window_hold #("))
    prim = resources.files("hwq.rtl").joinpath("primitives", "hwq_window_hold.v").read_text()
    (tmp / "prim.v").write_text(src if src is not None else prim)
    subprocess.run(["iverilog", "-g2005", "-o", "sim.vvp", "tb.v", "prim.v"], cwd=tmp, check=True)
    out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp, check=True, capture_output=True, text=True).stdout
    assert "Error" not in out, out
    return (expected, *parse_bench_output(out, pw, taps))


def _frame_cycles(ins: list, per: int, frames: int) -> list[int]:
    """Cycles between the first input transfers of consecutive frames of the free (second) half."""
    starts = [ins[f * per] for f in range(frames // 2, frames)]
    return [b - a for a, b in zip(starts, starts[1:])]


def test_hold_geometries():
    """Which padded windows use hwq_window_hold, and their cycles per frame (computed by hand)."""
    w = _window(HOLD["2x2_pad1_8x8"])
    assert not w.full_rate and w.hold_rate and w.primitive == "hwq_window_hold"
    assert w.cycles_per_frame() == 81  # = its 9x9 outputs; hwq_window walked 10x10 = 100
    assert _window(HOLD["pool2x2_s2_pad1_8x8"]).cycles_per_frame() == 64 + 9  # 9 tail steps, no holds
    assert _window(HOLD["1x1_s2_pad1_5x5"]).cycles_per_frame() == 25 + 6 + 3  # tail 6, 3 holds at 0
    for p in HOLD.values():
        w = _window(p)
        walk = (w.in_h + w.pad_t + w.pad_b) * (w.in_w + w.pad_l + w.pad_r)
        assert w.primitive == "hwq_window_hold" and w.cycles_per_frame() < walk, p
    # still hwq_window: output rows that go back (a "full" 3x3 conv), no padding; hwq_window_pad unchanged
    assert _window(dict(IN_H=8, IN_W=8, KH=3, KW=3, PAD_T=2, PAD_B=2, PAD_L=2, PAD_R=2)).primitive == "hwq_window"
    assert _window(dict(IN_H=8, IN_W=8, KH=2, KW=2)).primitive == "hwq_window"
    assert _window(dict(IN_H=8, IN_W=8, KH=3, KW=3, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1)).primitive == "hwq_window_pad"


def test_window_needs_hold():
    """FIFO sizing input: beats delivered when each output is emitted (hold: its position's beat; the
    bottom row's tail takes no beat of the next frame when that frame's first output is at position 0)."""
    need = window_needs(_window(dict(IN_H=3, IN_W=3, KH=2, KW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1)))
    assert need.tolist() == [1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 9, 9, 9, 9, 9]
    need = window_needs(_window(HOLD["1x1_s2_pad1_5x5"]))
    assert need.tolist() == [1, 1, 1, 1, 5, 7, 9, 11, 15, 17, 19, 21, 25, 25, 25, 25]


@pytest.mark.parametrize("name", sorted(HOLD))
def test_window_hold_matches_the_model_at_its_rate(name, tmp_path):
    """Every tap and pad flag equals the model over 6 frames (random gaps and back-pressure, then none);
    without either, every frame takes Window.cycles_per_frame() cycles; nothing comes after the last frame."""
    need_icarus()
    p = HOLD[name]
    w = _window(p)
    assert w.primitive == "hwq_window_hold", name
    expected, outs, ins, tail = _run(p, 6, len(name), tmp_path)
    assert outs == expected
    assert tail == []
    assert _frame_cycles(ins, w.in_h * w.in_w, 6) == [w.cycles_per_frame()] * 2


def random_hold_geometry(index: int) -> dict:
    """A random padded geometry that ``hwq_window_hold`` takes (fixed seed per index)."""
    return random_padded_geometry(7000 + index, lambda w: w.hold_rate, min_in_w=1, max_pad=4)


@pytest.mark.parametrize("index", range(8))
def test_window_hold_random_geometry(index, tmp_path):
    """hwq_window_hold = the model on random geometries it takes, at Window.cycles_per_frame() (a sweep of
    300 passed in development)."""
    need_icarus()
    p = random_hold_geometry(index)
    w = _window(p)
    expected, outs, ins, tail = _run(p, 4, index, tmp_path)
    assert outs == expected, p
    assert tail == [], p
    assert _frame_cycles(ins, w.in_h * w.in_w, 4) == [w.cycles_per_frame()], p


def test_a_window_without_hold_cycles_is_caught(tmp_path):
    """The checks can fail: without hold cycles (one output per position) the outputs differ from the model."""
    need_icarus()
    src = resources.files("hwq.rtl").joinpath("primitives", "hwq_window_hold.v").read_text()
    bad = src.replace("wire hold = emit && !last_out && (e_adv <= p_reg);", "wire hold = 1'b0;")
    assert bad != src
    expected, outs, _, _ = _run(HOLD["2x2_pad1_8x8"], 2, 1, tmp_path, src=bad)
    assert outs != expected


def hold_cnn(seed: int = 0, ch: int = 3) -> Graph:
    """1x8x8 -> conv 2x2 padding 1 (9x9, hwq_window_hold) -> ReLU -> maxpool 2x2 stride 2 padding 1 (5x5,
    hwq_window_pad) -> conv 1x1 stride 2 padding 1 (4x4, hwq_window_hold: outputs wholly in the padding)
    -> flatten -> dense 6; random full-range weights, lossless accumulators."""
    wf, bf = parse("fixed<5,2>"), parse("fixed<6,2>")
    rng = np.random.default_rng(seed)
    g = Graph("hold_cnn", ["x"], [])
    g.add_tensor("x", (1, 8, 8), "fixed<6,2>")
    _conv_op(
        Conv2d, g, "conv1", "x", "c1", (ch, 9, 9), "fixed<8,4,RND,SAT>", (ch, 1, 2, 2), wf, bf, rng,
        padding=(1, 1, 1, 1),
    )  # fmt: skip
    g.add_tensor("r1", (ch, 9, 9), "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    g.add_tensor("p1", (ch, 5, 5), "ufixed<6,3,RND,SAT>")
    g.add_op(MaxPool("pool1", ["r1"], "p1", kernel=(2, 2), stride=(2, 2), padding=(1, 1, 1, 1)))
    _conv_op(
        Conv2d, g, "conv2", "p1", "c2", (ch, 4, 4), "fixed<8,4,RND_CONV,SAT>", (ch, ch, 1, 1), wf, bf, rng,
        stride=(2, 2), padding=(1, 1, 1, 1),
    )  # fmt: skip
    n = ch * 16
    g.add_tensor("flat", (n,), "fixed<8,4,RND_CONV,SAT>")
    g.add_op(Flatten("flatten", ["c2"], "flat"))
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(6, n))
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(6,))
    g.add_tensor("out", (6,), "fixed<10,6,RND,SAT>")
    acc = lossless_acc(g.tensor("flat").fmt, wf, w, b, bf)
    g.add_op(Dense("fc", ["flat"], "out", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc))
    g.outputs = ["out"]
    g.validate()
    return g


def test_hold_design_exact_at_the_new_rate(tmp_path, monkeypatch):
    """The whole design equals the interpreter with 30 % back-pressure and input gaps; without them it
    streams a frame in fewer cycles than the same design on the walking hwq_window (the old fallback,
    emitted here by switching ``Window.hold_rate`` off): 87 against 101 cycles per vector (conv1 alone: 81
    against 100; conv2's tail and holds at a frame boundary stall the layers before it for 6 cycles)."""
    need_icarus()
    from hwq.ir import run
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    g = hold_cnn(seed=2)
    x = random_inputs(g, 10, seed=4)
    ref = run(g, x).outputs()[0]
    new, old = tmp_path / "new", tmp_path / "old"
    emit(g, new, pipeline=1, tb_vectors=0)
    prims = {p: (new / f"{p}.v").exists() for p in ("hwq_window", "hwq_window_pad", "hwq_window_hold")}
    assert prims == {"hwq_window": False, "hwq_window_pad": True, "hwq_window_hold": True}
    out, _ = run_rtl(new, g, x, "icarus", backpressure=0.3, gap=0.3, seed=1)
    assert np.array_equal(out[0], ref)
    out, extra = run_rtl(new, g, x, "icarus", backpressure=0.0, gap=0.0)
    assert np.array_equal(out[0], ref)
    with monkeypatch.context() as m:
        m.setattr(Window, "hold_rate", property(lambda self: False))
        emit(g, old, pipeline=1, tb_vectors=0)
    assert (old / "hwq_window.v").exists() and not (old / "hwq_window_hold.v").exists()
    out, extra_old = run_rtl(old, g, x, "icarus", backpressure=0.0, gap=0.0)
    assert np.array_equal(out[0], ref)
    assert extra["cycles_per_vector"] < extra_old["cycles_per_vector"]
    assert (extra["cycles_per_vector"], extra_old["cycles_per_vector"]) == (87, 101)


def test_window_hold_lint_clean():
    """verilator --lint-only -Wall is silent for hwq_window_hold on every geometry above and the default."""
    need_verilator()
    from hwq.rtl.tools import verilator_bin, verilator_env

    prim = resources.files("hwq.rtl").joinpath("primitives", "hwq_window_hold.v")
    for params in [{}, *HOLD.values()]:
        cmd = [verilator_bin(), "--lint-only", "-Wall", "--top-module", "hwq_window_hold"]
        p = subprocess.run(
            [*cmd, *[f"-G{k}={v}" for k, v in params.items()], str(prim)],
            env=verilator_env(),
            capture_output=True,
            text=True,
        )
        assert p.returncode == 0 and not p.stderr.strip(), (params, p.stderr)
