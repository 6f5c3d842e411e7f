"""Fast approximation of ``rtl_model.plan_rtl`` (no CSE run): microseconds per layer instead of seconds.

For a search that calls the cost model thousands of times, ``fpga(..., exact=False)`` estimates each
layer's features from the weights' canonical-signed-digit counts instead of building the adder graph:

- adders ~ ``A * D**B * (M*N)**C`` for a matrix of M outputs x N inputs with D non-zero CSD digits (the
  sharing that ``rtl.mcm`` finds);
- adder bits ~ adders x (``W0`` + ``W_X`` x input width + ``W_R`` x mean accumulator range bits + ``W_S`` x
  mean weight span + ``W_U`` x [input unsigned] + ``W_N`` x log2(N)), where the range bits of an output are
  log2 of its largest |sum| over the input format's range (its final adder's width) and a weight's span is
  its bits between the lowest and highest set bit (the shifted operands' offset);
- sign-extension / carry-out bits ~ adder bits x (``K_EXT`` + ``K_EXT_U`` x [input unsigned]): an input whose
  sign bit is structurally 0 (``rtl_model.zero_sign_nodes``) adds bits that only pass to the carry chain;
- constant-add bits ~ outputs x range bits x ``K_CONST``; saturation select bits ~ outputs x output width x
  ``K_MUX`` x min(1, range bits above the output format);
  saturation compare bits ~ outputs x (mean range bits above the output format's) x ``K_CMP``;
- macc bits (adders yosys merges into carry-save trees) ~ adder bits x ``K_MACC`` of the pipeline depth;
  subtracting adder bits ~ adder bits x ``K_SUB``; limit checks on an
  unrounded sum (its frac bits equal the output's) ~ outputs x (mean range bits above the output format);
- element-wise ops in a layer module: a maxpool is a comparator tree per window ((taps - 1) compare and
  select pairs as wide as its input); a variable product (``mul``, ``rtl.varmul``) a gated copy of the
  wider operand per bit of the narrower one, summed by (bits - 1) adders; a batch norm a CSD product
  per channel scale (digits - 1 adders) plus its bias add; an ``add`` one adder per element; each cast
  to its output format ~ elements x output width x ``K_MUX`` select bits;
- minifloat formats: an input at its decoded integer width (``value_width``) plus its decoder
  (``decoder_bits``); an output's cast counted on the emitter's own ``float_cast`` built once per (sum
  width, sign, shift, format) (``float_cast_bits``);
- counted, not approximated (``stream_link_bits``: they follow from the window geometry and tensor
  shapes): line-buffer shift-register, window, counter and pad-control bits of streamed layers, frame
  collect/split registers between streamed and parallel layers, the top's tlast counter, skid buffers;
- flip-flops ~ register stages x (inputs x width + outputs x accumulator width) x ``K_FF`` plus the
  output register; levels ~ ceil(log2 of the digits per output) + ``LEVEL_EXTRA``.

The constants were fitted by ``fit_fast`` on the exact features of the calibration design set
(``calibrate.design_set``; least squares, log space for the adder law); the adder law, adder bits and
sign-extension bits also on 13 layers of 5 trained / PTQ'd low-bit networks (narrow unsigned ReLU inputs,
2-4-bit weights; weighted 5x), where the design set's signed 8-bit inputs alone left the fast estimate
+23 % to +69 % LUT above the exact model. Every term grows with the digit
count, the input width and the number of outputs, so the fast estimate is monotone in them (property
tests), which the exact model is not always (the emitter's greedy CSE can share more after a change).
Streamed layers price one window; parallel convolutions one window per output pixel.

LUT against the exact model (``benchmarks/bench_cost_fast.py``, results in
``benchmarks/results/cost_fast_vs_exact.json``): 11 trained / PTQ'd graphs not used in any fit (MLPs
with 2-6-bit weights, CNNs with streamed convolutions and maxpools) median 4.1 %, p90 7.5 % per graph;
12 more (the minifloat table's MLPs and CNNs) median 3.7 % / p90 9.8 % with fixed-point activations,
8.0 % / 12.2 % with minifloat ones; the design set median 3.9 %, p90 12.2 %.
"""

from __future__ import annotations

import math

import numpy as np

from hwq.ir.ops.common import raw_frac_bits

from .legacy import csd_digit_count
from .rtl_model import LayerFeatures

# fitted by fit_fast() on the calibration design set (84 designs, exact features from rtl_model.plan_rtl with
# the emitter's default adder style, balanced)
A, B, C = 1.1563, 0.9248, -0.0318
#: adder bits per adder: constant, input width, accumulator range bits, weight span, unsigned input, log2(N)
W0, W_X, W_R, W_S, W_U, W_N = -0.7761, 0.958, 0.0513, 0.2579, 0.4974, 0.4494
K_CONST = 1.7576
K_MUX = 1.5
K_CMP = 2.0091
#: macc bits per adder bit by pipeline depth (0, 1, 2, >= 3): chains of adders inside one register stage
K_MACC = (0.0446, 0.0, 0.0268, 0.0132)
#: sign-extension / carry-out bits per adder bit (+ K_EXT_U for an unsigned input), subtracting bits per adder bit
K_EXT, K_EXT_U, K_SUB = 0.0744, 0.0805, 0.486
K_FF = 0.6137
LEVEL_EXTRA = 5


def _matrix_figures(op, graph, streamed: bool) -> tuple[int, int, int, int]:
    """(D digits, M outputs, N inputs per output, positions) of a Dense/Conv op as the emitter builds it."""
    w = np.asarray(op.weight)
    if w.dtype == object:
        w = w.astype(np.int64)
    m = int(w.shape[0])
    n = int(np.prod(w.shape[1:]))
    d = int(csd_digit_count(w).sum())
    pos = 1
    if op.kind in ("conv1d", "conv2d") and not streamed:
        pos = int(np.prod(graph.tensor(op.output).shape[1:]))
    return d, m, n, pos


def value_width(fmt) -> int:
    """Bits of the signed datapath node holding a raw of ``fmt``: a fixed-point value's width (+1 when
    unsigned, zero-extended); a minifloat's decoded integer (``rtl.minifloat``: its raws span
    ``raw_min .. raw_max``, e.g. 19 bits for e4m3), not its code width."""
    if hasattr(fmt, "exp_bits"):
        lo, hi = int(fmt.raw_min), int(fmt.raw_max)
        return max(hi.bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1
    return int(fmt.width) + (1 if fmt.raw_min >= 0 else 0)


def decoder_bits(fmt) -> int:
    """Size in bits of one minifloat input decoder as ``rtl_model.decode_bits`` counts it: for every
    binade shift 0 .. 2**E - 2 the significand bits (M + 1) that land inside the magnitude (M + 2**E - 1
    bits), plus the signed value's bits; 0 for a fixed-point format or a code of at most 4 bits."""
    if not hasattr(fmt, "exp_bits") or fmt.width <= 4:
        return 0
    e, m = int(fmt.exp_bits), int(fmt.man_bits)
    mag = m + (1 << e) - 1
    return sum(max(0, min(m + 1, mag - sh)) for sh in range((1 << e) - 1)) + value_width(fmt)


_CAST_MEMO: dict = {}


def float_cast_bits(width: int, signed: bool, shift: int, fmt) -> dict:
    """Select / compare / constant-add bits of one cast of a ``width``-bit sum (signed or not, ``shift``
    more fractional bits than ``fmt``'s raws) to the minifloat ``fmt``: the emitter's own cast
    (``rtl.minifloat.float_cast``: magnitude, leading-one search, normalising shift, rounding, saturation;
    a handful of nodes, no CSE) built on a one-input datapath and counted by ``rtl_model.datapath_features``.
    Memoised by its arguments (a layer's outputs share one representative width)."""
    key = (width, signed, shift, str(fmt))
    hit = _CAST_MEMO.get(key)
    if hit is not None:
        return hit
    from hwq.formats import FixedFormat
    from hwq.rtl.datapath import Datapath, Value
    from hwq.rtl.minifloat import float_cast

    from .rtl_model import datapath_features

    dp = Datapath()
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << (width - 1)) - 1)
    dp.input("x0", 0, FixedFormat(width, width, True), lo, hi, "sum")
    v = float_cast(dp, "y", Value("x0", fmt.frac_bits + shift), fmt, "cast")
    f = datapath_features(dp, [v], fmt.width, 0)
    skip = ("levels", "ff", "ff_lcu", "ff_declared", "macc_merges", "macc_bits", "carry4")
    out = {k: v for k, v in f.items() if k not in skip and isinstance(v, int) and v}
    _CAST_MEMO[key] = out
    return out


def _width_figures(op, graph) -> tuple[float, float, int, float]:
    """(mean range bits of the sums of the outputs with a non-zero weight, mean span of the non-zero weights
    in bits, 1 if the input is unsigned else 0, mean bits of the outputs' sums above the output format's,
    which a saturation checks) of
    a Dense/Conv op: the range of output k is ``sum(w+ * x_hi + w- * x_lo)`` to
    ``sum(w+ * x_lo + w- * x_hi)`` over the input format's raw range (LSB units), its bits
    ``log2(max |bound| + 1) + 1``; a weight's span is ``floor(log2|w|)`` minus its trailing zero bits."""
    w = np.asarray(op.weight)
    if w.dtype == object:
        w = w.astype(np.int64)
    w = w.reshape(w.shape[0], -1).astype(np.int64)
    fmt = graph.tensor(op.inputs[0]).fmt
    x_lo, x_hi = min(int(fmt.raw_min), 0), max(int(fmt.raw_max), 0)
    wp, wn = np.clip(w, 0, None).astype(float), np.clip(w, None, 0).astype(float)
    lo = wp.sum(1) * x_lo + wn.sum(1) * x_hi
    hi = wp.sum(1) * x_hi + wn.sum(1) * x_lo
    live = (w != 0).any(axis=1)  # an all-zero output has no adders: it must not dilute the mean width
    rbits = np.log2(np.maximum(np.abs(lo), np.abs(hi)) + 1)
    rb = float(np.mean(rbits[live] if live.any() else rbits)) + 1 if w.size else 1.0
    a = np.abs(w[w != 0])
    span = float(np.mean(np.floor(np.log2(a)) - np.log2(a & -a))) if a.size else 0.0
    y = graph.tensor(op.output).fmt
    bits = np.ceil(np.log2(np.maximum(np.abs(lo), np.abs(hi)) + 1)) + 1
    shift = fmt.frac_bits + raw_frac_bits(op.weight_fmt) - y.frac_bits
    over = float(np.mean(np.maximum(0.0, bits - shift - y.width))) if w.size else 0.0
    return rb, span, int(fmt.raw_min >= 0), over


def adder_bits_per_adder(rb: float, span: float, unsigned: int, wx: int, n: int) -> float:
    """Mean carry-chain bits of one two-operand adder (fitted law, see the module docstring); >= 1."""
    return max(1.0, W0 + W_X * wx + W_R * rb + W_S * span + W_U * unsigned + W_N * math.log2(max(n, 2)))


def layer_features_fast(graph, ops: list, name: str, style: str, pipeline: int) -> LayerFeatures:
    """Approximate ``LayerFeatures`` of one layer (ops in topological order) without building it."""
    feat = LayerFeatures(name, style, [op.kind for op in ops])
    adders = add_bits = ext_bits = const_bits = mux_bits = cmp_bits = sat_raw = max_bits = max_node_bits = 0.0
    dec_bits = 0
    cast_feats: dict = {}
    ff_width = 0.0
    levels = 1
    for op in ops:
        y = graph.tensor(op.output)
        x = graph.tensor(op.inputs[0])
        wy = y.fmt.width
        if op.kind in ("dense", "conv1d", "conv2d"):
            d, m, n, pos = _matrix_figures(op, graph, style == "stream")
            acc = op.acc_fmt.width
            wx = value_width(x.fmt) - (1 if x.fmt.raw_min >= 0 and not hasattr(x.fmt, "exp_bits") else 0)
            dec_bits += (n if style == "stream" or op.kind == "dense" else x.size) * decoder_bits(x.fmt)
            m_live = int((np.asarray(op.weight).reshape(m, -1) != 0).any(axis=1).sum())  # outputs with adders
            a = A * max(d, 1) ** B * max(m_live * n, 1) ** C * pos
            adders += a
            rb, span, uns, over = _width_figures(op, graph)
            bits = a * adder_bits_per_adder(rb, span, uns, wx, n)
            add_bits += bits
            ext_bits += bits * (K_EXT + K_EXT_U * uns)
            const_bits += K_CONST * m * pos * rb  # bias / rounding adds as wide as the sum's range
            if hasattr(y.fmt, "exp_bits"):  # a minifloat output: the emitter's float cast, counted on one output
                off = op.acc_fmt.frac_bits - x.fmt.frac_bits - raw_frac_bits(op.weight_fmt)
                signed = bool(x.fmt.raw_min < 0 or (np.asarray(op.weight) < 0).any())
                cast = float_cast_bits(
                    max(2, int(round(rb)) + max(off, 0)), signed, op.acc_fmt.frac_bits - y.fmt.frac_bits, y.fmt
                )
                for k, v in cast.items():  # every feature the exact model counts on that cast
                    cast_feats[k] = cast_feats.get(k, 0) + m * pos * v
            else:
                mux_bits += K_MUX * m * pos * wy * min(1.0, over)  # saturation selects only where the sum overflows
                if y.fmt.overflow != "WRAP":
                    cmp_bits += K_CMP * m * pos * over
                if op.acc_fmt.frac_bits == y.fmt.frac_bits and y.fmt.overflow != "WRAP":
                    sat_raw += m * pos * over  # limit checks on the unrounded sum: its range bits above the output
            ff_width += n * wx * (1 if style == "stream" else pos) + m * pos * acc
            levels += math.ceil(math.log2(max(d / max(m, 1), 2))) + LEVEL_EXTRA
            continue
        elems = y.size if style != "stream" else y.shape[0]  # values one datapath computes
        wn = value_width(x.fmt)  # the operand's signed node width
        if op.kind == "maxpool":  # a comparator tree per window: (taps - 1) compare + select pairs
            taps = int(np.prod(op.kernel))
            max_node_bits += elems * (taps - 1) * wn
            # a max of unsigned inputs (and of such maxes) has a structural-0 sign bit: one bit fewer each
            max_bits += elems * (taps - 1) * (wn - (1 if x.fmt.raw_min >= 0 else 0))
            levels += math.ceil(math.log2(max(taps, 2)))
        elif op.kind == "mul":  # shift-and-add array (rtl.varmul): a gated copy per bit of the narrower operand
            x2 = graph.tensor(op.inputs[1])
            wa, wb = sorted((wn, value_width(x2.fmt)))
            pp = wa - (1 if min(x.fmt.raw_min, x2.fmt.raw_min) >= 0 else 0)
            mux_bits += elems * pp * wb
            adders += elems * max(pp - 1, 0)
            add_bits += elems * max(pp - 1, 0) * (wb + pp / 2)
            levels += math.ceil(math.log2(max(pp, 2)))
        elif op.kind == "batchnorm":  # x * scale[c] (CSD shift-and-add) + bias[c]
            sc = np.abs(np.asarray(op.scale, dtype=np.int64).ravel())
            dg = csd_digit_count(sc)
            span = np.floor(np.log2(np.maximum(sc, 1))) - np.log2(np.maximum(sc & -sc, 1))
            per = elems / max(len(sc), 1)
            adders += per * float(np.maximum(dg - 1, 0).sum())
            add_bits += per * float((np.maximum(dg - 1, 0) * (wn + span)).sum())
            const_bits += per * float((wn + span + 1).sum())
            levels += math.ceil(math.log2(max(int(dg.max(initial=1)), 2))) + 1
        elif op.kind == "add":  # one adder per element
            adders += elems
            add_bits += elems * (wn + 1)
            levels += 1
        if op.kind in ("relu", "clip", "requantize", "batchnorm", "mul", "add") or (
            op.kind == "maxpool" and (y.fmt.width, y.fmt.frac_bits) != (x.fmt.width, x.fmt.frac_bits)
        ):
            mux_bits += K_MUX * elems * wy
    n_out = graph.tensor(ops[-1].output)
    out_bits = (n_out.size if style != "stream" else n_out.shape[0]) * n_out.fmt.width
    stages = ((levels - 1) // pipeline if pipeline > 0 else 0) + 1
    feat.adders = int(round(adders))
    feat.add_bits = int(round(add_bits))
    feat.macc_bits = int(round(add_bits * K_MACC[min(pipeline, 3)]))
    feat.ext_bits = feat.add_bits - int(round(add_bits - ext_bits))  # own bits rounded (monotone in the bits)
    feat.sub_bits = int(round(add_bits * K_SUB))
    feat.sat_raw_bits = int(round(sat_raw))
    feat.const_bits = int(round(const_bits))
    if hasattr(feat, "dec_bits"):  # minifloat input decoders (the exact model's ``decode_bits``)
        feat.dec_bits = dec_bits
    if hasattr(feat, "max_bits"):  # the exact model prices a max select's compare and select together
        feat.max_bits = int(round(max_bits))
    else:  # (a LayerFeatures without max_bits: compare and select bits of the node's width)
        cmp_bits += max_node_bits
        mux_bits += max_node_bits
    feat.mux_bits = int(round(mux_bits))
    feat.cmp_bits = int(round(cmp_bits))
    feat.carry4 = int(round((add_bits + const_bits) / 4))
    for k, v in cast_feats.items():
        if hasattr(feat, k):
            setattr(feat, k, getattr(feat, k) + int(v))
    feat.carry4 += (cast_feats.get("add_bits", 0) + cast_feats.get("const_bits", 0)) // 4
    feat.levels = levels
    feat.latency = stages
    feat.ff = int(round(K_FF * (stages - 1) * ff_width + out_bits + stages))
    feat.ff_declared = feat.ff
    return feat


def plan_fast(graph, *, pipeline: int = 1, io: str = "stream", adders: str | None = None) -> list[LayerFeatures]:
    """Approximate features of every layer (the emitter's layer plan, no datapath built). ``adders`` is
    accepted for symmetry with ``plan_rtl`` and ignored (the constants were fitted on the default style)."""
    from hwq.rtl.plan import check_graph, plan_layers
    from hwq.rtl.stream import frame_of

    from .rtl_model import _emitted_as_dag

    check_graph(graph)
    layers = plan_layers(graph, io)
    out = []
    for k, lay in enumerate(layers):
        f = layer_features_fast(graph, lay.ops, lay.name, lay.style, pipeline)
        xt = graph.tensor(lay.input)
        if k > 0:
            before = layers[k - 1]
            streamed = before.style == "stream" or lay.style == "stream"
            f.skid_bits = frame_of(xt.shape).channels * xt.fmt.width if streamed else xt.size * xt.fmt.width
        stream_link_bits(graph, layers, k, f)
        out.append(f)
    if layers[-1].style == "stream":  # the top's m_axis_tlast beat counter
        beats = frame_of(graph.tensor(layers[-1].output).shape).beats
        out[-1].tlast_bits = (beats - 1).bit_length() if beats > 1 else 0
    if io == "stream" and _emitted_as_dag(graph):  # rtl_model.top_timing: the emitted top is a DAG
        out[0].extra["emitted_dag"] = True
    return out


def stream_link_bits(graph, layers: list, k: int, feat: LayerFeatures) -> None:
    """Set the line-buffer and frame features of layer ``k`` (``window_bits``, ``window_taps_bits``,
    ``window_counter_bits``, ``window_pad_bits``, ``frame_bits``; bits) as ``rtl_model`` counts them:
    they follow from the window geometry and the tensor shapes alone (no datapath is built), so the fast
    estimate has them exactly. ``hwq_window_pad`` (masked padding): real pixels only in the shift register,
    a pad flag per tap in the output register only for a maxpool, walk / emission / row / column counters;
    ``hwq_window_hold``: ``rtl_model.hold_window_bits``; ``hwq_window``: the padded rows in the shift
    register, four position counters; a frame collect (parallel -> streamed) or split (streamed ->
    parallel) register of one frame plus a beat counter."""
    from hwq.rtl.stream import frame_of, window_of

    from .rtl_model import _bits_for, hold_window_bits, masked_window_regs

    lay = layers[k]
    xt = graph.tensor(lay.input)
    if lay.style == "stream":
        head = lay.ops[0]
        win = window_of(head, graph)
        feat.extra["window"] = win.parameters()  # rtl_model.top_timing: the line buffer's latency
        flag = 1 if head.kind == "maxpool" and win.padded_taps() else 0
        if win.primitive == "hwq_window_pad":
            pcount = _bits_for(max(win.emissions()[-1], win.in_h * win.in_w - 1) + 1)
            counters = 1 + _bits_for((win.out_h - 1) * win.sh) + _bits_for((win.out_w - 1) * win.sw)
            fr = frame_of(xt.shape)
            read = _read_taps(head, win, fr.channels)
            feat.window_bits, feat.window_taps_bits = masked_window_regs(win, fr.channels, xt.fmt.width, read)
            feat.window_taps_bits += flag * len(win.padded_taps()) + 1
            tail = win.emissions()[-1] >= win.in_h * win.in_w  # q: read only with tail steps
            feat.window_counter_bits = counters + (3 if tail else 2) * pcount
            feat.window_pad_bits = counters + 3 * pcount
        elif win.primitive == "hwq_window_hold":
            fr = frame_of(xt.shape)
            hold = hold_window_bits(win, fr.channels, xt.fmt.width, bool(flag), _read_taps(head, win, fr.channels))
            feat.window_bits, feat.window_taps_bits, feat.window_counter_bits = hold
            feat.window_pad_bits = feat.window_counter_bits
        else:
            hp = win.in_h + win.pad_t + win.pad_b
            wp = win.in_w + win.pad_l + win.pad_r
            depth = (win.kh - 1) * win.dh * wp + (win.kw - 1) * win.dw
            fr = frame_of(xt.shape)
            read = _read_taps(head, win, fr.channels)
            shift, taps = masked_window_regs(win, fr.channels, xt.fmt.width, read, row=wp)
            feat.window_bits = shift + depth * flag
            feat.window_taps_bits = taps + win.taps * flag + 1
            feat.window_counter_bits = 4 * _bits_for(max(hp, wp)) + 2
    if k > 0 and (layers[k - 1].style == "stream") != (lay.style == "stream"):
        fr = frame_of(xt.shape)
        feat.frame_bits = fr.beats * fr.channels * xt.fmt.width + 1 + _bits_for(fr.beats - 1)


def _read_taps(op, win, channels: int) -> set[tuple[int, int]] | None:
    """(tap, input channel) pairs of a streamed conv's window with a nonzero weight in some output channel
    (the datapath reads no other: ``rtl_model.read_window_inputs``); None (all) for pooling."""
    if op.kind not in ("conv1d", "conv2d"):
        return None
    w = np.asarray(op.weight)
    w = w.reshape(w.shape[0], w.shape[1], win.kh, win.kw)
    per = w.shape[0] // int(op.groups)  # output channels per group; group g reads input channels g*cg..
    cg = w.shape[1]
    out = set()
    for c in range(channels):
        g = c // cg
        rows = w[g * per : (g + 1) * per, c % cg]
        out |= {(a * win.kw + b, c) for a in range(win.kh) for b in range(win.kw) if np.any(rows[:, a, b] != 0)}
    return out


def fit_fast(designs: list[dict]) -> dict:
    """Constants of this module fitted on designs with exact ``features`` (``calibrate.featurise``; every
    design's ops[0] is its matrix op and features[0] its layer; an optional ``weight`` per design, default
    1): the adder law in log space, adder bits per adder by least squares relative to the exact bits, the
    other bit factors by least squares through the origin."""
    rows = []
    for d in designs:
        g = d["graph"]
        op = g.ops[0]
        f = d["features"][0]
        dd, m, n, pos = _matrix_figures(op, g, f.style == "stream")
        rb, span, uns, over = _width_figures(op, g)
        wx = g.tensor(op.inputs[0]).fmt.width
        rows.append(dict(d=dd, m=m, n=n, pos=pos, rb=rb, span=span, uns=uns, over=over, wx=wx, f=f, p=d["pipeline"]))
    rows = [r for r in rows if r["f"].adders > 0]
    wt = np.array([float(d.get("weight", 1.0)) for d in designs if d["features"][0].adders > 0])
    col = {k: np.array([float(r[k]) for r in rows]) for k in ("d", "m", "n", "pos", "rb", "span", "uns", "over", "wx")}
    ex = {k: np.array([float(getattr(r["f"], k)) for r in rows]) for k in ("adders", "add_bits", "ext_bits")}

    def lsq(X, y, w):
        sw = np.sqrt(w)
        return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]

    X = np.column_stack([np.ones(len(rows)), np.log(col["d"]), np.log(col["m"] * col["n"])])
    la, b, c = lsq(X, np.log(ex["adders"] / col["pos"]), wt)
    out = {"A": math.exp(la), "B": b, "C": c}
    ad = ex["adders"]
    X = ad[:, None] * np.column_stack(
        [np.ones(len(rows)), col["wx"], col["rb"], col["span"], col["uns"], np.log2(np.maximum(col["n"], 2))]
    )
    out.update(zip(("W0", "W_X", "W_R", "W_S", "W_U", "W_N"), lsq(X, ex["add_bits"], wt / ex["add_bits"])))
    ab = ex["add_bits"]
    X = np.column_stack([ab, ab * col["uns"]])
    out.update(zip(("K_EXT", "K_EXT_U"), lsq(X, ex["ext_bits"], wt / np.maximum(ex["ext_bits"], 1))))

    def ratio(num, den):
        num, den = np.array(num, float), np.array(den, float)
        return float(num @ den / max(den @ den, 1e-9))

    fs = [r["f"] for r in rows]
    out["K_CONST"] = ratio([f.const_bits for f in fs], col["m"] * col["pos"] * col["rb"])
    out["K_CMP"] = ratio([f.cmp_bits for f in fs], col["m"] * col["pos"] * col["over"])
    out["K_SUB"] = ratio([f.sub_bits for f in fs], ab)
    for p in range(4):
        sel = [k for k, r in enumerate(rows) if min(r["p"], 3) == p]
        out[f"K_MACC{p}"] = ratio([fs[k].macc_bits for k in sel], [ab[k] for k in sel])
    return {k: round(float(v), 4) for k, v in out.items()}
