"""Coverage items of every RTL op (``hwq.sim.coverage``), judged by independent Python-int oracles.

- soundness: every item that random and corner vectors hit is marked reachable (the static interval and
  lattice analysis never calls a reachable item unreachable) on the six random graphs of every RTL op,
  the streamed CNN and saturating graphs;
- accumulator saturation per partial sum: a dense whose final sum is back in range after a saturated
  step hits ``acc_sat_hi`` although its exact sum never leaves the range, and on saturating dense and
  depthwise-conv graphs the hit matrix equals a term-by-term Python-int loop of the IR's order;
- ties and cast overflow agree with a direct Fraction computation;
- ``auto_vectors`` hits every reachable item of the digits MLP, the streamed CNN and a saturating graph.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from hwq.commands.vectors import corner_inputs
from hwq.formats import FixedFormat, parse
from hwq.ir import Conv2d, Dense, Graph, ReLU
from hwq.ir.random_graph import random_graph, random_inputs
from hwq.rtl import emit
from hwq.sim.coverage import Coverage, auto_vectors, hit_matrix, items_of, stall_items
from hwq.sim.verify import verify

from ..mcu.graphs_c import random_cmsis_graph
from ..tools import require_tool
from .graphs import digits_mlp
from .graphs_ops import sat_dense
from .graphs_stream import stream_cnn
from .test_ops import RANDOM_OPS


def _graphs():
    out = [(f"random{k}", random_graph(k, ops=ops, max_width=8)) for k, ops in enumerate(RANDOM_OPS)]
    out += [("cnn", stream_cnn()), ("sat", sat_dense("SAT")), ("sat_sym_rp", sat_dense("SAT_SYM", 1, True))]
    out += [("cmsis", random_cmsis_graph(11, kinds=["conv", "maxpool", "add"]))]
    out += [("cmsis_fc", random_cmsis_graph(12, kinds=["conv"], dense=True))]
    return out + [("depthwise", _depthwise()), ("refill", _refill())]


def _depthwise() -> Graph:
    """x (3, 5, 5) -> depthwise 3x3 conv (groups 3, pad 1) with a narrow saturating accumulator -> ReLU."""
    rng = np.random.default_rng(3)
    g = Graph("dw", ["x"], [])
    g.add_tensor("x", (3, 5, 5), "fixed<6,2>")
    wf, bf = parse("fixed<6,2>"), parse("fixed<6,2>")
    w = rng.integers(wf.raw_min, wf.raw_max + 1, size=(3, 1, 3, 3))
    w[0] = np.abs(w[0]) + 3  # one channel of one sign: its partial sums run past the accumulator
    w = np.clip(w, wf.raw_min, wf.raw_max)
    b = rng.integers(bf.raw_min, bf.raw_max + 1, size=(3,))
    acc = FixedFormat(12, 5, True, "TRN", "SAT")
    g.add_tensor("c", (3, 5, 5), "fixed<8,4,RND,SAT>")
    g.add_op(
        Conv2d(
            "dw", ["x"], "c", weight=w, bias=b, weight_fmt=wf, bias_fmt=bf, acc_fmt=acc,
            stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), groups=3,
        )
    )  # fmt: skip
    g.add_tensor("r", (3, 5, 5), "ufixed<6,3,RND,SAT>")
    g.add_op(ReLU("relu", ["c"], "r"))
    g.outputs = ["r"]
    g.validate()
    return g


def _refill() -> Graph:
    """x (2,) -> dense 1 with weights (+3.875, -3.875) and a 3-integer-bit SAT accumulator ([-4, 4)): with
    both inputs at their maximum the first partial sum (+7.5) saturates, the second brings it back down."""
    g = Graph("refill", ["x"], [])
    xf, wf = parse("fixed<6,2>"), parse("fixed<6,3>")
    g.add_tensor("x", (2,), xf)
    g.add_tensor("y", (1,), "fixed<8,4,RND,SAT>")
    acc = FixedFormat(10, 3, True, "TRN", "SAT")
    w = np.array([[wf.raw_max, -wf.raw_max]])
    g.add_op(Dense("fc", ["x"], "y", weight=w, bias=np.array([0]), weight_fmt=wf, bias_fmt=wf, acc_fmt=acc))
    g.outputs = ["y"]
    g.validate()
    return g


def _vectors(g, n: int = 1500) -> np.ndarray:
    t = g.tensor(g.inputs[0])
    x = np.asarray(random_inputs(g, n, 5)[t.name], dtype=np.int64).reshape(-1, *t.shape)
    rng = np.random.default_rng(1)
    ext = np.where(rng.random(x.shape) < 0.5, int(t.fmt.raw_min), int(t.fmt.raw_max))
    return np.concatenate([corner_inputs(g)[t.name], x, ext[: n // 3]])


@pytest.mark.parametrize("name,g", _graphs(), ids=[n for n, _ in _graphs()])
def test_items_hit_by_vectors_are_marked_reachable(name, g):
    items = items_of(g)
    kinds = {g.op(it.op).kind for it in items.values()}
    ops = {op.kind for op in g.ops} - {"flatten", "reshape"}
    assert ops <= kinds, f"ops without coverage items: {ops - kinds}"
    lst = list(items.values())
    h = hit_matrix(g, _vectors(g), lst)
    wrong = [it.key for j, it in enumerate(lst) if h[:, j].any() and not it.reachable]
    assert not wrong, f"{name}: hit but marked unreachable: {wrong}"


def _oracle_sat(g, op_name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per vector: did some product cast or partial sum of ``op_name``'s ordered chain leave the SAT
    accumulator's range above / below? Python ints, the IR's formula; conv rows built by hand."""
    op = g.op(op_name)
    af = op.acc_fmt
    lo_lim, hi_lim = af.raw_min, af.raw_max
    if af.overflow == "SAT_SYM":
        lo_lim = -hi_lim
    xf = g.tensor(op.inputs[0]).fmt
    pf = xf.frac_bits + op.weight_fmt.frac_bits

    def cast(v: int, f: int) -> int:
        return int(af.cast_raw(np.array([v], dtype=object), f)[0])

    def rnd(v: int) -> int:  # the rounding of a product to the accumulator's LSB, no overflow
        s = pf - af.frac_bits
        wide = FixedFormat(af.width + 40, af.int_bits + 40, True, af.rounding, "WRAP")
        return int(wide.cast_raw(np.array([v], dtype=object), pf)[0]) if s > 0 else v << -s

    rows = []  # (bias raw at bias fmt, [(input flat index, weight)]) per output
    if op.kind == "dense":
        for j in range(op.weight.shape[0]):
            rows.append((int(op.bias[j]), [(i, int(w)) for i, w in enumerate(op.weight[j])]))
    else:  # conv2d, stride 1, row-major (c, kh, kw) per output pixel, padded positions skipped
        cin, h, w_ = g.tensor(op.inputs[0]).shape
        cout, cg, kh, kw = op.weight.shape
        pt, pl = op.padding[0], op.padding[2]
        mg = cout // op.groups
        for o in range(cout):
            for i in range(h):
                for j in range(w_):
                    terms = []
                    for c in range(cg):
                        ci = (o // mg) * cg + c
                        for a in range(kh):
                            for b in range(kw):
                                yy, xx = i + a - pt, j + b - pl
                                if 0 <= yy < h and 0 <= xx < w_:
                                    terms.append(((ci * h + yy) * w_ + xx, int(op.weight[o, c, a, b])))
                    rows.append((int(op.bias[o]), terms))
    hi = np.zeros(len(x), dtype=bool)
    lo = np.zeros(len(x), dtype=bool)
    for v, vec in enumerate(x.reshape(len(x), -1)):
        for bias, terms in rows:
            acc = cast(bias, op.bias_fmt.frac_bits)
            for i, w in terms:
                prod = int(vec[i]) * w
                r = rnd(prod)
                s = acc + cast(prod, pf)
                hi[v] |= r > hi_lim or s > hi_lim
                lo[v] |= r < lo_lim or s < lo_lim
                acc = cast(s, af.frac_bits)
    return hi, lo


@pytest.mark.parametrize("name", ["sat", "sat_sym_rp", "depthwise", "refill"])
def test_saturation_per_partial_sum_matches_python_loop(name):
    g = dict(_graphs())[name]
    op = next(o for o in g.ops if o.kind in ("dense", "conv2d"))
    x = _vectors(g, 120)
    items = items_of(g)
    assert items[f"{op.name}:acc_sat_hi"].reachable
    lst = [items[f"{op.name}:acc_sat_hi"], items[f"{op.name}:acc_sat_lo"]]
    h = hit_matrix(g, x, lst)
    hi, lo = _oracle_sat(g, op.name, x)
    np.testing.assert_array_equal(h[:, 0], hi)
    np.testing.assert_array_equal(h[:, 1], lo)
    assert hi.any() and (~hi).any()  # the check can tell both apart


def test_a_saturated_partial_sum_counts_though_the_final_sum_is_in_range():
    g = _refill()
    op = g.op("fc")
    x = np.array([[31, 31]])  # x = 1.9375 each: +7.5 saturates a 3-integer-bit accumulator, then -7.5
    exact = sum(int(a) * int(w) for a, w in zip(x[0], op.weight[0]))
    assert exact == 0  # the exact final sum is in range: a final-sum check would miss the saturation
    items = items_of(g)
    h = hit_matrix(g, x, [items["fc:acc_sat_hi"]])
    assert h[0, 0]
    assert not hit_matrix(g, np.array([[0, 0]]), [items["fc:acc_sat_hi"]])[0, 0]


def test_tie_and_cast_overflow_agree_with_fractions():
    """relu / add / mul / concat / batchnorm / maxpool / conv ties and cast overflow from the interpreter's
    input tensors, recomputed with Fractions for random graphs 0..2."""
    from hwq.ir import run

    for k in range(3):
        g = random_graph(k, ops=RANDOM_OPS[k], max_width=8)
        items = items_of(g)
        t = g.tensor(g.inputs[0])
        x = _vectors(g, 200)
        res = run(g, {t.name: x}, trace=True).raw
        for op in g.ops:
            if op.kind not in ("relu", "add", "mul", "maxpool", "clip"):
                continue
            out = g.tensor(op.output).fmt
            ins = [np.asarray(res[n]).reshape(len(x), -1) for n in op.inputs]
            fr = [g.tensor(n).fmt.frac_bits for n in op.inputs]
            if op.kind == "maxpool":
                continue  # windowed: covered by the soundness test
            vals = []
            for v in range(len(x)):
                row = []
                for e in range(ins[0].shape[1]):
                    a = [Fraction(int(arr[v, e])) / Fraction(2) ** f for arr, f in zip(ins, fr)]
                    y = {"relu": lambda a: max(a[0], 0), "add": sum, "mul": lambda a: a[0] * a[1]}.get(op.kind)
                    if op.kind == "clip":
                        lo = Fraction(int(op.lo)) / Fraction(2) ** fr[0] if op.lo is not None else a[0]
                        hi = Fraction(int(op.hi)) / Fraction(2) ** fr[0] if op.hi is not None else a[0]
                        row.append(min(max(a[0], lo), hi))
                    else:
                        row.append(y(a))
                vals.append(row)
            scaled = [[val * Fraction(2) ** out.frac_bits for val in row] for row in vals]
            tie = np.array([any(s.denominator == 2 for s in row) for row in scaled])
            hi_lim = out.raw_max
            keys = [f"{op.name}:{c}" for c in ("tie", "cast_ovf_hi", "cast_ovf_lo") if f"{op.name}:{c}" in items]
            h = hit_matrix(g, x, [items[kk] for kk in keys])
            if f"{op.name}:tie" in items:
                np.testing.assert_array_equal(h[:, keys.index(f"{op.name}:tie")], tie, err_msg=op.name)
            if f"{op.name}:cast_ovf_hi" in items:  # beyond the range by at least one LSB: surely above
                far = np.array([any(s >= hi_lim + 1 for s in row) for row in scaled])
                assert (h[far, keys.index(f"{op.name}:cast_ovf_hi")]).all(), op.name


@pytest.mark.parametrize("name", ["mlp4", "cnn", "sat", "depthwise"])
def test_auto_vectors_cover_every_reachable_item(name):
    g = {"mlp4": lambda: digits_mlp("fixed4"), "cnn": stream_cnn, "sat": lambda: sat_dense("SAT"),
         "depthwise": _depthwise}[name]()  # fmt: skip
    x, cov = auto_vectors(g, start=4)
    assert not cov.missing(), [it.key for it in cov.missing()]
    s = cov.summary()
    assert s["covered"] == s["reachable"] > 0 and s["vectors"] == len(x)
    again = Coverage(g, items_of(g))
    again.add(x)  # the vectors chosen really hit the items (recounted from scratch)
    assert not again.missing()


def test_stall_items_from_a_bench_report():
    rep = {"stalls": {"s_axis": 3, "m_axis": 0}, "stage_stalls": {"conv1": [2, 0, 5]}}
    s = stall_items(rep)
    assert s["items"] == 5 and s["covered"] == 3
    assert s["not_stalled"] == ["m_axis:stream", "conv1:s2"]


@pytest.mark.slow
def test_bench_counts_stalls_per_pipeline_stage(tmp_path):
    """The exported cocotb bench counts, per layer and pipeline register stage, cycles with the stage's
    valid high while its layer's clock enable is low; verify.json reports them as coverage items. The
    output register's count equals the layer's stream stall count (tvalid high, tready low): the same
    event seen from outside. Single-cycle back-pressure never reaches the inner layers of the streamed CNN
    (the skid buffers absorb it); bursts do."""
    require_tool("iverilog", "the cocotb bench on Icarus")
    out = tmp_path / "cnn"
    out.mkdir()
    emit(stream_cnn(), out, tb_vectors=4)
    layers = [lay["name"] for lay in json.loads((out / "rtl.json").read_text())["layers"]]
    rep = verify("rtl", out, vectors=20, simulator="icarus", backpressure=0.5, backpressure_burst=400)
    assert rep.mismatches == 0
    st, streams, idx = rep.extra["stage_stalls"], rep.extra["stalls"], rep.extra["stage_index"]
    assert list(st) == layers and all(len(st[n]) == len(idx[n]) > 0 for n in layers)
    for name in layers:  # the output register of each layer stalls exactly when its output stream does
        stream = streams.get(name, streams["m_axis"] if name == layers[-1] else None)
        if stream is not None:
            assert st[name][-1] == stream, name
    assert st["conv1"][0] > 0 and st["conv2"][-1] > 0  # bursts reach the first stage of the first layer
    cov = json.loads((out / "verify.json").read_text())["extra"]["coverage"]["stalls"]
    assert cov["items"] == len(streams) + sum(len(v) for v in st.values())
    assert cov["covered"] == sum(n > 0 for n in streams.values()) + sum(n > 0 for v in st.values() for n in v)
    rep1 = verify("rtl", out, vectors=20, simulator="icarus", backpressure=0.5)  # single-cycle back-pressure
    assert sum(rep1.extra["stage_stalls"]["conv1"]) == 0 and rep1.extra["stage_stalls"][layers[-1]][-1] > 0
