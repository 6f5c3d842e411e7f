"""Op lowering of every constant matrix-vector product: Dense, Conv1d/Conv2d and AvgPool/GlobalAvgPool.

A Conv or AvgPool op is rewritten as the equivalent constant (sparse) matrix over the row-major flattened
input (``conv_as_dense``, ``avgpool_as_dense``), a ``DenseSpec``; ``build_dense`` then builds it on a
``datapath.Datapath``: one shared adder graph (``mcm.build_adder_graph``) when that is exact, else the
IR's ordered chain (``ordered.ordered_accumulate``), then the output cast. The netlist primitives live in
``datapath.py`` (which imports nothing from here), so the modules form no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwq.formats import FixedFormat

from .constmul import const_mul
from .datapath import Datapath, Value, _unsigned
from .mcm import build_adder_graph
from .netlist import Node, fit, shifted
from .ordered import ordered_accumulate


@dataclass
class DenseSpec:
    """A constant matrix-vector product ``y[j] = cast_out((bias[j] + sum_i weight[j, i] * x[i]) * scale)``.

    ``weight`` (M, N) and ``bias`` (M,) are raws with ``weight_frac`` / ``bias_frac`` fractional bits,
    accumulated in ``acc_fmt`` (the IR's accumulator rules); the accumulator is multiplied by
    ``scale_mul * 2**-scale_frac`` (average pooling's reciprocal; 1 otherwise) before the cast to the
    format of tensor ``output``. ``name``/``kind``: the IR op it comes from (for comments).
    """

    name: str
    kind: str
    output: str
    weight: np.ndarray
    bias: np.ndarray
    weight_frac: int
    bias_frac: int
    acc_fmt: object
    scale_frac: int = 0
    scale_mul: int = 1


def dense_spec(op) -> DenseSpec:
    """The ``DenseSpec`` of an IR Dense op (its own weight/bias/accumulator)."""
    return DenseSpec(
        op.name,
        op.kind,
        op.output,
        np.asarray(op.weight),
        op.bias,
        op.weight_fmt.frac_bits,
        op.bias_fmt.frac_bits,
        op.acc_fmt,
    )


def conv_as_dense(op, in_shape: tuple, out_shape: tuple, one_window: bool = False) -> DenseSpec:
    """A Conv1d/Conv2d op as the equivalent Dense op over the row-major flattened input.

    Input x raw ``(Cin, H, W)`` (Conv1d: ``(Cin, L)``, H = 1) in the input format; output element
    ``(o, i, j)`` (row-major, ``(Cout, Ho, Wo)``) is ``bias[o] + sum weight[o, c, kh, kw] * x[...]``
    over its receptive field, a row of a sparse constant matrix ``(Cout*Ho*Wo, Cin*H*W)``. Padded
    positions hold 0, so they have no column. Columns follow row-major input order, which is the IR's
    (c, kh, kw) accumulation order, so the accumulator checks of ``Datapath.dense`` apply unchanged.
    Weight/bias/accumulator formats are the op's own. ``in_shape``/``out_shape``: the op's input and
    output tensor shapes; ``one_window``: the op applied to one already-gathered window (a streamed layer's
    datapath): stride 1, no dilation, no padding.
    """
    shape = in_shape
    wgt = np.asarray(op.weight)
    if op.kind == "conv1d":
        cin, h, w = shape[0], 1, shape[1]
        wgt = wgt.reshape(wgt.shape[0], wgt.shape[1], 1, wgt.shape[2])
        (sh, sw), (dh, dw) = (1, int(op.stride)), (1, int(op.dilation))
        pt, pl = 0, int(op.padding[0])
    else:
        cin, h, w = shape
        (sh, sw), (dh, dw) = tuple(op.stride), tuple(op.dilation)
        pt, pl = int(op.padding[0]), int(op.padding[2])
    if one_window:
        (sh, sw), (dh, dw), pt, pl = (1, 1), (1, 1), 0, 0
    cout, cg, kh, kw = wgt.shape
    ho, wo = (1, out_shape[1]) if op.kind == "conv1d" else out_shape[1:]
    mg = cout // int(op.groups)
    mat = np.zeros((cout * ho * wo, cin * h * w), dtype=object)
    for o in range(cout):
        g = o // mg
        for i in range(ho):
            for j in range(wo):
                row = (o * ho + i) * wo + j
                for c in range(cg):
                    ci = g * cg + c
                    for a in range(kh):
                        y = i * sh + a * dh - pt
                        if not 0 <= y < h:
                            continue
                        for b in range(kw):
                            x = j * sw + b * dw - pl
                            if 0 <= x < w:
                                mat[row, (ci * h + y) * w + x] = int(wgt[o, c, a, b])
    bias = np.repeat(np.asarray(op.bias, dtype=object), ho * wo)
    return DenseSpec(op.name, op.kind, op.output, mat, bias, op.weight_fmt.frac_bits, op.bias_fmt.frac_bits, op.acc_fmt)


def avgpool_as_dense(op, in_shape: tuple, out_shape: tuple, one_window: bool = False) -> DenseSpec:
    """An AvgPool/GlobalAvgPool op as a Dense op with 0/1 weights (integer, F_w = 0) and no bias over the
    row-major flattened input: row ``(c, p)`` sums window ``p`` of channel ``c`` in ``op.acc_fmt``
    (padded positions hold 0: no column; row-major (kh, kw) order as in the IR). The reciprocal
    multiply ``acc * recip * 2**-recip_frac_bits`` is applied by ``Datapath._finish``: a pure shift for a
    power-of-two ``recip``, else an exact CSD constant product (``scale_mul``) before the output cast.
    ``one_window``: as ``conv_as_dense`` (stride 1, no padding; the kernel stays the op's)."""
    recip, rfrac = int(op.recip), int(op.recip_frac_bits)
    pow2 = recip > 0 and not recip & (recip - 1)
    shape = in_shape
    c = shape[0]
    if op.kind == "global_avgpool":
        n = int(np.prod(shape[1:]))
        mat = np.zeros((c, c * n), dtype=object)
        for ch in range(c):
            mat[ch, ch * n : (ch + 1) * n] = 1
    else:
        if len(shape) == 2:
            h, w, (kh, kw), (sh, sw), pt, pl = 1, shape[1], (1, op.kernel[0]), (1, op.stride[0]), 0, op.padding[0]
        else:
            (h, w), (kh, kw), (sh, sw), pt, pl = shape[1:], op.kernel, op.stride, op.padding[0], op.padding[2]
        if one_window:
            (sh, sw), pt, pl = (1, 1), 0, 0
        ho, wo = (1, out_shape[1]) if len(shape) == 2 else out_shape[1:]
        mat = np.zeros((c * ho * wo, c * h * w), dtype=object)
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    for y in range(i * sh - pt, i * sh - pt + kh):
                        for x in range(j * sw - pl, j * sw - pl + kw):
                            if 0 <= y < h and 0 <= x < w:
                                mat[(ch * ho + i) * wo + j, (ch * h + y) * w + x] = 1
    return DenseSpec(
        op.name,
        op.kind,
        op.output,
        mat,
        np.zeros(mat.shape[0], dtype=object),
        0,
        0,
        op.acc_fmt,
        scale_frac=rfrac - (recip.bit_length() - 1) if pow2 else rfrac,
        scale_mul=1 if pow2 else recip,
    )


def build_dense(dp: Datapath, op: DenseSpec, graph, xs: list[Value], prefix: str) -> list[Value]:
    """Nodes of a constant matrix-vector product ``op`` (``dense_spec`` of a Dense op, ``conv_as_dense`` /
    ``avgpool_as_dense`` of a Conv/AvgPool op).

    Per output j (see hwq.ir.ops.dense): with a WRAP accumulator, or a saturating one that provably
    never saturates, acc = cast_acc(bias) + sum_i cast_acc(x_i * w_ji) modulo 2**W_acc, the products
    exact shifts-and-adds on one shared adder graph when F_acc >= F_x + F_w (or when the dropped
    weight bits are zero). Otherwise the IR's ordered chain (``ordered.ordered_accumulate``). The
    accumulator is then cast to the output format (``_finish``).
    """
    acc_fmt: FixedFormat = op.acc_fmt
    out_t = graph.tensor(op.output)
    fx = xs[0].frac_bits
    weight = np.asarray(op.weight)
    m, n = weight.shape
    fw = op.weight_frac
    off = acc_fmt.frac_bits - (fx + fw)  # product LSB -> acc LSB: multiply by 2**off
    w_int = [[int(v) for v in row] for row in weight]
    w_raw = w_int
    bias_acc = acc_fmt.cast_raw(np.asarray(op.bias, dtype=object).ravel(), op.bias_frac)
    bias_acc = [int(v) for v in np.asarray(bias_acc).ravel()]
    in_ranges = [(dp.nodes[x.node].lo, dp.nodes[x.node].hi) for x in xs]
    # products rounded one by one (F_acc < F_x + F_w) or an accumulator that can saturate: the IR's
    # ordered chain (hwq.rtl.ordered); otherwise one shared adder graph (exact, modulo 2**W_acc)
    ordered = off < 0 and any(v % (1 << -off) for row in w_int for v in row)
    if off < 0 and not ordered:
        w_int = [[v >> -off for v in row] for row in w_int]
        off = 0
    if not ordered and acc_fmt.overflow != "WRAP":
        ordered = _can_saturate(w_int, off, bias_acc, in_ranges, acc_fmt)
    if ordered:
        accs = ordered_accumulate(dp, op, xs, w_raw, bias_acc, prefix)
        return [_finish(dp, op, acc, out_t.fmt, prefix, j) for j, acc in enumerate(accs)]

    ag = build_adder_graph(w_int, **dp.adder_options)
    names = [x.node for x in xs]
    for i, nm in enumerate(names):
        dp.coefs[nm] = {i: 1}
    for k, (a, b, d, s) in enumerate(ag.nodes):
        nm = f"{prefix}_cse{k}"
        term = dp.add2(
            nm,
            (names[a], 0, 1),
            (names[b], d, s),
            in_ranges,
            f"shared: {names[a]} {'+-'[s < 0]} ({names[b]} << {d})",
        )
        assert term == (nm, 0, 1)
        names.append(nm)
    outs: list[Value] = []
    bound = base = None
    if getattr(dp, "adder_style", "") == "balanced" and any(ag.outputs):
        base = min(dp.nodes[nm].level for nm in names[: len(xs)])
        bound = max(
            (sum(1 << (dp.nodes[names[nd]].level - base) for nd, _, _ in terms) - 1).bit_length()
            for terms in ag.outputs
            if terms
        )
    nodes = dp.nodes

    def entry(tt):  # (top bit, level, node, term): the Huffman order; (level, top bit, node): the shallowest
        nd = nodes[tt[0]]
        return (nd.width + tt[1], nd.level, tt[0], tt)

    for j in range(m):
        terms = [(names[nd], k + off, s) for nd, k, s in ag.outputs[j]]
        # adder tree: always add the two partial sums with the lowest top bit (width + shift), Huffman style;
        # balanced style: the same, unless that pair would push the output past the layer's depth bound
        # (Kraft: terms at levels l_i fit in D levels iff sum 2**l_i <= 2**D); then the two shallowest.
        # Every key is distinct (a node occurs once per shift), so picking the two smallest entries is the
        # order a full sort gives; the Kraft sum is kept up to date instead of summed at every step
        t = 0
        # the sum's sign is that of its lowest-shift terms (``Datapath.add2``): all negative (and some term
        # positive) would need acc = -sum, one more adder and level; then ``_reverse_sub`` where it helps
        low = min((tt[1] for tt in terms), default=0)
        flip = bias_acc[j] == 0 and all(tt[2] < 0 for tt in terms if tt[1] == low) and any(tt[2] > 0 for tt in terms)
        live = [entry(tt) for tt in terms]
        if bound is not None:
            kraft = sum(1 << (e[1] - base) for e in live)
        while len(live) > 1:
            e1 = min(live)
            live.remove(e1)
            e2 = min(live)
            live.remove(e2)
            if bound is not None:
                la, lb = e1[1], e2[1]
                if kraft - (1 << (la - base)) - (1 << (lb - base)) + (1 << (max(la, lb) + 1 - base)) > (1 << bound):
                    live += [e1, e2]
                    e1 = min(live, key=_shallow_key)
                    live.remove(e1)
                    e2 = min(live, key=_shallow_key)
                    live.remove(e2)
            t1, t2 = e1[3], e2[3]
            nm = f"{prefix}_sum{j}_{t}"
            t += 1
            new = None
            if flip:  # a difference instead of a sum of negative sign (and a final negation)
                new = _reverse_sub(dp, nm, t1, t2, in_ranges, f"output {j} partial sum")
            if new is None:
                new = dp.add2(nm, t1, t2, in_ranges, f"output {j} partial sum")
            en = entry(new)
            if bound is not None:
                kraft += (1 << (en[1] - base)) - (1 << (e1[1] - base)) - (1 << (e2[1] - base))
            live.append(en)
        acc = dp._accumulate(f"{prefix}_acc{j}", live[0][3] if live else None, bias_acc[j], acc_fmt, in_ranges, j)
        outs.append(_finish(dp, op, Value(acc, acc_fmt.frac_bits), out_t.fmt, prefix, j))
    return outs


def _shallow_key(e: tuple) -> tuple:
    """Adder-tree entry order of the shallowest pair (``build_dense``): level, top bit, node."""
    return (e[1], e[0], e[2])


def _reverse_sub(dp: Datapath, name: str, t1, t2, in_ranges, comment: str):
    """``(p << d) - n`` as one subtractor with a positive result sign, or None (use ``Datapath.add2``).

    ``t1``, ``t2``: terms ``(node, shift, sign)``. ``Datapath.add2`` factors out the sign of the term with the
    lower shift, so when that term is negative and the other positive it yields ``-(n - (p << d))``; if an
    output's sum ends with a negative sign, it needs a negation ``acc = -sum``: one more adder and one more
    level (on the 16x64 benchmark matrix, 3 outputs at level 7 where the bound is 6). ``build_dense`` uses
    this instead of ``add2`` in such outputs, so their sum is negative only when every term is. The
    subtractor is full width (the low ``d`` bits borrow; ``add2`` skips them). Returns the term
    ``(node, k_n, +1)``; None for any other pair of signs or shifts.
    """
    (n1, k1, s1), (n2, k2, s2) = sorted([t1, t2], key=lambda t: (t[1], -t[2], t[0]))
    d = k2 - k1
    if not (s1 < 0 < s2 and d > 0):
        return None
    coefs: dict[int, int] = {}
    for nd, c, sh in ((n1, -1, 0), (n2, 1, d)):
        for i, v in dp.coefs[nd].items():
            coefs[i] = coefs.get(i, 0) + c * (v << sh)
    coefs = {i: v for i, v in coefs.items() if v}
    lo, hi = dp._range(coefs, in_ranges)
    node = Node(name, lo, hi, dp.level_of([n1, n2]) + 1, [n1, n2], [], comment)
    w = node.width
    pos = shifted("{1}", dp.nodes[n2].width, d, w)
    if pos is None:  # p << d vanishes modulo 2**w
        return None
    neg = fit("{0}", dp.nodes[n1].width, w)
    node.body = [f"assign {{out}} = $signed({_unsigned(pos)} - {_unsigned(neg)});"]
    dp.add(node)
    dp.adders += 1
    dp.coefs[name] = coefs
    return (name, k1, 1)


def _finish(dp: Datapath, op, acc: Value, out_fmt, prefix: str, j: int) -> Value:
    """Output ``j`` from its accumulator: average pooling's reciprocal (``op.scale_mul`` * 2**-scale_frac,
    an exact CSD product), then the cast to the output format."""
    mul = op.scale_mul
    if mul != 1:
        acc = const_mul(dp, f"{prefix}_rc{j}", acc, mul, 0, f"output {j}: acc * reciprocal {mul}")
    acc = Value(acc.node, acc.frac_bits + op.scale_frac)  # times 2**-scale_frac
    return dp.cast(f"{prefix}_y{j}", acc, out_fmt, f"output {j}")


def _can_saturate(w_int, off, bias_acc, in_ranges, acc_fmt) -> bool:
    """True unless every product and partial sum of every output provably stays inside ``acc_fmt``."""
    lo_acc, hi_acc = acc_fmt.raw_min, acc_fmt.raw_max
    if acc_fmt.overflow == "SAT_SYM" and acc_fmt.signed:
        lo_acc = -hi_acc
    for j, row in enumerate(w_int):
        lo = hi = bias_acc[j]
        for i, w in enumerate(row):
            a, b = (w << off) * in_ranges[i][0], (w << off) * in_ranges[i][1]
            plo, phi = min(a, b), max(a, b)
            lo, hi = lo + plo, hi + phi
            if plo < lo_acc or phi > hi_acc or lo < lo_acc or hi > hi_acc:
                return True
    return False
