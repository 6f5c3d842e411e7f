"""Multiplier-free constant matrix-vector products: CSD digits + common-subexpression elimination.

Problem: for a constant integer matrix ``W`` (M outputs x N inputs) compute every ``y[j] = sum_i W[j,i]*x[i]``
with shifts and adders only, using as few adders as we reasonably can.

Algorithm (two-term CSE over signed digits, Hartley style, applied across all outputs at once, after a
row-difference decomposition, on ``W`` or on its transpose):

1. Each output starts as a set of *terms* ``(node, shift, sign)`` meaning ``sign * (node << shift)``:
   one term per non-zero CSD digit of each weight (``csd.csd_digits``), node = the input index.
2. A *pattern* is an ordered pair of terms of the same output, normalised to
   ``(a, b, d, s)`` = "``a + s*(b << d)``" with ``d >= 0`` (the term with the smaller shift first; on
   equal shifts the smaller node first) and the first term's sign factored out, so ``x - y`` and
   ``-x + y`` are one pattern, and so are the same pair at any common shift. Every pair of terms in
   every output is counted.
3. Repeat: take the most frequent pattern; if it occurs fewer than 2 times, stop. Otherwise create one
   new adder node ``n = a + s*(b << d)`` and, in every output, replace each non-overlapping occurrence
   ``(a, k, t), (b, k+d, t*s)`` by ``(n, k, t)``. Ties between equally frequent patterns go (a) to the
   pattern that uses the most recently created node (it grows an existing subexpression into a larger
   shared one instead of starting a new one: 1-3 % fewer adders on random matrices than (c) alone),
   then (b) to the narrowest new node (estimated width ``bit_length(sum |coefficients|)``), then (c) to
   the smallest key, so the result is deterministic. Counts are updated incrementally (only the pairs
   touching removed/added terms change), once per iteration: on large problems in numpy tables of
   pattern ids (``_PairTable``: per-output pair ids, counts of the patterns seen at least twice, a heap
   for the count-2 ties), on small ones in plain Python (``_extract_py``); both choose exactly what the
   earlier dict-and-heap version (``_extract_reference``) chose, so the graphs are the same.
4. What remains of each output is summed by an adder tree (``datapath.Datapath.dense``) that always adds
   the two partial sums whose most significant bit (width + shift) is lowest, Huffman style: narrow sums
   meet first and every adder is as narrow as possible (on the 16x64 benchmark this needs 16 % fewer LUTs
   than adding the two shallowest sums first, for one or two more adder levels).

Every replacement removes one adder from the output sums and the new node costs one adder, so the
adder count never grows, and it drops by (occurrences - 1) per extracted pattern.

Row differences (``decompose=True``, the default). Rows of a random or trained matrix are often close:
``W[j] = f * W[p] + R[j]`` with ``f`` in {+-1, +-2, +-4} and a residual row ``R[j]`` with fewer CSD digits
than ``W[j]``, so ``y[j] = f * y[p] + R[j] @ x`` needs the digits of ``R[j]`` plus one adder. The parents
form a minimum spanning forest (Prim from a virtual zero row, ties to the lower index) under the cost
"digits of the residual + ``EDGE_COST``", with chains of at most ``max_chain`` links (each link adds
adder levels). ``EDGE_COST`` is 3, not 1, because the extra adder is as wide as the output while CSE
adders are narrow; 3 gave the fewest adders and adder bits over seven random and trained matrices
(1 to 5 tried). Steps 1-3 then run on the rows of ``R``; every parent output is summed into one node
inside the graph (narrowest terms first) and every child gets the term ``f * y[p]``. This is the kind
of decomposition da4ml uses (``W = W1 @ W2`` with a sparse ``W2``). It is skipped when no row gains or
when ``M * M * N`` exceeds ``DECOMPOSE_BUDGET`` (the tree search is quadratic in M).

Orientation (``transpose=None``: automatic). Greedy CSE and row differences find the most sharing when
there are many rows (outputs) over few columns, so for a matrix with fewer outputs than inputs the graph
is built for ``W.T`` and then transposed (``transpose_graph``: every edge reversed with its gain, every
fan-out becomes a sum and every adder a fan-out, Tellegen's theorem). On the 64x32 benchmark kernel (32
outputs of 64 inputs) this gives 1,982 adders instead of 2,024. The rule is a heuristic: with automatic
orientation the difference graph of the other orientation and plain sharing on ``W`` are built too, and the
graph with the fewest adders plus all-negative outputs (``_cost``: each needs a negation ``acc = -sum``) is
kept, ties to the rule's choice. On the square 64x64 8-bit benchmark kernel the rule's graph (``W``) has
4,894 adders and 17 negated outputs, plain sharing 4,894 and none (so ``fewest`` was no better than
``shallow``), the transposed difference graph 4,864 and none, which is now chosen.

Candidates. On the dense matrices tried (random, trained MLP layers) the graph above always had the
fewest adders. Sparse matrices (fewer than half the weights non-zero, e.g. a convolution as a matrix)
are different: their rows are shifted copies with disjoint supports, so differences rarely pay off and
either tie rule can win; for them plain sharing on ``W`` with each tie rule is built too, and the graph
with the fewest adders is kept (ties: the first built), so a sparse matrix never needs more adders than
with the earlier smallest-key rule alone.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from hwq.formats.csd import csd_digit_count, csd_digits

#: Largest M * M * N for which the row-difference tree is searched (M outputs, N inputs)
DECOMPOSE_BUDGET = 1 << 21
#: Digit-equivalent cost of the extra (full-width) adder of a difference edge
EDGE_COST = 3
#: Largest M * N for which a depth-bounded graph is built with both tie rules (the better one is kept)
BOUNDED_BOTH_TIES = 2048
#: ``_extract``'s pair tables keep about this many candidate patterns (the largest counts) apart, so that
#: each step looks at those only (``_PairTable.best``)
CAND_SPLIT = 256


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

    @property
    def depth(self) -> int:
        """Adder levels of the deepest node (inputs: 0); output sums not included."""
        lv = [0] * self.n_inputs
        for a, b, _, _ in self.nodes:
            lv.append(max(lv[a], lv[b]) + 1)
        return max(lv, default=0)

    @property
    def output_depth(self) -> int:
        """Adder levels of the deepest output when each output's remaining terms are summed level by
        level (always the two shallowest first): ``ceil(log2(sum 2**level))`` over its terms."""
        lv = [0] * self.n_inputs
        for a, b, _, _ in self.nodes:
            lv.append(max(lv[a], lv[b]) + 1)
        worst = 0
        for terms in self.outputs:
            if terms:
                k = sum(1 << lv[t[0]] for t in terms)
                worst = max(worst, (k - 1).bit_length())
        return worst

    def coefficients(self) -> list[dict[int, int]]:
        """For every node, its value as ``{input index: integer coefficient}`` (exact)."""
        coefs: list[dict[int, int]] = [{i: 1} for i in range(self.n_inputs)]
        for a, b, d, s in self.nodes:
            c = dict(coefs[a])
            for i, v in coefs[b].items():
                c[i] = c.get(i, 0) + s * (v << d)
            coefs.append({i: v for i, v in c.items() if v})
        return coefs


def plain_depth(weights) -> int:
    """Adder levels of the plain adder tree: every output's CSD digits summed by a balanced binary tree,
    ``ceil(log2(digits))`` for the output with the most digits (0 for at most one digit)."""
    most = max((sum(len(csd_digits(int(v))) for v in row) for row in weights), default=0)
    return max(most - 1, 0).bit_length()


def build_adder_graph(
    weights,
    cse: bool = True,
    *,
    decompose: bool = True,
    max_chain: int = 2,
    transpose: bool | None = None,
    depth_bound: int | str | None = None,
) -> AdderGraph:
    """Adder graph computing ``y = W @ x`` for an integer matrix ``weights`` (M x N, rows = outputs).

    Integers only (any size); see the module docstring for the algorithm. ``cse=False`` keeps the plain
    CSD digit sums (no sharing), for comparison. ``decompose``: use the row-difference decomposition
    (chains of at most ``max_chain`` links) when it saves digits. ``transpose``: build the graph of
    ``W.T`` and transpose it (None: when W has fewer rows than columns, and the
    other orientation and plain sharing are tried too, see the module docstring). ``depth_bound``: adder levels
    that no output may exceed, shared nodes and its final sum included (that sum built level by level,
    ``AdderGraph.output_depth``): an int, or ``"plain"`` for ``plain_depth(weights)`` (never below it);
    the sharing then respects it (``_extract``) and implies ``decompose=False, transpose=False``.
    Deterministic: the same matrix and options give the same graph.
    """
    rows = [[int(v) for v in row] for row in weights]
    n_inputs = len(rows[0]) if rows else 0
    if not cse:
        graph = AdderGraph(n_inputs)
        graph.outputs = [sorted((i, k, s) for i, w in enumerate(row) for s, k in csd_digits(w)) for row in rows]
        return graph
    if depth_bound is not None:
        plain = plain_depth(rows)
        bound = plain if depth_bound == "plain" else max(int(depth_bound), plain)
        cands = [_cse_graph(rows, n_inputs, True, bound)]
        if len(rows) * n_inputs <= BOUNDED_BOTH_TIES:  # the other tie rule too; keep the fewer adders
            cands.append(_cse_graph(rows, n_inputs, False, bound))
        return min(cands, key=lambda g: g.adders)  # ties: the first
    cols = [list(c) for c in zip(*rows)]
    flip = len(rows) < n_inputs if transpose is None else transpose
    mat, n = (cols, len(rows)) if flip else (rows, n_inputs)
    plan = None
    if decompose and max_chain > 0 and 1 < len(mat) and len(mat) ** 2 * n <= DECOMPOSE_BUDGET:
        plan = difference_plan(mat, max_chain)
    cands = []
    if plan is not None or flip:
        g = _cse_graph(mat, n) if plan is None else _difference_graph(mat, n, *plan)
        cands.append(transpose_graph(g, len(cols)) if flip else g)
    # sparse (e.g. convolution) matrices: also plain sharing on W itself, with both tie rules
    sparse = 2 * sum(1 for row in rows for v in row if v) < len(rows) * n_inputs
    plain = not cands or (sparse and not transpose)
    if plain:
        cands.append(_cse_graph(rows, n_inputs, True))
    if sparse and not transpose:
        cands.append(_cse_graph(rows, n_inputs, False))
    if transpose is None and decompose and max_chain > 0:  # automatic orientation: also the other one
        other, m = (rows, n_inputs) if flip else (cols, len(rows))
        if 1 < len(other) and len(other) ** 2 * m <= DECOMPOSE_BUDGET:
            other_plan = difference_plan(other, max_chain)
            if other_plan is not None:
                g = _difference_graph(other, m, *other_plan)
                cands.append(g if flip else transpose_graph(g, len(cols)))
        if not plain:  # plain sharing on W (what adders=shallow builds)
            cands.append(_cse_graph(rows, n_inputs, True))
    return min(cands, key=_cost)  # ties: the first


def _cost(graph: AdderGraph) -> int:
    """Adders of a graph plus its outputs whose terms are all negative: such a sum comes out negated, and
    the emitter then needs one more adder (``acc = -sum``) unless a bias absorbs it. Row differences
    make such outputs (a parent's sum node with a negative sign): on the 64x64 8-bit benchmark kernel the
    difference graph has 4,894 adders and 17 of them, the same orientation's plain sharing 4,894 and none,
    the transposed difference graph 4,864 and none."""
    return graph.adders + sum(1 for terms in graph.outputs if terms and all(s < 0 for _, _, s in terms))


# ----------------------------------------------------------------------------------------------- CSE
def _cse_graph(rows: list[list[int]], n_inputs: int, newest: bool = True, depth_bound: int | None = None) -> AdderGraph:
    """Steps 1-3 of the module docstring on integer rows; the outputs hold the remaining terms."""
    graph = AdderGraph(n_inputs)
    outs: list[dict[int, int]] = []
    for row in rows:
        terms: dict[int, int] = {}
        for i, w in enumerate(row):
            for sign, shift in csd_digits(w):
                terms[(shift << 32) | i] = sign
        outs.append(terms)
    _extract(outs, graph, newest, depth_bound)
    graph.outputs = [sorted((c & _NODE_MASK, c >> 32, s) for c, s in o.items()) for o in outs]
    return graph


_NODE_MASK = (1 << 24) - 1
_KEY_BITS = 64  # pattern key: a << 40 | b << 16 | d << 1 | (s < 0)
_COUNT_MAX = (1 << 32) - 1
_U64 = (1 << 64) - 1
#: Largest sum over outputs of (2 * terms)**2 for which ``_extract`` keeps pair tables (4 bytes each)
_PAIR_TABLE_BUDGET = 1 << 24
#: Smallest sum over outputs of terms**2 for which ``_extract`` uses the numpy tables (below: the
#: reference, faster there: numpy's per-call overhead dominates small problems)
_PAIR_TABLE_MIN = 1 << 14


def _extract(
    coded: list[dict[int, int]], graph: AdderGraph, newest: bool = True, depth_bound: int | None = None
) -> None:
    """Greedy two-term pattern extraction (module docstring, step 3), in place on ``coded``.

    ``depth_bound`` (levels, shared nodes and the final sum included): a term whose node sits at level
    l needs 2**l of the output's "level budget" 2**depth_bound (Kraft's inequality: terms at levels
    l_i can be summed within D levels iff sum 2**l_i <= 2**D, by always adding the two shallowest).
    A pattern occurrence is replaced only where the output stays within budget, and each pattern is
    extracted once (occurrences it had to leave stay as they are).

    Terms are coded as ints ``shift << 32 | node`` (so comparing codes orders by shift, then node) and a
    pattern (a, b, d, s) as ``a << 40 | b << 16 | d << 1 | (s < 0)``. The chosen pattern has the largest
    count; ties go to the newest node (largest ``max(a, b)``), then the narrowest new node (estimated
    width), then the smallest key; ``newest=False``: ties go to the smallest key only.

    Data structures (``_PairTable``): only patterns occurring at least twice can ever be chosen, and a
    count only grows in the iteration that creates a node (the pairs of that new node), so every pattern
    counted at least twice gets an integer id and a numpy count, the others share the ignored id 0; each
    output keeps numpy arrays of its terms and the id of every pair of them, so removing a term decrements
    its pairs' counts in one vector operation. Per iteration the new node's pairs are counted with
    ``numpy.unique``. The result is the one of ``_extract_reference`` (the earlier dict-and-heap version,
    used instead for small problems, where numpy's per-call overhead dominates, and for outputs too long
    for the pair tables), term for term.
    """
    pairs = sum(len(o) ** 2 for o in coded)
    if not _PAIR_TABLE_MIN <= pairs <= _PAIR_TABLE_BUDGET // 4:  # small: plain Python is faster
        _extract_py(coded, graph, newest, depth_bound)
        return
    m = _NODE_MASK
    mag = [1] * graph.n_inputs
    for a, b, d, _ in graph.nodes:
        mag.append(mag[a] + (mag[b] << d))
    tab = _PairTable(coded, mag, newest)
    where: dict[int, set[tuple[int, int]]] = {}
    for j, o in enumerate(coded):
        for c in o:
            where.setdefault(c & m, set()).add((j, c))
    bounded = depth_bound is not None
    if bounded:
        lv = [0] * graph.n_inputs
        for a, b, _, _ in graph.nodes:
            lv.append(max(lv[a], lv[b]) + 1)
        budget = 1 << depth_bound
        kraft = [sum(1 << lv[c & m] for c in o) for o in coded]
    while True:
        pid = tab.best()
        if pid < 0:
            break
        key = tab.key(pid)
        a, b, d, s = key >> 40, (key >> 16) & m, (key >> 1) & 0x7FFF, -1 if key & 1 else 1
        new = graph.n_inputs + len(graph.nodes)
        graph.nodes.append((a, b, d, s))
        mag.append(mag[a] + (mag[b] << d))
        if bounded:
            tab.retire(pid)
            lv.append(max(lv[a], lv[b]) + 1)
            grow = (1 << lv[new]) - (1 << lv[a]) - (1 << lv[b])
        used = 0
        for j, ca in sorted(where.get(a, ())):
            o = coded[j]
            cb = ca + (d << 32) - a + b
            if ca not in o or cb not in o or ca == cb:
                continue
            sa = o[ca]
            if o[cb] != sa * s:
                continue
            if bounded:
                if kraft[j] + grow > budget:
                    continue
                kraft[j] += grow
            del o[ca], o[cb]
            where[a].discard((j, ca))
            where[b].discard((j, cb))
            cn = ca - a + new
            o[cn] = sa
            where.setdefault(new, set()).add((j, cn))
            tab.replace(j, ca, cb, cn, sa)
            used += 1
        if used == 0:  # unbounded: cannot happen with exact counts; keep the graph consistent anyway
            graph.nodes.pop()
            mag.pop()
            tab.retire(pid)
            if bounded:
                lv.pop()
        tab.commit()


class _PairTable:
    """Pattern counts of ``_extract`` (see its docstring): ids, counts, candidates and the pair ids of
    every output, all in flat numpy arrays; changes are applied once per iteration (``commit``)."""

    def __init__(self, coded: list[dict[int, int]], mag: list[int], newest: bool) -> None:
        self.mag, self.newest = mag, newest
        n_out = len(coded)
        items = [sorted(o.items()) for o in coded]
        sizes = [len(t) for t in items]
        caps = [max(2 * n - 1, 1) for n in sizes]  # each replacement removes two terms and adds one
        self.cap = np.array(caps, dtype=np.int64)
        self.start = np.zeros(n_out, dtype=np.int64)
        self.pbase = np.zeros(n_out, dtype=np.int64)
        if n_out:
            self.start[1:] = np.cumsum(self.cap)[:-1]
            self.pbase[1:] = np.cumsum(self.cap * self.cap)[:-1]
        slots = int(self.cap.sum())
        self.code = np.zeros(slots, dtype=np.int64)
        self.neg = np.zeros(slots, dtype=bool)
        self.alive = np.zeros(slots, dtype=bool)
        self.flag = np.zeros(slots, dtype=bool)  # scratch: removed / new in this iteration
        self.out = np.repeat(np.arange(n_out, dtype=np.int64), self.cap)
        self.pair = np.zeros(int((self.cap * self.cap).sum()), dtype=np.int32)  # 0: pattern ignored
        self.loc: list[dict[int, int]] = []  # per output: code -> slot
        self.next = self.start.copy()  # per output: next free slot (slots from there on are unused)
        self.removed: list[int] = []
        self.pending: list[int] = []
        # id 0: every pattern counted fewer than two times (never chosen); counts of retired ids < 0
        self.count = np.zeros(1, dtype=np.int64)
        self.keys = np.zeros(1, dtype=np.uint64)
        self.rank = np.zeros(1, dtype=np.int64)
        self.n_ids = 1
        self.top_rank = 0
        # ids counted at least 3 times (a superset), split at ``cand_min`` (>= 3): every id of ``cand_lo`` is
        # counted below it (counts only ever fall; a new id counted that often goes to ``cand``), so while
        # some id of the short ``cand`` reaches it, the best id is there (``best``; ``_split_cand``)
        self.cand = np.zeros(0, dtype=np.int64)
        self.cand_lo = np.zeros(0, dtype=np.int64)
        self.cand_min = 3
        self.twos: list[int] = []  # heap of ids counted twice (a superset): priority << 32 | id
        self.stale = 0  # entries popped from ``twos`` as no longer counted twice since the last purge
        self.mag_np = np.zeros(0, dtype=np.int64)
        keys, where = [], []
        for j, its in enumerate(items):
            s0, n = int(self.next[j]), sizes[j]
            self.loc.append({c: s0 + x for x, (c, _) in enumerate(its)})
            self.next[j] = s0 + n
            if not n:
                continue
            codes = np.array([c for c, _ in its], dtype=np.int64)
            neg = np.array([sg < 0 for _, sg in its], dtype=bool)
            self.code[s0 : s0 + n] = codes
            self.neg[s0 : s0 + n] = neg
            self.alive[s0 : s0 + n] = True
            if n > 1:
                xs, ys = np.triu_indices(n, 1)
                keys.append(_pair_keys(codes[xs], codes[ys], neg[xs] != neg[ys]))
                cap, pb = caps[j], int(self.pbase[j])
                where.append((pb + xs * cap + ys, pb + ys * cap + xs))
        if keys:
            ids = self._new_ids(np.concatenate(keys))
            self.pair[np.concatenate([w for w, _ in where])] = ids
            self.pair[np.concatenate([w for _, w in where])] = ids

    def _widths(self, a: np.ndarray, b: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Estimated width ``bit_length(mag[a] + (mag[b] << d))`` (at most 255) of new nodes."""
        mag = self.mag
        if self.mag_np is not None and len(self.mag_np) < len(mag):  # nodes only ever appended here
            tail = mag[len(self.mag_np) :]
            self.mag_np = np.concatenate([self.mag_np, tail]).astype(np.int64) if max(tail) < (1 << 62) else None
        if self.mag_np is not None and len(a):
            ma, mb = self.mag_np[a], self.mag_np[b]
            if int(max(ma.max(), mb.max())) < (1 << 40) and int(d.max()) < 12:
                return np.minimum(np.frexp((ma + (mb << d)).astype(np.float64))[1], 255).astype(np.int64)
        return np.array(
            [min((mag[x] + (mag[y] << z)).bit_length(), 255) for x, y, z in zip(a.tolist(), b.tolist(), d.tolist())],
            dtype=np.int64,
        )

    def _new_ids(self, keys: np.ndarray) -> np.ndarray:
        """Count ``keys`` (patterns that do not exist yet), give an id to those counted at least twice;
        returns the id of every element of ``keys`` (0 for the others)."""
        if not len(keys):
            return np.zeros(0, dtype=np.int32)
        uniq, inv, cnt = _unique_inverse(keys)
        keep = cnt >= 2
        k = int(np.count_nonzero(keep))
        if not k:
            return np.zeros(len(keys), dtype=np.int32)
        base = self.n_ids
        kept = uniq[keep]
        if self.newest:  # rank: larger is better (newest node, then narrowest, then smallest key)
            a = (kept >> np.uint64(40)).astype(np.int64)
            b = ((kept >> np.uint64(16)) & np.uint64(_NODE_MASK)).astype(np.int64)
            d = ((kept >> np.uint64(1)) & np.uint64(0x7FFF)).astype(np.int64)
            order = np.lexsort((~kept, -self._widths(a, b, d), np.maximum(a, b)))
            rank = np.empty(k, dtype=np.int64)
            rank[order] = np.arange(self.top_rank + 1, self.top_rank + 1 + k)
            self.top_rank += k
        else:
            rank = 0
        self._grow(base + k)
        self.count[base : base + k] = cnt[keep]
        self.keys[base : base + k] = kept
        self.rank[base : base + k] = rank
        self.n_ids = base + k
        ids_u = np.zeros(len(uniq), dtype=np.int32)
        ids_u[keep] = np.arange(base, base + k, dtype=np.int32)
        fresh = np.arange(base, base + k, dtype=np.int64)
        two = cnt[keep] == 2
        many, cnt_many = fresh[~two], cnt[keep][~two]
        if self.cand_min > 3:
            hi = cnt_many >= self.cand_min
            self.cand_lo = np.concatenate([self.cand_lo, many[~hi]])
            many = many[hi]
        self.cand = np.concatenate([self.cand, many])
        self._push_twos(fresh[two])
        return ids_u[inv.ravel()]

    def _push_twos(self, ids: np.ndarray) -> None:
        """Add ids now counted twice to the heap ``twos`` (smallest entry = best: largest rank, else
        smallest key)."""
        if not len(ids):
            return
        if self.newest:  # ranks and ids are below 2**31: one int64 per entry, built in numpy
            ents = (((1 << 31) - self.rank[ids]) << 32 | ids).tolist()
        else:
            ents = [(pr << 32) | i for pr, i in zip(self.keys[ids].tolist(), ids.tolist())]
        heap = self.twos
        if len(ents) * 8 > len(heap):  # many: one heapify (the entries are distinct: same pop order)
            heap += ents
            heapq.heapify(heap)
        else:
            for e in ents:
                heapq.heappush(heap, e)

    def _purge_twos(self) -> None:
        """Drop every entry of ``twos`` whose id is no longer counted twice (the pop order of the rest is
        unchanged: the entries are distinct)."""
        heap = self.twos
        ids = np.fromiter((e & 0xFFFFFFFF for e in heap), dtype=np.int64, count=len(heap))
        keep = (self.count[ids] == 2).tolist()
        self.twos = [e for e, k in zip(heap, keep) if k]
        heapq.heapify(self.twos)
        self.stale = 0

    def _grow(self, n: int) -> None:
        if n <= len(self.count):
            return
        cap = max(n, 2 * len(self.count))
        for name in ("count", "keys", "rank"):
            old = getattr(self, name)
            arr = np.zeros(cap, dtype=old.dtype)
            arr[: len(old)] = old
            setattr(self, name, arr)

    def _split_cand(self) -> None:
        """Move the ids of ``cand`` and ``cand_lo`` counted twice to ``twos``, drop those counted less, and
        split the rest again: ``cand`` gets the ``CAND_SPLIT`` or so with the largest counts (all of those
        counted ``cand_min`` times or more)."""
        ids = np.concatenate([self.cand, self.cand_lo])
        cnt = self.count[ids]
        self._push_twos(ids[cnt == 2])
        keep = cnt >= 3
        ids, cnt = ids[keep], cnt[keep]
        self.cand_min = 3
        if len(ids) > CAND_SPLIT:
            self.cand_min = max(3, int(np.partition(cnt, len(cnt) - CAND_SPLIT)[len(cnt) - CAND_SPLIT]))
        hi = cnt >= self.cand_min
        self.cand, self.cand_lo = ids[hi], ids[~hi]

    def best(self) -> int:
        """Id of the pattern to extract next, or -1 when none occurs twice."""
        cand = self.cand
        if len(cand):
            cnt = self.count[cand]
            split = cnt.max() < self.cand_min or len(cand) > 4 * CAND_SPLIT
        else:
            split = len(self.cand_lo) > 0
        if split:  # no id of ``cand`` reaches ``cand_min`` (or it has grown long): a new split
            self._split_cand()
            cand = self.cand
            if len(cand):
                cnt = self.count[cand]
        if not len(cand) or cnt.max() < 3:
            heap, count = self.twos, self.count
            while heap:
                pid = heap[0] & 0xFFFFFFFF
                if count[pid] == 2:
                    return pid
                heapq.heappop(heap)
                self.stale += 1
                if self.stale * 4 > len(heap) > 1024:  # many stale entries: drop them all in one pass
                    self._purge_twos()
                    heap = self.twos
            return -1
        ties = cand[cnt == cnt.max()]
        if len(ties) == 1:
            return int(ties[0])
        if self.newest:
            return int(ties[np.argmax(self.rank[ties])])
        return int(ties[np.argmin(self.keys[ties])])

    def key(self, pid: int) -> int:
        """The pattern key of id ``pid``."""
        return int(self.keys[pid])

    def retire(self, pid: int) -> None:
        """Never choose ``pid`` again."""
        self.count[pid] = -(1 << 40)

    def replace(self, j: int, ca: int, cb: int, cn: int, sign: int) -> None:
        """In output j, terms ca and cb were replaced by cn (sign ``sign``); counted at ``commit``."""
        loc = self.loc[j]
        self.removed.append(loc.pop(ca))
        self.removed.append(loc.pop(cb))
        xn = int(self.next[j])
        self.next[j] = xn + 1
        self.code[xn] = cn
        self.neg[xn] = sign < 0
        loc[cn] = xn
        self.pending.append(xn)

    def _partners(self, slots: np.ndarray):
        """For every slot, every used slot of its output (below ``next``; the others were never alive):
        (slot repeated, partner slot, flat pair index, its output's capacity, its output's first slot)."""
        outs = self.out[slots]
        caps, starts = self.cap[outs], self.start[outs]
        lens = self.next[outs] - starts
        ends = np.cumsum(lens)
        offs = np.arange(int(ends[-1])) - np.repeat(ends - lens, lens)
        s = np.repeat(slots, lens)
        u = np.repeat(starts, lens) + offs
        idx = np.repeat(self.pbase[outs] + (slots - starts) * caps, lens) + offs
        return s, u, idx, np.repeat(caps, lens), np.repeat(starts, lens)

    def commit(self) -> None:
        """End of an iteration: the removed terms' pairs are uncounted, the new terms' pairs counted."""
        if not self.removed and not self.pending:  # nothing replaced: no count changed (a retired id
            return  # left in ``cand`` has a negative count, so it is never chosen)
        alive, flag = self.alive, self.flag
        if self.removed:
            rem = np.array(self.removed, dtype=np.int64)
            self.removed = []
            flag[rem] = True
            s, u, idx, _, _ = self._partners(rem)
            # pairs among the terms alive before: those with a removed term, each once
            keep = alive[u] & (u != s) & ~(flag[u] & (u < s))
            ids = self.pair[idx[keep]]
            ids = ids[ids > 0].astype(np.intp)  # (ufunc.at is faster with native indices)
            if len(ids):
                np.subtract.at(self.count, ids, 1)
            flag[rem] = False
            alive[rem] = False
        if not self.pending:
            return
        new = np.array(self.pending, dtype=np.int64)
        self.pending = []
        flag[new] = True
        s, u, idx, caps, starts = self._partners(new)
        # pairs of a new term with a term alive now or an earlier new term of its output
        keep = (alive[u] | (flag[u] & (u < s))) & (u != s)
        s, u, idx, caps, starts = s[keep], u[keep], idx[keep], caps[keep], starts[keep]
        cs, cu = self.code[s], self.code[u]
        ids = self._new_ids(_pair_keys(np.minimum(cs, cu), np.maximum(cs, cu), self.neg[s] != self.neg[u]))
        self.pair[idx] = ids
        self.pair[idx - (s - starts) * caps - (u - starts) + (u - starts) * caps + (s - starts)] = ids
        flag[new] = False
        alive[new] = True


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``numpy.unique(keys, return_inverse=True, return_counts=True)`` of a non-empty 1-D array, by one
    sort (the same three arrays; about half the time on the few hundred keys of one iteration)."""
    order = keys.argsort()
    srt = keys[order]
    first = np.empty(len(srt), dtype=bool)
    first[0] = True
    np.not_equal(srt[1:], srt[:-1], out=first[1:])
    group = np.cumsum(first)
    group -= 1
    inv = np.empty(len(srt), dtype=np.intp)
    inv[order] = group
    return srt[first], inv, np.bincount(group)


def _pair_keys(lo: np.ndarray, hi: np.ndarray, differ: np.ndarray) -> np.ndarray:
    """Pattern keys (uint64) of term pairs given by their codes, ``lo < hi`` elementwise."""
    lo, hi = lo.astype(np.uint64), hi.astype(np.uint64)
    mask, sh = np.uint64(_NODE_MASK), np.uint64(32)
    return (
        ((lo & mask) << np.uint64(40))
        | ((hi & mask) << np.uint64(16))
        | (((hi >> sh) - (lo >> sh)) << np.uint64(1))
        | differ.astype(np.uint64)
    )


def _term_parts(c: int, sign: int) -> tuple[int, int, int]:
    """Term ``c`` (code) as (P, Q, S): a pair (lo, hi) of terms (lo < hi) has the pattern key
    ``P_lo + Q_hi + (S_lo ^ S_hi)``."""
    node, k2 = c & _NODE_MASK, (c >> 32) << 1
    return (node << 40) - k2, (node << 16) + k2, int(sign < 0)


def _extract_py(
    coded: list[dict[int, int]], graph: AdderGraph, newest: bool = True, depth_bound: int | None = None
) -> None:
    """``_extract`` in plain Python (faster than the numpy tables on small problems): the reference's
    dict of counts and lazy heap, with each iteration's count changes gathered into lists (pattern keys as
    sums of per-term parts, ``_term_parts``) and counted by ``collections.Counter`` in one call; the
    decrements of the patterns in ``counts`` kept apart (``minus``). Only patterns counted at least twice
    are kept in ``counts``: an existing pattern's count never grows (new pairs all contain the new node:
    new patterns), so the others can never be chosen. Same result as ``_extract_reference``."""
    m = _NODE_MASK
    mag = [1] * graph.n_inputs
    for a, b, d, _ in graph.nodes:
        mag.append(mag[a] + (mag[b] << d))

    # a heap entry is ``(COUNT_MAX - count) << 96 | tie``: ``tie`` (the newest node, the width estimate
    # and the key, or the key alone) never changes, so it is computed once per pattern
    ties: dict[int, int] = {}

    def tie(key: int) -> int:
        if not newest:
            return key
        a, b, d = key >> 40, (key >> 16) & m, (key >> 1) & 0x7FFF
        wid = min((mag[a] + (mag[b] << d)).bit_length(), 255)
        t = ((m - max(a, b)) << 8 | wid) << _KEY_BITS | key
        ties[key] = t
        return t

    def prio(key: int, c: int) -> int:
        t = ties.get(key) if newest else key
        return ((_COUNT_MAX - c) << (32 + _KEY_BITS)) | (tie(key) if t is None else t)

    terms: list[dict[int, tuple[int, int, int]]] = []
    for o in coded:
        terms.append({c: _term_parts(c, s) for c, s in sorted(o.items())})
    counts, heap = _initial_counts(terms, mag, newest, ties)
    heapq.heapify(heap)
    minus: Counter = Counter()
    where: dict[int, set[tuple[int, int]]] = {}
    for j, o in enumerate(coded):
        for c in o:
            where.setdefault(c & m, set()).add((j, c))
    bounded = depth_bound is not None
    if bounded:
        lv = [0] * graph.n_inputs
        for a, b, _, _ in graph.nodes:
            lv.append(max(lv[a], lv[b]) + 1)
        budget = 1 << depth_bound
        kraft = [sum(1 << lv[c & m] for c in o) for o in coded]
        extracted: set[int] = set()
    key_mask = (1 << _KEY_BITS) - 1
    while heap:
        entry = heapq.heappop(heap)
        key = entry & key_mask
        if bounded and key in extracted:
            continue
        c = counts.get(key, 0) - minus.get(key, 0)
        if c != _COUNT_MAX - (entry >> (_KEY_BITS + 32)):  # stale entry
            if c >= 2:
                heapq.heappush(heap, prio(key, c))
            continue
        a, b, d, s = key >> 40, (key >> 16) & m, (key >> 1) & 0x7FFF, -1 if key & 1 else 1
        new = graph.n_inputs + len(graph.nodes)
        graph.nodes.append((a, b, d, s))
        mag.append(mag[a] + (mag[b] << d))
        if bounded:
            extracted.add(key)
            lv.append(max(lv[a], lv[b]) + 1)
            grow = (1 << lv[new]) - (1 << lv[a]) - (1 << lv[b])
        used = 0
        dec: list[int] = []
        pending: dict[int, list[int]] = {}
        for j, ca in sorted(where.get(a, ())):
            o = coded[j]
            cb = ca + (d << 32) - a + b
            if ca not in o or cb not in o or ca == cb:
                continue
            sa = o[ca]
            if o[cb] != sa * s:
                continue
            if bounded:
                if kraft[j] + grow > budget:
                    continue
                kraft[j] += grow
            t = terms[j]
            for cc in (ca, cb):  # uncount its pairs with the terms present before this iteration
                del o[cc]
                where[cc & m].discard((j, cc))
                pc, qc, sc = t.pop(cc)
                dec += [pc + qu + (sc ^ su) if cc < cu else pu + qc + (sc ^ su) for cu, (pu, qu, su) in t.items()]
            cn = ca - a + new
            o[cn] = sa
            where.setdefault(new, set()).add((j, cn))
            pending.setdefault(j, []).append(cn)
            used += 1
        if used == 0:  # unbounded: cannot happen with exact counts; keep the graph consistent anyway
            graph.nodes.pop()
            mag.pop()
            if bounded:
                lv.pop()
            continue
        minus.update(filter(counts.__contains__, dec))  # a key not counted twice now never is
        inc: list[int] = []
        for j, cns in pending.items():  # count the new terms' pairs (all with node `new`: new patterns)
            t, o = terms[j], coded[j]
            for cn in cns:
                pn, qn, sn = _term_parts(cn, o[cn])
                inc += [pn + qu + (sn ^ su) if cn < cu else pu + qn + (sn ^ su) for cu, (pu, qu, su) in t.items()]
                t[cn] = (pn, qn, sn)
        for k, v in Counter(inc).items():
            if v >= 2:
                counts[k] = v
                heapq.heappush(heap, prio(k, v))


def _initial_counts(terms: list[dict[int, tuple[int, int, int]]], mag: list[int], newest: bool, ties: dict):
    """``_extract_py``'s start: ({pattern key: count} over every pair of terms of every output, kept only
    for the patterns counted at least twice, their heap entries), the keys computed in numpy from the
    terms' parts
    (``_term_parts``; uint64 arithmetic wraps, the keys themselves fit). Fills ``ties`` (newest rule: the
    fixed low part of a pattern's heap entry) for those patterns."""
    m = _NODE_MASK
    keys = []
    for t in terms:
        n = len(t)
        if n < 2:
            continue
        vals = list(t.values())
        p = np.array([v[0] & _U64 for v in vals], dtype=np.uint64)  # P mod 2**64 (it can be negative)
        q = np.array([v[1] for v in vals], dtype=np.uint64)
        sg = np.array([v[2] for v in vals], dtype=np.uint64)
        xs, ys = np.triu_indices(n, 1)
        keys.append(p[xs] + q[ys] + (sg[xs] ^ sg[ys]))
    if not keys:
        return {}, []
    uniq, cnt = np.unique(np.concatenate(keys), return_counts=True)
    two = cnt >= 2
    kept, kc = uniq[two], cnt[two]
    counts = dict(zip(kept.tolist(), kc.tolist()))
    hi = (_COUNT_MAX - kc.astype(np.uint64)) << np.uint64(32)
    if not newest:
        return counts, [(h << _KEY_BITS) | k for h, k in zip(hi.tolist(), kept.tolist())]
    a = (kept >> np.uint64(40)).astype(np.int64)
    b = ((kept >> np.uint64(16)) & np.uint64(m)).astype(np.int64)
    d = ((kept >> np.uint64(1)) & np.uint64(0x7FFF)).astype(np.int64)
    if len(kept) and (max(mag) >= (1 << 40) or int(d.max()) >= 12):  # beyond float64's exact range
        wid = [min((mag[x] + (mag[y] << z)).bit_length(), 255) for x, y, z in zip(a.tolist(), b.tolist(), d.tolist())]
        wid = np.array(wid, dtype=np.uint64)
    else:
        mg = np.array(mag, dtype=np.int64)
        wid = np.minimum(np.frexp((mg[a] + (mg[b] << d)).astype(np.float64))[1], 255).astype(np.uint64)
    low = ((np.uint64(m) - np.maximum(a, b).astype(np.uint64)) << np.uint64(8)) | wid
    heap = []
    for h, lw, k in zip(hi.tolist(), low.tolist(), kept.tolist()):
        t = (lw << _KEY_BITS) | k
        ties[k] = t
        heap.append((h << _KEY_BITS) | t)
    return counts, heap


def _extract_reference(
    coded: list[dict[int, int]], graph: AdderGraph, newest: bool = True, depth_bound: int | None = None
) -> None:
    """``_extract`` with a dict of pattern counts and a heap (the earlier implementation, same result):
    used for outputs too long for ``_extract``'s pair tables, and as the reference in the tests.

    ``depth_bound`` (levels, shared nodes and the final sum included): a term whose node sits at level
    l needs 2**l of the output's "level budget" 2**depth_bound (Kraft's inequality: terms at levels
    l_i can be summed within D levels iff sum 2**l_i <= 2**D, by always adding the two shallowest).
    A pattern occurrence is replaced only where the output stays within budget, and each pattern is
    extracted once (occurrences it had to leave stay as they are).

    Terms are coded as ints ``shift << 32 | node`` (so comparing codes orders by shift, then node) and a
    pattern (a, b, d, s) as ``a << 40 | b << 16 | d << 1 | (s < 0)``. A heap entry is one int: from the
    most significant field down, ``COUNT_MAX - count``, ``NODE_MASK - max(a, b)`` (newest node first),
    the estimated width of the new node, and the key; plain-int hashing and comparison keep the
    incremental pair counting fast. ``newest=False``: ties go to the smallest key only.
    """
    m = _NODE_MASK
    # magnitude bound of every node's value per unit input: sum of |coefficients| (width estimate)
    mag = [1] * graph.n_inputs
    for a, b, d, _ in graph.nodes:
        mag.append(mag[a] + (mag[b] << d))

    def prio(key: int, c: int) -> int:
        a, b, d = key >> 40, (key >> 16) & m, (key >> 1) & 0x7FFF
        if not newest:
            return ((_COUNT_MAX - c) << (32 + _KEY_BITS)) | key
        wid = min((mag[a] + (mag[b] << d)).bit_length(), 255)
        return ((((_COUNT_MAX - c) << 24 | (m - max(a, b))) << 8 | wid) << _KEY_BITS) | key

    counts: dict[int, int] = {}
    for o in coded:
        items = sorted(o.items())
        for x in range(len(items)):
            ca, sa = items[x]
            na, ka = ca & m, ca >> 32
            for y in range(x + 1, len(items)):
                cb, sb = items[y]
                key = (na << 40) | ((cb & m) << 16) | (((cb >> 32) - ka) << 1) | (sa != sb)
                counts[key] = counts.get(key, 0) + 1
    heap = [prio(key, c) for key, c in counts.items() if c >= 2]
    heapq.heapify(heap)
    # node -> {(output index, code)}: where each node occurs
    where: dict[int, set[tuple[int, int]]] = {}
    for j, o in enumerate(coded):
        for c in o:
            where.setdefault(c & m, set()).add((j, c))

    def update(o: dict[int, int], c: int, sc: int, delta: int) -> None:
        """Add ``delta`` to the count of every pattern formed by term (c, sc) with the other terms of o."""
        for u, su in o.items():
            if c < u:
                key = ((c & m) << 40) | ((u & m) << 16) | (((u >> 32) - (c >> 32)) << 1) | (sc != su)
            else:
                key = ((u & m) << 40) | ((c & m) << 16) | (((c >> 32) - (u >> 32)) << 1) | (sc != su)
            n = counts.get(key, 0) + delta
            if n:
                counts[key] = n
                if delta > 0 and n >= 2:
                    heapq.heappush(heap, prio(key, n))
            else:
                del counts[key]

    bounded = depth_bound is not None
    if bounded:
        lv = [0] * graph.n_inputs
        for a, b, _, _ in graph.nodes:
            lv.append(max(lv[a], lv[b]) + 1)
        budget = 1 << depth_bound
        kraft = [sum(1 << lv[c & m] for c in o) for o in coded]
        extracted: set[int] = set()
    key_mask = (1 << _KEY_BITS) - 1
    while heap:
        entry = heapq.heappop(heap)
        key = entry & key_mask
        c = counts.get(key, 0)
        if bounded and key in extracted:
            continue
        if c != _COUNT_MAX - (entry >> (_KEY_BITS + 32)):  # stale entry
            if c >= 2:
                heapq.heappush(heap, prio(key, c))
            continue
        a, b, d, s = key >> 40, (key >> 16) & m, (key >> 1) & 0x7FFF, -1 if key & 1 else 1
        new = graph.n_inputs + len(graph.nodes)
        graph.nodes.append((a, b, d, s))
        mag.append(mag[a] + (mag[b] << d))
        if bounded:
            extracted.add(key)
            lv.append(max(lv[a], lv[b]) + 1)
            grow = (1 << lv[new]) - (1 << lv[a]) - (1 << lv[b])
        used = 0
        for j, ca in sorted(where.get(a, ())):
            o = coded[j]
            cb = ca + (d << 32) - a + b
            if ca not in o or cb not in o or ca == cb:
                continue
            sa = o[ca]
            if o[cb] != sa * s:
                continue
            if bounded:
                if kraft[j] + grow > budget:
                    continue
                kraft[j] += grow
            for cc in (ca, cb):
                sc = o.pop(cc)
                where[cc & m].discard((j, cc))
                update(o, cc, sc, -1)
            cn = ca - a + new
            update(o, cn, sa, +1)
            o[cn] = sa
            where.setdefault(new, set()).add((j, cn))
            used += 1
        if used == 0:  # unbounded: cannot happen with exact counts; keep the graph consistent anyway
            graph.nodes.pop()
            mag.pop()
            if bounded:
                lv.pop()


# ----------------------------------------------------------------------------------------------- row differences
#: number of non-zero CSD digits of every element of an int64 array (one implementation: hwq.formats.csd)
csd_weights = csd_digit_count


_FACTORS = (1, -1, 2, -2, 4, -4)


def difference_plan(rows: list[list[int]], max_chain: int = 2):
    """Row-difference tree (module docstring): ``(order, parent, factor)`` or None when nothing is saved.

    ``order`` lists the outputs parents first; ``parent[j]`` is -1 (computed from its own row) or the
    output p with ``W[j] = factor[j] * W[p] + R[j]``. Chains have at most ``max_chain`` links.
    """
    mags = [abs(v) for row in rows for v in row]
    if not mags or max(mags).bit_length() > 58:  # int64 headroom for 4 * W[p] and the digit trick
        return None
    w = np.array(rows, dtype=np.int64)
    n_rows = len(rows)
    dist = csd_weights(w).sum(axis=1)
    own = int(dist.sum())
    parent = np.full(n_rows, -1)
    factor = np.zeros(n_rows, dtype=np.int64)
    depth = np.zeros(n_rows, dtype=np.int64)
    done = np.zeros(n_rows, dtype=bool)
    order: list[int] = []
    for _ in range(n_rows):
        todo = np.flatnonzero(~done)
        j = int(todo[np.argmin(dist[todo])])  # ties: the lowest index
        done[j] = True
        order.append(j)
        if parent[j] >= 0:
            depth[j] = depth[parent[j]] + 1
        rest = np.flatnonzero(~done)
        if depth[j] >= max_chain or not len(rest) or not w[j].any():
            continue
        for f in _FACTORS:
            cost = csd_weights(w[rest] - f * w[j]).sum(axis=1) + EDGE_COST
            better = cost < dist[rest]
            idx = rest[better]
            dist[idx] = cost[better]
            parent[idx] = j
            factor[idx] = f
    if int(dist.sum()) >= own:
        return None
    return order, [int(p) for p in parent], [int(f) for f in factor]


def _difference_graph(rows, n_inputs: int, order: list[int], parent: list[int], factor: list[int]) -> AdderGraph:
    """CSE on the residual rows, then ``y[j] = factor * y[parent] + R[j] @ x`` (module docstring)."""
    resid = [
        row if p < 0 else [v - factor[j] * pv for v, pv in zip(row, rows[p])]
        for j, (row, p) in enumerate(zip(rows, parent))
    ]
    graph = _cse_graph(resid, n_inputs)
    mag = [1] * n_inputs
    for a, b, d, _ in graph.nodes:
        mag.append(mag[a] + (mag[b] << d))
    is_parent = [False] * len(rows)
    for p in parent:
        if p >= 0:
            is_parent[p] = True

    def top(t) -> tuple[int, int]:  # Huffman key: estimated most significant bit, then node
        return ((mag[t[0]] << t[1]).bit_length(), t[0])

    whole: dict[int, tuple[int, int, int] | None] = {}  # output -> the single term equal to y[j]
    outputs: list[list[tuple[int, int, int]]] = [[] for _ in rows]
    for j in order:
        terms = list(graph.outputs[j])
        p = parent[j]
        if p >= 0 and whole[p] is not None:
            node, k, sg = whole[p]
            f = factor[j]
            terms.append((node, k + abs(f).bit_length() - 1, sg if f > 0 else -sg))
        if is_parent[j]:
            while len(terms) > 1:  # sum into one node, narrowest terms first
                terms.sort(key=top)
                (n1, k1, s1), (n2, k2, s2) = sorted(terms[:2], key=lambda t: (t[1], t[0]))
                graph.nodes.append((n1, n2, k2 - k1, s1 * s2))
                mag.append(mag[n1] + (mag[n2] << (k2 - k1)))
                terms = terms[2:] + [(n_inputs + len(graph.nodes) - 1, k1, s1)]
            whole[j] = terms[0] if terms else None
        outputs[j] = sorted(terms)
    graph.outputs = outputs
    return graph


# ----------------------------------------------------------------------------------------------- transposition
def _sum_terms(graph: AdderGraph, mag: list[int], terms: list[tuple[int, int, int]]) -> tuple[int, int, int] | None:
    """Add ``terms`` into one term (new nodes appended to ``graph``), narrowest first; None when empty."""
    n_inputs = graph.n_inputs
    terms = list(terms)
    while len(terms) > 1:
        terms.sort(key=lambda t: ((mag[t[0]] << t[1]).bit_length(), t[0], t[1]))
        (n1, k1, s1), (n2, k2, s2) = sorted(terms[:2], key=lambda t: (t[1], t[0]))
        graph.nodes.append((n1, n2, k2 - k1, s1 * s2))
        mag.append(mag[n1] + (mag[n2] << (k2 - k1)))
        terms = terms[2:] + [(n_inputs + len(graph.nodes) - 1, k1, s1)]
    return terms[0] if terms else None


def transpose_graph(gt: AdderGraph, n_inputs: int) -> AdderGraph:
    """The transposed network: ``gt`` computes ``z = V @ u``; the result computes ``y = V.T @ x``.

    Every edge is reversed with its gain (Tellegen): a node of ``gt`` with fan-out f becomes a sum of f
    terms (f - 1 adders) and every adder becomes a fan-out, so the adder count changes by
    ``len(gt.outputs) - gt.n_inputs`` (plus one per fan-out-free node). ``n_inputs`` = ``len(gt.outputs)``.
    """
    assert n_inputs == len(gt.outputs)
    n_t = gt.n_inputs
    contrib: list[list[tuple[int, int, int]]] = [[] for _ in range(n_t + len(gt.nodes))]
    for i, terms in enumerate(gt.outputs):
        for v, k, s in terms:
            contrib[v].append((i, k, s))
    graph = AdderGraph(n_inputs)
    mag = [1] * n_inputs
    for idx in range(len(gt.nodes) - 1, -1, -1):
        t = _sum_terms(graph, mag, contrib[n_t + idx])
        contrib[n_t + idx] = []
        if t is None:
            continue
        a, b, d, s = gt.nodes[idx]
        node, k, sg = t
        contrib[a].append((node, k, sg))
        contrib[b].append((node, k + d, sg * s))
    graph.outputs = [sorted(contrib[j]) for j in range(n_t)]
    return graph
