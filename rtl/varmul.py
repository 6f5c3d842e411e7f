"""Exact product of two datapath values without the Verilog ``*`` operator (shift-and-add array).

For ``a * b`` one operand, ``y`` (the narrower node), is split into the bits of its two's complement
pattern of width ``W`` (its node width): ``y = -y[W-1] * 2**(W-1) + sum_{i<W-1} y[i] * 2**i``. Each bit
gates a copy of the other operand ``x`` (an AND of every bit, i.e. ``y[i] ? x : 0``); the partial
products are summed by an adder tree, and the sign bit's partial product is subtracted, so signed
operands need no correction terms. A non-negative ``y`` has no sign bit to handle. The result node is
as narrow as the exact product range ``[min, max]`` of the four corner products.
"""

from __future__ import annotations

from .constmul import const_mul, sum_terms, term_value
from .datapath import Datapath, Value
from .netlist import Node, fit, literal


def var_mul(dp: Datapath, name: str, a: Value, b: Value, comment: str) -> Value:
    """Exact ``a * b`` (LSB 2**-(a.frac_bits + b.frac_bits)); constant operands become CSD products."""
    na, nb = dp.nodes[a.node], dp.nodes[b.node]
    frac = a.frac_bits + b.frac_bits
    if na.const:
        return _const(dp, name, b, na.lo, a)
    if nb.const:
        return _const(dp, name, a, nb.lo, b)
    x, y = (a, b) if na.width >= nb.width else (b, a)
    nx, ny = dp.nodes[x.node], dp.nodes[y.node]
    wy = ny.width
    xlo, xhi = min(nx.lo, 0), max(nx.hi, 0)
    corners = [p * q for p in (nx.lo, nx.hi) for q in (ny.lo, ny.hi)]
    plo, phi = min(corners), max(corners)
    level = dp.level_of([x.node, y.node])
    terms = []
    bits = range(wy) if ny.lo < 0 else range(wy - 1)  # a non-negative y has a 0 sign bit
    for i in bits:
        pp = Node(f"{name}_pp{i}", xlo, xhi, level, [x.node, y.node], [], f"{comment}: partial product, bit {i}")
        w = pp.width
        sel = f"{{1}}[{i}]" if wy > 1 else "{1}[0]"
        pp.body = [f"assign {{out}} = {sel} ? {fit('{0}', nx.width, w)} : {literal(0, w)};"]
        dp.add(pp)
        terms.append((pp.name, i, -1 if (ny.lo < 0 and i == wy - 1) else 1))
    if not terms:  # y is always 0
        return Value(dp.const(name, 0, comment).name, frac)
    n_adders = len(terms) - 1

    def exact_last(n1: str, n2: str, c2: int, d: int) -> tuple[int, int]:
        """The final adder holds the whole product (>> its lowest shift, 0): its exact range."""
        (alo, ahi), (blo, bhi) = (dp.nodes[n1].lo, dp.nodes[n1].hi), (dp.nodes[n2].lo, dp.nodes[n2].hi)
        blo, bhi = sorted((c2 * (blo << d), c2 * (bhi << d)))
        lo, hi = alo + blo, ahi + bhi
        if exact_last.count == n_adders - 1:  # the root of the tree: x * y exactly
            lo, hi = max(lo, plo), min(hi, phi)
        exact_last.count += 1
        return lo, hi

    exact_last.count = 0
    term = sum_terms(dp, f"{name}_s", terms, f"{comment}: partial product sum", exact_last)
    return term_value(dp, name, term, frac, f"{comment}: product")


def _const(dp: Datapath, name: str, v: Value, c: int, cv: Value) -> Value:
    """``v * c`` with ``c`` the raw of a constant value at LSB 2**-cv.frac_bits."""
    return const_mul(dp, name, v, c, cv.frac_bits, f"{name}: times constant {c}")
