"""The per-patch requantisation op ``patch_quant``: the interpreter equals the scalar oracle on random grids
(uneven patches included), bit widths, steps and bases; exhaustive over every int8 value per width; the JSON
round trip keeps it; bad parameters are refused naming the op; the HLS and RTL backends refuse it by name."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import parse
from hwq.ir import Graph, run
from hwq.ir.graph import GraphError
from hwq.ir.ops.patch_quant import PatchQuant, packed_bytes, patch_bounds, patch_elements
from hwq.ir.serialize import dumps, loads

from .test_ops_oracle import check_graph_against_oracle

FORMATS = ["int<8>", "fixed<8,3>", "ufixed<8,4>", "int<8,scale=0.05,zp=-128>", "uint<8,scale=0.1,zp=3>"]


def one_op_graph(shape, fmt: str, grid, bits, shifts=None, base=None) -> Graph:
    """input (C, H, W) -> patch_quant -> output, both in ``fmt``."""
    g = Graph("pq", ["x"], ["y"])
    f = parse(fmt)
    g.add_tensor("x", shape, f)
    g.add_tensor("y", shape, f)
    g.add_op(
        PatchQuant(
            "pq",
            ["x"],
            "y",
            grid=tuple(grid),
            bits=tuple(bits),
            base=base,
            shifts=None if shifts is None else tuple(shifts),
        )
    )
    g.validate()
    return g


def random_case(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    grid = (int(rng.integers(1, min(shape[1], 4) + 1)), int(rng.integers(1, min(shape[2], 4) + 1)))
    bits = [int(b) for b in rng.integers(1, 9, grid[0] * grid[1])]
    shifts = [int(rng.integers(0, 9 - b)) for b in bits] if seed % 2 else None
    fmt = FORMATS[seed % len(FORMATS)]
    f = parse(fmt)
    base = None if seed % 3 == 0 else int(rng.integers(f.raw_min, f.raw_max + 1))
    return one_op_graph(shape, fmt, grid, bits, shifts, base)


@pytest.mark.parametrize("seed", range(24))
def test_matches_oracle(seed):
    check_graph_against_oracle(random_case(seed), n_vectors=6, seed=seed)


@pytest.mark.parametrize("bits", range(1, 9))
def test_every_int8_value_every_step(bits):
    """All 256 raws x every legal step, one patch: exact against the formula written out by hand."""
    for k in range(0, 9 - bits):
        for base in (-128, -7, 0):
            g = one_op_graph((1, 16, 16), "int<8>", (1, 1), [bits], [k], base)
            x = np.arange(-128, 128, dtype=np.int64).reshape(1, 1, 16, 16)
            y = run(g, {"x": x}).outputs()[0].ravel()
            step = 1 << k
            code = np.clip(np.floor((x.ravel() - base + step // 2) / step), 0, 2**bits - 1)
            want = np.clip(base + code * step, -128, 127)
            assert (y == want).all(), (bits, k, base)
            assert len(np.unique(y)) <= 2**bits


def test_eight_bits_from_raw_min_is_identity_and_zero_survives_relu_base():
    g = one_op_graph((2, 5, 7), "int<8>", (2, 3), [8] * 6)
    x = np.random.default_rng(0).integers(-128, 128, (50, 2, 5, 7))
    assert (run(g, {"x": x}).outputs()[0] == x).all()
    g = one_op_graph((2, 5, 7), "int<8,scale=0.05,zp=-128>", (2, 3), [2] * 6, base=-128)
    x[x < -100] = -128  # ReLU zeros (zero point -128) stay exact at 2 bits
    y = run(g, {"x": x}).outputs()[0]
    assert (y[x == -128] == -128).all()


def test_uneven_grid_bounds_and_packed_size():
    assert patch_bounds(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert patch_elements((3, 7, 5), (3, 2)) == [3 * 2 * 2, 3 * 2 * 3, 3 * 2 * 2, 3 * 2 * 3, 3 * 3 * 2, 3 * 3 * 3]
    assert packed_bytes((3, 7, 5), (3, 2), [8, 4, 2, 1, 6, 3]) == 12 + 9 + 3 + 3 + 14 + 11


def test_json_round_trip():
    g = random_case(5)
    g2 = loads(dumps(g))
    op, op2 = g.ops[0], g2.ops[0]
    assert (op2.grid, op2.bits, op2.shifts, op2.base) == (op.grid, op.bits, op.shifts, op.base)
    x = np.random.default_rng(1).integers(-128, 128, (8, *g.tensor("x").shape))
    assert (run(g, {"x": x}).outputs()[0] == run(g2, {"x": x}).outputs()[0]).all()


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"grid": (3, 1)}, r"grid 3x1 does not fit the 2x4 plane"),
        ({"bits": (8, 9)}, r"bits must be integers in \[1, 8\]"),
        ({"bits": (8,)}, r"bits has 1 entries; the 1x2 grid needs 2"),
        ({"shifts": (0, 7)}, r"shifts must be integers in \[0, 8 - bits\]"),
        ({"base": 200}, r"base 200 is not a raw of the input format"),
    ],
)
def test_bad_parameters_are_refused_naming_the_op(kw, msg):
    args = {"grid": (1, 2), "bits": (8, 4), "shifts": None, "base": None} | kw
    with pytest.raises(GraphError, match=rf"op 'pq' \(patch_quant\): {msg}"):
        one_op_graph((3, 2, 4), "int<8>", args["grid"], args["bits"], args["shifts"], args["base"])


def test_wide_format_is_refused():
    with pytest.raises(GraphError, match=r"op 'pq' \(patch_quant\): input format int<16> is not an 8-bit"):
        one_op_graph((1, 2, 2), "int<16>", (1, 1), [4])


def test_hls_and_rtl_refuse_it_by_name(tmp_path):
    """No FPGA backend registers patch_quant (packed per-patch storage is an MCU memory device): ``supports``
    gives the reason and emit refuses naming the op before writing a file."""
    import hwq.hls as hls
    import hwq.rtl as rtl

    g = one_op_graph((1, 4, 4), "fixed<8,3>", (2, 2), [8, 4, 4, 2])
    for name, backend in (("hls", hls), ("rtl", rtl)):
        assert "not supported" in backend.supports(g.ops[0], g)
        with pytest.raises(ValueError, match=r"op 'pq' \(patch_quant\): not supported"):
            backend.emit(g, tmp_path / name)
        assert not (tmp_path / name).exists() or not any((tmp_path / name).iterdir())
