"""Minifloat tensors in the Verilog emitter (``rtl/minifloat.py``): codes on the streams, exact raws inside,
``FloatFormat.cast_raw`` rounding in hardware. Every design is co-simulated on Icarus against ``hwq.ir.run``
(integer comparison of raws and of the code words on the bus) with random gaps and back-pressure."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import parse
from hwq.ir.graph import Graph
from hwq.ir.ops.dense import Dense
from hwq.ir.ops.relu import ReLU
from hwq.ir.random_graph import random_graph
from hwq.rtl import RtlError, emit, supports

from .conftest import cosim, need_icarus, need_verilator

#: minifloat formats of the random graphs: every policy, with and without subnormals
RANDOM_FLOATS = ["e4m3", "e2m1fn", "float<3,2,nosub>", "e5m2fnuz"]


def _dense_relu(fin: str, fout: str, seed: int = 0, acc: str = "fixed<40,20>") -> Graph:
    """x (4,) fin -> dense 3 (4-bit weights) -> h fout -> relu -> y fout."""
    g = Graph("mf", ["x"], ["y"])
    g.add_tensor("x", (4,), fin)
    g.add_tensor("h", (3,), fout)
    g.add_tensor("y", (3,), fout)
    rng = np.random.default_rng(seed)
    g.add_op(
        Dense(
            "fc",
            ["x"],
            "h",
            weight=rng.integers(-8, 8, (3, 4)),
            bias=np.array([3, -1, 0]),
            weight_fmt=parse("fixed<4,1>"),
            bias_fmt=parse("fixed<6,2>"),
            acc_fmt=parse(acc),
        )
    )
    g.add_op(ReLU("r", ["h"], "y"))
    g.validate()
    return g


@pytest.mark.parametrize(
    "fin,fout",
    [
        ("e4m3", "e4m3"),  # decode, round, ReLU on raw and code
        ("e2m1", "e2m1"),
        ("e4m3", "e2m1"),  # heavy saturation
        ("fixed<6,2>", "e4m3fn"),  # fixed in, minifloat out
        ("e4m3", "fixed<8,4>"),  # minifloat in, fixed out
        ("float<3,2,nosub>", "float<4,2,fnuz>"),  # flush to zero in and out, no negative zero
        ("e5m2", "e4m3fn"),
        ("e2m1fn", "float<3,0,fn>"),  # no mantissa bits
    ],
)
def test_dense_relu_minifloat_cosimulates_exactly(tmp_path, fin, fout):
    need_icarus()
    cosim(_dense_relu(fin, fout), tmp_path, 300, io="parallel", seed=1)


def test_rounding_into_a_narrow_accumulator_and_shifted_products(tmp_path):
    """An accumulator with fewer fractional bits than the products (each product rounded: ordered chain on
    the decoded raws) and an output format coarser than the accumulator."""
    need_icarus()
    cosim(_dense_relu("e4m3", "float<3,1>", acc="fixed<30,24>"), tmp_path, 300, io="parallel", seed=2)


@pytest.mark.parametrize("seed", [0, 2, 3, 5, 11, 12])
def test_random_graphs_with_minifloat_tensors(tmp_path, seed):
    """hwq.ir.random_graph with minifloat tensors and weights (ReLU, Concat, MaxPool, BatchNorm, Add, pooling,
    Conv1d/Conv2d streamed, Dense, Clip, Requantize), 100 vectors each."""
    need_icarus()
    g = random_graph(seed, n_ops=4, max_width=10, minifloats=RANDOM_FLOATS)
    assert any(getattr(t.fmt, "kind", "") == "float" for t in g.tensors.values())
    cosim(g, tmp_path, 100, seed=seed)


def test_the_harness_catches_a_wrong_tie_rule(tmp_path):
    """Round half up instead of half to even in the emitted cast: the co-simulation must report mismatches."""
    need_icarus()
    from hwq.sim.verify import verify

    g = Graph("ties", ["x"], ["y"])
    g.add_tensor("x", (4,), "fixed<6,4>")  # 2 fractional bits: many exact ties on e2m1's grid
    g.add_tensor("y", (4,), "e2m1")
    g.add_op(ReLU("r", ["x"], "y"))
    emit(g, tmp_path, io="parallel", tb_vectors=0)
    n = 0
    for f in tmp_path.glob("*.v"):
        text = f.read_text()
        broken = text.replace("_mfq[0]);  // round to nearest, ties to even", "_mfq[0] | 1'b1);  // BROKEN: ties up")
        n += broken != text
        f.write_text(broken)
    assert n >= 1
    rep = verify("rtl", tmp_path, vectors=300, seed=1, simulator="icarus")
    assert rep.mismatches > 0


def test_minifloat_designs_are_multiplier_free_and_carry_codes(tmp_path):
    emit(_dense_relu("e4m3", "e2m1"), tmp_path, io="parallel", tb_vectors=0)
    layer = next(f for f in tmp_path.glob("*_fc.v"))
    text = layer.read_text()
    body = "\n".join(ln.split("//")[0] for ln in text.splitlines() if "verilator lint_" not in ln)
    assert "*" not in body  # no multiply operator: shifts, adders and selects only
    top = next(f for f in tmp_path.glob("hwq_mf.v")).read_text()
    assert "input  wire [31:0] s_axis_tdata" in top  # 4 e4m3 codes of 8 bits (raws would need 17 bits each)
    assert "output wire [11:0] m_axis_tdata" in top  # 3 e2m1 codes of 4 bits


def test_refusals_name_the_tensor_or_op(tmp_path):
    g = _dense_relu("e4m3", "float<4,3,SR>")
    with pytest.raises(RtlError, match=r"tensor 'h': format float<4,3,SR>: SR rounding has no Verilog"):
        emit(g, tmp_path)
    lg = random_graph(7, n_ops=4, max_width=10, minifloats=RANDOM_FLOATS)
    lut = next(op for op in lg.ops if op.kind == "lut")
    if any(getattr(lg.tensor(n).fmt, "kind", "") == "float" for n in [*lut.inputs, lut.output]):
        assert "only fixed point" in supports(lut, lg)


@pytest.mark.parametrize("fin,fout", [("e4m3", "e2m1"), ("float<3,2,nosub>", "e4m3"), ("e2m1fn", "fixed<8,4>")])
def test_per_product_significand_and_exponent_shift_cosimulates_exactly(tmp_path, monkeypatch, fin, fout):
    """``minifloat.PRODUCTS = "mantissa"``: significand x constant (shared shift-add per column), a barrel
    shift per product into the accumulator; exact like the default decode-once datapath."""
    need_icarus()
    import hwq.rtl.minifloat as mf

    monkeypatch.setattr(mf, "PRODUCTS", "mantissa")
    rep = cosim(_dense_relu(fin, fout), tmp_path, 200, io="parallel", seed=4)
    assert "barrel shifter" in next(tmp_path.glob("*_fc.v")).read_text()
    assert rep.mismatches == 0


def test_minifloat_verilog_is_lint_clean(tmp_path, monkeypatch):
    need_verilator()
    import hwq.rtl.minifloat as mf
    from hwq.rtl import lint

    for k, (fin, fout, products) in enumerate(
        [("float<3,2,nosub>", "float<4,2,fnuz>", "decode"), ("e2m1fn", "float<3,0,fn>", "decode"),
         ("e4m3", "e2m1", "mantissa")]
    ):  # fmt: skip
        monkeypatch.setattr(mf, "PRODUCTS", products)
        d = tmp_path / str(k)
        d.mkdir()
        emit(_dense_relu(fin, fout), d, io="parallel", tb_vectors=0)
        assert lint(d) == [], (fin, fout, products)
