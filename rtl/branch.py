"""Streamed branching regions: residual Add, Concat and Mul of pixel streams, fork/join of valid/ready streams.

In stream mode (``plan.plan_layers(..., branches=True)``, what ``emit`` uses) the *streamed region* of a graph
is every op whose inputs all travel as pixel streams (the graph input if it is (C, L) or (C, H, W), and the
outputs of streamed ops): a Conv1d/Conv2d/MaxPool/AvgPool (a window layer, ``rtl/stream.py``), a per-pixel
single-input op (ReLU, BatchNorm, Requantize, ...), an Add or Mul of two streams of the same shape, and a
Concat along the channel axis of streams with the same (H, W). When that region branches (a tensor read by
two ops, or an op with two stream inputs) and the rest of the graph reads one tensor of it (a cut), the
region is planned as a DAG of layers instead of one parallel layer:

- a conv/pool starts a ``"stream"`` layer (line buffer + one-pixel datapath); an Add/Mul/Concat, or a
  per-pixel op reading a forked tensor, starts a ``"pixel"`` layer (a one-pixel datapath, no window) whose
  ``s_axis_tdata`` is its input pixels side by side (input 0 in the low bits);
- a per-pixel op joins the layer producing its input when that tensor has no other reader;
- the rest of the graph (Flatten, Dense, ...) is planned as before, fed by the cut tensor.

The top module (``print_dag_top``) wires the layers: a tensor read by several layers goes through
``hwq_fork`` (each beat delivered once to every reader); a layer with several inputs joins them (its input
is valid when every input is valid, and each input is taken in that cycle); every edge gets a
``hwq_skid_buffer``, or a ``hwq_fifo`` when the join needs room for the beats that the other path's line
buffers hold before their first output (``fifo_depths``: from the window geometry, the exact number of
beats one input runs ahead of the other, plus slack), so the fork never deadlocks under any back-pressure,
plus the beats that enter while the other path's registers fill (its latency), so the join takes one beat
per cycle.
Element-wise ops run on aligned pixels: beat k of every input of a join is pixel k of its tensor.
"""

from __future__ import annotations

import numpy as np

from hwq.ir.graph import Graph

from .build import build_op
from .datapath import Datapath, RtlError, Value
from .layer import LayerPorts
from .layerplan import PER_PIXEL_OPS, STREAM_HEADS, LayerPlan
from .stream import channel_ranges, frame_of, window_of
from .top import instance as top_instance
from .top import print_top_preamble
from .top import wires as top_wires

JOIN_OPS = ("add", "mul", "concat")  # several pixel streams -> one
STREAMED_STYLES = ("stream", "pixel")  # layer styles that move one pixel per beat
#: beats of slack added to each computed FIFO depth (the skid buffers and registers on the way)
FIFO_SLACK = 2


def _pixel_shape(graph: Graph, name: str) -> tuple | None:
    shape = tuple(graph.tensor(name).shape)
    return shape if len(shape) in (2, 3) else None


def _streams(graph: Graph, op, streamed: set[str]) -> bool:
    """True when ``op`` can run on pixel streams (its inputs all pixel streams)."""
    if not op.inputs or any(n not in streamed for n in op.inputs):
        return False
    if _pixel_shape(graph, op.output) is None:
        return False
    if op.kind in STREAM_HEADS:
        try:
            window_of(op, graph)
        except RtlError:
            return False
        return True
    if op.kind in PER_PIXEL_OPS and len(op.inputs) == 1:
        return True
    shapes = [graph.tensor(n).shape for n in op.inputs]
    out = graph.tensor(op.output).shape
    if op.kind in ("add", "mul"):
        return len(op.inputs) == 2 and shapes[0] == shapes[1] == out
    if op.kind == "concat":
        return int(op.axis) == 0 and all(s[1:] == out[1:] for s in shapes)
    return False


def plan_branches(graph: Graph):
    """(streamed layers, remaining ops, cut tensor) when ``graph`` has a streamable branching region whose
    rest reads one tensor of it; None when it has none (the plain planner then handles the graph)."""
    src = graph.inputs[0]
    if _pixel_shape(graph, src) is None:
        return None
    streamed = {src}
    region, rest = [], []
    for op in graph.ops:  # topological order
        if _streams(graph, op, streamed):
            region.append(op)
            streamed.add(op.output)
        else:
            rest.append(op)
    readers: dict[str, list] = {}
    for op in graph.ops:
        for n in dict.fromkeys(op.inputs):
            readers.setdefault(n, []).append(op)
    branching = any(len(op.inputs) > 1 for op in region) or any(
        len([r for r in readers.get(t, []) if r in region]) > 1 for t in streamed
    )
    if not branching:
        return None
    crossing = {n for op in rest for n in op.inputs if n in streamed}
    out = graph.outputs[0]
    if rest:
        if len(crossing) != 1:
            return None
        cut = next(iter(crossing))
        if any(r not in rest for r in readers[cut]) or cut in graph.outputs:
            return None
    else:
        cut = out
    layers: list[LayerPlan] = []
    layer_of: dict[str, LayerPlan] = {}
    for op in region:
        x = op.inputs[0]
        prod = layer_of.get(x)
        alone = len(readers[x]) == 1 and x not in graph.outputs
        if op.kind in PER_PIXEL_OPS and len(op.inputs) == 1 and prod is not None and alone:
            prod.ops.append(op)
            prod.output = op.output
        else:
            style = "stream" if op.kind in STREAM_HEADS else "pixel"
            ins = list(dict.fromkeys(op.inputs))
            prod = LayerPlan(op.name, input=ins[0], inputs=ins, output=op.output, style=style)
            prod.ops.append(op)
            layers.append(prod)
        layer_of[op.output] = prod
    if layers[-1].output != cut:
        return None  # the cut is not the last streamed result (cannot happen for a graph without dead ops)
    return layers, rest, cut


# --------------------------------------------------------------------------------------- pixel layers
class PixelPorts(LayerPorts):
    """Ports of a pixel layer: the input pixels of every input stream side by side (``in_bits`` in all)."""

    def __init__(self, in_count, in_fmt, out_count, out_fmt, in_bits: int, in_note: str = "") -> None:
        super().__init__(in_count, in_fmt, out_count, out_fmt, in_note=in_note)
        self.in_bits = in_bits

    @property
    def in_width(self) -> int:
        """Bits of s_axis_tdata: every input stream's pixel."""
        return self.in_bits


def input_layout(graph: Graph, lay: LayerPlan) -> list[tuple[str, int, int]]:
    """(tensor, lsb, bits) of each input pixel on a pixel layer's s_axis_tdata, input 0 in the low bits."""
    out, lsb = [], 0
    for name in lay.inputs:
        t = graph.tensor(name)
        bits = frame_of(t.shape).channels * t.fmt.width
        out.append((name, lsb, bits))
        lsb += bits
    return out


def build_pixel_layer(graph: Graph, lay: LayerPlan, ranges: dict[str, list[tuple[int, int]]], adders: str):
    """Datapath of pixel layer ``lay``: one pixel of each input stream in, one output pixel out.

    ``ranges[t]``: raw range of each element of tensor ``t`` (row-major). Returns (datapath, output values
    (the output pixel's channels), output ranges per element row-major over ``lay.output``, ports).
    """
    dp = Datapath(adders)
    env: dict[str, list[Value]] = {}
    count = 0
    for i, (name, lsb, _) in enumerate(input_layout(graph, lay)):
        t = graph.tensor(name)
        fr = frame_of(t.shape)
        vals = []
        for c, (lo, hi) in enumerate(channel_ranges(fr, ranges[name])):
            node = dp.input(f"x{i}_{c}", lsb + c * t.fmt.width, t.fmt, lo, hi, f"{name} channel {c}: {t.fmt}")
            vals.append(Value(node.name, t.fmt.frac_bits))
        env[name] = vals
        count += fr.channels
    for k, op in enumerate(lay.ops):
        args = [env[n] for n in op.inputs]
        if op.kind == "concat":  # along channels: one pixel's channels, input after input
            out_fmt = graph.tensor(op.output).fmt
            flat = [v for a in args for v in a]
            env[op.output] = [
                dp.cast(f"k{k}_y{j}", v, out_fmt, f"{op.name} (concat) channel {j} -> {out_fmt}")
                for j, v in enumerate(flat)
            ]
        else:
            env[op.output] = build_op(dp, graph, op, args, k, channel_of=lambda j: j)
    outs = env[lay.output]
    per_channel = [(dp.nodes[v.node].lo, dp.nodes[v.node].hi) for v in outs]
    yt = graph.tensor(lay.output)
    ofr = frame_of(yt.shape)
    out_ranges = [per_channel[c] for c in range(ofr.channels) for _ in range(ofr.beats)]
    first = graph.tensor(lay.inputs[0]).fmt
    bits = sum(b for _, _, b in input_layout(graph, lay))
    ports = PixelPorts(count, first, ofr.channels, yt.fmt, bits)
    return dp, outs, out_ranges, ports


def describe_pixel_layer(graph: Graph, lay: LayerPlan) -> list[str]:
    """Comment lines of a pixel layer: its input streams on s_axis_tdata and its ops."""
    fr = frame_of(graph.tensor(lay.output).shape)
    out = [f"Pixel layer {lay.name}: one pixel of each input stream per beat ({fr.beats} beats per frame), no window"]
    for name, lsb, bits in input_layout(graph, lay):
        t = graph.tensor(name)
        out.append(
            f"input {name!r} {tuple(t.shape)}: {frame_of(t.shape).channels} x {t.fmt} at s_axis_tdata[{lsb} +: {bits}]"
        )
    for op in lay.ops:
        srcs = ", ".join(f"{n} {graph.tensor(n).fmt}" for n in op.inputs)
        out.append(f"{op.name} ({op.kind}, per pixel): {srcs} -> {graph.tensor(op.output).fmt}")
    return out


# --------------------------------------------------------------------------------------- FIFO depths
def window_needs(win) -> np.ndarray:
    """need[k]: input beats a window has consumed when it emits output pixel k (row-major).

    ``hwq_window_pad`` (``win.full_rate``): the beat of the output's bottom-right tap, ``e + 1``; beyond
    the frame's beats for its last outputs, which it may emit after taking that many beats of the next
    frame (at most: with no next frame it inserts zeros instead). ``hwq_window``: the real beats up to the
    padded position of the bottom-right tap (never more than the frame). ``hwq_window_hold``
    (``win.hold_rate``): the beat of its emission position ``max(e, 0)`` (the beat itself is looked at even
    by a hold cycle), a tail position counting only the next frame's beats its tail may take (the last
    ``max(e(0, 0), 0)`` tail steps)."""
    if win.full_rate:
        return np.asarray(win.emissions(), dtype=np.int64) + 1
    if win.hold_rate:
        pos = np.maximum(np.asarray(win.emissions(), dtype=np.int64), 0)
        frame = win.in_h * win.in_w
        skip = max(int(pos[-1]) - frame + 1 - int(pos[0]), 0)  # tail steps that insert zeros
        return np.where(pos < frame, pos + 1, frame + np.maximum(pos + 1 - frame - skip, 0))
    rows = np.arange(win.out_h) * win.sh + (win.kh - 1) * win.dh  # padded row of the bottom-right tap
    cols = np.arange(win.out_w) * win.sw + (win.kw - 1) * win.dw
    real_rows_before = np.clip(rows - win.pad_t, 0, win.in_h)  # real rows strictly above
    row_real = (rows >= win.pad_t) & (rows < win.pad_t + win.in_h)
    real_cols_upto = np.clip(cols - win.pad_l + 1, 0, win.in_w)  # real columns at or left of the tap
    need = real_rows_before[:, None] * win.in_w + np.where(row_real[:, None], real_cols_upto[None, :], 0)
    return need.ravel().astype(np.int64)


def fifo_depths(graph: Graph, layers: list[LayerPlan], pipeline: int | None = None) -> dict[tuple[str, str], int]:
    """Room each input of a multi-input layer needs: {(layer name, input tensor): beats} (0: a skid buffer
    is enough).

    ``need_t[k]`` = graph-input beats consumed when beat k of streamed tensor t is produced (windows:
    ``window_needs``; pixel layers: the latest of their inputs). For the join to get beat k of every input,
    the fork must deliver input beat ``n = max_i need_i[k]``; a window consumes that beat only after it has
    emitted every output that needs fewer beats, so input a must have let out ``#{j: need_a[j] < n} + 1``
    beats, of which those from k on wait in its FIFO. The depth is the maximum over k plus ``FIFO_SLACK``
    (0 when at most one beat waits: the skid buffer holds two).

    ``pipeline`` (the top's PIPELINE; None: deadlock freedom only): each input also gets room for the beats
    that enter while the slowest other input's beat crosses its registers, ``max_j lat_j - lat_i`` cycles
    (``lat``: cycles from a graph-input beat to the join without back-pressure, one per skid buffer and
    window register plus each datapath's latency), so that the join sustains one beat per cycle."""
    from .layer import latency

    src = graph.inputs[0]
    beats = frame_of(graph.tensor(src).shape).beats
    need: dict[str, np.ndarray] = {src: np.arange(1, beats + 1, dtype=np.int64)}

    def two_frames(n: np.ndarray) -> np.ndarray:  # the next frame's beats come one frame of input later
        return np.concatenate([n, n + beats])

    depths: dict[tuple[str, str], int] = {}
    lat: dict[str, int] = {src: 0}
    for lay in layers:
        if lay.style not in STREAMED_STYLES:
            continue
        own = latency(lay.levels, pipeline) + (1 if lay.style == "stream" else 0) if pipeline is not None else 0
        lat[lay.output] = max(lat[n] for n in lay.inputs) + own + (1 if pipeline is not None else 0)
        if lay.style == "stream":
            n_in = need[lay.input]
            k_in = window_needs(lay.window if lay.window is not None else window_of(lay.ops[0], graph))
            need[lay.output] = np.where(k_in > 0, two_frames(n_in)[np.maximum(k_in - 1, 0)], 0)
            continue
        ins = [need[n] for n in lay.inputs]
        latest = np.max(np.stack(ins), axis=0)
        need[lay.output] = latest
        if len(lay.inputs) > 1:
            for name, n_i in zip(lay.inputs, ins):
                ahead = np.searchsorted(two_frames(n_i), latest, side="left") + 1 - np.arange(len(latest))
                d = int(ahead.max()) + max(lat[n] for n in lay.inputs) - lat[name]
                depths[(lay.name, name)] = d + FIFO_SLACK if d > 1 else 0
    return depths


# --------------------------------------------------------------------------------------- top module
def is_dag(layers: list[LayerPlan]) -> bool:
    """True when some layer has several inputs or some tensor is read by several layers."""
    seen: set[str] = set()
    for lay in layers:
        ins = lay.inputs or [lay.input]
        if len(ins) > 1:
            return True
        for n in ins:
            if n in seen:
                return True
            seen.add(n)
    return False


def print_dag_top(top: str, header: list[str], graph: Graph, layers: list[LayerPlan], pipeline: int, port_comments):
    """Verilog text of the top module of a layer DAG (module docstring): forks, FIFOs/skid buffers, joins,
    frame collect/split at streamed <-> parallel edges. ``port_comments``: (s_axis comment, m_axis comment)."""
    depths = fifo_depths(graph, layers, pipeline=pipeline)
    lines: list[str] = []
    w = lines.append
    streamed = ", ".join(lay.name for lay in layers if lay.style in STREAMED_STYLES)
    notes = [
        f"Graph {graph.name!r}: layers {', '.join(lay.name for lay in layers)} (a DAG, topological order)",
        "A tensor read by several layers goes through hwq_fork; a layer with several inputs takes one beat of",
        "each at once (join); every edge has a hwq_skid_buffer, or a hwq_fifo sized for the beats one input runs",
        "ahead of the others (line buffers on the other path). Every layer inherits PIPELINE.",
        f"Pixel-streamed layers (one pixel per beat): {streamed}.",
    ]
    src_t = graph.inputs[0]
    src_width = _input_width(graph, layers, src_t)
    out_t = graph.tensor(graph.outputs[0])
    ports = (port_comments[0], src_width, port_comments[1], layers[-1].ports.out_width)
    out_beats = frame_of(out_t.shape).beats if layers[-1].style in STREAMED_STYLES else 1
    print_top_preamble(w, top, header, notes, pipeline, ports, out_beats)

    def wires(name: str, width: int):
        return top_wires(w, name, width)

    def instance(module: str, params: list, inst: str, s, m) -> None:
        top_instance(w, module, params, inst, s, m)

    producer = {lay.output: lay for lay in layers}
    readers: dict[str, list[LayerPlan]] = {}
    for lay in layers:
        for n in lay.inputs:
            readers.setdefault(n, []).append(lay)
    tid = {n: f"t{k}" for k, n in enumerate(dict.fromkeys([src_t] + [lay.output for lay in layers]))}
    # stream of each tensor (producer side) and, per reader, the branch it reads
    source = {src_t: ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready")}
    branch: dict[tuple[str, str], tuple] = {}

    def fan_out(t: str, width: int) -> None:
        rs = readers.get(t, [])
        if len(rs) <= 1:
            for r in rs:
                branch[(r.name, t)] = source[t]
            return
        n = len(rs)
        w(f"// fork of {t!r} to {', '.join(r.name for r in rs)}")
        w(f"wire [{width - 1}:0] {tid[t]}_fork_tdata;")
        w(f"wire [{n - 1}:0] {tid[t]}_fork_tvalid;")
        w(f"wire [{n - 1}:0] {tid[t]}_fork_tready;")
        instance(
            "hwq_fork",
            [("DATA_WIDTH", width), ("N", n)],
            f"fork_{tid[t]}",
            source[t],
            (f"{tid[t]}_fork_tdata", f"{tid[t]}_fork_tvalid", f"{tid[t]}_fork_tready"),
        )
        for i, r in enumerate(rs):
            branch[(r.name, t)] = (f"{tid[t]}_fork_tdata", f"{tid[t]}_fork_tvalid[{i}]", f"{tid[t]}_fork_tready[{i}]")

    fan_out(src_t, src_width)
    for k, lay in enumerate(layers):
        p = lay.ports
        ins = []
        for i, t in enumerate(lay.inputs):
            prod = producer.get(t)
            prod_streamed = (prod.style in STREAMED_STYLES) if prod is not None else layers[0].style in STREAMED_STYLES
            cur = branch[(lay.name, t)]
            width = _tensor_width(graph, t, prod_streamed)
            edge = f"{lay.name}_in{i}"
            fr = frame_of(graph.tensor(t).shape) if len(graph.tensor(t).shape) in (2, 3) else None
            me_streamed = lay.style in STREAMED_STYLES
            if not prod_streamed and me_streamed:
                w(f"// frame split into {lay.name}: {fr.beats} beats of {fr.channels} channels (pixel-major)")
                sp = wires(f"{edge}_pix", fr.channels * graph.tensor(t).fmt.width)
                instance(
                    "hwq_frame_split",
                    [("BEAT_WIDTH", sp_w := fr.channels * graph.tensor(t).fmt.width), ("BEATS", fr.beats)],
                    f"split_{edge}",
                    cur,
                    sp,
                )
                cur, width = sp, sp_w
            d = depths.get((lay.name, t), 0)
            from_top = cur[0] == "s_axis_tdata" and len(readers[t]) == 1
            if d:
                w(f"// FIFO into {lay.name} (input {t!r}): {d} beats, room for the other inputs' line buffers")
                fi = wires(edge, width)
                instance("hwq_fifo", [("DATA_WIDTH", width), ("DEPTH", d)], f"fifo_{edge}", cur, fi)
                cur = fi
            elif not from_top:
                w(f"// skid buffer into {lay.name} (input {t!r})")
                sk = wires(edge, width)
                instance("hwq_skid_buffer", [("DATA_WIDTH", width)], f"skid_{edge}", cur, sk)
                cur = sk
            if prod_streamed and not me_streamed:
                w(f"// frame collect into {lay.name}: {fr.beats} beats of {fr.channels} channels -> one beat, ")
                w(f"// element (c, y, x) at slot (y*{fr.width} + x)*{fr.channels} + c")
                co = wires(f"{edge}_frame", p.in_width)
                instance("hwq_frame_collect", [("BEAT_WIDTH", width), ("BEATS", fr.beats)], f"collect_{edge}", cur, co)
                cur = co
            ins.append(cur)
        if len(ins) == 1:
            s = ins[0]
        else:
            w(f"// join into {lay.name}: one beat of every input at once (input 0 in the low bits)")
            s = wires(f"{lay.name}_join", p.in_width)
            w(f"assign {s[0]} = {{{', '.join(x[0] for x in reversed(ins))}}};")
            w(f"assign {s[1]} = {' && '.join(x[1] for x in ins)};")
            for i, x in enumerate(ins):
                others = [y[1] for j, y in enumerate(ins) if j != i]
                w(f"assign {x[2]} = {s[2]} && {' && '.join(others)};")
            w("")
        if k == len(layers) - 1:
            m = ("m_axis_tdata", "m_axis_tvalid", "m_axis_tready")
        else:
            what = " (one pixel per beat)" if lay.style in STREAMED_STYLES else ""
            w(f"// {lay.name}: {p.out_count} x {p.out_fmt}{what}")
            m = wires(f"{lay.name}_out", p.out_width)
        instance(lay.module, [("PIPELINE", "PIPELINE")], f"u_{lay.name}", s, m)
        source[lay.output] = m
        fan_out(lay.output, p.out_width)
    w("endmodule")
    w("")
    w("`resetall")
    return "\n".join(lines) + "\n"


def _tensor_width(graph: Graph, t: str, streamed: bool) -> int:
    x = graph.tensor(t)
    if streamed:
        return frame_of(x.shape).channels * x.fmt.width
    return x.size * x.fmt.width


def _input_width(graph: Graph, layers: list[LayerPlan], t: str) -> int:
    return _tensor_width(graph, t, layers[0].style in STREAMED_STYLES)
