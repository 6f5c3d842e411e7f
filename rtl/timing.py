"""Exact latency of an emitted design: a cycle-accurate model of the top module's handshakes.

``stream_timing`` (a chain of layers, ``emit._print_top``) and ``dag_timing`` (a layer DAG,
``branch.print_dag_top``) run, cycle by cycle, the valid/ready control of every block the top instantiates,
exactly as their Verilog computes it, without any data (``run``: valid flags forward, ready flags backward,
then the registers):

- ``hwq_skid_buffer`` (output and skid entries), a layer's datapath (``layer.print_layer``: one valid flag
  per register stage, all advancing on ``ce = !m_axis_tvalid || m_axis_tready``, ``latency(levels,
  pipeline)`` stages), ``hwq_frame_collect`` / ``hwq_frame_split`` (beat counters);
- the three line buffers: ``hwq_window`` (walks the padded frame: position counters, next emitting
  row/column), ``hwq_window_pad`` and ``hwq_window_hold`` (position, tail count of the next frame's pixels,
  next emission position, output row/column; hold cycles), with their constants as the primitives' headers
  define them (``E_FIRST``, ``E_LAST``, ``P_END``, ``BIAS``, ...);
- in a DAG: ``hwq_fork`` (a taken flag per output), ``hwq_fifo`` (occupancy count; the depths of
  ``branch.fifo_depths``) and the joins (combinational: valid when every input is).

The stimulus is the one the co-simulation bench (``rtl/bench.py``) applies without gaps or back-pressure:
an input beat offered every cycle from the cycle after reset, frames back to back, ``m_axis_tready`` always
high. A frame's latency is the cycles from the handshake of its first input beat to that of its last
output beat: the bench's ``latency_cycles`` (minimum over vectors) and ``latency_max_cycles`` (maximum).
The line buffers' fill, their tails, hold cycles and the back-pressure that a walking window, a hold
window or a frame split puts on the blocks in front of it are therefore all counted; the figures are
data-independent (no block's control reads data).

Checked against the Icarus co-simulation (``tests/rtl/test_latency_stream.py``): equal as integers on
every design tried (named designs of every block kind, random chains of random geometries).

Units: clock cycles. Cost: one step of every block per cycle, a few microseconds per block-cycle (a
50-layer streamed CNN of 8x8 frames: 0.6 s CPU once; results of chains are cached).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from hwq.ir.graph import Graph

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


class _Node:
    """A one-in one-out block on the stream netlist: reads stream ``i``, drives stream ``o``."""

    def __init__(self, block, i: int, o: int) -> None:
        self.block, self.i, self.o = block, i, o

    def fwd(self, valid: list[bool]) -> None:
        valid[self.o] = self.block.valid()

    def bwd(self, valid: list[bool], ready: list[bool]) -> None:
        ready[self.i] = self.block.ready(ready[self.o])

    def tick(self, valid: list[bool], ready: list[bool]) -> None:
        self.block.tick(valid[self.i], ready[self.o])

    def capacity(self) -> int:
        b = self.block
        if isinstance(b, (_Pipe, _Fifo)):
            return len(b.v) if isinstance(b, _Pipe) else b.depth
        return 2 if isinstance(b, _Skid) else 1


class _Fork:
    """hwq_fork: stream ``i`` to streams ``outs``; a taken flag per output (combinational valid and ready)."""

    def __init__(self, i: int, outs: list[int]) -> None:
        self.i, self.outs, self.taken = i, outs, [False] * len(outs)

    def fwd(self, valid: list[bool]) -> None:
        for o, t in zip(self.outs, self.taken):
            valid[o] = valid[self.i] and not t

    def bwd(self, valid: list[bool], ready: list[bool]) -> None:
        ready[self.i] = all(t or ready[o] for o, t in zip(self.outs, self.taken))

    def tick(self, valid: list[bool], ready: list[bool]) -> None:
        if valid[self.i] and ready[self.i]:
            self.taken = [False] * len(self.outs)
        else:
            self.taken = [t or (valid[o] and ready[o]) for o, t in zip(self.outs, self.taken)]

    def capacity(self) -> int:
        return 0


class _Join:
    """A layer's join of streams ``ins`` into stream ``o`` (``branch.print_dag_top``): valid when every input
    is, each input taken when the output is ready and every other input valid. No state."""

    def __init__(self, ins: list[int], o: int) -> None:
        self.ins, self.o = ins, o

    def fwd(self, valid: list[bool]) -> None:
        valid[self.o] = all(valid[i] for i in self.ins)

    def bwd(self, valid: list[bool], ready: list[bool]) -> None:
        for i in self.ins:
            ready[i] = ready[self.o] and all(valid[j] for j in self.ins if j != i)

    def tick(self, valid: list[bool], ready: list[bool]) -> None:
        pass

    def capacity(self) -> int:
        return 0


class _Fifo:
    """hwq_fifo: DEPTH entries, registered occupancy (valid when not empty, ready when not full)."""

    def __init__(self, depth: int) -> None:
        self.depth, self.count = depth, 0

    def valid(self) -> bool:
        return self.count != 0

    def ready(self, m_ready: bool) -> bool:
        return self.count != self.depth

    def tick(self, s_valid: bool, m_ready: bool) -> None:
        self.count += int(s_valid and self.count != self.depth) - int(self.count != 0 and m_ready)


class _Netlist:
    """Blocks wired by numbered streams (0: the top's s_axis), built in stream order."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.streams = 1

    def new(self) -> int:
        self.streams += 1
        return self.streams - 1

    def add(self, block, i: int) -> int:
        """Append one-in one-out ``block`` reading stream ``i``; its output stream."""
        o = self.new()
        self.nodes.append(_Node(block, i, o))
        return o

    def add_layer(self, lay: ChainLayer, i: int) -> int:
        """A layer module: a streamed layer's line buffer, then its datapath; the output stream."""
        if lay.style == "stream":
            prim = lay.window.primitive
            walk = prim == "hwq_window"
            i = self.add(_Walk(lay.window) if walk else _Masked(lay.window, prim == "hwq_window_hold"), i)
        return self.add(_Pipe(lay.latency), i)


def _chain_netlist(layers: list[ChainLayer]) -> tuple[_Netlist, int]:
    """The blocks of ``emit._print_top`` in stream order (split, skid, collect, window, datapath) and the
    output stream."""
    net, cur = _Netlist(), 0
    for k, lay in enumerate(layers):
        if k > 0:
            before = layers[k - 1]
            if before.style != "stream" and lay.style == "stream":
                cur = net.add(_Split(lay.window.in_h * lay.window.in_w), cur)
            cur = net.add(_Skid(), cur)
            if before.style == "stream" and lay.style != "stream":
                cur = net.add(_Collect(before.window.out_h * before.window.out_w), cur)
        cur = net.add_layer(lay, cur)
    return net, cur


def stream_timing(layers: list[ChainLayer], frames: int | None = None) -> StreamTiming:
    """Latency figures (clock cycles, ``StreamTiming``) of a chain of layers joined as ``emit._print_top``
    joins them (``run``); results are kept in memory per (chain, frames) (the figures depend on the
    geometry and the layers' latencies only, not on weights). Input beats per vector: the first layer's
    input pixels when it is streamed, else 1; output beats: the last layer's output pixels when streamed,
    else 1. Raises ValueError for an empty chain or a streamed layer without a window."""
    if not layers:
        raise ValueError("stream timing: need at least one layer")
    if any(lay.style == "stream" and lay.window is None for lay in layers):
        raise ValueError("stream timing: a streamed layer needs its window geometry")
    return _cached(tuple(layers), frames)


@lru_cache(maxsize=256)
def _cached(layers: tuple[ChainLayer, ...], frames: int | None) -> StreamTiming:
    first, last = layers[0], layers[-1]
    in_beats = first.window.in_h * first.window.in_w if first.style == "stream" else 1
    out_beats = last.window.out_h * last.window.out_w if last.style == "stream" else 1
    return run(lambda: _chain_netlist(list(layers)), in_beats, out_beats, frames)


def dag_timing(graph: Graph, layers: list, pipeline: int, frames: int | None = None) -> StreamTiming:
    """Latency figures (clock cycles, ``StreamTiming``) of the top ``branch.print_dag_top`` prints for the
    layer DAG ``layers`` (``plan.LayerPlan`` with ``levels`` and, when streamed, ``window`` set, as ``emit``
    leaves them) of ``graph`` at ``pipeline``: forks, skid buffers or FIFOs (``branch.fifo_depths``) on every
    edge but a single read of the top's input, frame split/collect, joins, layers (``run``)."""
    from .branch import STREAMED_STYLES, fifo_depths
    from .stream import frame_of

    depths = fifo_depths(graph, layers, pipeline=pipeline)
    src = graph.inputs[0]
    producer = {lay.output: lay for lay in layers}
    readers: dict[str, list] = {}
    for lay in layers:
        for n in lay.inputs:
            readers.setdefault(n, []).append(lay)
    in_t, out_t = graph.tensor(src), graph.tensor(graph.outputs[0])
    in_beats = frame_of(in_t.shape).beats if layers[0].style in STREAMED_STYLES else 1
    out_beats = frame_of(out_t.shape).beats if layers[-1].style in STREAMED_STYLES else 1
    return run(lambda: _dag_netlist(graph, layers, pipeline, depths, readers, producer), in_beats, out_beats, frames)


def _dag_netlist(graph, layers: list, pipeline: int, depths: dict, readers: dict, producer: dict):
    """The blocks of ``branch.print_dag_top`` in its order, and the output stream."""
    from .branch import STREAMED_STYLES
    from .layer import latency
    from .stream import frame_of

    net = _Netlist()
    src = graph.inputs[0]
    source = {src: 0}
    branch: dict[tuple[str, str], int] = {}

    def fan_out(t: str) -> None:
        rs = readers.get(t, [])
        if len(rs) <= 1:
            for r in rs:
                branch[(r.name, t)] = source[t]
            return
        outs = [net.new() for _ in rs]
        net.nodes.append(_Fork(source[t], outs))
        for r, o in zip(rs, outs):
            branch[(r.name, t)] = o

    fan_out(src)
    for lay in layers:
        ins = []
        for t in lay.inputs:
            prod = producer.get(t)
            prod_streamed = (prod or layers[0]).style in STREAMED_STYLES
            me_streamed = lay.style in STREAMED_STYLES
            cur = branch[(lay.name, t)]
            beats = frame_of(graph.tensor(t).shape).beats if len(graph.tensor(t).shape) in (2, 3) else 1
            if not prod_streamed and me_streamed:
                cur = net.add(_Split(beats), cur)
            d = depths.get((lay.name, t), 0)
            if d:
                cur = net.add(_Fifo(d), cur)
            elif not (cur == 0 and len(readers[t]) == 1):
                cur = net.add(_Skid(), cur)
            if prod_streamed and not me_streamed:
                cur = net.add(_Collect(beats), cur)
            ins.append(cur)
        if len(ins) > 1:
            joined = net.new()
            net.nodes.append(_Join(ins, joined))
            ins = [joined]
        style = "stream" if lay.style == "stream" else "parallel"
        source[lay.output] = net.add_layer(ChainLayer(style, latency(lay.levels, pipeline), lay.window), ins[0])
        fan_out(lay.output)
    return net, source[layers[-1].output]


def run(
    build: Callable[[], tuple[_Netlist, int]], in_beats: int, out_beats: int, frames: int | None = None
) -> StreamTiming:
    """Simulate the netlist ``build()`` returns (a fresh ``_Netlist`` in reset state, its output stream)
    cycle by cycle on input vectors of ``in_beats`` beats offered back to back, one beat per cycle from
    the cycle after reset, with the output stream always ready (the co-simulation bench's stimulus without
    gaps or back-pressure); a vector is out after ``out_beats`` output beats. Each cycle: valid flags
    forward, ready flags backward (stream order), handshakes, then every block's registers.

    ``frames``: the number of vectors (the bench's vector count: its ``latency_cycles`` and
    ``latency_max_cycles`` are then ``latency`` and ``latency_max``). None: the figures of any long run
    of vectors: a first run until the steady state (the last three frames with equal latencies and
    intervals, at least ``DEFAULT_FRAMES``; the latency may grow frame by frame while the blocks in front of
    a slower one fill), then a run of that many frames plus the frames in flight plus two, so that the
    last frames' end effects are seen too (a frame that no next frame follows can finish a cycle earlier
    or later: a tail step then inserts a zero instead of taking the next frame's pixel);
    ``cycles_per_frame`` is the steady state's. Raises ValueError for ``frames`` < 1 or a design that
    stops moving (a modelling error)."""
    if frames is not None:
        if frames < 1:
            raise ValueError(f"stream timing: need at least one frame (got {frames})")
        return _run_once(*build(), in_beats, out_beats, frames, False)
    probe = _run_once(*build(), in_beats, out_beats, None, True)
    cpf = probe.cycles_per_frame
    inflight = -(-probe.latency_max // cpf) if cpf else 1
    full = _run_once(*build(), in_beats, out_beats, len(probe.latencies) + inflight + 2, False)
    return StreamTiming(full.latency, full.latency_max, full.latencies, cpf, full.ends)


def _run_once(
    net: _Netlist, sink: int, in_beats: int, out_beats: int, frames: int | None, steady: bool
) -> StreamTiming:
    """One simulation (``run``) of ``frames`` vectors; ``steady``: stop at the steady state (``frames``
    None: at most ``DEFAULT_FRAMES + 3 +`` the netlist's capacity in beats)."""
    nodes = net.nodes
    back = nodes[::-1]
    capacity = sum(nd.capacity() for nd in nodes)
    cap = frames if frames is not None else DEFAULT_FRAMES + 3 + capacity
    total_in = cap * in_beats
    n_in = n_out = idle = cycle = 0
    first_in: list[int] = []
    done: list[int] = []
    limit = 64 + 4 * capacity + 4 * (in_beats + out_beats)
    while len(done) < cap:
        valid = [False] * net.streams
        valid[0] = s_valid = n_in < total_in
        for nd in nodes:
            nd.fwd(valid)
        ready = [False] * net.streams
        ready[sink] = True
        for nd in back:
            nd.bwd(valid, ready)
        moved = False
        if valid[sink]:
            n_out += 1
            moved = True
            if n_out % out_beats == 0:
                done.append(cycle)
                if steady and _steady(done, first_in):
                    break
        if s_valid and ready[0]:
            if n_in % in_beats == 0:
                first_in.append(cycle)
            n_in += 1
            moved = True
        for nd in nodes:
            nd.tick(valid, ready)
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
