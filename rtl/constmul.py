"""Exact arithmetic on datapath values: sums of shifted values, constant offsets, constant products.

A ``Value`` is an exact integer node with an LSB weight of ``2**-frac_bits``. Every helper here returns
a new ``Value`` equal to the exact (unrounded) result, so the only rounding anywhere is a later
``Datapath.cast``. Constant products are multiplier-free: the constant's CSD digits as shifted terms,
repeated digit patterns shared through ``mcm.build_adder_graph`` on the 1x1 matrix ``[[c]]``, then an
adder tree. Ranges are exact for one-variable expressions (``c * x``: the node holds ``c' * x`` for a
known integer ``c'``) and interval bounds otherwise, so every wire is as narrow as proven.
"""

from __future__ import annotations

from functools import lru_cache

from .datapath import Datapath, Value
from .mcm import build_adder_graph
from .netlist import Node, fit, literal, shifted, wrap_signed

Term = tuple[str, int, int]  # (node, shift, sign): sign * (node << shift)


@lru_cache(maxsize=4096)
def _const_graph(c: int):
    """The shared-digit adder graph of the 1x1 matrix ``[[c]]`` (cached: a constant recurs across channels,
    layers and designs; the graph is only read)."""
    return build_adder_graph([[c]])


def node_range(dp: Datapath, name: str) -> tuple[int, int]:
    """[lo, hi] of a node."""
    n = dp.nodes[name]
    return n.lo, n.hi


def _scaled(lo: int, hi: int, c: int) -> tuple[int, int]:
    a, b = c * lo, c * hi
    return min(a, b), max(a, b)


def negate(dp: Datapath, name: str, v: Value, comment: str) -> Value:
    """``-v`` (one subtractor level); constants fold."""
    src = dp.nodes[v.node]
    if src.const:
        return Value(dp.const(name, -src.lo, comment).name, v.frac_bits)
    node = Node(name, -src.hi, -src.lo, src.level + 1, [v.node], [], comment)
    node.body = [f"assign {{out}} = -{fit('{0}', src.width, node.width)};"]
    dp.add(node)
    dp.adders += 1
    return Value(name, v.frac_bits)


def _add_terms(dp: Datapath, name: str, t1: Term, t2: Term, comment: str, exact=None) -> Term:
    """One adder for ``t1 + t2``; returns the term (node, shift, sign) equal to it.

    ``exact(n1, c2, d)``: optional exact range of the node ``n1 + c2 * (n2 << d)``; default: intervals."""
    (n1, k1, s1), (n2, k2, s2) = sorted([t1, t2], key=lambda t: (t[1], -t[2], t[0]))
    d = k2 - k1
    c2 = s1 * s2
    if exact is not None:
        lo, hi = exact(n1, n2, c2, d)
    else:
        (a_lo, a_hi), (b_lo, b_hi) = node_range(dp, n1), node_range(dp, n2)
        b_lo, b_hi = _scaled(b_lo << d, b_hi << d, c2)
        lo, hi = a_lo + b_lo, a_hi + b_hi
    dp.adder(name, n1, n2, d, c2, lo, hi, comment)
    return (name, k1, s1)


def sum_terms(dp: Datapath, prefix: str, terms: list[Term], comment: str, exact=None) -> Term | None:
    """Adder tree over ``terms``: always adds the two partial sums with the lowest top bit (width +
    shift) first, Huffman style. Returns the term equal to the sum (None for no terms)."""
    terms = list(terms)
    t = 0
    while len(terms) > 1:
        terms.sort(key=lambda tt: (dp.nodes[tt[0]].width + tt[1], dp.nodes[tt[0]].level, tt[0]))
        t1, t2 = terms[0], terms[1]
        terms = terms[2:] + [_add_terms(dp, f"{prefix}_{t}", t1, t2, comment, exact)]
        t += 1
    return terms[0] if terms else None


def term_value(dp: Datapath, name: str, term: Term, frac_bits: int, comment: str) -> Value:
    """The term ``sign * (node << shift)`` at LSB ``2**-frac_bits`` as a Value (a shift is free)."""
    node, shift, sign = term
    v = Value(node, frac_bits - shift)
    return v if sign > 0 else negate(dp, name, v, comment)


def const_mul(dp: Datapath, name: str, v: Value, c: int, c_frac: int, comment: str) -> Value:
    """Exact ``v * c * 2**-c_frac`` (c an integer constant): CSD shift-and-add, no multiplier.

    Result LSB: ``v.frac_bits + c_frac`` minus the constant's trailing zero bits (a free shift)."""
    frac = v.frac_bits + c_frac
    src = dp.nodes[v.node]
    if c == 0 or (src.lo == src.hi == 0):
        return Value(dp.const(name, 0, comment).name, frac)
    if src.const:
        return Value(dp.const(name, src.lo * c, comment).name, frac)
    lo, hi = src.lo, src.hi
    coef = {v.node: 1}  # every node of this product holds coef[node] * x
    ag = _const_graph(int(c))
    names = [v.node]

    def exact(n1: str, n2: str, c2: int, d: int) -> tuple[int, int]:
        return _scaled(lo, hi, coef[n1] + c2 * (coef[n2] << d))

    for k, (a, b, d, s) in enumerate(ag.nodes):
        nm = f"{name}_cse{k}"
        _add_terms(dp, nm, (names[a], 0, 1), (names[b], d, s), f"{comment}: shared digits", exact)
        coef[nm] = coef[names[a]] + s * (coef[names[b]] << d)
        names.append(nm)
    terms = [(names[n], k, s) for n, k, s in ag.outputs[0]]

    # adder tree as in sum_terms, recording each new node's coefficient for exact ranges
    pending = list(terms)
    t = 0
    while len(pending) > 1:
        pending.sort(key=lambda tt: (dp.nodes[tt[0]].width + tt[1], dp.nodes[tt[0]].level, tt[0]))
        (n1, k1, s1), (n2, k2, s2) = sorted(pending[:2], key=lambda tt: (tt[1], -tt[2], tt[0]))
        nm = f"{name}_{t}"
        term = _add_terms(dp, nm, (n1, k1, s1), (n2, k2, s2), f"{comment}: x * {c} partial sum", exact)
        coef[nm] = coef[n1] + s1 * s2 * (coef[n2] << (k2 - k1))
        pending = pending[2:] + [term]
        t += 1
    return term_value(dp, name, pending[0], frac, f"{comment}: x * {c}")


def add_const(dp: Datapath, name: str, v: Value, k: int, k_frac: int, comment: str) -> Value:
    """Exact ``v + k * 2**-k_frac`` (one adder; none when k is 0)."""
    f = max(v.frac_bits, k_frac)
    kk = k << (f - k_frac)
    if kk == 0:
        return v
    src = dp.nodes[v.node]
    sv = f - v.frac_bits
    if src.const:
        return Value(dp.const(name, (src.lo << sv) + kk, comment).name, f)
    node = Node(name, (src.lo << sv) + kk, (src.hi << sv) + kk, src.level + 1, [v.node], [], comment)
    w = node.width
    part = shifted("{0}", src.width, sv, w)
    # modulo 2**w (exact: the result fits in w bits even where the constant alone does not)
    node.body = [f"assign {{out}} = {part if part is not None else literal(0, w)} + {literal(wrap_signed(kk, w), w)};"]
    dp.add(node)
    dp.adders += 1
    return Value(name, f)


def add_values(dp: Datapath, name: str, a: Value, b: Value, comment: str, sign_b: int = 1) -> Value:
    """Exact ``a + sign_b * b`` at the finer of the two LSBs (one adder; constants fold into an offset)."""
    f = max(a.frac_bits, b.frac_bits)
    na, nb = dp.nodes[a.node], dp.nodes[b.node]
    if nb.const:
        return add_const(dp, name, a, sign_b * nb.lo, b.frac_bits, comment)
    if na.const and sign_b > 0:
        return add_const(dp, name, b, na.lo, a.frac_bits, comment)
    term = _add_terms(dp, name, (a.node, f - a.frac_bits, 1), (b.node, f - b.frac_bits, sign_b), comment)
    return term_value(dp, name + "_neg", term, f, comment)
