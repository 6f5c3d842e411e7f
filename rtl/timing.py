"""Exact latency of an emitted chain of layers: a cycle-accurate model of the top's handshakes.

``stream_timing`` runs, cycle by cycle, the valid/ready control of every block the top module of a chain of
layers (``emit._print_top``) instantiates, exactly as their Verilog computes it, without any data:

- ``hwq_skid_buffer`` (output and skid entries), a layer's datapath (``layer.print_layer``: one valid flag
  per register stage, all advancing on ``ce = !m_axis_tvalid || m_axis_tready``, ``latency(levels,
  pipeline)`` stages), ``hwq_frame_collect`` / ``hwq_frame_split`` (beat counters);
- the three line buffers: ``hwq_window`` (walks the padded frame: position counters, next emitting
  row/column), ``hwq_window_pad`` and ``hwq_window_hold`` (position, tail count of the next frame's pixels,
  next emission position, output row/column; hold cycles), with their constants as the primitives' headers
  define them (``E_FIRST``, ``E_LAST``, ``P_END``, ``BIAS``, ...).

The stimulus is the one the co-simulation bench (``rtl/bench.py``) applies without gaps or back-pressure:
an input beat offered every cycle from the cycle after reset, frames back to back, ``m_axis_tready`` always
high. A frame's latency is the cycles from the handshake of its first input beat to that of its last
output beat: the bench's ``latency_cycles`` (minimum over vectors) and ``latency_max_cycles`` (maximum).
The line buffers' fill, their tails, hold cycles and the back-pressure that a walking window, a hold
window or a frame split puts on the blocks in front of it are therefore all counted; the figures are
data-independent (no block's control reads data).

Units: clock cycles. Cost: one step of every block per cycle, a few microseconds per block-cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .stream import Window

#: frames simulated at least without a given count: the first frame into the idle design, the frames that
#: meet its tail, and the steady state
DEFAULT_FRAMES = 4


@dataclass(frozen=True)
class StreamTiming:
    """Latency figures of a design without gaps or back-pressure, frames back to back (clock cycles).

    ``latency``: minimum over the frames of (last output beat - first input beat); ``latency_max``: their
    maximum; ``latencies``: per frame; ``cycles_per_frame``: cycles between the last output beats of the
    last two frames (the steady-state initiation interval; None with one frame); ``ends``: per frame, the
    cycle of its last output beat (cycle 0: the first after reset, where the first input beat is offered)."""

    latency: int
    latency_max: int
    latencies: tuple[int, ...]
    cycles_per_frame: int | None
    ends: tuple[int, ...] = ()


class _Skid:
    """hwq_skid_buffer: output entry and skid entry."""

    def __init__(self) -> None:
        self.ov = self.sv = False

    def valid(self) -> bool:
        return self.ov

    def ready(self, m_ready: bool) -> bool:
        return not self.sv

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        if not self.ov or m_ready:
            if self.sv:
                self.ov, self.sv = True, False
            else:
                self.ov = s_valid
        elif s_valid and not self.sv:
            self.sv = True


class _Pipe:
    """A layer datapath: ``stages`` register stages (valid flags) advancing together on ce."""

    def __init__(self, stages: int) -> None:
        self.v = [False] * max(1, stages)

    def valid(self) -> bool:
        return self.v[-1]

    def ready(self, m_ready: bool) -> bool:
        return not self.v[-1] or m_ready

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        if not self.v[-1] or m_ready:
            self.v = [s_valid] + self.v[:-1]


class _Collect:
    """hwq_frame_collect: BEATS input beats -> one output beat."""

    def __init__(self, beats: int) -> None:
        self.last, self.valid_reg, self.count = beats - 1, False, 0

    def valid(self) -> bool:
        return self.valid_reg

    def ready(self, m_ready: bool) -> bool:
        return not self.valid_reg or m_ready

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        fire = s_valid and (not self.valid_reg or m_ready)
        self.valid_reg = self.valid_reg and not m_ready
        if fire:
            if self.count == self.last:
                self.count, self.valid_reg = 0, True
            else:
                self.count += 1


class _Split:
    """hwq_frame_split: one input beat -> BEATS output beats."""

    def __init__(self, beats: int) -> None:
        self.last, self.valid_reg, self.count = beats - 1, False, 0

    def valid(self) -> bool:
        return self.valid_reg

    def ready(self, m_ready: bool) -> bool:
        return not self.valid_reg or (m_ready and self.count == self.last)

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        s_fire = s_valid and self.ready(m_ready)
        if self.valid_reg and m_ready:
            if self.count == self.last:
                self.count, self.valid_reg = 0, False
            else:
                self.count += 1
        if s_fire:
            self.count, self.valid_reg = 0, True


class _Walk:
    """hwq_window: walks the padded frame, one position per step."""

    def __init__(self, w: Window) -> None:
        ho, wo = w.out_h, w.out_w
        ext_h, ext_w = w.dh * (w.kh - 1) + 1, w.dw * (w.kw - 1) + 1
        self.sh, self.sw = w.sh, w.sw
        self.first_y, self.last_y = ext_h - 1, ext_h - 1 + (ho - 1) * w.sh
        self.first_x, self.last_x = ext_w - 1, ext_w - 1 + (wo - 1) * w.sw
        self.last_row, self.last_col = w.in_h + w.pad_t + w.pad_b - 1, w.in_w + w.pad_l + w.pad_r - 1
        self.y_in = range(w.pad_t, w.pad_t + w.in_h)
        self.x_in = range(w.pad_l, w.pad_l + w.in_w)
        self.y = self.x = 0
        self.ty, self.tx = self.first_y, self.first_x
        self.yd = self.xd = self.ov = False

    def valid(self) -> bool:
        return self.ov

    def _real(self) -> bool:
        return self.y in self.y_in and self.x in self.x_in

    def _emit(self) -> bool:
        return self.y == self.ty and not self.yd and self.x == self.tx and not self.xd

    def ready(self, m_ready: bool) -> bool:
        return self._real() and (not self._emit() or not self.ov or m_ready)

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        emit = self._emit()
        step = (not emit or not self.ov or m_ready) and (not self._real() or s_valid)
        ov = self.ov and not m_ready
        if step:
            ov = ov or emit
            y, x, ty, tx, yd, xd = self.y, self.x, self.ty, self.tx, self.yd, self.xd
            if x == tx and not xd:
                if tx == self.last_x:
                    self.xd = True
                else:
                    self.tx = tx + self.sw
            if x == self.last_col:
                self.x, self.tx, self.xd = 0, self.first_x, False
                if y == ty and not yd:
                    if ty == self.last_y:
                        self.yd = True
                    else:
                        self.ty = ty + self.sh
                if y == self.last_row:
                    self.y, self.ty, self.yd = 0, self.first_y, False
                else:
                    self.y = y + 1
            else:
                self.x = x + 1
        self.ov = ov


class _Masked:
    """hwq_window_pad (``hold`` False) and hwq_window_hold (``hold`` True): padding masked, real pixels
    only; positions counted plus BIAS (hold: outputs before position 0 are emitted at position 0)."""

    def __init__(self, w: Window, hold: bool) -> None:
        ho, wo = w.out_h, w.out_w
        frame = w.in_h * w.in_w
        e_first = ((w.kh - 1) * w.dh - w.pad_t) * w.in_w + (w.kw - 1) * w.dw - w.pad_l
        e_last = e_first + (ho - 1) * w.sh * w.in_w + (wo - 1) * w.sw
        e_row = w.sh * w.in_w - (wo - 1) * w.sw
        bias = -e_first if hold and e_first < 0 else 0
        e0 = max(e_first, 0)
        p_end = max(e_last, frame - 1)
        self.tail_steps = p_end - (frame - 1)
        self.hold = hold
        self.bias, self.e0 = bias, e0
        self.e_first_c, self.e_row_c = e_first + bias, max(e_row, 0)
        self.sw, self.sh = w.sw, w.sh
        self.p_end_c, self.frame_m1_c = p_end + bias, frame - 1 + bias
        self.take_after_c = p_end - e0 + bias
        self.last_ry, self.last_cx = (ho - 1) * w.sh, (wo - 1) * w.sw
        self.p, self.q, self.e = bias, 0, self.e_first_c
        self.ed = self.ov = False
        self.ry = self.cx = 0

    def valid(self) -> bool:
        return self.ov

    def _tail(self) -> bool:
        return self.tail_steps > 0 and self.p > self.frame_m1_c

    def _take_ok(self, tail: bool) -> bool:
        if not self.hold or self.tail_steps <= 0 or self.tail_steps <= self.e0:
            return True
        if self.e0 == 0:
            return not tail
        return not tail or self.p > self.take_after_c

    def _last_out(self) -> bool:
        return self.cx == self.last_cx and self.ry == self.last_ry

    def _e_adv(self) -> int:
        return self.e + (self.e_row_c if self.cx == self.last_cx else self.sw)

    def _emit(self) -> bool:
        if self.hold:
            return not self.ed and self.e <= self.p
        return self.p == self.e and not self.ed

    def _holding(self, emit: bool) -> bool:
        return self.hold and emit and not self._last_out() and self._e_adv() <= self.p

    def ready(self, m_ready: bool) -> bool:
        emit = self._emit()
        go = not emit or not self.ov or m_ready
        if not self.hold:
            return go
        return go and not self._holding(emit) and self._take_ok(self._tail())

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        tail = self._tail()
        emit = self._emit()
        go = not emit or not self.ov or m_ready
        offered = s_valid and self._take_ok(tail)
        fire = go and (offered or (tail and self.q == 0))
        step = fire and not self._holding(emit)
        take = (step and offered) if self.hold else (go and s_valid)
        ov = self.ov and not m_ready
        p, q, e, ed, ry, cx = self.p, self.q, self.e, self.ed, self.ry, self.cx
        if fire and emit:  # (hwq_window_pad: fire = step)
            ov = True
            if self.hold:
                if self._last_out():
                    ed = True
                else:
                    e = self._e_adv()
                    if cx == self.last_cx:
                        cx, ry = 0, ry + self.sh
                    else:
                        cx = cx + self.sw
            elif cx == self.last_cx:
                cx = 0
                if ry == self.last_ry:
                    ed = True
                else:
                    ry, e = ry + self.sh, e + self.e_row_c
            else:
                cx, e = cx + self.sw, e + self.sw
        if step:
            if self.p == self.p_end_c:
                p = self.bias + (self.q + int(take) if tail else 0)
                q, e, ed, ry, cx = 0, self.e_first_c, False, 0, 0
            else:
                p = self.p + 1
                if tail and take:
                    q = self.q + 1
        self.p, self.q, self.e, self.ed, self.ry, self.cx, self.ov = p, q, e, ed, ry, cx, ov


@dataclass(frozen=True)
class ChainLayer:
    """One layer of a chain as the top instantiates it: ``style`` ("stream" or "parallel"), ``latency``
    (cycles of its datapath, ``layer.latency(levels, pipeline)``) and, when streamed, its line buffer's
    ``window``."""

    style: str
    latency: int
    window: Window | None = None


def _blocks(layers: list[ChainLayer]) -> list:
    """The blocks of ``emit._print_top`` in stream order (split, skid, collect, window, datapath)."""
    out: list = []
    for k, lay in enumerate(layers):
        if k > 0:
            before = layers[k - 1]
            if before.style != "stream" and lay.style == "stream":
                out.append(_Split(lay.window.in_h * lay.window.in_w))
            out.append(_Skid())
            if before.style == "stream" and lay.style != "stream":
                out.append(_Collect(before.window.out_h * before.window.out_w))
        if lay.style == "stream":
            prim = lay.window.primitive
            out.append(_Walk(lay.window) if prim == "hwq_window" else _Masked(lay.window, prim == "hwq_window_hold"))
        out.append(_Pipe(lay.latency))
    return out


def _capacity(blocks: list) -> int:
    """Beats the blocks can hold at most (registers with a valid flag)."""
    return sum(len(b.v) if isinstance(b, _Pipe) else 2 if isinstance(b, _Skid) else 1 for b in blocks)


def stream_timing(layers: list[ChainLayer], frames: int | None = None) -> StreamTiming:
    """Latency figures (clock cycles, ``StreamTiming``) of a chain of layers joined as ``emit._print_top``
    joins them, simulated cycle by cycle (``_simulate``); results are kept in memory per (chain, frames)
    (the figures depend on the geometry and the layers' latencies only, not on weights)."""
    return _cached(tuple(layers), frames)


@lru_cache(maxsize=256)
def _cached(layers: tuple[ChainLayer, ...], frames: int | None) -> StreamTiming:
    return _simulate(list(layers), frames)


def _simulate(layers: list[ChainLayer], frames: int | None = None) -> StreamTiming:
    """Latency figures (clock cycles, ``StreamTiming``) of a chain of layers joined as ``emit._print_top``
    joins them, simulated cycle by cycle on input vectors offered back to back, one beat per cycle, with
    the output always ready (the co-simulation bench's stimulus without gaps or back-pressure).

    ``frames``: the number of vectors (the bench's vector count: its ``latency_cycles`` and
    ``latency_max_cycles`` are then this function's ``latency`` and ``latency_max``); None: until the
    steady state (the last three frames with equal latencies and intervals, at least ``DEFAULT_FRAMES``),
    i.e. the figures of an unbounded stream of vectors (the latency grows frame by frame while the blocks
    in front of a slower one fill). Input beats per vector: the first layer's input pixels when it is
    streamed, else 1; output beats: the last layer's output pixels when streamed, else 1. Raises
    ValueError for an empty chain, ``frames`` < 1, a streamed layer without a window, or a design that
    stops moving (a modelling error)."""
    if not layers or (frames is not None and frames < 1):
        raise ValueError(f"stream timing: need at least one layer and one frame (got {len(layers)}, {frames})")
    if any(lay.style == "stream" and lay.window is None for lay in layers):
        raise ValueError("stream timing: a streamed layer needs its window geometry")
    blocks = _blocks(layers)
    first, last = layers[0], layers[-1]
    in_beats = first.window.in_h * first.window.in_w if first.style == "stream" else 1
    out_beats = last.window.out_h * last.window.out_w if last.style == "stream" else 1
    cap = frames if frames is not None else DEFAULT_FRAMES + 3 + _capacity(blocks)
    total_in = cap * in_beats
    n_in = n_out = idle = cycle = 0
    first_in: list[int] = []
    done: list[int] = []
    n = len(blocks)
    limit = 64 + 4 * _capacity(blocks) + 4 * (in_beats + out_beats)
    while len(done) < cap:
        s_valid = n_in < total_in
        valids = [s_valid] + [b.valid() for b in blocks]
        readies = [True] * (n + 1)
        for i in range(n - 1, -1, -1):
            readies[i] = blocks[i].ready(readies[i + 1])
        moved = False
        if valids[n]:
            n_out += 1
            moved = True
            if n_out % out_beats == 0:
                done.append(cycle)
                if frames is None and _steady(done, first_in):
                    break
        if s_valid and readies[0]:
            if n_in % in_beats == 0:
                first_in.append(cycle)
            n_in += 1
            moved = True
        for i, b in enumerate(blocks):
            b.tick(valids[i], readies[i + 1])
        cycle += 1
        idle = 0 if moved else idle + 1
        if idle > limit:
            raise ValueError(f"stream timing: no beat moved for {idle} cycles (frame {len(done)})")
    lat = tuple(d - f for d, f in zip(done, first_in))
    cpf = done[-1] - done[-2] if len(done) > 1 else None
    return StreamTiming(min(lat), max(lat), lat, cpf, tuple(done))


def _steady(done: list[int], first_in: list[int]) -> bool:
    """True when at least DEFAULT_FRAMES frames are out and the last three have equal latencies and the last
    three intervals between frames are equal."""
    if len(done) < max(DEFAULT_FRAMES, 4):
        return False
    lat = [d - f for d, f in zip(done[-3:], first_in[len(done) - 3 : len(done)])]
    gaps = [b - a for a, b in zip(done[-4:], done[-3:])]
    return len(set(lat)) == 1 and len(set(gaps)) == 1
