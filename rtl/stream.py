"""Streamed layers: a line buffer (``hwq_window``) feeding one datapath that computes one output pixel.

Stream form of a (C, H, W) tensor (Conv1d/pooling over (C, L): H = 1, W = L): H*W beats per frame,
row-major over (y, x); beat = the C channel raws of one pixel, channel c at bits ``[c*W_elem +: W_elem]``.

A streamed layer (``plan.LayerPlan`` with style ``"stream"``) starts with a Conv1d/Conv2d, MaxPool or
AvgPool op (the *head*) followed by per-pixel single-input ops. Its module ``<module>`` holds:

- the line buffer emits, per output pixel (row-major over the output grid), the KH x KW window of input
  pixels: tap (a, b) at bits ``[(a*KW + b)*PIXEL_WIDTH +: PIXEL_WIDTH]`` (padding taps hold 0) and its pad
  flag at ``m_axis_tpad[a*KW + b]``. A padded window that ``Window.full_rate`` accepts is ``hwq_window_pad``
  (one input pixel per cycle: the padding is masked from the output pixel's row and column, never walked);
  another padded window that ``Window.hold_rate`` accepts is ``hwq_window_hold`` (the same masking, plus a
  cycle per output sharing its position with the next one); every other window is ``hwq_window`` (walks
  the zero-padded frame, one cycle per position);
- ``<module>_datapath`` (printed by ``layer.print_layer``): one window in, one output pixel out.
  Window element (c, a, b) is datapath input ``(c*KH + a)*KW + b`` (the IR's (c, kh, kw) accumulation
  order) at window slot ``(a*KW + b)*C + c``. A conv is one constant matrix, Cout x (Cin/groups*KH*KW)
  per group (``matrix.conv_as_dense`` on a one-window geometry, so groups/depthwise give its block
  structure); an AvgPool is the per-channel window sum then the reciprocal (``matrix.avgpool_as_dense``
  on one window; zeros at padded taps, as the IR counts them); a MaxPool is a comparator tree per channel
  in which a padded tap is first replaced by the lowest value the channel can take (selected by its pad
  flag, appended to the datapath's input bus above the window), so it never wins unless it ties a real
  tap's value. The per-pixel ops follow with ``build.build_op(..., channel_of=lambda j: j)``.

The weight matrix is the same for every pixel: area does not grow with the image size.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwq.formats import FixedFormat
from hwq.ir.graph import Graph

from .build import build_op
from .datapath import Datapath, RtlError, Value
from .layer import LayerPorts, module_preamble
from .matrix import avgpool_as_dense, build_dense, conv_as_dense
from .netlist import Node, fit, literal

FLAG_FMT = FixedFormat(1, 1, False)  # a pad flag: 0 or 1


@dataclass(frozen=True)
class Frame:
    """Stream form of a (C, H, W) or (C, L) tensor: ``beats`` = H*W pixels of ``channels`` elements."""

    channels: int
    height: int
    width: int

    @property
    def beats(self) -> int:
        """Beats (pixels) per frame."""
        return self.height * self.width

    def slot(self, i: int) -> int:
        """Pixel-major slot ``p*C + c`` of row-major element ``i = c*H*W + p``."""
        c, p = divmod(i, self.beats)
        return p * self.channels + c


@dataclass
class WindowPorts(LayerPorts):
    """Ports of a streamed layer's datapath: the window's taps (``in_count`` elements), then ``flag_bits``
    pad flags above them when a max pool needs them."""

    flag_bits: int = 0

    @property
    def in_width(self) -> int:
        """Bits of s_axis_tdata: window elements x element width, plus the pad flags."""
        return self.in_count * self.in_fmt.width + self.flag_bits


def frame_of(shape: tuple) -> Frame:
    """Stream geometry of a tensor shape (C, H, W) or (C, L); raises RtlError for other ranks."""
    if len(shape) == 3:
        return Frame(int(shape[0]), int(shape[1]), int(shape[2]))
    if len(shape) == 2:
        return Frame(int(shape[0]), 1, int(shape[1]))
    raise RtlError(f"a tensor of shape {tuple(shape)} cannot be pixel-streamed (needs (C, L) or (C, H, W))")


@dataclass(frozen=True)
class Window:
    """Geometry of a layer's line buffer (``hwq_window``/``_pad``/``_hold``: the names of its parameters, in
    pixels)."""

    in_h: int
    in_w: int
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    dh: int = 1
    dw: int = 1
    pad_t: int = 0
    pad_b: int = 0
    pad_l: int = 0
    pad_r: int = 0

    @property
    def out_h(self) -> int:
        """Output rows (torch's floor formula)."""
        return (self.in_h + self.pad_t + self.pad_b - self.dh * (self.kh - 1) - 1) // self.sh + 1

    @property
    def out_w(self) -> int:
        """Output columns (torch's floor formula)."""
        return (self.in_w + self.pad_l + self.pad_r - self.dw * (self.kw - 1) - 1) // self.sw + 1

    @property
    def taps(self) -> int:
        """Window taps KH*KW."""
        return self.kh * self.kw

    @property
    def padded(self) -> bool:
        """True when some output pixel's window reaches into the padding."""
        return bool(self.padded_taps())

    def padded_taps(self) -> list[int]:
        """Taps ``a*KW + b`` that are a padding position for at least one output pixel."""
        rows = {
            a
            for a in range(self.kh)
            for i in range(self.out_h)
            if not 0 <= i * self.sh + a * self.dh - self.pad_t < self.in_h
        }
        cols = {
            b
            for b in range(self.kw)
            for j in range(self.out_w)
            if not 0 <= j * self.sw + b * self.dw - self.pad_l < self.in_w
        }
        return [a * self.kw + b for a in range(self.kh) for b in range(self.kw) if a in rows or b in cols]

    def emissions(self) -> list[int]:
        """Per output pixel (row-major): the input position ``y*in_w + x`` (counted in real pixels, possibly
        past the frame) of its bottom-right tap, where ``hwq_window_pad`` emits it."""
        first = ((self.kh - 1) * self.dh - self.pad_t) * self.in_w + (self.kw - 1) * self.dw - self.pad_l
        return [first + i * self.sh * self.in_w + j * self.sw for i in range(self.out_h) for j in range(self.out_w)]

    @property
    def full_rate(self) -> bool:
        """True when the window is padded and ``hwq_window_pad`` can run it at one input pixel per cycle
        (padding masked, never walked): its first output comes at or after the frame's first pixel and
        before its last, emissions strictly increase (at most one per pixel), and a frame's last output
        comes before the next frame's first one would (its requirements, in the primitive's header)."""
        if not self.padded:
            return False
        e, frame = self.emissions(), self.in_h * self.in_w
        increasing = all(b > a for a, b in zip(e, e[1:]))
        return frame >= 2 and 0 <= e[0] < frame and e[-1] - frame < e[0] and increasing

    @property
    def hold_rate(self) -> bool:
        """True when the window is padded, not ``full_rate``, and ``hwq_window_hold`` takes it (padding masked,
        several outputs of one position emitted on consecutive cycles): its first output's position is
        before the frame's end and the emissions never go back from one output row to the next
        (``SH*IN_W >= (WO-1)*SW``). Output grids wider than the frame (a 2x2 kernel padded by one on each
        side), outputs wholly in the top/left padding and bottoms that overlap the next frame's first outputs
        are such windows."""
        if not self.padded or self.full_rate:
            return False
        rows_ok = self.out_h == 1 or self.sh * self.in_w >= (self.out_w - 1) * self.sw
        return rows_ok and self.emissions()[0] < self.in_h * self.in_w

    def cycles_per_frame(self) -> int:
        """Cycles per frame of the line buffer without gaps or back-pressure, frames back to back:
        ``hwq_window`` walks the padded frame ((IN_H+PAD_T+PAD_B) x (IN_W+PAD_L+PAD_R)); ``hwq_window_pad``
        takes IN_H*IN_W; ``hwq_window_hold`` IN_H*IN_W plus the tail steps that cannot take the next frame's
        pixels plus one cycle per output that shares its position with the next one (see its header)."""
        frame = self.in_h * self.in_w
        if self.primitive == "hwq_window":
            return (self.in_h + self.pad_t + self.pad_b) * (self.in_w + self.pad_l + self.pad_r)
        if self.primitive == "hwq_window_pad":
            return frame
        pos = [max(e, 0) for e in self.emissions()]
        tail = max(pos[-1] - frame + 1, 0)
        return frame + max(0, tail - pos[0]) + len(pos) - len(set(pos))

    @property
    def primitive(self) -> str:
        """Module of the line buffer: ``hwq_window_pad`` (one input pixel per cycle, padding masked) when
        ``full_rate``, ``hwq_window_hold`` (padding masked, a cycle per output sharing a position) when
        ``hold_rate``, else ``hwq_window`` (walks the zero-padded frame, one cycle per pad position)."""
        if self.full_rate:
            return "hwq_window_pad"
        return "hwq_window_hold" if self.hold_rate else "hwq_window"

    def parameters(self) -> dict[str, int]:
        """Line-buffer parameter values (PIXEL_WIDTH excluded; the same for both primitives)."""
        return {
            "IN_H": self.in_h,
            "IN_W": self.in_w,
            "KH": self.kh,
            "KW": self.kw,
            "SH": self.sh,
            "SW": self.sw,
            "DH": self.dh,
            "DW": self.dw,
            "PAD_T": self.pad_t,
            "PAD_B": self.pad_b,
            "PAD_L": self.pad_l,
            "PAD_R": self.pad_r,
        }

    def describe(self) -> str:
        """One-line summary for comments."""
        return (
            f"input {self.in_h}x{self.in_w} pixels, kernel {self.kh}x{self.kw}, stride {self.sh}x{self.sw}, "
            f"dilation {self.dh}x{self.dw}, padding (top {self.pad_t}, bottom {self.pad_b}, left {self.pad_l}, "
            f"right {self.pad_r}) -> output {self.out_h}x{self.out_w} pixels"
        )


def window_of(op, graph: Graph) -> Window:
    """Window geometry of a stream head op (Conv1d/Conv2d/MaxPool/AvgPool) over its input tensor."""
    shape = graph.tensor(op.inputs[0]).shape
    fr = frame_of(shape)
    if op.kind == "conv2d":
        (kh, kw), (sh, sw), (dh, dw) = op.weight.shape[2:], tuple(op.stride), tuple(op.dilation)
        pt, pb, pl, pr = (int(v) for v in op.padding)
    elif op.kind == "conv1d":
        kh, kw, sh, sw, dh, dw = 1, op.weight.shape[2], 1, int(op.stride), 1, int(op.dilation)
        pt, pb, (pl, pr) = 0, 0, (int(v) for v in op.padding)
    elif op.kind in ("maxpool", "avgpool"):
        if len(shape) == 3:
            (kh, kw), (sh, sw) = tuple(op.kernel), tuple(op.stride)
            pt, pb, pl, pr = (int(v) for v in op.padding)
        else:
            kh, kw, sh, sw = 1, int(op.kernel[0]), 1, int(op.stride[0])
            pt, pb, (pl, pr) = 0, 0, (int(v) for v in op.padding)
        dh = dw = 1
    else:
        raise RtlError(f"op {op.name!r} ({op.kind}): cannot start a streamed layer")
    win = Window(fr.height, fr.width, int(kh), int(kw), int(sh), int(sw), int(dh), int(dw), pt, pb, pl, pr)
    out = frame_of(graph.tensor(op.output).shape)
    if (win.out_h, win.out_w) != (out.height, out.width):
        raise RtlError(
            f"op {op.name!r} ({op.kind}): window geometry gives {win.out_h}x{win.out_w} output pixels, "
            f"tensor {op.output!r} has {out.height}x{out.width}"
        )
    return win


def channel_ranges(frame: Frame, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Per-channel raw range over every pixel of a row-major per-element range list."""
    out = []
    for c in range(frame.channels):
        part = ranges[c * frame.beats : (c + 1) * frame.beats]
        out.append((min(lo for lo, _ in part), max(hi for _, hi in part)))
    return out


def build_stream_layer(graph: Graph, lay, in_ranges: list[tuple[int, int]], adders: str = "fewest"):
    """Datapath of streamed layer ``lay``: one window in, one output pixel out.

    ``in_ranges``: raw range of each input element (row-major over the input tensor). Returns
    (datapath, output values (Cout channels of one pixel), output ranges per element row-major over
    ``lay.output``, window geometry, True when the datapath's input bus carries the pad flags).
    """
    head = lay.ops[0]
    xt = graph.tensor(head.inputs[0])
    fmt = xt.fmt
    fr = frame_of(xt.shape)
    win = window_of(head, graph)
    ch = channel_ranges(fr, in_ranges)
    padded = set(win.padded_taps())
    dp = Datapath(adders)
    xs: list[Value] = []
    for c in range(fr.channels):
        for a in range(win.kh):
            for b in range(win.kw):
                t = a * win.kw + b
                lo, hi = ch[c]
                if t in padded:  # a padding tap holds raw 0
                    lo, hi = min(lo, 0), max(hi, 0)
                i = (c * win.kh + a) * win.kw + b
                slot = t * fr.channels + c
                node = dp.input(f"x{i}", slot * fmt.width, fmt, lo, hi, f"window tap ({a}, {b}) channel {c}: {fmt}")
                xs.append(Value(node.name, fmt.frac_bits))
    flags = head.kind == "maxpool" and bool(padded)
    one_d = len(xt.shape) == 2
    if head.kind in ("conv1d", "conv2d", "avgpool"):
        in_shape = (fr.channels, win.kw) if one_d else (fr.channels, win.kh, win.kw)
        out_c = graph.tensor(head.output).shape[0]
        out_shape = (out_c, 1) if one_d else (out_c, 1, 1)
        if head.kind == "avgpool":
            vals = build_dense(dp, avgpool_as_dense(head, in_shape, out_shape, one_window=True), graph, xs, "a0")
        else:
            vals = build_dense(dp, conv_as_dense(head, in_shape, out_shape, one_window=True), graph, xs, "d0")
    else:
        vals = _window_max(dp, graph, head, win, fr, fmt, xs, ch, padded if flags else set())
    env = {head.output: vals}
    for k, op in enumerate(lay.ops[1:], start=1):
        env[op.output] = build_op(dp, graph, op, [env[n] for n in op.inputs], k, channel_of=lambda j: j)
    outs = env[lay.output]
    per_channel = [(dp.nodes[v.node].lo, dp.nodes[v.node].hi) for v in outs]
    ofr = frame_of(graph.tensor(lay.output).shape)
    out_ranges = [per_channel[c] for c in range(ofr.channels) for _ in range(ofr.beats)]
    return dp, outs, out_ranges, win, flags


def _window_max(dp: Datapath, graph: Graph, op, win: Window, fr: Frame, fmt, xs, ch, masked: set[int]):
    """Per channel: max over the window taps (padded taps replaced by the channel's lowest value), cast."""
    out_fmt = graph.tensor(op.output).fmt
    flag_lsb = win.taps * fr.channels * fmt.width
    flags = {}
    if masked:
        for t in range(win.taps):  # every bit of the bus gets a node (lint: no unused input bits)
            flags[t] = dp.input(f"pad{t}", flag_lsb + t, FLAG_FMT, 0, 1, f"pad flag of window tap {t}").name
    outs = []
    for c in range(fr.channels):
        lo, hi = ch[c]
        taps = []
        for t in range(win.taps):
            v = xs[c * win.taps + t]
            if t in masked:
                src = dp.nodes[v.node]
                node = Node(
                    f"p0_k{c}_{t}", lo, hi, src.level, [v.node, flags[t]], [], f"tap {t} channel {c}, pad -> {lo}"
                )
                node.body = [
                    f"assign {{out}} = {{1}}[0] ? {literal(lo, node.width)} : {fit('{0}', src.width, node.width)};"
                ]
                dp.add(node)
                v = Value(node.name, v.frac_bits)
            taps.append(v)
        top = dp.max_tree(f"p0_m{c}", taps, f"channel {c} window max")
        outs.append(dp.cast(f"p0_y{c}", top, out_fmt, f"{op.name} (maxpool) channel {c} -> {out_fmt}"))
    return outs


def describe_stream_layer(graph: Graph, lay, win: Window) -> list[str]:
    """Comment lines of a streamed layer: its ops, formats and window geometry."""
    head = lay.ops[0]
    x, y = graph.tensor(head.inputs[0]), graph.tensor(head.output)
    fr, ofr = frame_of(x.shape), frame_of(y.shape)
    out = [
        f"Streamed layer {lay.name}: {fr.beats} input beats of {fr.channels} x {x.fmt} (one pixel each, row-major "
        f"(y, x)) -> {ofr.beats} output beat{'s' if ofr.beats > 1 else ''} per frame",
        f"window: {win.describe()}",
        f"datapath input: window tap (a, b), channel c in slot s = (a*{win.kw} + b)*{fr.channels} + c at bits "
        f"[s*{x.fmt.width} +: {x.fmt.width}]"
        + (
            f"; pad flag of tap t at bit {win.taps * fr.channels * x.fmt.width} + t"
            if head.kind == "maxpool" and win.padded
            else ""
        ),
    ]
    if head.kind in ("conv1d", "conv2d"):
        out.append(
            f"{head.name} ({head.kind} {x.shape} -> {y.shape}, groups {head.groups}): x {x.fmt}, weights "
            f"{head.weight_fmt}, bias {head.bias_fmt}, accumulator {head.acc_fmt}, result {y.fmt}"
        )
        out.append(
            "  one constant matrix (output channels x window taps, (c, kh, kw) order) built like a Dense layer "
            "(shared CSD adder graph, or the IR's ordered chain when the accumulator saturates or rounds products)"
            + ("; padded taps hold 0" if win.padded else "")
        )
    elif head.kind == "avgpool":
        out.append(
            f"{head.name} (avgpool kernel {tuple(head.kernel)}, stride {tuple(head.stride)}, padding "
            f"{tuple(head.padding)}): {x.fmt} -> window sum in {head.acc_fmt} (padded taps count as 0) "
            f"x {head.recip} * 2**-{head.recip_frac_bits} -> {y.fmt}"
        )
    else:
        out.append(
            f"{head.name} (maxpool kernel {tuple(head.kernel)}, stride {tuple(head.stride)}, padding "
            f"{tuple(head.padding)}): {x.fmt} -> {y.fmt}, comparator tree per channel (padded taps never win)"
        )
    for op in lay.ops[1:]:
        srcs = ", ".join(f"{n} {graph.tensor(n).fmt}" for n in op.inputs)
        out.append(f"{op.name} ({op.kind}, per pixel): {srcs} -> {graph.tensor(op.output).fmt}")
    return out


def print_stream_layer(
    module: str,
    datapath_module: str,
    header: list[str],
    describe: list[str],
    win: Window,
    pixel_width: int,
    out_width: int,
    dp_in_width: int,
    flags: bool,
    pipeline: int,
    in_note: str = "",
) -> str:
    """Verilog text of a streamed layer's wrapper: ``win.primitive`` (``hwq_window``, ``hwq_window_pad`` or
    ``hwq_window_hold``)
    -> ``datapath_module`` (one pixel per beat).

    ``in_note``: appended to the s_axis port comment (e.g. the input range the datapath assumes)."""
    lines: list[str] = []
    w = lines.append
    module_preamble(w, header, describe, module, pipeline)
    note = f"; {in_note}" if in_note else ""
    w(f"    // one input pixel per beat ({win.in_h * win.in_w} beats per frame, row-major (y, x)){note}")
    w(f"    input  wire [{pixel_width - 1}:0] s_axis_tdata,")
    w("    input  wire                   s_axis_tvalid,")
    w("    output wire                   s_axis_tready,")
    w("")
    w(f"    // one output pixel per beat ({win.out_h * win.out_w} beats per frame, row-major (y, x))")
    w(f"    output wire [{out_width - 1}:0] m_axis_tdata,")
    w("    output wire                   m_axis_tvalid,")
    w("    input  wire                   m_axis_tready")
    w(");")
    w("")
    w(
        f"// window: tap (a, b) at win_tdata[(a*{win.kw} + b)*{pixel_width} +: {pixel_width}], "
        f"pad flag at win_tpad[a*{win.kw} + b]"
    )
    w(f"wire [{win.taps * pixel_width - 1}:0] win_tdata;")
    if not flags:
        w("/* verilator lint_off UNUSEDSIGNAL */")
        w(f"wire [{win.taps - 1}:0] win_tpad;  // padded taps hold 0, which the arithmetic uses as is")
        w("/* verilator lint_on UNUSEDSIGNAL */")
    else:
        w(f"wire [{win.taps - 1}:0] win_tpad;  // read by the datapath: padded taps never win the max")
    w("wire win_tvalid;")
    w("wire win_tready;")
    w("")
    w(f"{win.primitive} #(")
    params = [("PIXEL_WIDTH", pixel_width)] + list(win.parameters().items())
    for k, (name, v) in enumerate(params):
        w(f"    .{name}({v}){',' if k < len(params) - 1 else ''}")
    w(") u_window (")
    w("    .clk(clk),")
    w("    .rst(rst),")
    w("    .s_axis_tdata(s_axis_tdata),")
    w("    .s_axis_tvalid(s_axis_tvalid),")
    w("    .s_axis_tready(s_axis_tready),")
    w("    .m_axis_tdata(win_tdata),")
    w("    .m_axis_tpad(win_tpad),")
    w("    .m_axis_tvalid(win_tvalid),")
    w("    .m_axis_tready(win_tready)")
    w(");")
    w("")
    bus = "{win_tpad, win_tdata}" if flags else "win_tdata"
    w(f"// datapath: one window ({dp_in_width} bits) -> one output pixel")
    w(f"{datapath_module} #(.PIPELINE(PIPELINE)) u_datapath (")
    w("    .clk(clk),")
    w("    .rst(rst),")
    w(f"    .s_axis_tdata({bus}),")
    w("    .s_axis_tvalid(win_tvalid),")
    w("    .s_axis_tready(win_tready),")
    w("    .m_axis_tdata(m_axis_tdata),")
    w("    .m_axis_tvalid(m_axis_tvalid),")
    w("    .m_axis_tready(m_axis_tready)")
    w(");")
    w("")
    w("endmodule")
    w("")
    w("`resetall")
    return "\n".join(lines) + "\n"
