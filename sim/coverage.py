"""Functional coverage of golden vectors (``hwq verify rtl --vectors auto``, ``verify.json`` "coverage").

Items, per op (a layer of the emitted design holds one or more ops; ``rtl.json`` names them):

- ``acc_sat_hi`` / ``acc_sat_lo`` (dense with a saturating accumulator): the exact sum of some output
  (bias + every product, Python-int exact) lies above / below the accumulator format's range;
- ``out_max`` / ``out_min`` (dense, relu, clip): some output raw equals the output format's raw_max / raw_min;
- ``tie`` (dense, relu, clip whose cast drops d >= 1 fractional bits with a rounding mode, not TRN): some
  pre-cast value has dropped bits exactly 1000..0 (half an output LSB).

Each item is *reachable* or not by static analysis: saturation and min/max from the interval bounds of
the op's exact result (``mac_value_range`` for dense, the input format's range for relu/clip) — an
upper bound of what vectors can reach, since the bounds assume independent inputs; a tie needs the
lattice of pre-cast values (the 2-adic valuation of the weights and bias, for dense) to reach half an LSB.
The interpreter decides whether a vector hits an item (the design is bit-exact with it; ``hwq verify``
checks that). Other ops (conv, pool, add, mul, lut, ...) have no items yet. Back-pressure stalls per
stream (cycles with tvalid high and tready low on every layer probe, the input and the output) come from
the RTL bench (``tb_report.json`` "stalls").

``auto_vectors`` adds directed vectors to random ones until every reachable item is hit or a search
budget runs out: the input corners (all min, all max, zero, alternating), sign patterns of each first-layer
weight row (each input at its max where the weight is positive, at its min elsewhere, and the reverse),
vectors with each input at an extreme with probability 1/2, random vectors, and a hill climb on the
output value of an unhit min/max item; a candidate joins the set only if it hits a new item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ROUNDING_FREE = ("TRN", "TRN_ZERO")


@dataclass
class Item:
    """One coverage item: ``op``, ``kind`` (acc_sat_hi, acc_sat_lo, out_max, out_min, tie), reachable."""

    op: str
    kind: str
    reachable: bool
    hits: int = 0
    first_vector: int | None = None

    @property
    def key(self) -> str:
        return f"{self.op}:{self.kind}"


@dataclass
class Coverage:
    """Items of a graph and the vectors that hit them (``add``)."""

    graph: object
    items: dict[str, Item] = field(default_factory=dict)
    vectors: int = 0

    def add(self, x: np.ndarray) -> np.ndarray:
        """Count the hits of raw input vectors ``x`` ((B, *input shape)); returns the (B, items) hit matrix
        (column order: ``self.items``)."""
        h = hit_matrix(self.graph, x, list(self.items.values()))
        for j, it in enumerate(self.items.values()):
            col = np.nonzero(h[:, j])[0]
            if len(col):
                it.hits += len(col)
                if it.first_vector is None:
                    it.first_vector = self.vectors + int(col[0])
        self.vectors += len(h)
        return h

    def missing(self) -> list[Item]:
        """Reachable items no vector hit yet."""
        return [it for it in self.items.values() if it.reachable and it.hits == 0]

    def summary(self) -> dict:
        """JSON-ready: per op, per item kind: {reachable, hit, hits}; totals."""
        per: dict[str, dict] = {}
        for it in self.items.values():
            per.setdefault(it.op, {})[it.kind] = {"reachable": it.reachable, "hit": it.hits > 0, "hits": it.hits}
        reach = [it for it in self.items.values() if it.reachable]
        return {
            "vectors": self.vectors,
            "items": len(self.items),
            "reachable": len(reach),
            "covered": sum(it.hits > 0 for it in reach),
            "per_op": per,
        }


def _exact_dense(op, graph, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Exact accumulator values (no cast, Python ints in an object array (B, M)) and their frac bits."""
    from hwq.ir.ops.common import raw_frac_bits

    xf = graph.tensor(op.inputs[0]).fmt
    pf = raw_frac_bits(xf) + raw_frac_bits(op.weight_fmt)
    bf = raw_frac_bits(op.bias_fmt)
    f = max(pf, bf, op.acc_fmt.frac_bits)
    from hwq.ir.passes._common import mac_value_range

    lo, hi, f0 = mac_value_range(op, graph)
    small = max(abs(lo), abs(hi)) << max(f - f0, 0) < 2**62  # int64 holds every partial sum: BLAS-free but fast
    kind = np.int64 if small else object
    w = np.asarray(op.weight).astype(kind)
    xs = (np.asarray(x).astype(kind) + int(getattr(op, "input_offset", 0) or 0)).reshape(len(x), -1)
    acc = xs.dot(w.T) * (1 << (f - pf)) + np.asarray(op.bias).astype(kind) * (1 << (f - bf))
    return acc, f


def items_of(graph) -> dict[str, Item]:
    """The coverage items of ``graph`` with their static reachability (see the module doc)."""
    from hwq.ir.passes._common import mac_value_range

    items: dict[str, Item] = {}

    def add(op, kind, reachable):
        it = Item(op.name, kind, bool(reachable))
        items[it.key] = it

    for op in graph.ops:
        out = graph.tensor(op.output).fmt
        if not hasattr(out, "frac_bits"):
            continue
        if op.kind == "dense":
            lo, hi, f = mac_value_range(op, graph, frac=None)
            acc = op.acc_fmt
            sh = f - acc.frac_bits
            if str(acc.overflow).startswith("SAT"):
                add(op, "acc_sat_hi", hi > acc.raw_max * 2**sh)
                add(op, "acc_sat_lo", lo < acc.raw_min * 2**sh)
            fa = min(f, acc.frac_bits) if not str(acc.overflow).startswith("SAT") else acc.frac_bits
            top = out.cast_raw(np.asarray([max(min(hi >> max(sh, 0), acc.raw_max), acc.raw_min)]), fa)[0]
            bot = out.cast_raw(np.asarray([max(min(lo >> max(sh, 0), acc.raw_max), acc.raw_min)]), fa)[0]
            add(op, "out_max", int(top) >= out.raw_max)
            add(op, "out_min", int(bot) <= out.raw_min)
            d = acc.frac_bits - out.frac_bits
            if d >= 1 and out.rounding not in ROUNDING_FREE:
                from hwq.ir.ops.common import raw_frac_bits

                pf = raw_frac_bits(graph.tensor(op.inputs[0]).fmt) + raw_frac_bits(op.weight_fmt)
                bf = raw_frac_bits(op.bias_fmt)
                exps = [(v & -v).bit_length() - 1 - pf for v in (int(w) for w in np.asarray(op.weight).ravel()) if v]
                exps += [(v & -v).bit_length() - 1 - bf for v in (int(b) for b in np.asarray(op.bias).ravel()) if v]
                lsb = min(exps, default=0)  # finest power of two a sum of terms can hold
                add(op, "tie", lsb <= -(out.frac_bits + 1))
        elif op.kind in ("relu", "clip"):
            inf = graph.tensor(op.inputs[0]).fmt
            if not hasattr(inf, "frac_bits"):
                continue
            y = _cast_elementwise(op, graph, np.asarray([inf.raw_min, inf.raw_max]))
            add(op, "out_max", int(y[1]) >= out.raw_max)
            add(op, "out_min", int(y[0]) <= out.raw_min)
            if inf.frac_bits > out.frac_bits and out.rounding not in ROUNDING_FREE:
                half = 1 << (inf.frac_bits - out.frac_bits - 1)
                add(op, "tie", inf.raw_max >= half)
    return items


def _cast_elementwise(op, graph, raw: np.ndarray) -> np.ndarray:
    """The op (one input, elementwise) evaluated by the interpreter on raw values ``raw`` (1-D)."""
    from hwq.ir.ops import EVALUATORS

    return np.asarray(EVALUATORS[op.kind](op, [np.asarray(raw, dtype=np.int64).reshape(-1, 1)], graph)).ravel()


def hit_matrix(graph, x: np.ndarray, items: list[Item]) -> np.ndarray:
    """(B, len(items)) bool: whether vector b hits item j (the interpreter's tensors)."""
    from hwq.ir import run

    in_t = graph.tensor(graph.inputs[0])
    x = np.asarray(x, dtype=np.int64).reshape(-1, *in_t.shape)
    res = run(graph, {in_t.name: x}, trace=True)
    b = len(x)
    out = np.zeros((b, len(items)), dtype=bool)
    cache: dict[str, tuple] = {}
    for j, it in enumerate(items):
        op = graph.op(it.op)
        fmt = graph.tensor(op.output).fmt
        y = np.asarray(res.raw[op.output]).reshape(b, -1)
        if it.kind == "out_max":
            out[:, j] = (y == fmt.raw_max).any(axis=1)
        elif it.kind == "out_min":
            out[:, j] = (y == fmt.raw_min).any(axis=1)
        elif op.kind == "dense":
            if op.name not in cache:
                xin = np.asarray(res.raw[op.inputs[0]]).reshape(b, -1)
                cache[op.name] = _exact_dense(op, graph, xin)
            acc, f = cache[op.name]
            a = op.acc_fmt
            sh = f - a.frac_bits
            if it.kind == "acc_sat_hi":
                out[:, j] = (acc > a.raw_max * 2**sh).any(axis=1)
            elif it.kind == "acc_sat_lo":
                out[:, j] = (acc < a.raw_min * 2**sh).any(axis=1)
            elif it.kind == "tie":  # the accumulator (cast from the exact sum) before its cast to the output
                d = a.frac_bits - fmt.frac_bits
                pre = np.asarray(a.cast_raw(acc, f), dtype=object)
                out[:, j] = np.asarray((pre % (1 << d)) == (1 << (d - 1)), dtype=bool).any(axis=1)
        elif it.kind == "tie":  # relu / clip: the input's dropped bits
            inf = graph.tensor(op.inputs[0]).fmt
            xin = np.asarray(res.raw[op.inputs[0]]).reshape(b, -1)
            d = inf.frac_bits - fmt.frac_bits
            hit = (xin % (1 << d)) == (1 << (d - 1))
            if op.kind == "relu":
                hit &= xin > 0
            out[:, j] = hit.any(axis=1)
    return out


def _extreme_random(rng, fmt, shape, n: int) -> np.ndarray:
    lo, hi = int(fmt.raw_min), int(fmt.raw_max)
    r = rng.integers(lo, hi + 1, size=(n, *shape))
    pick = rng.random((n, *shape))
    return np.where(pick < 0.25, lo, np.where(pick < 0.5, hi, r)).astype(np.int64)


def auto_vectors(graph, start: int = 16, seed: int = 0, rounds: int = 40, batch: int = 256):
    """Random vectors (``start``, seeded) plus directed ones until every reachable item is hit (or
    ``rounds`` search rounds of ``batch`` candidates ran out). Returns (raw inputs (N, *shape), Coverage)."""
    from hwq.commands.vectors import corner_inputs
    from hwq.ir.random_graph import random_inputs

    in_t = graph.tensor(graph.inputs[0])
    fmt = in_t.fmt
    cov = Coverage(graph, items_of(graph))
    x0 = np.asarray(random_inputs(graph, start, seed)[in_t.name], dtype=np.int64).reshape(-1, *in_t.shape)
    cov.add(x0)
    chosen = [x0]
    rng = np.random.default_rng(seed + 1)

    def offer(cands: np.ndarray) -> None:
        if not cov.missing() or not len(cands):
            return
        keys = [it.key for it in cov.items.values()]
        h = hit_matrix(graph, cands, list(cov.items.values()))
        want = np.array([cov.items[k].reachable and cov.items[k].hits == 0 for k in keys])
        for i in range(len(cands)):
            if (h[i] & want).any():
                cov.add(cands[i : i + 1])
                chosen.append(cands[i : i + 1])
                want &= ~h[i]
            if not want.any():
                break

    offer(corner_inputs(graph)[in_t.name])
    first = next((op for op in graph.ops if op.kind == "dense" and op.inputs[0] == in_t.name), None)
    if first is not None and in_t.size == np.asarray(first.weight).shape[1]:
        w = np.asarray(first.weight).reshape(np.asarray(first.weight).shape[0], -1)
        lo, hi = int(fmt.raw_min), int(fmt.raw_max)
        pat = np.concatenate([np.where(w > 0, hi, lo), np.where(w > 0, lo, hi)]).reshape(-1, *in_t.shape)
        offer(pat.astype(np.int64))
    for r in range(rounds):
        if not cov.missing():
            break
        offer(_extreme_random(rng, fmt, in_t.shape, batch))
        offer(np.asarray(random_inputs(graph, batch, seed + 1000 + r)[in_t.name], dtype=np.int64))
        for it in cov.missing()[:4]:
            if it.kind in ("out_max", "out_min"):
                offer(_climb(graph, it, rng, np.concatenate(chosen)))
    return np.concatenate(chosen), cov


def _climb(graph, it: Item, rng, pool: np.ndarray, steps: int = 30, width: int = 64) -> np.ndarray:
    """Hill climb toward an out_max/out_min item: mutate the best vectors (a few inputs set to random
    extremes) and keep the ``width`` with the highest (out_max) / lowest (out_min) op output."""
    from hwq.ir import run

    in_t = graph.tensor(graph.inputs[0])
    op = graph.op(it.op)
    fmt = graph.tensor(op.output).fmt
    sign = 1 if it.kind == "out_max" else -1
    lo, hi = int(in_t.fmt.raw_min), int(in_t.fmt.raw_max)

    def score(x):
        y = np.asarray(run(graph, {in_t.name: x}, trace=True).raw[op.output]).reshape(len(x), -1)
        return (sign * y).max(axis=1)

    x = pool[rng.choice(len(pool), size=min(width, len(pool)), replace=False)]
    s = score(x)
    goal = sign * (fmt.raw_max if sign > 0 else fmt.raw_min)
    for _ in range(steps):
        if s.max() >= goal:
            break
        y = x.copy().reshape(len(x), -1)
        mask = rng.random(y.shape) < 0.1
        y[mask] = rng.choice([lo, hi], size=int(mask.sum()))
        y = y.reshape(x.shape)
        sy = score(y)
        both = np.concatenate([x, y])
        sb = np.concatenate([s, sy])
        keep = np.argsort(-sb, kind="stable")[: len(x)]
        x, s = both[keep], sb[keep]
    return x[s >= goal][:1]


def random_vectors_to_cover(graph, target: set[str], seed: int = 0, cap: int = 20000, batch: int = 500):
    """How many plain random vectors (``random_inputs`` with ``seed``) hit every item key in ``target``;
    returns (vectors used, keys hit) — vectors == cap when they never do."""
    from hwq.ir.random_graph import random_inputs

    in_t = graph.tensor(graph.inputs[0])
    cov = Coverage(graph, items_of(graph))
    n = 0
    while n < cap:
        x = np.asarray(random_inputs(graph, batch, seed + n)[in_t.name], dtype=np.int64)
        h = hit_matrix(graph, x, list(cov.items.values()))
        keys = list(cov.items)
        for i in range(len(x)):
            for j in np.nonzero(h[i])[0]:
                cov.items[keys[j]].hits += 1
            n += 1
            hit = {k for k, it in cov.items.items() if it.hits}
            if target <= hit:
                return n, hit
    return n, {k for k, it in cov.items.items() if it.hits}
