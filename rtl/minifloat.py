"""Minifloat (``float<E,M,...>``) tensors in the Verilog datapath: decode, round-and-encode, ReLU, codes.

Streams carry minifloat *codes* (``1+E+M`` bits: sign | exponent | mantissa, as ``FloatFormat.to_bits``);
inside a layer every value is the exact raw integer of the IR (value = raw * 2**-F, F = bias + M - 1), so
every fixed-point op of the emitter (Dense/Conv adder graphs, sums, casts) runs unchanged on minifloat
operands. Three pieces join the two worlds, each a group of ``netlist.Node``s:

- ``input_node`` (layer inputs): decode a code into its raw, ``mag = e == 0 ? m : (1.m) << (e - 1)``
  (a barrel shift by the exponent; subnormals kept, or 0 with ``nosub``), then the sign. The layer's
  constant products then act on this fixed-point raw: the exponent shift happens once per input element and
  is shared by every output that reads it (Dense/Conv: one barrel shifter per input, not per product).
- ``float_cast`` (any op's result to a minifloat format): the exact rounding of ``FloatFormat.cast_raw``:
  magnitude, leading-one detection (a priority chain) limited at the subnormal threshold, a left
  normalising shift, round to nearest even on the binade's spacing, code = (binade << M) + rounded
  significand (a carry out of the significand bumps the exponent by itself), saturation to ``max_code``
  (the IR's rule: raws hold no inf/NaN, whatever the policy), flush to zero without subnormals, and the
  sign (zero is always +0, as ``to_bits`` encodes it). It yields the code node and the raw node (the raw is
  the code decoded again, for consumers inside the layer).
- ``output_codes`` (layer outputs): the code node of each output value (made by ``float_cast``; a value
  without one is encoded by a ``float_cast`` to its own format, which is exact).

The code of a raw node is remembered on the datapath (``codes(dp)``: raw node -> (code node, format)), so
a value already on a format's grid is never rounded again (``float_cast`` at the same LSB returns it) and a
ReLU on it is a select on both the raw and the code (``relu``). Stochastic rounding has no hardware here:
``check_format`` refuses it.
"""

from __future__ import annotations

from hwq.formats import FloatFormat

from .constmul import sum_terms
from .datapath import FLOAT_HOOKS, RtlError, Value
from .matrix import _can_saturate, _finish
from .mcm import build_adder_graph
from .netlist import Node, fit, literal

__all__ = ["check_format", "codes", "float_cast", "input_node", "is_float", "output_codes", "relu"]


def is_float(fmt) -> bool:
    """True when ``fmt`` is a minifloat format (``FloatFormat``)."""
    return getattr(fmt, "kind", None) == "float"


def check_format(fmt) -> str | None:
    """None when the Verilog emitter implements minifloat format ``fmt`` exactly, else the reason (one line)."""
    if fmt.rounding != "RNE":
        raise_reason = f"format {fmt}: {fmt.rounding} rounding has no Verilog implementation (use RNE)"
        return raise_reason
    return None


def codes(dp) -> dict[str, tuple[str, FloatFormat]]:
    """The datapath's map raw node name -> (code node name, format) (created on first use)."""
    table = getattr(dp, "float_codes", None)
    if table is None:
        table = {}
        dp.float_codes = table
    return table


def _mag_bits(fmt: FloatFormat) -> int:
    """Bits of the largest magnitude any code decodes to (inf/NaN codes included): M + 2**E - 1."""
    return fmt.man_bits + (1 << fmt.exp_bits) - 1


def _decode_body(fmt: FloatFormat, width: int) -> list[str]:
    """Body lines of a node (``width`` bits) holding the signed raw of the code in operand ``{0}``
    (an unsigned code in a signed wire one bit wider than the code)."""
    e_bits, m_bits = fmt.exp_bits, fmt.man_bits
    mb = _mag_bits(fmt)
    top = e_bits + m_bits
    body = [f"wire [{e_bits - 1}:0] {{out}}_mfe = {{0}}[{top - 1}:{m_bits}];  // exponent field"]
    sig = "1'b1" if m_bits == 0 else f"{{1'b1, {{0}}[{m_bits - 1}:0]}}"
    sub = f"{{{{{mb - m_bits}{{1'b0}}}}, {{0}}[{m_bits - 1}:0]}}" if fmt.subnormals and m_bits > 0 else f"{mb}'d0"
    body += [
        f"wire [{e_bits - 1}:0] {{out}}_mfsh = {{out}}_mfe - {e_bits}'d1;",
        f"wire [{mb - 1}:0] {{out}}_mfone = {{{{{mb - m_bits - 1}{{1'b0}}}}, {sig}}};"
        if mb > m_bits + 1
        else f"wire [{mb - 1}:0] {{out}}_mfone = {sig};",
        f"wire [{mb - 1}:0] {{out}}_mfmag = ({{out}}_mfe == {e_bits}'d0) ? {sub} : ({{out}}_mfone << {{out}}_mfsh);"
        "  // subnormal : (1.m) << (e - 1)",
        f"wire signed [{mb}:0] {{out}}_mfpos = $signed({{1'b0, {{out}}_mfmag}});",
        f"wire signed [{mb}:0] {{out}}_mfv = {{0}}[{top}] ? -{{out}}_mfpos : {{out}}_mfpos;  // sign",
        f"assign {{out}} = {fit('{out}_mfv', mb + 1, width)};",
    ]
    return body


def _zext(name: str, width: int, to: int) -> str:
    """``name`` (unsigned, ``width`` bits) zero-extended to ``to`` bits (lint-clean widths)."""
    return name if to == width else f"{{{{{to - width}{{1'b0}}}}, {name}}}"


def _code_node(dp, name: str, level: int, operands: list[str], body: list[str], fmt, comment: str) -> Node:
    """A node holding an unsigned (1+E+M)-bit code (range [0, 2**width - 1])."""
    node = Node(name, 0, (1 << fmt.width) - 1, level, operands, body, comment + f": {fmt} code")
    return dp.add(node)


def input_node(dp, name: str, tdata_lsb: int, fmt: FloatFormat, lo: int, hi: int, comment: str) -> Node:
    """Layer input element at ``s_axis_tdata[tdata_lsb +: 1+E+M]`` (a ``fmt`` code): node ``<name>_code``
    (the code) and node ``name`` (its raw, exact, units of 2**-F), whose proven raw range is [lo, hi]."""
    w = fmt.width
    bits = f"s_axis_tdata[{tdata_lsb + w - 1}:{tdata_lsb}]" if w > 1 else f"s_axis_tdata[{tdata_lsb}]"
    code = _code_node(dp, f"{name}_code", 0, [], [f"assign {{out}} = $signed({{1'b0, {bits}}});"], fmt, comment)
    node = Node(name, lo, hi, 0, [code.name], [], comment + ": raw (code decoded)")
    node.body = _decode_body(fmt, node.width)
    dp.add(node)
    codes(dp)[name] = (code.name, fmt)
    return node


def _round_body(src: Node, s: int, fmt: FloatFormat) -> tuple[list[str], int]:
    """Body lines computing ``{out}_mfcm`` (the rounded, saturated, flushed magnitude code, E+M bits) and
    ``{out}_mfn`` (sign) of the raw in operand ``{0}`` (``src``) taken at ``s`` more fractional bits than
    ``fmt``'s raws. Returns (lines, width of ``{out}_mfcm``). Mirrors ``FloatFormat._round`` (RNE)."""
    m_bits, e_bits = fmt.man_bits, fmt.exp_bits
    wi = src.width
    amax = max(abs(src.lo), abs(src.hi))
    body: list[str] = []
    if src.lo < 0:
        body.append(f"wire {{out}}_mfn = {{0}}[{wi - 1}];  // sign")
        body.append(f"wire [{wi - 1}:0] {{out}}_mfa0 = {{out}}_mfn ? -{{0}} : {{0}};  // magnitude")
    else:
        body.append("wire {out}_mfn = 1'b0;")
        body.append(f"wire [{wi - 1}:0] {{out}}_mfa0 = {{0}};")
    wa = max(amax.bit_length(), 1)
    a = f"{{out}}_mfa0[{wa - 1}:0]" if wa > 1 else "{out}_mfa0[0]"
    pad = 2 + max(-s, 0)  # two guard zeros (a half and a sticky bit always exist); s < 0: exact left shift
    s2 = max(s, 0) + 2
    w2 = wa + pad
    body.append(f"wire [{w2 - 1}:0] {{out}}_mfa = {{{a}, {pad}'b0}};  // magnitude at {s2} bits below the raw LSB")
    t = s2 + m_bits  # bit of the magnitude where the smallest normal's leading one sits
    if w2 - 1 <= t:  # never reaches the normal range: the binade is fixed (g = 0), shift by s2
        q_w = max(w2 - s2, 1)
        q = f"{{out}}_mfa[{w2 - 1}:{s2}]" if s2 <= w2 - 1 else "1'b0"
        half = f"{{out}}_mfa[{s2 - 1}]" if s2 - 1 <= w2 - 1 else "1'b0"
        lo_hi = min(s2 - 2, w2 - 1)
        sticky = f"(|{{out}}_mfa[{lo_hi}:0])"
        body.append(f"wire [{q_w - 1}:0] {{out}}_mfq = {q};")
        g_max, g_expr = 0, None
    else:
        g_max = w2 - 1 - t  # largest binade shift
        lw = max(g_max.bit_length(), 1)
        chain = f"{lw}'d{g_max}"
        for i in range(t + 1, w2):  # leading one at bit i: normalising left shift w2 - 1 - i
            chain = f"{{out}}_mfa[{i}] ? {lw}'d{w2 - 1 - i} : {chain}"
        body.append(f"wire [{lw - 1}:0] {{out}}_mfls = {chain};  // leading-one shift, at most {g_max}")
        body.append(f"wire [{w2 - 1}:0] {{out}}_mfb = {{out}}_mfa << {{out}}_mfls;  // normalised")
        q_w = m_bits + 1
        body.append(f"wire [{q_w - 1}:0] {{out}}_mfq = {{out}}_mfb[{w2 - 1}:{w2 - 1 - m_bits}];  // significand")
        half = f"{{out}}_mfb[{w2 - 2 - m_bits}]"
        sticky = f"(|{{out}}_mfb[{w2 - 3 - m_bits}:0])"
        g_expr = f"{lw}'d{g_max} - {{out}}_mfls"
        body.append(f"wire [{lw - 1}:0] {{out}}_mfg = {g_expr};  // binade above the subnormal one")
    body.append(f"wire {{out}}_mfup = {half} & ({sticky} | {{out}}_mfq[0]);  // round to nearest, ties to even")
    cm_max = (g_max << m_bits) + (1 << (m_bits + 1))
    cw = max(cm_max.bit_length(), e_bits + m_bits)
    gpart = f"({{{{{cw - max(g_max.bit_length(), 1)}{{1'b0}}}}, {{out}}_mfg}} << {m_bits})" if g_expr else f"{cw}'d0"
    if g_expr and cw == max(g_max.bit_length(), 1):
        gpart = f"({{out}}_mfg << {m_bits})"
    body.append(
        f"wire [{cw - 1}:0] {{out}}_mfc0 = {gpart} + {_zext('{out}_mfq', q_w, cw)} + {_zext('{out}_mfup', 1, cw)};"
        "  // (binade << M) + significand"
    )
    cur = "{out}_mfc0"
    if cm_max > fmt.max_code:
        body.append(
            f"wire [{cw - 1}:0] {{out}}_mfc1 = ({cur} > {cw}'d{fmt.max_code}) ? {cw}'d{fmt.max_code} : {cur};"
            "  // saturate to max"
        )
        cur = "{out}_mfc1"
    if not fmt.subnormals:
        body.append(f"wire [{cw - 1}:0] {{out}}_mfc2 = ({cur} < {cw}'d{1 << m_bits}) ? {cw}'d0 : {cur};  // flush")
        cur = "{out}_mfc2"
    mb = e_bits + m_bits
    body.append(f"wire [{mb - 1}:0] {{out}}_mfcm = {cur}[{mb - 1}:0];")
    return body, mb


def float_cast(dp, name: str, v, fmt: FloatFormat, comment: str):
    """``fmt.cast_raw`` of ``v`` (exact integer at ``v.frac_bits``) as nodes ``<name>_code`` (the code) and
    ``name`` (the rounded raw at ``fmt.frac_bits``). Returns the raw's ``datapath.Value``; ``v`` itself when
    it already holds a ``fmt`` value at ``fmt``'s LSB."""
    import numpy as np

    reason = check_format(fmt)
    if reason is not None:
        raise RtlError(f"{comment}: {reason}")
    table = codes(dp)
    src = dp.nodes[v.node]
    s = v.frac_bits - fmt.frac_bits
    if s == 0 and table.get(v.node, (None, None))[1] == fmt:
        return Value(v.node, fmt.frac_bits)
    ends = fmt.cast_raw(np.array([src.lo, src.hi], dtype=object), v.frac_bits)
    rlo, rhi = int(ends[0]), int(ends[1])
    if src.const:
        raw = dp.const(name, rlo, comment)
        code = int(np.asarray(fmt.to_bits(np.array([rlo], dtype=np.int64)))[0])
        table[raw.name] = (dp.const(name + "_code", code, comment + f": {fmt} code").name, fmt)
        return Value(raw.name, fmt.frac_bits)
    body, mb = _round_body(src, s, fmt)
    body.append("wire {out}_mfsg = {out}_mfn & (|{out}_mfcm);  // zero is +0")
    body.append("assign {out} = $signed({1'b0, {out}_mfsg, {out}_mfcm});")
    code = _code_node(dp, f"{name}_code", src.level + 1, [v.node], body, fmt, comment + f": round to {fmt}")
    raw = Node(name, rlo, rhi, src.level + 1, [code.name], [], comment + f": {fmt} raw")
    raw.body = _decode_body(fmt, raw.width)
    dp.add(raw)
    table[name] = (code.name, fmt)
    return Value(name, fmt.frac_bits)


def relu(dp, name: str, v, fmt: FloatFormat, comment: str):
    """IR ReLU of a ``fmt`` value ``v`` into the same format (no rounding): ``x > 0 ? x : 0`` as a select on
    the raw and one on the code (sign bit set: +0). Falls back to ``Datapath.relu`` (select, then
    ``float_cast``) when ``v`` has no ``fmt`` code."""

    table = codes(dp)
    src = dp.nodes[v.node]
    entry = table.get(v.node)
    if entry is None or entry[1] != fmt or v.frac_bits != fmt.frac_bits or src.lo >= 0:
        return dp.relu(name, v, fmt, comment)
    code_name = entry[0]
    cnode = dp.nodes[code_name]
    top = fmt.width - 1
    pos = Node(name, 0, max(src.hi, 0), max(src.level, cnode.level), [v.node], [], comment + ": max(x, 0)")
    pos.body = [
        f"assign {{out}} = {{0}}[{src.width - 1}] ? {literal(0, pos.width)} : {fit('{0}', src.width, pos.width)};"
    ]
    dp.add(pos)
    cbody = [f"assign {{out}} = {{0}}[{top}] ? {literal(0, cnode.width)} : {{0}};  // negative: +0"]
    code = _code_node(dp, f"{name}_code", pos.level, [code_name], cbody, fmt, comment + ": max(x, 0)")
    table[name] = (code.name, fmt)
    return Value(name, fmt.frac_bits)


def output_codes(dp, outs: list, fmt: FloatFormat) -> list:
    """Values whose nodes hold the ``fmt`` codes of the layer outputs ``outs`` (raws at ``fmt``'s LSB)."""

    table = codes(dp)
    res = []
    for j, v in enumerate(outs):
        entry = table.get(v.node)
        if entry is None or entry[1] != fmt:
            v = float_cast(dp, f"enc{j}", v, fmt, f"output {j}: encode")
            entry = table[v.node]
        res.append(Value(entry[0], fmt.frac_bits))
    return res


# ------------------------------------------------------------------------------------ per-product alignment
#: how a Dense/Conv with minifloat inputs forms its products: ``"decode"`` (default: each input decoded to its
#: raw once, ``input_node``; the constant products act on the raw, shared by every output) or ``"mantissa"``
#: (the signed significand times each constant by shift-and-add, CSE per input column, then one barrel
#: shift by the input's exponent per product into the accumulator; ``build_dense_mantissa``). An experiment
#: switch for ``benchmarks/minifloat_vs_fixed.py --products``; see the README for the measured LUTs.
PRODUCTS = "decode"


def _significand_nodes(dp, v, fmt: FloatFormat, i: int, prefix: str) -> tuple[str, str, int]:
    """Nodes ``<prefix>_sm<i>`` (signed significand, hidden bit included; 0 for a flushed subnormal) and
    ``<prefix>_sh<i>`` (exponent shift max(e - 1, 0)) of input ``v``'s code; returns (sm, sh, max shift)."""
    code_name = codes(dp)[v.node][0]
    cnode = dp.nodes[code_name]
    src = dp.nodes[v.node]
    e_bits, m_bits = fmt.exp_bits, fmt.man_bits
    top = e_bits + m_bits
    sig_max = (1 << (m_bits + 1)) - 1
    sh_max = max(0, max(abs(src.lo), abs(src.hi)).bit_length() - m_bits - 1)
    sm = Node(f"{prefix}_sm{i}", -sig_max, sig_max, cnode.level, [code_name], [], f"input {i}: signed significand")
    hidden = f"({{0}}[{top - 1}:{m_bits}] != {e_bits}'d0)"
    man = f"{{0}}[{m_bits - 1}:0]" if m_bits else ""
    if m_bits and not fmt.subnormals:
        man = f"({man} & {{{m_bits}{{{hidden}}}}})"
    sig = f"{{1'b0, {hidden}{', ' + man if man else ''}}}"
    sm.body = [
        f"wire signed [{m_bits + 1}:0] {{out}}_mfsig = $signed({sig});",
        f"wire signed [{m_bits + 1}:0] {{out}}_mfneg = -{{out}}_mfsig;",
        f"assign {{out}} = {fit('({0}[' + str(top) + '] ? {out}_mfneg : {out}_mfsig)', m_bits + 2, sm.width)};",
    ]
    dp.add(sm)
    sh = Node(f"{prefix}_sh{i}", 0, sh_max, cnode.level, [code_name], [], f"input {i}: exponent shift")
    sw = sh.width
    sh.body = [
        f"wire [{e_bits - 1}:0] {{out}}_mfe = {{0}}[{top - 1}:{m_bits}];",
        f"wire [{e_bits - 1}:0] {{out}}_mfd = ({{out}}_mfe == {e_bits}'d0) ? {e_bits}'d0 : {{out}}_mfe - {e_bits}'d1;",
        f"assign {{out}} = $signed({{{{{max(sw - e_bits, 0)}{{1'b0}}}}, {{out}}_mfd}});"
        if sw > e_bits
        else f"assign {{out}} = $signed({{out}}_mfd[{sw - 1}:0]);",
    ]
    dp.add(sh)
    return sm.name, sh.name, sh_max


def build_dense_mantissa(dp, spec, graph, xs: list, prefix: str):
    """``spec`` (a ``matrix.DenseSpec``) on minifloat inputs ``xs`` the per-product way: per input i the
    signed significand times every constant of column i (one shared adder graph per column,
    ``mcm.build_adder_graph``), each product shifted left by input i's exponent (a barrel shifter per
    product), the aligned products summed exactly per output (adder tree), bias, accumulator, output cast.
    Returns the output values, or None when the IR needs its ordered chain (``matrix.build_dense`` then)."""
    import numpy as np

    acc_fmt = spec.acc_fmt
    fmt = graph.tensor(graph_input_of(spec, graph)).fmt
    if not is_float(fmt) or any(codes(dp).get(x.node, (None, None))[1] != fmt for x in xs):
        return None
    fx, fw = xs[0].frac_bits, spec.weight_frac
    off = acc_fmt.frac_bits - (fx + fw)
    w_int = [[int(v) for v in row] for row in np.asarray(spec.weight)]
    if off < 0:
        if any(v % (1 << -off) for row in w_int for v in row):
            return None
        w_int = [[v >> -off for v in row] for row in w_int]
        off = 0
    bias_acc = [
        int(v) for v in np.asarray(acc_fmt.cast_raw(np.asarray(spec.bias, dtype=object).ravel(), spec.bias_frac))
    ]
    in_ranges = [(dp.nodes[x.node].lo, dp.nodes[x.node].hi) for x in xs]
    if acc_fmt.overflow != "WRAP" and _can_saturate(w_int, off, bias_acc, in_ranges, acc_fmt):
        return None
    m, n = len(w_int), len(xs)
    terms: list[list] = [[] for _ in range(m)]
    for i in range(n):
        col = [w_int[j][i] for j in range(m)]
        if not any(col):
            continue
        sm, sh, sh_max = _significand_nodes(dp, xs[i], fmt, i, prefix)
        smn = dp.nodes[sm]
        dp.coefs[sm] = {0: 1}
        rng = [(smn.lo, smn.hi)]
        ag = build_adder_graph([[c] for c in col], **dp.adder_options)
        names = [sm]
        for k, (a, b, d, s) in enumerate(ag.nodes):
            nm = f"{prefix}_c{i}_{k}"
            dp.add2(nm, (names[a], 0, 1), (names[b], d, s), rng, f"column {i}: shared significand multiple")
            names.append(nm)
        for j in range(m):
            if not col[j]:
                continue
            pt = [(names[nd], k, s) for nd, k, s in ag.outputs[j]]
            t = 0
            while len(pt) > 1:  # the significand times w[j, i] (exact, small)
                pt.sort(key=lambda tt: (dp.nodes[tt[0]].width + tt[1], tt[0]))
                pt = pt[2:] + [dp.add2(f"{prefix}_p{j}_{i}_{t}", pt[0], pt[1], rng, f"w[{j},{i}] * significand")]
                t += 1
            pn, pk, ps = pt[0]
            p = dp.nodes[pn]
            lo, hi = min(p.lo, p.lo << sh_max), max(p.hi, p.hi << sh_max)
            b = Node(f"{prefix}_b{j}_{i}", lo, hi, max(p.level, dp.nodes[sh].level) + 1, [pn, sh], [])
            b.comment = f"w[{j},{i}] * x[{i}]: product significand << exponent shift (barrel shifter)"
            sw = dp.nodes[sh].width
            b.body = [f"assign {{out}} = {fit('{0}', p.width, b.width)} <<< {{1}}[{max(sw - 2, 0)}:0];"]
            dp.add(b)
            terms[j].append((b.name, pk + off, ps))
    outs = []
    for j in range(m):
        term = sum_terms(dp, f"{prefix}_s{j}", terms[j], f"output {j}: aligned products") if terms[j] else None
        rng_j = []
        if term is not None:
            dp.coefs[term[0]] = {0: 1}
            rng_j = [(dp.nodes[term[0]].lo, dp.nodes[term[0]].hi)]
        acc = dp._accumulate(f"{prefix}_acc{j}", term, bias_acc[j], acc_fmt, rng_j, j)
        outs.append(_finish(dp, spec, Value(acc, acc_fmt.frac_bits), graph.tensor(spec.output).fmt, prefix, j))
    return outs


def graph_input_of(spec, graph) -> str:
    """Name of the input tensor of the op ``spec`` describes."""
    return next(op for op in graph.ops if op.name == spec.name).inputs[0]


FLOAT_HOOKS.update(input=input_node, cast=float_cast)  # rtl/datapath.py calls these for minifloat formats
