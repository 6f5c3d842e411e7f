"""Multiplier-free constant matrix-vector products: CSD digits + common-subexpression elimination.

Problem: for a constant integer matrix ``W`` (M outputs x N inputs) compute every ``y[j] = sum_i W[j,i]*x[i]``
with shifts and adders only, using as few adders as we reasonably can.

Algorithm (two-term CSE over signed digits, Hartley style, applied across all outputs at once):

1. Each output starts as a set of *terms* ``(node, shift, sign)`` meaning ``sign * (node << shift)``:
   one term per non-zero CSD digit of each weight (``csd.csd_digits``), node = the input index.
2. A *pattern* is an ordered pair of terms of the same output, normalised to
   ``(a, b, d, s)`` = "``a + s*(b << d)``" with ``d >= 0`` (the term with the smaller shift first; on
   equal shifts the smaller node first) and the first term's sign factored out. Every pair of terms in
   every output is counted.
3. Repeat: take the most frequent pattern (ties: the smallest key, so the result is deterministic); if it
   occurs fewer than 2 times, stop. Otherwise create one new adder node ``n = a + s*(b << d)`` and, in
   every output, replace each non-overlapping occurrence ``(a, k, t), (b, k+d, t*s)`` by ``(n, k, t)``.
   Counts are updated incrementally (only the pairs touching removed/added terms change), and the
   maximum is found through a heap with lazy deletion, so an iteration costs O(occurrences * terms).
4. What remains of each output is summed by an adder tree built level by level (the two shallowest
   partial sums first), so the tree adds as few levels as possible on top of the shared nodes.

Every replacement removes one adder from the output sums and the new node costs one adder, so the
adder count never grows, and it drops by (occurrences - 1) per extracted pattern.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from hwq.formats.csd import csd_digits


@dataclass
class AdderGraph:
    """Result of ``build_adder_graph``.

    ``n_inputs`` inputs are nodes ``0 .. n_inputs-1``; node ``n_inputs + k`` is
    ``nodes[k] = (a, b, d, s)``: value(a) + s * (value(b) << d). ``outputs[j]`` lists the remaining
    terms ``(node, shift, sign)`` whose sum is ``y[j]`` (empty: y[j] = 0).
    """

    n_inputs: int
    nodes: list[tuple[int, int, int, int]] = field(default_factory=list)
    outputs: list[list[tuple[int, int, int]]] = field(default_factory=list)

    @property
    def adders(self) -> int:
        """Two-input adders/subtractors: shared nodes plus (terms - 1) per output sum."""
        return len(self.nodes) + sum(max(len(t) - 1, 0) for t in self.outputs)

    def coefficients(self) -> list[dict[int, int]]:
        """For every node, its value as ``{input index: integer coefficient}`` (exact)."""
        coefs: list[dict[int, int]] = [{i: 1} for i in range(self.n_inputs)]
        for a, b, d, s in self.nodes:
            c = dict(coefs[a])
            for i, v in coefs[b].items():
                c[i] = c.get(i, 0) + s * (v << d)
            coefs.append({i: v for i, v in c.items() if v})
        return coefs


def _key(t1: tuple[int, int], s1: int, t2: tuple[int, int], s2: int) -> tuple[tuple[int, int, int, int], int, int]:
    """Pattern key of two terms ((node, shift), sign) -> (key, base shift, base sign)."""
    (n1, k1), (n2, k2) = t1, t2
    if (k2, n2) < (k1, n1):
        n1, k1, s1, n2, k2, s2 = n2, k2, s2, n1, k1, s1
    return (n1, n2, k2 - k1, s1 * s2), k1, s1


def build_adder_graph(weights, cse: bool = True) -> AdderGraph:
    """Adder graph computing ``y = W @ x`` for an integer matrix ``weights`` (M x N, rows = outputs).

    Integers only (any size); see the module docstring for the algorithm. ``cse=False`` keeps the plain
    CSD digit sums (no sharing), for comparison.
    """
    rows = [[int(v) for v in row] for row in weights]
    n_inputs = len(rows[0]) if rows else 0
    graph = AdderGraph(n_inputs)
    # per output: {(node, shift): sign}
    outs: list[dict[tuple[int, int], int]] = []
    for row in rows:
        terms: dict[tuple[int, int], int] = {}
        for i, w in enumerate(row):
            for sign, shift in csd_digits(w):
                terms[(i, shift)] = sign
        outs.append(terms)
    if cse:
        _extract(outs, graph)
    graph.outputs = [sorted((n, k, s) for (n, k), s in o.items()) for o in outs]
    return graph


def _extract(outs: list[dict[tuple[int, int], int]], graph: AdderGraph) -> None:
    counts: dict[tuple[int, int, int, int], int] = {}
    heap: list[tuple[int, tuple[int, int, int, int]]] = []

    def bump(key, delta: int) -> None:
        c = counts.get(key, 0) + delta
        if c:
            counts[key] = c
        else:
            del counts[key]
        if delta > 0 and c >= 2:
            heapq.heappush(heap, (-c, key))

    for o in outs:
        items = list(o.items())
        for x in range(len(items)):
            tx, sx = items[x]
            for y in range(x + 1, len(items)):
                ty, sy = items[y]
                key = _key(tx, sx, ty, sy)[0]
                counts[key] = counts.get(key, 0) + 1
    heap.extend((-c, key) for key, c in counts.items() if c >= 2)
    heapq.heapify(heap)

    # node -> {(output index, shift)}: where each node occurs
    where: dict[int, set[tuple[int, int]]] = {}
    for j, o in enumerate(outs):
        for n, k in o:
            where.setdefault(n, set()).add((j, k))

    def remove(j: int, t: tuple[int, int]) -> None:
        o = outs[j]
        s = o.pop(t)
        where[t[0]].discard((j, t[1]))
        for u, su in o.items():
            bump(_key(t, s, u, su)[0], -1)

    def add(j: int, t: tuple[int, int], s: int) -> None:
        o = outs[j]
        where.setdefault(t[0], set()).add((j, t[1]))
        for u, su in o.items():
            bump(_key(t, s, u, su)[0], 1)
        o[t] = s

    while heap:
        negc, key = heapq.heappop(heap)
        c = counts.get(key, 0)
        if c != -negc:
            if c >= 2:
                heapq.heappush(heap, (-c, key))
            continue
        a, b, d, s = key
        new = graph.n_inputs + len(graph.nodes)
        graph.nodes.append(key)
        used = 0
        for j, k in sorted(where.get(a, ())):
            o = outs[j]
            if True:
                ta, tb = (a, k), (b, k + d)
                if ta not in o or tb not in o or ta == tb:
                    continue
                sa = o[ta]
                if o[tb] != sa * s:
                    continue
                remove(j, ta)
                remove(j, tb)
                add(j, (new, k), sa)
                used += 1
        if used == 0:  # cannot happen with exact counts; keep the graph consistent anyway
            graph.nodes.pop()
