"""cocotb 2.x test benches for the Verilog primitives in rtl/primitives (run by tests/rtl/test_primitives.py).

Each test drives random valid/ready (or clock-enable) patterns, models the primitive in Python, and
ends asserting zero errors and an empty expected queue. The toplevel is the primitive itself.

Settings come from the environment: ``HWQ_PRIM_PARAMS`` (JSON: the HDL parameters of the build),
``HWQ_PRIM_SEED``, ``HWQ_PRIM_FRAMES``, ``HWQ_PRIM_GAP`` / ``HWQ_PRIM_BACKPRESSURE`` (probabilities of an
idle input cycle / of m_axis_tready low), ``HWQ_PRIM_STATS`` (a JSON file the bench writes its figures to)
and ``HWQ_PRIM_CORRUPT`` (``data``, ``pad`` or ``extra``: deliberately wrong model, to prove the bench fails).
"""

from __future__ import annotations

import json
import os
import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer


def _uint(value) -> int:
    """Unsigned integer of a Logic/LogicArray value (raises on X/Z)."""
    return int(str(value), 2)


async def _reset(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


@cocotb.test()
async def skid_buffer_stream(dut):
    """hwq_skid_buffer: every beat arrives once, in order, under random gaps and back-pressure; ready is a
    register (never depends on m_axis_tready in the same cycle); full throughput without back-pressure."""
    width = int(os.environ.get("HWQ_PRIM_WIDTH", "8"))
    rng = random.Random(int(os.environ.get("HWQ_PRIM_SEED", "1")))
    n = int(os.environ.get("HWQ_PRIM_BEATS", "2000"))
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    await _reset(dut)
    beats = [rng.getrandbits(width) for _ in range(n)]
    expected: deque = deque()
    errors: list[str] = []
    got = 0
    sent = 0
    valid = False
    cycle = 0
    phase_free = n // 2  # second half: no gaps, no back-pressure
    fired_free = []
    while got < n and cycle < 20 * n:
        free = sent >= phase_free
        if not valid and sent < n and (free or rng.random() < 0.6):
            valid = True
            dut.s_axis_tdata.value = beats[sent]
        dut.s_axis_tvalid.value = int(valid)
        ready = free or rng.random() < 0.5
        dut.m_axis_tready.value = int(ready)
        await FallingEdge(dut.clk)
        ready_before = bool(dut.s_axis_tready.value)
        # flip m_axis_tready: a registered s_axis_tready must not follow it within the cycle
        dut.m_axis_tready.value = int(not ready)
        await Timer(1, unit="ns")
        if bool(dut.s_axis_tready.value) != ready_before:
            errors.append(f"cycle {cycle}: s_axis_tready follows m_axis_tready combinationally")
        dut.m_axis_tready.value = int(ready)
        await Timer(1, unit="ns")
        s_fire = valid and ready_before
        m_fire = ready and bool(dut.m_axis_tvalid.value)
        if m_fire:
            data = _uint(dut.m_axis_tdata.value)
            if not expected:
                errors.append(f"cycle {cycle}: output {data} with nothing pending")
            else:
                e = expected.popleft()
                if e != data and len(errors) < 10:
                    errors.append(f"beat {got}: expected {e}, got {data}")
            got += 1
            if free:
                fired_free.append(cycle)
        if s_fire:
            expected.append(beats[sent])
            sent += 1
            valid = False
        await RisingEdge(dut.clk)
        cycle += 1
    assert got == n, f"only {got} of {n} beats came out"
    assert not errors, "\n".join(errors)
    assert not expected
    # without gaps or back-pressure one beat per cycle flows (after the pipeline refills)
    tail = fired_free[5:]
    assert tail and tail[-1] - tail[0] == len(tail) - 1, "skid buffer lost throughput with no back-pressure"


# ---------------------------------------------------------------------------------------------------------
# stream primitives with one input and one output stream (window, frame collect, frame split)


def _params() -> dict:
    return json.loads(os.environ.get("HWQ_PRIM_PARAMS", "{}"))


def _write_stats(stats: dict) -> None:
    path = os.environ.get("HWQ_PRIM_STATS")
    if path:
        with open(path, "w") as f:
            json.dump(stats, f, indent=1, sort_keys=True)


async def _run_stream(dut, beats: list[int], read_out, n_out: int, free_from: int, tail_cycles: int = 8) -> dict:
    """Drive ``beats`` into s_axis_* and collect ``n_out`` output beats (``read_out(dut)`` reads one).

    Inputs before index ``free_from`` see random idle cycles (HWQ_PRIM_GAP) and m_axis_tready low with
    probability HWQ_PRIM_BACKPRESSURE; from ``free_from`` on neither. Checks the output side of the
    handshake (m_axis_tvalid never drops and the data never changes while the beat waits for ready).
    Returns outputs, the cycles of every input and output transfer, protocol errors and the cycle count;
    stops after a generous cycle limit (a hung handshake) so that the caller's count check fails. Then
    runs ``tail_cycles`` cycles without input and returns what came out in them as ``tail``.
    """
    rng = random.Random(int(os.environ.get("HWQ_PRIM_SEED", "1")))
    gap = float(os.environ.get("HWQ_PRIM_GAP", "0.3"))
    bp = float(os.environ.get("HWQ_PRIM_BACKPRESSURE", "0.3"))
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    await _reset(dut)
    limit = 40 * (len(beats) + n_out) + 2000
    outputs: list = []
    in_cycles: list[int] = []
    out_cycles: list[int] = []
    errors: list[str] = []
    sent = 0
    valid = False
    waiting = None  # output beat seen valid but not taken last cycle
    cycle = 0
    while (len(outputs) < n_out or sent < len(beats)) and cycle < limit:
        free = sent >= free_from
        if not valid and sent < len(beats) and (free or rng.random() >= gap):
            valid = True
            dut.s_axis_tdata.value = beats[sent]
        dut.s_axis_tvalid.value = int(valid)
        ready = free or rng.random() >= bp
        dut.m_axis_tready.value = int(ready)
        await FallingEdge(dut.clk)
        m_valid = bool(dut.m_axis_tvalid.value)
        out = read_out(dut) if m_valid else None
        if waiting is not None and out != waiting and len(errors) < 10:
            errors.append(f"cycle {cycle}: output beat {len(outputs)} changed or dropped while stalled")
        waiting = out if (m_valid and not ready) else None
        if m_valid and ready:
            outputs.append(out)
            out_cycles.append(cycle)
        if valid and bool(dut.s_axis_tready.value):
            in_cycles.append(cycle)
            sent += 1
            valid = False
        await RisingEdge(dut.clk)
        cycle += 1
    # idle cycles without input: whatever comes out now is reported apart (the caller says what may)
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 1
    tail = []
    for _ in range(tail_cycles):
        await FallingEdge(dut.clk)
        if bool(dut.m_axis_tvalid.value):
            tail.append(read_out(dut))
        await RisingEdge(dut.clk)
    return {
        "outputs": outputs,
        "tail": tail,
        "in_cycles": in_cycles,
        "out_cycles": out_cycles,
        "errors": errors,
        "cycles": cycle,
    }


def _corrupt(expected: list, unpack) -> list:
    """Apply HWQ_PRIM_CORRUPT to a model's expected beats (a deliberately wrong model)."""
    mode = os.environ.get("HWQ_PRIM_CORRUPT", "")
    if mode == "data":
        expected[0] = unpack(expected[0], "data")
    elif mode == "pad":
        expected[-1] = unpack(expected[-1], "pad")
    elif mode == "extra":
        expected.append(expected[-1])
    elif mode:
        raise ValueError(f"HWQ_PRIM_CORRUPT={mode!r}: use data, pad or extra")
    return expected


def _compare(outputs: list, expected: list, describe) -> list[str]:
    """Mismatch reports (first 10) naming the beat and both values, and a count mismatch."""
    errors = []
    for k, (e, g) in enumerate(zip(expected, outputs)):
        if e != g:
            errors.append(f"beat {k}: {describe(k, e, g)}")
            if len(errors) >= 10:
                break
    if len(outputs) != len(expected):
        errors.append(f"{len(outputs)} output beats, expected {len(expected)}")
    return errors


def window_geometry(p: dict) -> dict:
    """hwq_window parameters with the module's defaults filled in, plus HP, WP, HO, WO (floor division)."""
    g = {"PIXEL_WIDTH": 8, "IN_H": 4, "IN_W": 4, "KH": 3, "KW": 3, "SH": 1, "SW": 1, "DH": 1, "DW": 1}
    g.update({k: 0 for k in ("PAD_T", "PAD_B", "PAD_L", "PAD_R")})
    g.update(p)
    g["HP"] = g["IN_H"] + g["PAD_T"] + g["PAD_B"]
    g["WP"] = g["IN_W"] + g["PAD_L"] + g["PAD_R"]
    g["HO"] = (g["HP"] - g["DH"] * (g["KH"] - 1) - 1) // g["SH"] + 1
    g["WO"] = (g["WP"] - g["DW"] * (g["KW"] - 1) - 1) // g["SW"] + 1
    return g


def window_model(frame: list[list[int]], g: dict) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Independent model of hwq_window: for each output pixel (i, j) in row-major order, the taps
    (a, b) in order a*KW + b, each the input pixel (i*SH + a*DH - PAD_T, j*SW + b*DW - PAD_L) or 0 with
    pad flag 1 when outside the frame. Returns [(tap values, pad flags)] per output beat."""
    beats = []
    for i in range(g["HO"]):
        for j in range(g["WO"]):
            data, pad = [], []
            for a in range(g["KH"]):
                for b in range(g["KW"]):
                    y = i * g["SH"] + a * g["DH"] - g["PAD_T"]
                    x = j * g["SW"] + b * g["DW"] - g["PAD_L"]
                    inside = 0 <= y < g["IN_H"] and 0 <= x < g["IN_W"]
                    data.append(frame[y][x] if inside else 0)
                    pad.append(0 if inside else 1)
            beats.append((tuple(data), tuple(pad)))
    return beats


def _window_position(k: int, g: dict) -> int:
    """Row-major index, in the padded frame, of the bottom-right tap of output pixel k (row-major)."""
    i, j = divmod(k, g["WO"])
    y = i * g["SH"] + (g["KH"] - 1) * g["DH"]
    x = j * g["SW"] + (g["KW"] - 1) * g["DW"]
    return y * g["WP"] + x


@cocotb.test()
async def window_stream(dut):
    """hwq_window: every output beat (all taps and pad flags) equals the model over HWQ_PRIM_FRAMES random
    frames sent back to back, under random input gaps and output back-pressure (first half) and without
    either (second half, where each frame must take exactly one cycle per padded position)."""
    g = window_geometry(_params())
    rng = random.Random(int(os.environ.get("HWQ_PRIM_SEED", "1")) + 7)
    n_frames = int(os.environ.get("HWQ_PRIM_FRAMES", "6"))
    pw, taps = g["PIXEL_WIDTH"], g["KH"] * g["KW"]
    frames = [[[rng.getrandbits(pw) for _ in range(g["IN_W"])] for _ in range(g["IN_H"])] for _ in range(n_frames)]
    expected = [beat for f in frames for beat in window_model(f, g)]

    def flip(beat, what):
        data, pad = beat
        if what == "data":
            return ((data[0] ^ 1, *data[1:]), pad)
        return (data, (pad[0] ^ 1, *pad[1:]))

    expected = _corrupt(expected, flip)

    def read_out(dut):
        word, flags = _uint(dut.m_axis_tdata.value), _uint(dut.m_axis_tpad.value)
        mask = (1 << pw) - 1
        return (
            tuple((word >> (t * pw)) & mask for t in range(taps)),
            tuple((flags >> t) & 1 for t in range(taps)),
        )

    def describe(k, e, got):
        frame, pix = divmod(k, g["HO"] * g["WO"])
        i, j = divmod(pix, g["WO"])
        return f"frame {frame} output pixel ({i}, {j}): expected taps {e[0]} pad {e[1]}, got taps {got[0]} pad {got[1]}"

    beats = [v for f in frames for row in f for v in row]
    per_frame = g["IN_H"] * g["IN_W"]
    free_frame = n_frames // 2
    # after the last frame the block may walk the top padding of the next frame: the output pixels whose
    # bottom-right tap comes before the first real position (all padding) may come out, nothing else
    first_real = g["PAD_T"] * g["WP"] + g["PAD_L"]
    zero = [[0] * g["IN_W"] for _ in range(g["IN_H"])]
    may_follow = [b for k, b in enumerate(window_model(zero, g)) if _window_position(k, g) < first_real]
    r = await _run_stream(dut, beats, read_out, len(expected), free_frame * per_frame, g["HP"] * g["WP"] + 8)
    errors = r["errors"] + _compare(r["outputs"], expected, describe)
    if r["tail"] != may_follow:
        errors.append(f"after the last frame: {r['tail']}, expected the next frame's leading padding {may_follow}")
    # frame period in the free phase: cycles between the first input beats of consecutive frames
    starts = [r["in_cycles"][f * per_frame] for f in range(free_frame, n_frames) if f * per_frame < len(r["in_cycles"])]
    periods = [b - a for a, b in zip(starts, starts[1:])]
    _write_stats(
        {
            "beats_compared": min(len(r["outputs"]), len(expected)),
            "expected_beats": len(expected),
            "input_beats": len(beats),
            "cycles": r["cycles"],
            "free_frame_periods": periods,
            "padded_positions": g["HP"] * g["WP"],
            "errors": errors,
        }
    )
    assert not errors, "\n".join(errors)
    assert periods and all(p == g["HP"] * g["WP"] for p in periods), (
        f"frame periods {periods} without gaps or back-pressure; expected {g['HP'] * g['WP']} cycles "
        "(one per padded position)"
    )


@cocotb.test()
async def frame_collect_stream(dut):
    """hwq_frame_collect: BEATS beats come out as one wide beat (beat k at bits k*BEAT_WIDTH), under random
    gaps and back-pressure, then one input beat per cycle without either (no bubble between frames)."""
    p = _params()
    width, n = int(p.get("BEAT_WIDTH", 8)), int(p.get("BEATS", 4))
    rng = random.Random(int(os.environ.get("HWQ_PRIM_SEED", "1")) + 11)
    n_frames = int(os.environ.get("HWQ_PRIM_FRAMES", "40"))
    beats = [rng.getrandbits(width) for _ in range(n * n_frames)]
    expected = [sum(beats[f * n + k] << (k * width) for k in range(n)) for f in range(n_frames)]
    expected = _corrupt(expected, lambda v, what: v ^ (1 if what == "data" else 1 << (n * width - 1)))
    free_from = (n_frames // 2) * n
    r = await _run_stream(dut, beats, lambda d: _uint(d.m_axis_tdata.value), len(expected), free_from)
    errors = r["errors"] + _compare(r["outputs"], expected, lambda k, e, g: f"expected {e:#x}, got {g:#x}")
    errors += [f"output {v:#x} after the last frame" for v in r["tail"]]
    free_cycles = r["in_cycles"][free_from:]
    _write_stats({"beats_compared": min(len(r["outputs"]), len(expected)), "cycles": r["cycles"], "errors": errors})
    assert not errors, "\n".join(errors)
    assert free_cycles[-1] - free_cycles[0] == len(free_cycles) - 1, "hwq_frame_collect: bubble without back-pressure"


@cocotb.test()
async def frame_split_stream(dut):
    """hwq_frame_split: each wide beat comes out as BEATS beats, beat 0 (bits [0 +: BEAT_WIDTH]) first, under
    random gaps and back-pressure, then one output beat per cycle without either (no bubble between frames)."""
    p = _params()
    width, n = int(p.get("BEAT_WIDTH", 8)), int(p.get("BEATS", 4))
    rng = random.Random(int(os.environ.get("HWQ_PRIM_SEED", "1")) + 13)
    n_frames = int(os.environ.get("HWQ_PRIM_FRAMES", "40"))
    words = [rng.getrandbits(width * n) for _ in range(n_frames)]
    mask = (1 << width) - 1
    expected = [(w >> (k * width)) & mask for w in words for k in range(n)]
    expected = _corrupt(expected, lambda v, what: v ^ (1 if what == "data" else 1 << (width - 1)))
    free_from = n_frames // 2
    r = await _run_stream(dut, words, lambda d: _uint(d.m_axis_tdata.value), len(expected), free_from)
    errors = r["errors"] + _compare(r["outputs"], expected, lambda k, e, g: f"expected {e:#x}, got {g:#x}")
    errors += [f"output {v:#x} after the last frame" for v in r["tail"]]
    free_out = r["out_cycles"][free_from * n + 1 :]
    _write_stats({"beats_compared": min(len(r["outputs"]), len(expected)), "cycles": r["cycles"], "errors": errors})
    assert not errors, "\n".join(errors)
    assert free_out[-1] - free_out[0] == len(free_out) - 1, "hwq_frame_split: bubble without back-pressure"
