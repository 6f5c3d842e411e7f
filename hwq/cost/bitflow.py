"""Bit-level reading of the emitter's datapath nodes: which bits are constant, copies, or new logic.

The flip-flop count of a layer is what yosys keeps of the registers ``rtl.layer.print_layer`` declares.
yosys removes a register bit whose input is a constant (``opt_dff``), merges register bits whose inputs
are the same net (``opt_merge``), and drops register bits that no kept logic reads (``opt_clean``). To
count exactly that, ``node_bits`` evaluates a node's Verilog body (the narrow expression grammar the
emitter prints: ``$signed``/``$unsigned``, concatenation and replication, part selects, sized literals,
``+ - ~ ! & | ^``, comparisons and ``?:``) bit by bit, with Verilog's width and sign-extension rules
(IEEE 1364-2005 section 5.4/5.5: context-determined operands extended by the signedness of the whole
expression, self-determined primaries), and returns per node bit one *term*:

- ``("c", v)``: the constant 0 or 1 (a zero-extension bit, the low bits of a bias added above them,
  a constant's bits carried through an adder whose other operand is zero there, a ReLU's sign bit);
- ``("s", key, inv)``: a copy (``inv`` False) or the inverse of an operand bit ``key`` = ``(k, j)``
  (bit j of operand k; k = -1: bit j of ``s_axis_tdata``): pass-through adder bits, the low
  bits of an addition of a constant with trailing zeros, sign extensions, part selects;
- ``("f", uid, deps)``: new logic (a sum or carry bit, a select, a compare) depending on the operand
  bits ``deps`` (a frozenset of keys).

An adder (``+``/``-``, unary ``-``) is evaluated as yosys builds it: all-constant inputs fold; from the
LSB up, ``opt_expr -fine`` strips the bits of the ``$alu`` where one operand makes the result a wire
(``b`` bit 0: the ``a`` bit; ``a`` bit equal to the carry-in: the ``b`` bit or, subtracting, its inverse),
and every other bit is a carry-chain output (``SB_CARRY``/``CARRY4``, opaque to later optimisation:
never constant, never merged), up to an unsigned sum's carry-out (``wreduce``: constant 0 above it).
New logic is hash-consed (``opt_merge``: one type, equal inputs, one cell), so equal select bits of a
saturation are one net. ``deps`` is the structural fan-in (what ``opt_clean`` must keep), so the bits a
register must hold are the union of ``deps`` of the bits its readers need (backward liveness). A
comparison with a constant has a second fan-in, ``deps(t, lcu=True)``: ``synth_xilinx`` maps it through
``cmp2lcu`` (LUT6 look-ahead groups), and when it spans at most two groups the look-ahead is plain logic
that folds the constant, so the bits below the constant's trailing run drop out (``ff_lcu``); on iCE40
it is a subtraction on the carry chain that reads every bit. A line outside the grammar (a variable
shift of a minifloat rounder) makes its wire new logic depending on every operand bit it reads.

Checked against yosys 0.23 (``tests/cost/test_ff_exact.py``): equal FF counts on all 112 calibration
designs for ``synth_xilinx`` and ``synth_ice40``.

Units: bits; no coefficients. Used by ``rtl_model._registers``.
"""

from __future__ import annotations

import re
from functools import lru_cache

ZERO = ("c", 0)
ONE = ("c", 1)
#: LUT width of yosys's ``cmp2lcu`` mapping of comparisons (``synth_xilinx``: LUT6); a comparison of at
#: most two LUT groups becomes plain logic there (wider ones go to the CARRY4 chain)
CMP2LCU_LUT = 6

_TOKEN = re.compile(
    r"\s*(?:(?P<ph>\{(?:\d+|out)\}\w*)|(?P<lit>\d+'[sS]?[hHbBdD][0-9a-fA-F_xXzZ]+)|(?P<num>\d+)"
    r"|(?P<sys>\$(?:signed|unsigned))|(?P<id>[A-Za-z_]\w*)|(?P<op>==|!=|<=|>=|&&|\|\||<<|>>>|>>|[-+~!&|^?:<>(){}\[\],*]))"
)


class Unsupported(ValueError):
    """A body line outside the grammar this module evaluates."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unsupported(f"cannot read {text[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


class _Parser:
    """Recursive-descent parser of one expression into tuples (``_Eval.ev`` reads the forms)."""

    #: binary operators, lowest precedence first (IEEE 1364-2005 table 5-4)
    BINARY = [
        ("||",),
        ("&&",),
        ("|",),
        ("^",),
        ("&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("<<", ">>", ">>>"),
        ("+", "-"),
        ("*",),
    ]

    def __init__(self, toks):
        self.t = toks
        self.i = 0

    def peek(self, k: int = 0):
        return self.t[self.i + k] if self.i + k < len(self.t) else ("end", "")

    def take(self, value: str | None = None):
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise Unsupported(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def expr(self):
        c = self.binary(0)
        if self.peek()[1] == "?":
            self.take("?")
            a = self.expr()
            self.take(":")
            b = self.expr()
            return ("?", c, a, b)
        return c

    def binary(self, level: int):
        if level == len(self.BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self.BINARY[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = ("bin", op, left, right)
        return left

    def unary(self):
        tok = self.peek()
        if tok[0] == "op" and tok[1] in ("|", "&", "^"):  # reduction (1 bit)
            self.take()
            return ("red", tok[1], self.unary())
        if tok == ("op", "~") and self.peek(1)[0] == "op" and self.peek(1)[1] in ("|", "&", "^"):
            self.take()
            self.take()
            return ("red", "~" + self.t[self.i - 1][1], self.unary())
        if tok[0] == "op" and tok[1] in ("-", "~", "!"):
            self.take()
            return ("un", tok[1], self.unary())
        return self.primary()

    def primary(self):
        kind, val = self.take()
        if kind == "sys":
            self.take("(")
            e = self.expr()
            self.take(")")
            return ("cast", val == "$signed", e)
        if val == "(":
            e = self.expr()
            self.take(")")
            return e
        if kind == "lit":
            size, rest = val.split("'")
            signed = rest[0] in "sS"
            base = rest[1 if signed else 0].lower()
            digits = rest[2 if signed else 1 :].replace("_", "")
            if any(ch in "xXzZ" for ch in digits):
                raise Unsupported(f"x/z literal {val}")
            value = int(digits, {"h": 16, "b": 2, "d": 10}[base])
            return ("lit", int(size), value % (1 << int(size)), signed)
        if kind == "num":
            return ("lit", 32, int(val), True)
        if val == "{":
            if self.peek()[0] == "num" and self.peek(1)[1] == "{":
                n = int(self.take()[1])
                self.take("{")
                parts = [self.expr()]
                while self.peek()[1] == ",":
                    self.take(",")
                    parts.append(self.expr())
                self.take("}")
                self.take("}")
                return ("rep", n, ("cat", parts))
            parts = [self.expr()]
            while self.peek()[1] == ",":
                self.take(",")
                parts.append(self.expr())
            self.take("}")
            return ("cat", parts)
        if kind in ("ph", "id"):
            if self.peek()[1] == "[":
                self.take("[")
                hi = int(self.take()[1])
                lo = hi
                if self.peek()[1] == ":":
                    self.take(":")
                    lo = int(self.take()[1])
                self.take("]")
                return ("sel", val, hi, lo)
            return ("ref", val)
        raise Unsupported(f"unexpected {val!r}")


_DECL = re.compile(r"^\s*(?:wire|reg)\s+(signed\s+)?(?:\[(\d+):0\]\s+)?(\S+)\s*=\s*(.*?);\s*(?://.*)?$")
_ASSIGN = re.compile(r"^\s*assign\s+(\S+)\s*=\s*(.*?);\s*(?://.*)?$")


@lru_cache(maxsize=65536)
def parse_line(line: str) -> tuple[str, int | None, bool, tuple]:
    """(wire name, declared width or None for ``assign``, declared signed, expression tree) of a body line;
    raises Unsupported when it is outside the grammar."""
    m = _DECL.match(line)
    if m:
        width = int(m.group(2)) + 1 if m.group(2) is not None else 1
        name, signed, text = m.group(3), bool(m.group(1)), m.group(4)
    else:
        m = _ASSIGN.match(line)
        if not m:
            raise Unsupported(f"not a wire assignment: {line!r}")
        name, width, signed, text = m.group(1), None, True, m.group(2)
    p = _Parser(_tokens(text))
    tree = p.expr()
    if p.peek()[0] != "end":
        raise Unsupported(f"trailing text in {line!r}")
    return name, width, signed, tree


# ------------------------------------------------------------------------------------------ terms
_NONE: frozenset = frozenset()


def deps(t, lcu: bool = False) -> frozenset:
    """Operand-bit keys a term depends on (comparisons on carry chains; ``lcu``: constant comparisons as
    ``cmp2lcu`` logic)."""
    if t[0] == "c":
        return _NONE
    if t[0] == "s":
        return frozenset((t[1],))
    return t[3] if lcu else t[2]


class _Fresh:
    """Makes the new-logic terms of one node, hash-consed: the same operation on the same input terms is
    the same term (yosys's ``opt_merge`` merges cells of one type with equal inputs, e.g. the equal bits
    of a saturation's limit select)."""

    def __init__(self):
        self.made: dict = {}
        self.block: dict = {}  # sum term uid: (carry chain, CARRY4 block of 4 chain bits from its first)
        self.chains = 0

    def __call__(self, op, *terms, lcu: tuple | None = None) -> tuple:
        """The term of ``op`` over ``terms``: ("f", uid, deps, deps with lcu). ``lcu``: the input terms a
        ``cmp2lcu`` comparison reads (default: all of ``terms``)."""
        key = (op, terms)
        t = self.made.get(key)
        if t is None:
            d = _NONE
            same = lcu is None
            for x in terms:
                d = d | deps(x)
                if same and x[0] == "f" and x[3] is not x[2]:
                    same = False
            if same:
                dl = d
            else:
                dl = _NONE
                for x in terms if lcu is None else lcu:
                    dl = dl | deps(x, lcu=True)
            t = self.made[key] = ("f", len(self.made), d, dl)
        return t


def _inv(t, fresh):
    if t[0] == "c":
        return ("c", 1 - t[1])
    if t[0] == "s":
        return ("s", t[1], not t[2])
    return fresh("~", t)


def _add(a: list, b: list, sub: bool, signed: bool, fresh) -> list:
    """``a + b`` or ``a - b`` of two equal-width term vectors (modulo 2**width), as yosys builds it.

    All inputs constant: the constant result (``opt_expr`` folds it). Else, from the LSB up, the bits
    ``opt_expr -fine`` strips off the ``$alu`` (BI = CI = ``sub``) while they qualify: ``b`` bit 0 gives
    the ``a`` bit (a wire), an ``a`` bit equal to the carry-in gives the ``b`` bit (its inverse when
    subtracting); every other bit is one new carry-chain output (``SB_CARRY``/``CARRY4`` cells, opaque to
    later optimisation), except above an unsigned sum's carry-out (``wreduce``: constant 0) and above a
    signed sum's (sign-extension: copies of it)."""
    width = len(a)
    if all(t[0] == "c" for t in a + b):
        va = sum(t[1] << i for i, t in enumerate(a))
        vb = sum(t[1] << i for i, t in enumerate(b))
        v = (va - vb if sub else va + vb) % (1 << width)
        return [ONE if (v >> i) & 1 else ZERO for i in range(width)]
    out = []
    ci = ONE if sub else ZERO
    i = 0
    while i < width:
        x, y = a[i], b[i]
        if y == ZERO:
            out.append(x)
        elif x == ci:
            out.append(_inv(y, fresh) if sub else y)
        else:
            break
        i += 1
    if i == width:
        return out

    def top(v: list) -> int:
        """Highest bit that is not an extension of the one below (sign bits if signed, zeros if not)."""
        k = len(v) - 1
        while k > 0 and (v[k] == v[k - 1] if signed else v[k] == ZERO):
            k -= 1
        return k if (signed or v[k] != ZERO) else -1

    ev = width if sub else max(top(a), top(b)) + 2  # bits a chain computes (with the carry-out)
    chain = []
    carry = None
    fresh.chains += 1
    for j in range(i, min(ev, width)):
        bj = ("c", b[j][1] ^ sub) if b[j][0] == "c" else None
        if a[j][0] == "c" and bj is not None and a[j] == bj:
            # both inputs constant and equal: the carry out is that constant (generate / kill) whatever
            # comes in, so the bits above do not read the bits below (a chain restarts there)
            chain.append(carry if carry is not None else ci)  # a + b = 2a (0 or 2): the sum bit is the carry in
            carry = bj
            continue
        if carry is not None and carry[0] == "c":
            cin = carry
            if a[j][0] == "c" and bj is not None:  # constant inputs and carry: a constant
                v = a[j][1] + bj[1] + cin[1]
                chain.append(("c", v & 1))
                carry = ("c", v >> 1)
                continue
            if a[j] == cin:  # a constant input equal to the carry in: carry out known, sum the other input
                chain.append(_inv(b[j], fresh) if sub else b[j])
                continue
            if bj is not None and bj == cin:
                chain.append(a[j])
                continue
            ins = (a[j], b[j], cin)
        else:
            ins = (a[j], b[j]) if carry is None else (a[j], b[j], carry)
        chain.append(fresh("sum", *ins))
        fresh.block.setdefault(chain[-1][1], (fresh.chains, (j - i) // 4))
        carry = fresh("carry", *ins)
    out += chain
    while len(out) < width:
        out.append(chain[-1] if signed else ZERO)
    return out


class _Eval:
    """Evaluates one node's body lines (see the module docstring)."""

    def __init__(self, operands: list[list], fresh):
        self.ops = operands  # operand k: its bits as terms (LSB first), signed wires
        self.env: dict[str, tuple[list, bool]] = {}
        self.fresh = fresh
        self.vsets: dict[str, set] = {}  # wires holding one of a few constants (a ``?:`` chain of literals)
        self.shifts: dict[str, tuple] = {}  # wires defined by a variable shift: (operand bits, amounts, op)

    # self-determined width and signedness
    def wsig(self, e) -> tuple[int, bool]:
        k = e[0]
        if k == "lit":
            return e[1], e[3]
        if k == "ref":
            bits, signed = self.lookup(e[1])
            return len(bits), signed
        if k == "sel":
            return e[2] - e[3] + 1, False
        if k == "cat":
            return sum(self.wsig(p)[0] for p in e[1]), False
        if k == "rep":
            return e[1] * self.wsig(e[2])[0], False
        if k == "cast":
            return self.wsig(e[2])[0], e[1]
        if k == "un":
            if e[1] == "!":
                return 1, False
            return self.wsig(e[2])
        if k == "red":
            return 1, False
        if k == "bin":
            if e[1] in ("&&", "||", "==", "!=", "<", ">", "<=", ">="):
                return 1, False
            if e[1] in ("<<", ">>", ">>>"):
                return self.wsig(e[2])
            (wa, sa), (wb, sb) = self.wsig(e[2]), self.wsig(e[3])
            return max(wa, wb), sa and sb
        if k == "?":
            (wa, sa), (wb, sb) = self.wsig(e[2]), self.wsig(e[3])
            return max(wa, wb), sa and sb
        raise Unsupported(f"unknown expression {k}")

    def lookup(self, name: str) -> tuple[list, bool]:
        m = re.fullmatch(r"\{(\d+)\}", name)
        if m:
            k = int(m.group(1))
            if k >= len(self.ops):
                raise Unsupported(f"operand {name} missing")
            return self.ops[k], True
        if name in self.env:
            return self.env[name]
        if name == "s_axis_tdata":
            return None, False
        raise Unsupported(f"unknown wire {name}")

    def self_bits(self, e) -> list:
        """Bits of a self-determined primary (its own width)."""
        w, s = self.wsig(e)
        return self.ev(e, w, s)

    def extend(self, bits: list, width: int, sign: bool) -> list:
        if len(bits) >= width:
            return bits[:width]
        fill = bits[-1] if sign and bits else ZERO
        return bits + [fill] * (width - len(bits))

    def truth(self, e):
        """A 1-bit term: ``e`` reduced to true/false (any bit set)."""
        bits = self.self_bits(e)
        var = [b for b in bits if b[0] != "c"]
        if any(b == ONE for b in bits):
            return ONE
        if not var:
            return ZERO
        if len(var) == 1:
            return var[0]
        return self.fresh("|", *var)

    #: widest variable shift amount read as a multiplexer of its possible values (wider: new logic)
    SHIFT_BITS = 6

    def values(self, e, width: int) -> set | None:
        """The possible values of ``e`` (``width`` bits, unsigned) when it is a literal or a ``?:`` chain of
        literals and wires known to hold such values (``self.vsets``); None when unknown."""
        if e[0] == "lit":
            return {e[2] % (1 << width)}
        if e[0] == "ref" and e[1] in self.vsets:
            return {v % (1 << width) for v in self.vsets[e[1]]}
        if e[0] == "?":
            a, b = self.values(e[2], width), self.values(e[3], width)
            return None if a is None or b is None else a | b
        return None

    def shift(self, e, width: int, sign: bool) -> tuple[list, list, list] | None:
        """``a << b`` / ``a >> b`` (logical) with a variable amount ``b`` of at most ``SHIFT_BITS`` bits, bit
        by bit: output bit i is a multiplexer, selected by ``b``'s bits, of the bits of ``a`` it can be (one
        per possible amount: ``values`` of ``b``, else every amount its width holds), so it reads only
        those bits. Returns (bits, ``a``'s bits in this context, possible amounts), None when not such a
        shift (a constant amount, a wide one)."""
        op = e[1]
        b = self.self_bits(e[3])
        bvar = [t for t in b if t[0] != "c"]
        if not bvar or len(b) > self.SHIFT_BITS:
            return None
        amounts = None
        if e[3][0] == "ref":
            amounts = self.values(e[3], len(b))
        if amounts is None:
            amounts = set(range(1 << len(b)))
        amounts = sorted(amounts)
        a = self.ev(e[2], width, sign)
        out = []
        for i in range(width):
            cand = []
            for sh in amounts:
                j = i - sh if op == "<<" else i + sh
                cand.append(a[j] if 0 <= j < width else ZERO)
            if all(c == cand[0] for c in cand):
                out.append(cand[0])
                continue
            var = sorted({c for c in cand if c[0] != "c"}, key=repr)
            out.append(self.fresh(("shift", tuple(cand)), *var, *bvar))
        return out, a, amounts

    def reduce_shifted(self, op: str, e):
        """A reduction over (a part of) a wire defined by a variable shift (``self.shifts``): per possible
        amount, the reduction of the bits of the shifted operand in that window; when every amount gives
        the same constant (e.g. an OR whose window always holds a constant 1: a rounding sticky bit over a
        bias's constant low bits), that constant, else None (``reduce`` over the bits)."""
        if e[0] not in ("ref", "sel") or e[1] not in self.shifts:
            return None
        a, amounts, sop = self.shifts[e[1]]
        width = len(a)
        hi, lo = (e[2], e[3]) if e[0] == "sel" else (width - 1, 0)
        results = set()
        for sh in amounts:
            window = []
            for i in range(lo, hi + 1):
                j = i - sh if sop == "<<" else i + sh
                window.append(a[j] if 0 <= j < width else ZERO)
            t = self.reduce(op, window)
            if t[0] != "c":
                return None
            results.add(t)
        return results.pop() if len(results) == 1 else None

    def reduce(self, op: str, bits: list):
        """The 1-bit term of a reduction ``op`` (``|``, ``&``, ``^``, or ``~`` of one) over ``bits``: a
        constant bit that decides it (a 1 in an OR, a 0 in an AND) makes it constant, as yosys's
        ``opt_expr`` folds it; else new logic over the variable bits (a single one passes through)."""
        fresh = self.fresh
        base = op.lstrip("~")
        var = [b for b in bits if b[0] != "c"]
        if base == "^":
            parity = sum(1 for b in bits if b == ONE) % 2
            t = ("c", parity) if not var else var[0] if len(var) == 1 else fresh("^", *var)
            if var and parity:
                t = _inv(t, fresh)
        else:
            decide = ONE if base == "|" else ZERO
            if any(b == decide for b in bits):
                t = decide
            elif not var:
                t = ("c", 1 - decide[1])
            else:
                t = var[0] if len(var) == 1 else fresh(base, *var)
        return _inv(t, fresh) if op.startswith("~") else t

    def ev(self, e, width: int, sign: bool) -> list:
        """Bits of ``e`` in a context of ``width`` bits and signedness ``sign``."""
        k = e[0]
        fresh = self.fresh
        if k == "lit":
            bits = [ONE if (e[2] >> i) & 1 else ZERO for i in range(e[1])]
            return self.extend(bits, width, sign)
        if k == "ref":
            bits, _ = self.lookup(e[1])
            if bits is None:
                raise Unsupported("whole s_axis_tdata")
            return self.extend(list(bits), width, sign)
        if k == "sel":
            if e[1] == "s_axis_tdata":
                bits = [("s", (-1, i), False) for i in range(e[3], e[2] + 1)]
            else:
                src, _ = self.lookup(e[1])
                if e[2] >= len(src):
                    raise Unsupported(f"select {e[1]}[{e[2]}] beyond {len(src)} bits")
                bits = list(src[e[3] : e[2] + 1])
            return self.extend(bits, width, sign)
        if k == "cat":
            bits = []
            for p in reversed(e[1]):
                bits += self.self_bits(p)
            return self.extend(bits, width, sign)
        if k == "rep":
            bits = self.self_bits(e[2]) * e[1]
            return self.extend(bits, width, sign)
        if k == "cast":
            return self.extend(self.self_bits(e[2]), width, sign)
        if k == "red":
            t = self.reduce_shifted(e[1], e[2])
            if t is None:
                t = self.reduce(e[1], self.self_bits(e[2]))
            return self.extend([t], width, False)
        if k == "un":
            if e[1] == "!":
                t = self.truth(e[2])
                return self.extend([_inv(t, fresh)], width, False)
            a = self.ev(e[2], width, sign)
            inv = [_inv(t, fresh) for t in a]
            if e[1] == "~":
                return inv
            return _add([ZERO] * width, a, True, sign, fresh)
        if k == "bin":
            op = e[1]
            if op in ("+", "-"):
                a = self.ev(e[2], width, sign)
                b = self.ev(e[3], width, sign)
                return _add(a, b, op == "-", sign, fresh)
            if op in ("&", "|", "^"):
                a = self.ev(e[2], width, sign)
                b = self.ev(e[3], width, sign)
                return [_bitwise(op, x, y, fresh) for x, y in zip(a, b)]
            if op in ("&&", "||"):
                x, y = self.truth(e[2]), self.truth(e[3])
                return self.extend([_bitwise("&" if op == "&&" else "|", x, y, fresh)], width, False)
            if op in ("==", "!=", "<", ">", "<=", ">="):
                (wa, sa), (wb, sb) = self.wsig(e[2]), self.wsig(e[3])
                w2, s2 = max(wa, wb), sa and sb
                a, b = self.ev(e[2], w2, s2), self.ev(e[3], w2, s2)
                if all(t[0] == "c" for t in a + b):
                    va, vb = _value(a, s2), _value(b, s2)
                    r = {"==": va == vb, "!=": va != vb, "<": va < vb, ">": va > vb, "<=": va <= vb, ">=": va >= vb}[op]
                    return self.extend([ONE if r else ZERO], width, False)
                lcu = None
                if op in ("<", ">", "<=", ">=") and -(-w2 // CMP2LCU_LUT) <= 2:
                    a2, b2 = _constant_compare(op, a, b, s2)
                    if len(a2) + len(b2) < 2 * w2 and any(t[0] != "c" for t in a2 + b2):
                        lcu = (*a2, *b2)
                return self.extend([fresh(op, *a, *b, lcu=lcu)], width, False)
            if op in ("<<", ">>"):
                shifted = self.shift(e, width, sign)
                if shifted is not None:
                    return shifted[0]
            # products, wide or arithmetic shifts: new logic over every operand bit
            a = self.self_bits(e[2])
            b = self.self_bits(e[3])
            var = [t for t in a + b if t[0] != "c"]
            if not var:
                raise Unsupported(f"constant {op}")
            return [fresh((op, i), *var) for i in range(width)]
        if k == "?":
            c = self.truth(e[1])
            a = self.ev(e[2], width, sign)
            b = self.ev(e[3], width, sign)
            if c == ONE:
                return a
            if c == ZERO:
                return b
            if c[0] == "s":  # the selected branch knows the condition's value
                hit = ONE if not c[2] else ZERO
                a = [_given(t, c[1], hit) for t in a]
                b = [_given(t, c[1], ("c", 1 - hit[1])) for t in b]
            return [x if x == y else fresh("?", c, x, y) for x, y in zip(a, b)]
        raise Unsupported(f"unknown expression {k}")

    def line(self, text: str, node_width: int) -> tuple[str, list]:
        name, width, signed, tree = parse_line(text)
        if width is None:
            width = node_width
        w, s = self.wsig(tree)
        bits = self.ev(tree, max(w, width), s)[:width]
        if tree[0] == "?":
            vals = self.values(tree, width)
            if vals is not None:
                self.vsets[name] = vals
        if tree[0] == "bin" and tree[1] in ("<<", ">>") and max(w, width) == width:
            shifted = self.shift(tree, width, s)
            if shifted is not None:
                self.shifts[name] = (shifted[1], shifted[2], tree[1])
        self.env[name] = (bits, signed)
        return name, bits


def _given(t, key, value):
    """Term ``t`` when the operand bit ``key`` is known to be ``value`` (a constant term)."""
    if t[0] == "s" and t[1] == key:
        return value if not t[2] else ("c", 1 - value[1])
    return t


def _constant_compare(op: str, a: list, b: list, signed: bool) -> tuple[list, list]:
    """The operand bits a comparison with a constant reads when yosys maps it through ``cmp2lcu``
    (``synth_xilinx``): a carry look-ahead whose generate/propagate terms fold with the constant's bits,
    so the carry is constant through the constant's trailing run (``x >= k`` and ``x < k`` need only
    the bits of x at and above k's lowest 1 bit; ``x > c`` is ``x >= c + 1``); the bits below drop out.
    Returns (a, b) with the dropped bits removed (both unchanged when neither side is constant)."""
    ca, cb = all(t[0] == "c" for t in a), all(t[0] == "c" for t in b)
    if ca == cb:
        return a, b
    if ca:  # k op x  ->  x op' k
        a, b = b, a
        op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}[op]
    width = len(a)
    k = _value(b, signed) % (1 << width)
    if op in (">", "<="):
        k = (k + 1) % (1 << width)  # x > c  <=>  x >= c + 1;  x <= c  <=>  !(x >= c + 1)
    if k == 0:  # x >= 0 (or the wrapped c + 1): keep every bit (no folding assumed)
        return a, b
    low = (k & -k).bit_length() - 1
    return a[low:], []


def _value(bits: list, signed: bool) -> int:
    v = sum(b[1] << i for i, b in enumerate(bits))
    if signed and bits and bits[-1] == ONE:
        v -= 1 << len(bits)
    return v


def _bitwise(op: str, x, y, fresh):
    if x[0] == "c" and y[0] == "c":
        v = {"&": x[1] & y[1], "|": x[1] | y[1], "^": x[1] ^ y[1]}[op]
        return ("c", v)
    if x[0] == "c":
        x, y = y, x
    if y[0] == "c":
        if op == "&":
            return x if y[1] else ZERO
        if op == "|":
            return ONE if y[1] else x
        return _inv(x, fresh) if y[1] else x
    if x == y:
        return ZERO if op == "^" else x
    return fresh(op, *sorted((x, y), key=repr))


def node_bits(body: list[str], width: int, operands: list[list], blocks: list | None = None) -> list | None:
    """Terms (LSB first, ``width`` of them) of a node whose ``body`` lines define ``{out}`` from
    ``operands`` (each a list of terms, LSB first: ``("c", v)`` for a known constant bit, else
    ``("s", (k, j), False)``); None when a line is outside the grammar (the caller then treats
    every bit as new logic on every operand bit its lines read). ``blocks``: when a list, gets per bit
    the (carry chain, CARRY4 block) of a carry-chain sum bit (blocks of 4 chain bits from the chain's
    first bit, after the bits ``opt_expr -fine`` strips), else None."""
    fresh = _Fresh()
    ev = _Eval(operands, fresh)
    out = None
    try:
        for line in body:
            name, bits = ev.line(line, width)
            if name == "{out}":
                out = bits
    except (Unsupported, IndexError, KeyError, ValueError):
        return None
    if out is None or len(out) != width:
        return None
    if blocks is not None:
        blocks.extend(fresh.block.get(t[1]) if t[0] == "f" else None for t in out)
    return out


# ------------------------------------------------------------------------------------------ registers
def _const_bits(node) -> list:
    """Terms of a constant node (its value's two's complement bits)."""
    v = node.lo % (1 << node.width)
    return [ONE if (v >> i) & 1 else ZERO for i in range(node.width)]


_OPERAND_REF = re.compile(r"\{(\d+)\}(\[(\d+)(?::(\d+))?\])?")


def add_read_bits(line: str, widths: list[int], used: list[set[int]]) -> None:
    """Add the operand bits one body line reads to ``used`` (operand k: ``{k}`` whole, ``{k}[i]``, ``{k}[h:l]``)."""
    for m in _OPERAND_REF.finditer(line):
        k = int(m.group(1))
        if k >= len(widths):
            continue
        if m.group(2) is None:
            used[k].update(range(widths[k]))
        elif m.group(4) is None:
            used[k].add(int(m.group(3)))
        else:
            used[k].update(range(int(m.group(4)), int(m.group(3)) + 1))


def _read_bits(line: str, widths: list[int]) -> list[set[int]]:
    """Operand bits a body line mentions, one set per operand."""
    used: list[set[int]] = [set() for _ in widths]
    add_read_bits(line, widths, used)
    return used


#: (node_bits terms, CARRY4 blocks) by (body lines, width, operand terms); emptied when it reaches MEMO_SIZE entries
_MEMO: dict = {}
_MISSING = object()
MEMO_SIZE = 20000


def resolve(
    nodes, const_inputs: dict | None = None, low_inputs: dict | None = None, blocks_out: dict | None = None
) -> tuple[dict, dict, dict]:
    """Per non-constant node, (``keys``, ``fanin``, ``fanin_lcu``): ``keys[name][i]`` is what a register
    of bit i holds, ``("c", v)`` for a constant (no flip-flop) or a hashable source key shared by every
    bit that is the same net (a copy of the same source bit; ``("not", key)`` for its inverse);
    ``fanin[name][i]`` is the set of (operand index, operand bit) bit i depends on, ``fanin_lcu`` the
    same when constant comparisons are ``cmp2lcu`` logic (``CMP2LCU_LUT``). ``const_inputs``: {input
    node name: lowest bit that is constant 0 (the previous layer's ReLU sign bit)}; ``low_inputs``: {input
    node name: number of low bits that are constant 0 (``rtl_model.low_zero_bits``)}. ``blocks_out``: when a
    dict, gets {node name: per bit its carry chain's CARRY4 block or None} (``node_bits``' ``blocks``)."""
    const_inputs = const_inputs or {}
    low_inputs = low_inputs or {}
    keys: dict[str, list] = {}
    fanin: dict[str, list] = {}
    fanin_lcu: dict[str, list] = {}
    for n in nodes.values():  # definition order: operands first
        if n.const:
            continue
        ops = []
        first_bit: dict = {}  # source key: the first operand bit holding it (equal nets, equal symbols)
        for k, o in enumerate(n.operands):
            on = nodes[o]
            if on.const:
                ops.append(_const_bits(on))
                continue
            bits = []
            for j, kk in enumerate(keys[o]):
                if kk[0] == "c":
                    bits.append(kk)
                    continue
                bits.append(("s", first_bit.setdefault(kk, (k, j)), False))
            ops.append(bits)
        key = (tuple(n.body), n.width, tuple(map(tuple, ops)))
        hit = _MEMO.get(key, _MISSING)
        if hit is _MISSING:  # nodes of one shape repeat (same lines, widths, constant operand bits)
            blk: list = []
            hit = (node_bits(n.body, n.width, ops, blk), blk)
            if len(_MEMO) >= MEMO_SIZE:
                _MEMO.clear()
            _MEMO[key] = hit
        terms = hit[0]
        if blocks_out is not None and any(b is not None for b in hit[1]):
            blocks_out[n.name] = hit[1]
        kb: list = []
        fi: list = []
        fl: list = []
        if terms is None:  # outside the grammar: every bit new logic on every operand bit read
            widths = [nodes[o].width for o in n.operands]
            read: list[set[int]] = [set() for _ in widths]
            for line in n.body:
                for k, u in enumerate(_read_bits(line, widths)):
                    read[k] |= u
            every = {(k, j) for k, u in enumerate(read) for j in u}
            kb = [(n.name, i) for i in range(n.width)]
            fi = fl = [every] * n.width
        else:
            first: dict = {}
            for i, t in enumerate(terms):
                if t[0] == "c":
                    kb.append(t)
                    fi.append(_NONE)
                    fl.append(_NONE)
                    continue
                if t[0] == "s":
                    if t[1][0] >= 0:
                        k, j = t[1]
                        src = keys[n.operands[k]][j]
                        kb.append(("not", src) if t[2] else src)
                        if t[2] and src[0] == "not":
                            kb[-1] = src[1]
                        fi.append(frozenset(((k, j),)))
                    else:  # an s_axis_tdata bit: the input node's own
                        kb.append((n.name, i) if not t[2] else ("not", (n.name, i)))
                        fi.append(_NONE)
                    fl.append(fi[-1])
                    continue
                kb.append(first.setdefault(t[1], (n.name, i)))
                fi.append(t[2])  # (k, j) keys; k = -1 (s_axis_tdata bits) is skipped by _liveness
                fl.append(t[3])
        lowest_zero = const_inputs.get(n.name)
        if lowest_zero is not None:
            for i in range(lowest_zero, n.width):
                kb[i] = ZERO
                fi[i] = fl[i] = _NONE
        for i in range(min(low_inputs.get(n.name, 0), n.width)):
            kb[i] = ZERO
            fi[i] = fl[i] = _NONE
        keys[n.name] = kb
        fanin[n.name] = fi
        fanin_lcu[n.name] = fl
    return keys, fanin, fanin_lcu


def _packed_registered(nodes, outs, stages) -> set[str]:
    """Nodes whose first register stage ``rtl.layer`` prints as one packed vector (``PACK_MIN_VALUES`` or
    more live values not on an ``hwq_taps`` delay line) rather than per-value registers."""
    from hwq.rtl.layer import PACK_MIN_VALUES, TAPS_MIN_STAGES

    if not stages:
        return set()
    top = stages[-1]
    last_use: dict[str, int] = {}
    for n in nodes.values():
        for o in n.operands:
            if n.level > nodes[o].level:
                last_use[o] = max(last_use.get(o, 0), n.level)
    for v in outs:
        last_use[v.node] = top + 1
    tapped = set()
    if top > 1:
        tapped = {
            n.name
            for n in nodes.values()
            if not n.const and last_use.get(n.name, 0) - max(n.level, 1) >= TAPS_MIN_STAGES
        }
    live_at: dict[int, list[str]] = {}
    for b in stages:
        live_at[b] = [
            n.name
            for n in nodes.values()
            if not n.const and n.level <= b and last_use.get(n.name, 0) > b and n.name not in tapped
        ]
    out = set()
    for n in nodes.values():
        first = next((b for b in stages if n.level <= b < last_use.get(n.name, 0)), None)
        if first is not None and n.name not in tapped and len(live_at[first]) >= PACK_MIN_VALUES:
            out.add(n.name)
    return out


def _liveness(nodes, outs, out_width: int, fanin: dict, blocks: dict | None = None, stages=()) -> tuple[dict, dict]:
    """(needed, usage): the bits of every node some reader needs, and per node the (reader level, bits)
    of each reader, by backward liveness from the output register (the ``out_width`` low bits of every
    output value and its sign bit when it is sign-extended).

    ``blocks`` (``resolve``'s ``blocks_out``; ``synth_xilinx``): a node first registered in a packed stage
    vector (``_packed_registered``) has every bit in that register's D input when ``wreduce`` trims unused
    adder bits (it trims only a register's unused top bits, which a packed vector's middle fields are not),
    so its carry chains are built whole; a dead register bit goes only after techmap, and a CARRY4 with
    any live output keeps all its inputs: the operand bits every chain bit of a live CARRY4 block reads
    stay needed (not the dead register bits themselves). Measured: the fixed4 digits MLP's fc1 / fc2 alone
    (-1 / -3 FF before)."""

    needed: dict[str, set[int]] = {}
    for v in outs:
        n = nodes[v.node]
        if n.const:
            continue
        bits = set(range(min(n.width, out_width))) | ({n.width - 1} if out_width > n.width else set())
        needed.setdefault(v.node, set()).update(bits)
    usage: dict[str, list[tuple[int, set[int]]]] = {}
    packed = _packed_registered(nodes, outs, stages) if blocks else set()
    for n in reversed(list(nodes.values())):
        if n.const:
            continue
        mine = needed.get(n.name)
        if not mine:
            continue
        blk = blocks.get(n.name) if blocks else None
        if blk and n.name in packed:
            live = {blk[i] for i in mine if i < len(blk) and blk[i] is not None}
            mine = mine | {i for i, b in enumerate(blk) if b is not None and b in live}
        per_op: list[set[int]] = [set() for _ in n.operands]
        fan = fanin[n.name]
        for k, j in set().union(*[fan[i] for i in mine]):
            if k >= 0:
                per_op[k].add(j)
        for o, u in zip(n.operands, per_op):
            if nodes[o].const or not u:
                continue
            usage.setdefault(o, []).append((n.level, u))
            needed.setdefault(o, set()).update(u)
    return needed, usage


def register_count(
    nodes,
    outs,
    out_width: int,
    levels: int,
    pipeline: int,
    const_inputs: dict | None = None,
    detail: list | None = None,
    lcu: bool = False,
    low_inputs: dict | None = None,
    keys_out: dict | None = None,
) -> tuple[int, int, int]:
    """(flip-flops yosys keeps, flip-flops declared, flip-flops kept when constant comparisons are
    ``cmp2lcu`` logic) of one layer's register stages as ``rtl.layer`` prints them: a stage after every
    ``pipeline`` levels and the output register (stage ``levels``), each a valid flag plus one register
    per value live across it. Kept: per stage, the distinct non-constant source keys (``resolve``) of the
    bits a later reader needs (``_liveness``). ``outs``: the layer's output values
    (``rtl.datapath.Value``). ``detail``: when a list, gets (stage, node name, {bit: key}) per register
    (``lcu``: of the cmp2lcu count) for tests and debugging. ``keys_out``: when a dict, gets ``resolve``'s
    keys of every node (for a caller that reads the output bits, without resolving twice)."""
    blocks: dict = {}
    keys, fanin, fanin_lcu = resolve(nodes, const_inputs, low_inputs, blocks)
    if keys_out is not None:
        keys_out.update(keys)
    out_use = {v.node for v in outs}
    stages = [b for b in range(1, levels + 1) if b == levels or (pipeline > 0 and b % pipeline == 0)]
    counts = []
    same = not blocks and all(x is y for a, b in zip(fanin.values(), fanin_lcu.values()) for x, y in zip(a, b))
    for fan in (fanin, fanin_lcu):
        if fan is fanin_lcu and same:
            counts.append(counts[0])
            continue
        if fan is fanin_lcu:  # synth_xilinx: CARRY4 blocks of registered nodes' chains stay whole
            needed, usage = _liveness(nodes, outs, out_width, fan, blocks, stages)
        else:
            needed, usage = _liveness(nodes, outs, out_width, fan)
        want = detail if (fan is fanin_lcu) == lcu else None
        kept: dict[int, set] = {b: set() for b in stages}
        ff_decl = len(stages)  # valid flags
        for n in nodes.values():
            if n.const:
                continue
            reads = sorted(usage.get(n.name, []), key=lambda r: -r[0])  # deepest reader first
            last = max((lv for lv, _ in reads), default=0)
            is_out = n.name in out_use
            if not is_out and last <= n.level:
                continue
            kb = keys[n.name]
            live: set[int] = set(needed.get(n.name, set())) if is_out else set()
            bits: dict = {}
            held: frozenset = frozenset()
            stale = True
            r = 0
            for b in reversed(stages):  # the bits read beyond stage b grow as b falls
                if b < n.level:
                    break
                while r < len(reads) and reads[r][0] > b:
                    live |= reads[r][1]
                    r += 1
                    stale = True
                if not live:
                    continue
                ff_decl += n.width
                if stale:  # the kept keys change only when a reader adds bits (not once per stage)
                    bits = {i: kb[i] for i in live if i < len(kb) and kb[i][0] != "c"}
                    held = frozenset(bits.values())
                    stale = False
                kept[b] |= held
                if want is not None:
                    want.append((b, n.name, dict(bits)))
        ff = len(stages) + sum(len(k) for k in kept.values())
        counts.append((ff, ff_decl))
    return counts[0][0], counts[0][1], counts[1][0]
