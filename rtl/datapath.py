"""Build a layer's datapath (``netlist.Node`` list) from IR ops: adder graphs, accumulators, casts, ReLU.

All arithmetic decisions live here (widths, shifts, rounding increments, saturation limits); the
printer (``layer.py``) only prints nodes. Values are exact integers in units of a stated LSB
(``frac_bits``), as in the IR.
"""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat

from .netlist import Node, fit, high_part, literal, low_bits, shifted, signed_width, wrap_signed


class RtlError(ValueError):
    """A graph the Verilog emitter cannot implement exactly; the message names the op and format."""


#: Minifloat hooks ("input": decode a code, "cast": round-and-encode), registered by ``rtl/minifloat.py``
#: when it is imported (``hwq.rtl`` imports it), so that this module never imports the minifloat module,
#: which builds on it (no import cycle).
FLOAT_HOOKS: dict = {}


def float_hook(name: str):
    """The registered minifloat hook ``name`` ("input" or "cast"); RtlError when hwq.rtl.minifloat is not loaded."""
    try:
        return FLOAT_HOOKS[name]
    except KeyError:
        raise RtlError(f"minifloat {name}: import hwq.rtl (it registers rtl/minifloat.py's hooks) first") from None


class Value:
    """A datapath value: node name plus the LSB weight (frac_bits) of its integer."""

    __slots__ = ("node", "frac_bits")

    def __init__(self, node: str, frac_bits: int) -> None:
        self.node = node
        self.frac_bits = frac_bits


def _unsigned(expr: str) -> str:
    """An operand expression of W bits (``netlist.fit``/``shifted``) as the same W bits unsigned:
    ``$signed(X)`` -> ``X`` (a concatenation or part select), any other expression -> ``$unsigned(expr)``."""
    if expr.startswith("$signed(") and expr.endswith(")"):
        inner, depth = expr[len("$signed(") : -1], 0
        for ch in inner:
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                break
        else:
            if depth == 0:
                return inner
    return f"$unsigned({expr})"


class Datapath:
    """Ordered nodes of one layer module; names are unique Verilog identifiers."""

    #: adder-graph styles (``hwq.rtl.mcm.build_adder_graph`` options): ``balanced`` (default; shared CSD
    #: digits under a depth bound: no more levels than the plain adder tree, output sums built shallowest
    #: first), ``fewest`` (row-difference chains and the transposed graph when they save adders; deeper)
    #: or ``shallow`` (plain shared CSD digits, no bound)
    ADDER_STYLES = {
        "balanced": {"decompose": False, "transpose": False, "depth_bound": "plain"},
        "fewest": {},
        "shallow": {"decompose": False, "transpose": False},
    }

    def __init__(self, adders: str = "balanced") -> None:
        if adders not in self.ADDER_STYLES:
            raise RtlError(f"rtl emitter: adders must be one of {', '.join(self.ADDER_STYLES)}, got {adders!r}")
        self.adder_style = adders
        self.adder_options = self.ADDER_STYLES[adders]
        self.nodes: dict[str, Node] = {}
        self.coefs: dict[str, dict[int, int]] = {}  # linear nodes: {input index: coefficient}
        self.adders = 0

    # ----------------------------------------------------------------------------- basic nodes
    def add(self, node: Node) -> Node:
        """Append a node (names must be unique)."""
        if node.name in self.nodes:
            raise RtlError(f"internal: node {node.name!r} defined twice")
        self.nodes[node.name] = node
        return node

    def level_of(self, names: list[str]) -> int:
        """Deepest level among the named (non-constant) nodes."""
        return max((self.nodes[n].level for n in names if not self.nodes[n].const), default=0)

    def const(self, name: str, value: int, comment: str = "") -> Node:
        """A constant integer node (never staged)."""
        w = signed_width(value, value)
        return self.add(Node(name, value, value, 0, [], [f"assign {{out}} = {literal(value, w)};"], comment, True))

    def input(self, name: str, tdata_lsb: int, fmt: FixedFormat, lo: int, hi: int, comment: str) -> Node:
        """Element of ``s_axis_tdata`` at bits [tdata_lsb +: W] holding a raw ``fmt`` integer in [lo, hi]
        (a minifloat ``fmt``: its code, decoded to the raw by ``minifloat.input_node``)."""
        if getattr(fmt, "kind", None) == "float":
            return float_hook("input")(self, name, tdata_lsb, fmt, lo, hi, comment)
        w = fmt.width
        bits = f"s_axis_tdata[{tdata_lsb + w - 1}:{tdata_lsb}]" if w > 1 else f"s_axis_tdata[{tdata_lsb}]"
        full = f"$signed({bits})" if fmt.signed else f"$signed({{1'b0, {bits}}})"
        full_w = w if fmt.signed else w + 1
        node = Node(name, lo, hi, 0, [], [], comment)
        body = f"assign {{out}} = {full};" if node.width == full_w else None
        if body is None:
            node.body = [
                f"wire signed [{full_w - 1}:0] {{out}}_raw = {full};",
                f"assign {{out}} = {fit('{out}_raw', full_w, node.width)};",
            ]
        else:
            node.body = [body]
        return self.add(node)

    # ----------------------------------------------------------------------------- linear sums
    def _range(self, coefs: dict[int, int], in_ranges: list[tuple[int, int]]) -> tuple[int, int]:
        lo = hi = 0
        for i, c in coefs.items():
            r0, r1 = in_ranges[i]
            a, b = c * r0, c * r1
            if a <= b:
                lo += a
                hi += b
            else:
                lo += b
                hi += a
        return lo, hi

    def add2(self, name: str, t1, t2, in_ranges, comment: str = ""):
        """Adder node for terms (node, shift, sign) t1 + t2 (both linear in the layer inputs).

        Returns the term (new node, shift, sign) equal to t1 + t2."""
        (n1, k1, s1), (n2, k2, s2) = sorted([t1, t2], key=lambda t: (t[1], -t[2], t[0]))
        d = k2 - k1
        # s1*n1 + s2*(n2 << d) = s1 * (n1 +- (n2 << d)): the node is always n1 + c2*(n2 << d)
        sign, c2 = s1, s1 * s2
        coefs = dict(self.coefs[n1])  # n1 + c2 * (n2 << d), coefficient by coefficient (no zero kept)
        get = coefs.get
        cancel = False
        for i, v in self.coefs[n2].items():
            t = get(i, 0) + c2 * (v << d)
            coefs[i] = t
            cancel = cancel or not t
        if cancel:
            coefs = {i: v for i, v in coefs.items() if v}
        lo, hi = self._range(coefs, in_ranges)
        self.adder(name, n1, n2, d, c2, lo, hi, comment)
        self.coefs[name] = coefs
        return (name, k1, sign)

    def adder(self, name: str, n1: str, n2: str, d: int, c2: int, lo: int, hi: int, comment: str = "") -> Node:
        """Adder node ``n1 + c2 * (n2 << d)`` (c2 = +1 or -1, d >= 0) whose exact value lies in [lo, hi].

        The caller proves the range (interval arithmetic or an exact bound); the node is that narrow and
        the sum is computed modulo 2**width, which is exact for values inside the range. The sum is
        written unsigned, on operands already sign-extended to its width (the same bits modulo
        2**width), and read back as ``$signed(...)`` (no sign conversion on the signed wire): synthesis
        then keeps every adder its own carry chain (yosys merges signed adders
        whose sums cannot overflow into multi-operand $macc cells built as LUT carry-save trees)."""
        node = Node(name, lo, hi, self.level_of([n1, n2]) + 1, [n1, n2], [], comment)
        w = node.width
        wa, wb = self.nodes[n1].width, self.nodes[n2].width
        op = "+" if c2 > 0 else "-"
        if 0 < d < w:
            # the d low bits are n1's own: add only above them, (n1 >>> d) +- n2, then append them
            ah, wah = high_part("{0}", wa, d)
            node.body = [
                f"wire signed [{wah - 1}:0] {{out}}_ah = {ah};",
                f"wire signed [{w - d - 1}:0] {{out}}_hi = "
                f"$signed({_unsigned(fit('{out}_ah', wah, w - d))} {op} {_unsigned(fit('{1}', wb, w - d))});",
                f"assign {{out}} = $signed({{{{out}}_hi, {low_bits('{0}', wa, d)}}});",
            ]
        else:
            a = shifted("{0}", wa, 0, w)
            b = shifted("{1}", wb, d, w)
            expr = a if b is None else f"$signed({_unsigned(a)} {op} {_unsigned(b)})"
            node.body = [f"assign {{out}} = {expr};"]
        self.add(node)
        self.adders += 1
        return node

    # ----------------------------------------------------------------------------- dense
    def _accumulate(self, name: str, term, bias: int, acc_fmt: FixedFormat, in_ranges, j: int) -> str:
        """acc = (bias + term) wrapped to acc_fmt (exact integer in acc LSB units); returns the node name."""
        comment = f"output {j}: bias + products in {acc_fmt}"
        if term is None:
            return self.const(name, bias, comment).name
        tn, k, s = term
        coefs = {i: s * (v << k) for i, v in self.coefs[tn].items()}
        lo, hi = self._range(coefs, in_ranges)
        lo, hi = lo + bias, hi + bias
        wrap = lo < acc_fmt.raw_min or hi > acc_fmt.raw_max
        node = Node(name, lo, hi, 0, [tn], [], comment)
        we = node.width
        src = self.nodes[tn]
        part = shifted("{0}", src.width, k, we)
        if part is None:
            part = literal(0, we)
        pre: list[str] = []
        if bias == 0 and s > 0:
            expr, cost = part, 0
        elif bias == 0:
            expr, cost = f"-{part}", 1
            self.adders += 1  # a negation is a subtractor from zero
        elif 0 < k < we:
            # bias + s*(t << k): the k low bits are the bias's own; add above them only
            hw = we - k
            hi = f"{literal(wrap_signed(bias >> k, hw), hw)} {'+' if s > 0 else '-'} {fit('{0}', src.width, hw)}"
            pre = [f"wire signed [{hw - 1}:0] {{out}}_hi = {hi};"]
            expr, cost = f"$signed({{{{out}}_hi, {k}'h{bias % (1 << k):x}}})", 1
            self.adders += 1
        else:
            expr, cost = f"{literal(wrap_signed(bias, we), we)} {'+' if s > 0 else '-'} {part}", 1
            self.adders += 1
        node.level = src.level + cost
        if not wrap:
            node.body = pre + [f"assign {{out}} = {expr};"]
        else:
            wa = acc_fmt.width
            node.body = pre + [f"wire signed [{we - 1}:0] {{out}}_sum = {expr};  // exact sum"]
            if acc_fmt.signed:
                node.lo, node.hi = acc_fmt.raw_min, acc_fmt.raw_max
                node.body.append(f"assign {{out}} = $signed({{out}}_sum[{wa - 1}:0]);  // WRAP to {wa} bits")
            else:
                node.lo, node.hi = 0, acc_fmt.raw_max
                node.body.append(f"assign {{out}} = $signed({{1'b0, {{out}}_sum[{wa - 1}:0]}});  // WRAP to {wa} bits")
            if we < wa:  # cannot happen (wrap implies the exact range exceeds the acc's)
                raise RtlError(f"internal: accumulator {acc_fmt} wider than the exact sum of {name}")
        self.add(node)
        return name

    # ----------------------------------------------------------------------------- max pooling
    def max2(self, name: str, a: Value, b: Value, comment: str) -> Value:
        """``max(a, b)`` (same LSB weight): one signed comparator and a multiplexer."""
        if a.frac_bits != b.frac_bits:
            raise RtlError(f"internal: {name}: max of values with different LSBs")
        na, nb = self.nodes[a.node], self.nodes[b.node]
        if na.lo >= nb.hi:
            return a
        if nb.lo >= na.hi:
            return b
        node = Node(name, max(na.lo, nb.lo), max(na.hi, nb.hi), self.level_of([a.node, b.node]) + 1, [a.node, b.node])
        node.comment = comment
        w = node.width
        node.body = [f"assign {{out}} = ({{0}} > {{1}}) ? {fit('{0}', na.width, w)} : {fit('{1}', nb.width, w)};"]
        self.add(node)
        return Value(name, a.frac_bits)

    def max_tree(self, prefix: str, values: list[Value], comment: str) -> Value:
        """Maximum of ``values`` (same LSB weight) by a balanced tree of ``max2`` nodes ``<prefix>_<t>``."""
        t = 0
        while len(values) > 1:
            nxt = []
            for a in range(0, len(values) - 1, 2):
                nxt.append(self.max2(f"{prefix}_{t}", values[a], values[a + 1], comment))
                t += 1
            values = nxt + values[len(values) - len(values) % 2 :]
        return values[0]

    def maxpool(self, op, graph, xs: list[Value], prefix: str) -> list[Value]:
        """Nodes of an IR MaxPool op: per window a balanced comparator tree over the window's real
        elements (padded positions are never selected), then the cast to the output format."""
        shape = graph.tensor(op.inputs[0]).shape
        out_t = graph.tensor(op.output)
        if len(shape) == 2:
            c, h, w = shape[0], 1, shape[1]
            (kh, kw), (sh, sw) = (1, op.kernel[0]), (1, op.stride[0])
            pt, pl = 0, op.padding[0]
        else:
            c, h, w = shape
            (kh, kw), (sh, sw), pt, pl = op.kernel, op.stride, op.padding[0], op.padding[2]
        ho, wo = out_t.shape[-2] if len(shape) == 3 else 1, out_t.shape[-1]
        outs = []
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    win = [
                        xs[(ch * h + y) * w + x]
                        for y in range(i * sh - pt, i * sh - pt + kh)
                        for x in range(j * sw - pl, j * sw - pl + kw)
                        if 0 <= y < h and 0 <= x < w
                    ]
                    k = (ch * ho + i) * wo + j
                    top = self.max_tree(f"{prefix}_m{k}", win, f"window {k} max")
                    outs.append(self.cast(f"{prefix}_y{k}", top, out_t.fmt, f"{op.name} (maxpool) output {k}"))
        return outs

    # ----------------------------------------------------------------------------- casts
    def cast(self, name: str, v: Value, fmt, comment: str) -> Value:
        """ap_fixed conversion of v (exact integer, v.frac_bits) to ``fmt``: round the dropped bits with
        fmt.rounding, then fmt.overflow. Returns v itself when the conversion is the identity. A minifloat
        ``fmt``: ``minifloat.float_cast`` (FloatFormat.cast_raw: nearest even, saturate, subnormal policy)."""
        if getattr(fmt, "kind", None) == "float":
            return float_hook("cast")(self, name, v, fmt, comment)
        if not isinstance(fmt, FixedFormat):
            raise RtlError(f"{comment}: format {fmt} is not a fixed-point format; the Verilog emitter needs fixed<...>")
        src = self.nodes[v.node]
        s = v.frac_bits - fmt.frac_bits
        wi = src.width
        lo_f, hi_f = fmt.raw_min, fmt.raw_max
        if fmt.overflow == "SAT_SYM" and fmt.signed:
            lo_f = -hi_f
        # 1) rounding / alignment: r (exact integer at fmt's LSB)
        if s == 0:
            rlo, rhi = src.lo, src.hi
        elif s < 0:
            rlo, rhi = src.lo << -s, src.hi << -s
        else:
            ends = np.array([src.lo, src.hi], dtype=object)
            from hwq.formats import shift_round

            r = shift_round(ends, s, fmt.rounding)
            rlo, rhi = int(r[0]), int(r[1])
        over_hi, over_lo = rhi > hi_f, rlo < lo_f
        if s == 0 and not over_hi and not over_lo:
            return Value(v.node, fmt.frac_bits)
        if src.const:
            val = int(np.asarray(fmt.cast_raw(np.array([src.lo], dtype=object), v.frac_bits))[0])
            return Value(self.const(name, val, comment).name, fmt.frac_bits)
        body: list[str] = []
        if s == 0:
            r_expr, wr = "{0}", wi
        elif s < 0:
            wr = wi - s
            r_expr = f"$signed({{{{0}}, {-s}'b0}})"
        else:
            wf = wi - s if s < wi else 1
            fl = f"$signed({{0}}[{wi - 1}:{s}])" if s < wi else f"$signed({{0}}[{wi - 1}])"
            if fmt.rounding == "TRN":
                wr = wf
                r_expr = fl
            else:
                sign = f"{{0}}[{wi - 1}]"
                half = f"{{0}}[{min(s - 1, wi - 1)}]"
                rest = f"(|{{0}}[{min(s - 2, wi - 1)}:0])" if s >= 2 else "1'b0"
                lsb = f"{{0}}[{min(s, wi - 1)}]"
                up = {
                    "TRN_ZERO": f"{sign} & ({half} | {rest})",
                    "RND": half,
                    "RND_ZERO": f"{half} & ({rest} | {sign})",
                    "RND_INF": f"{half} & ({rest} | !{sign})",
                    "RND_MIN_INF": f"{half} & {rest}",
                    "RND_CONV": f"{half} & ({rest} | {lsb})",
                }[fmt.rounding]
                wr = max(signed_width(rlo, rhi), wf, 2)
                body.append(f"wire signed [{wf - 1}:0] {{out}}_fl = {fl};  // floor(x / 2**{s})")
                body.append(f"wire {{out}}_up = {up};  // {fmt.rounding} increment")
                r_expr = f"{fit('{out}_fl', wf, wr)} + $signed({{{wr - 1}'b0, {{out}}_up}})"
        body.append(f"wire signed [{wr - 1}:0] {{out}}_r = {r_expr};")
        # 2) overflow
        if not over_hi and not over_lo:
            lo, hi = rlo, rhi
            node = Node(name, lo, hi, src.level + 1, [v.node], body, comment)
            if node.width == wr:  # the rounded value as it is: one assignment, no _r wire
                body[-1] = f"assign {{out}} = {r_expr};"
            else:
                body.append(f"assign {{out}} = {fit('{out}_r', wr, node.width)};")
        elif fmt.overflow == "WRAP":
            lo, hi = fmt.raw_min, fmt.raw_max
            node = Node(name, lo, hi, src.level + 1, [v.node], body, comment)
            pat = low_bits("{out}_r", wr, fmt.width)  # r mod 2**W (sign-extended when r is narrower)
            full = f"$signed({pat})" if fmt.signed else f"$signed({{1'b0, {pat}}})"
            body.append(f"assign {{out}} = {full};  // WRAP to {fmt.width} bits")
        else:
            lo, hi = min(max(rlo, lo_f), hi_f), max(min(rhi, hi_f), lo_f)  # (a range wholly beyond a limit: one value)
            if fmt.overflow == "SAT_ZERO":
                lo, hi = min(lo, 0), max(hi, 0)
            node = Node(name, lo, hi, src.level + 1, [v.node], body, comment)
            wo = node.width
            conds = []
            if over_hi:
                body.append(f"wire {{out}}_ovf_hi = {{out}}_r > {literal(hi_f, wr)};")
                conds.append(("{out}_ovf_hi", hi_f))
            if over_lo:
                body.append(f"wire {{out}}_ovf_lo = {{out}}_r < {literal(lo_f, wr)};")
                conds.append(("{out}_ovf_lo", lo_f))
            expr = fit("{out}_r", wr, wo)
            for cond, limit in reversed(conds):
                repl = 0 if fmt.overflow == "SAT_ZERO" else limit
                expr = f"{cond} ? {literal(repl, wo)} : {expr}"
            body.append(f"assign {{out}} = {expr};  // {fmt.overflow}")
        self.add(node)
        return Value(name, fmt.frac_bits)

    def relu(self, name: str, v: Value, fmt, comment: str) -> Value:
        """``cast(x > 0 ? x : 0)`` to ``fmt`` (IR ReLU)."""
        src = self.nodes[v.node]
        if src.lo >= 0:
            return self.cast(name, v, fmt, comment)
        if src.hi <= 0:
            return self.cast(name, Value(self.const(name + "_zero", 0, comment).name, v.frac_bits), fmt, comment)
        node = Node(name + "_pos", 0, src.hi, src.level, [v.node], [], comment + ": max(x, 0)")
        node.body = [
            f"assign {{out}} = {{0}}[{src.width - 1}] ? {literal(0, node.width)} : {fit('{0}', src.width, node.width)};"
        ]
        self.add(node)
        return self.cast(name, Value(node.name, v.frac_bits), fmt, comment)

    def clip(self, name: str, v: Value, lo: int | None, hi: int | None, fmt, comment: str) -> Value:
        """``cast(min(max(x, lo), hi))`` to ``fmt`` (IR Clip; lo/hi are raws of the input format)."""
        src = self.nodes[v.node]
        lo_c = lo if lo is not None and lo > src.lo else None
        hi_c = hi if hi is not None and hi < src.hi else None
        if lo_c is None and hi_c is None:
            return self.cast(name, v, fmt, comment)
        if hi_c is not None and lo_c is not None and lo_c > hi_c:
            raise RtlError(f"{comment}: clip bounds lo={lo} > hi={hi}")

        def clamp(t: int) -> int:
            t = t if lo_c is None else max(t, lo_c)
            return t if hi_c is None else min(t, hi_c)

        new_lo, new_hi = clamp(src.lo), clamp(src.hi)  # monotone: the exact result range
        if new_lo == new_hi:  # the input range lies beyond one bound
            const = self.const(name + "_k", new_lo, comment)
            return self.cast(name, Value(const.name, v.frac_bits), fmt, comment)
        node = Node(name + "_clip", new_lo, new_hi, src.level, [v.node], [], comment + ": clamp")
        expr = fit("{0}", src.width, node.width)
        if hi_c is not None:
            expr = f"({{0}} > {literal(hi_c, src.width)}) ? {literal(hi_c, node.width)} : {expr}"
        if lo_c is not None:
            expr = f"({{0}} < {literal(lo_c, src.width)}) ? {literal(lo_c, node.width)} : {expr}"
        node.body = [f"assign {{out}} = {expr};"]
        self.add(node)
        return self.cast(name, Value(node.name, v.frac_bits), fmt, comment)
