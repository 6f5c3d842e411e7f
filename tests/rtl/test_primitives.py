"""cocotb tests of the Verilog primitives the emitter instantiates (Icarus; Verilator marked slow), and their lint."""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import pytest

from hwq.sim.rtlsim import run_bench

from .conftest import need_icarus, need_verilator, need_yosys

BENCH = "hwq.sim.cocotb_primitives_bench"


def _prim(name: str) -> Path:
    return Path(str(resources.files("hwq.rtl").joinpath("primitives", name)))


@pytest.mark.parametrize("width", [1, 8, 37])
def test_skid_buffer_icarus(width):
    need_icarus()
    ok, _, _ = run_bench(
        [_prim("hwq_skid_buffer.v")],
        "hwq_skid_buffer",
        BENCH,
        "icarus",
        {"DATA_WIDTH": width},
        {"HWQ_PRIM_WIDTH": str(width), "HWQ_PRIM_BEATS": "1500"},
        testcase="skid_buffer_stream",
    )
    assert ok


@pytest.mark.slow
def test_skid_buffer_verilator():
    need_verilator()
    ok, _, _ = run_bench(
        [_prim("hwq_skid_buffer.v")],
        "hwq_skid_buffer",
        BENCH,
        "verilator",
        {"DATA_WIDTH": 16},
        {"HWQ_PRIM_WIDTH": "16", "HWQ_PRIM_BEATS": "1000"},
        testcase="skid_buffer_stream",
    )
    assert ok


# ---------------------------------------------------------------------------------------------------------
# hwq_window (sliding-window line buffer), hwq_frame_collect, hwq_frame_split

# name -> hwq_window parameters: every geometry the emitter needs (padding, stride, dilation, 1-D, 1x1,
# stride > kernel, padding > kernel-1 so that whole windows are padding, asymmetric padding)
WINDOW_GEOMETRIES = {
    "3x3_pad1_8x8": dict(IN_H=8, IN_W=8, KH=3, KW=3, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "pool2x2_s2_6x6": dict(PIXEL_WIDTH=12, IN_H=6, IN_W=6, KH=2, KW=2, SH=2, SW=2),
    "pool2x2_s2_5x7_floor": dict(IN_H=5, IN_W=7, KH=2, KW=2, SH=2, SW=2),
    "3x3_s2_pad1_7x7": dict(PIXEL_WIDTH=5, IN_H=7, IN_W=7, KH=3, KW=3, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "3x3_dil2_pad2_7x6": dict(IN_H=7, IN_W=6, KH=3, KW=3, DH=2, DW=2, PAD_T=2, PAD_B=2, PAD_L=2, PAD_R=2),
    "conv1d_k3_pad1_w16": dict(PIXEL_WIDTH=16, IN_H=1, IN_W=16, KH=1, KW=3, PAD_L=1, PAD_R=1),
    "conv1d_k3_s2_dil2_w17": dict(IN_H=1, IN_W=17, KH=1, KW=3, SW=2, DW=2, PAD_L=2),
    "1x1_4x5": dict(PIXEL_WIDTH=3, IN_H=4, IN_W=5, KH=1, KW=1),
    "1x1_s2_pad1_5x5": dict(IN_H=5, IN_W=5, KH=1, KW=1, SH=2, SW=2, PAD_T=1, PAD_B=1, PAD_L=1, PAD_R=1),
    "5x5_pad2_5x6": dict(IN_H=5, IN_W=6, KH=5, KW=5, PAD_T=2, PAD_B=2, PAD_L=2, PAD_R=2),
    "3x2_asym_pad_6x5": dict(IN_H=6, IN_W=5, KH=3, KW=2, SH=1, SW=2, PAD_T=0, PAD_B=2, PAD_L=1, PAD_R=0),
    "2x2_s3_8x8": dict(PIXEL_WIDTH=1, IN_H=8, IN_W=8, KH=2, KW=2, SH=3, SW=3),
    "2x2_pad3_3x3": dict(IN_H=3, IN_W=3, KH=2, KW=2, PAD_T=3, PAD_B=3, PAD_L=3, PAD_R=3),
    "2x3_s3x1_pad_1x4": dict(IN_H=1, IN_W=4, KH=2, KW=3, SH=3, SW=1, PAD_T=1, PAD_B=2, PAD_R=1),
}


def _window_run(params: dict, simulator: str = "icarus", frames: int = 6, corrupt: str = "", **env) -> tuple:
    """Run the window_stream testcase; returns (passed, stats dict written by the bench)."""
    with tempfile.TemporaryDirectory(prefix="hwq-window-") as tmp:
        stats = Path(tmp) / "stats.json"
        ok, _, _ = run_bench(
            [_prim("hwq_window.v")],
            "hwq_window",
            BENCH,
            simulator,
            params,
            {
                "HWQ_PRIM_PARAMS": json.dumps(params),
                "HWQ_PRIM_FRAMES": str(frames),
                "HWQ_PRIM_STATS": str(stats),
                "HWQ_PRIM_CORRUPT": corrupt,
                **env,
            },
            testcase="window_stream",
        )
        return ok, json.loads(stats.read_text()) if stats.exists() else {}


def test_window_model_definition():
    """The bench's independent model on a hand-checked case: 3x3 frame, 2x2 window, pad 1 top/left, stride 2."""
    from hwq.sim.cocotb_primitives_bench import window_geometry, window_model

    g = window_geometry(dict(IN_H=3, IN_W=3, KH=2, KW=2, SH=2, SW=2, PAD_T=1, PAD_L=1))
    assert (g["HO"], g["WO"]) == (2, 2)
    frame = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert window_model(frame, g) == [
        ((0, 0, 0, 1), (1, 1, 1, 0)),
        ((0, 0, 2, 3), (1, 1, 0, 0)),
        ((0, 4, 0, 7), (1, 0, 1, 0)),
        ((5, 6, 8, 9), (0, 0, 0, 0)),
    ]


@pytest.mark.parametrize("name", sorted(WINDOW_GEOMETRIES))
def test_window_icarus(name):
    """hwq_window = the independent model on 6 random frames back to back, with gaps and back-pressure
    (taps and pad flags of every beat), and one cycle per padded position when neither."""
    need_icarus()
    params = WINDOW_GEOMETRIES[name]
    ok, stats = _window_run(params, HWQ_PRIM_SEED=str(len(name)))
    assert ok, f"hwq_window {name}: {stats}"
    assert stats["beats_compared"] == stats["expected_beats"] > 0


def _random_window_geometry(index: int) -> dict:
    """A random valid hwq_window geometry (fixed seed per index): any kernel, stride, dilation, padding."""
    from hwq.sim.cocotb_primitives_bench import window_geometry

    rng = random.Random(1000 + index)
    while True:
        p = dict(
            PIXEL_WIDTH=rng.choice([1, 4, 8]),
            IN_H=rng.choice([1, 2, 3, 5, 7]),
            IN_W=rng.randint(1, 9),
            KH=rng.randint(1, 4),
            KW=rng.randint(1, 4),
            SH=rng.randint(1, 4),
            SW=rng.randint(1, 4),
            DH=rng.randint(1, 3),
            DW=rng.randint(1, 3),
            PAD_T=rng.randint(0, 3),
            PAD_B=rng.randint(0, 3),
            PAD_L=rng.randint(0, 3),
            PAD_R=rng.randint(0, 3),
        )
        g = window_geometry(p)
        if g["HO"] >= 1 and g["WO"] >= 1:
            return p


@pytest.mark.parametrize("index", range(6))
def test_window_icarus_random_geometry(index):
    """hwq_window = the model on random geometries (a sweep of 320 such geometries passed during development)."""
    need_icarus()
    params = _random_window_geometry(index)
    ok, stats = _window_run(params, frames=4, HWQ_PRIM_SEED=str(index))
    assert ok, f"hwq_window {params}: {stats}"
    assert stats["beats_compared"] == stats["expected_beats"] > 0


def test_window_throughput_3x3_pad1_8x8():
    """Without gaps or back-pressure a 3x3 pad-1 window on an 8x8 frame takes 64 input beats per 100 cycles
    (one cycle per padded position, frames back to back)."""
    need_icarus()
    ok, stats = _window_run(WINDOW_GEOMETRIES["3x3_pad1_8x8"], frames=8, HWQ_PRIM_GAP="0", HWQ_PRIM_BACKPRESSURE="0")
    assert ok
    assert stats["free_frame_periods"] and set(stats["free_frame_periods"]) == {100}


@pytest.mark.parametrize("corrupt", ["data", "pad", "extra"])
def test_window_bench_fails_on_mismatch(corrupt):
    """The bench is able to fail: a model with one wrong tap value, one wrong pad flag, or one beat more
    than the hardware produces (a hung stream, ended by the cycle limit) fails the cocotb test."""
    need_icarus()
    ok, stats = _window_run(WINDOW_GEOMETRIES["3x3_s2_pad1_7x7"], frames=2, corrupt=corrupt)
    assert not ok
    assert stats["beats_compared"] == 2 * 16


@pytest.mark.slow
def test_window_verilator():
    need_verilator()
    ok, stats = _window_run(WINDOW_GEOMETRIES["3x3_dil2_pad2_7x6"], simulator="verilator", frames=4)
    assert ok and stats["beats_compared"] == stats["expected_beats"]


@pytest.mark.parametrize(
    "module, testcase", [("hwq_frame_collect", "frame_collect_stream"), ("hwq_frame_split", "frame_split_stream")]
)
@pytest.mark.parametrize("beats, width", [(1, 8), (3, 5), (16, 12)])
def test_frame_collect_split_icarus(module, testcase, beats, width):
    """Frame collect / split against the Python model under gaps and back-pressure, then no bubble."""
    need_icarus()
    params = {"BEAT_WIDTH": width, "BEATS": beats}
    with tempfile.TemporaryDirectory(prefix="hwq-frame-") as tmp:
        stats = Path(tmp) / "stats.json"
        ok, _, _ = run_bench(
            [_prim(f"{module}.v")],
            module,
            BENCH,
            "icarus",
            params,
            {"HWQ_PRIM_PARAMS": json.dumps(params), "HWQ_PRIM_FRAMES": "40", "HWQ_PRIM_STATS": str(stats)},
            testcase=testcase,
        )
        assert ok
        done = json.loads(stats.read_text())
    assert done["beats_compared"] == (40 if module == "hwq_frame_collect" else 40 * beats)


# (module, file, parameter sets) linted with verilator --lint-only -Wall
LINT_SETS = [
    ("hwq_skid_buffer", [{}, {"DATA_WIDTH": 1}]),
    ("hwq_frame_collect", [{}, {"BEATS": 1}, {"BEATS": 3, "BEAT_WIDTH": 1}, {"BEATS": 16, "BEAT_WIDTH": 12}]),
    ("hwq_frame_split", [{}, {"BEATS": 1}, {"BEATS": 3, "BEAT_WIDTH": 1}, {"BEATS": 16, "BEAT_WIDTH": 12}]),
    ("hwq_window", [{}, *WINDOW_GEOMETRIES.values()]),
]


@pytest.mark.parametrize("top, sets", LINT_SETS, ids=[t for t, _ in LINT_SETS])
def test_primitives_lint_clean(top, sets):
    """verilator --lint-only -Wall is silent for each primitive under several parameter sets."""
    need_verilator()
    from hwq.rtl.tools import verilator_bin, verilator_env

    for params in sets:
        p = subprocess.run(
            [
                verilator_bin(),
                "--lint-only",
                "-Wall",
                "--top-module",
                top,
                *[f"-G{k}={v}" for k, v in params.items()],
                str(_prim(f"{top}.v")),
            ],
            env=verilator_env(),
            capture_output=True,
            text=True,
        )
        assert p.returncode == 0 and "%" not in p.stdout + p.stderr, f"{top} {params}:\n{p.stderr}"


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(IN_H=2, IN_W=8, KH=3, KW=3), "does not fit"),
        (dict(IN_H=4, IN_W=4, KH=3, KW=3, DW=2), "does not fit"),
        (dict(SH=0), "must be >= 1"),
    ],
)
def test_window_rejects_impossible_parameters(params, message):
    """An impossible geometry stops the simulation at time 0 with an error naming hwq_window."""
    need_icarus()
    with tempfile.TemporaryDirectory(prefix="hwq-window-bad-") as tmp:
        out = Path(tmp) / "a.vvp"
        p = subprocess.run(
            [
                "iverilog",
                "-g2005",
                "-o",
                str(out),
                *[f"-Phwq_window.{k}={v}" for k, v in params.items()],
                str(_prim("hwq_window.v")),
            ],
            capture_output=True,
            text=True,
        )
        assert p.returncode == 0, p.stderr
        r = subprocess.run(["vvp", "-n", str(out)], capture_output=True, text=True, timeout=60)
    assert "Error: hwq_window" in r.stdout and message in r.stdout, r.stdout


@pytest.mark.parametrize("top, sets", LINT_SETS, ids=[t for t, _ in LINT_SETS])
def test_primitives_verilog_2005(top, sets):
    """Each primitive elaborates as plain Verilog-2005 in Icarus (-g2005) and in yosys (proc), per parameter set."""
    need_icarus()
    need_yosys()
    src = str(_prim(f"{top}.v"))
    with tempfile.TemporaryDirectory(prefix="hwq-prim-v2005-") as tmp:
        for params in sets[:4]:
            p = subprocess.run(
                [
                    "iverilog",
                    "-g2005",
                    "-o",
                    str(Path(tmp) / "a.vvp"),
                    *[f"-P{top}.{k}={v}" for k, v in params.items()],
                    src,
                ],
                capture_output=True,
                text=True,
            )
            assert p.returncode == 0 and not p.stderr.strip(), f"iverilog {top} {params}:\n{p.stderr}"
            chparam = f"chparam {' '.join(f'-set {k} {v}' for k, v in params.items())} {top}; " if params else ""
            script = f"read_verilog -defer {src}; {chparam}hierarchy -check -top {top}; proc; check -assert"
            y = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True, timeout=120)
            assert y.returncode == 0, f"yosys {top} {params}:\n{y.stderr}{y.stdout}"
