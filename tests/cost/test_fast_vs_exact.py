"""The fast FPGA estimate (``fpga(..., exact=False)``, no CSE run) against the exact model (``exact=True``,
the emitter's real adder graph) on a trained low-bit network and on random dense layers.

The exact model is an independent computation (it builds the datapath the emitter writes); the fast one
only reads digit counts and value ranges. Tolerances: 15 % on a whole network's LUTs (the fast model's
stated goal is a median <= 5 % and p90 <= 15 % on trained networks), 25 % on a single random layer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hwq.cost import fpga
from hwq.ir.serialize import loads

from .graphs import random_dense

DATA = Path(__file__).parent / "data"


def _err(graph) -> float:
    exact = fpga(graph, "xc7")["total"]["LUT"]
    fast = fpga(graph, "xc7", exact=False)["total"]["LUT"]
    return fast / exact - 1


def test_trained_low_bit_mlp_within_15_percent():
    """flow_mlp_chosen: 5/3-bit unsigned ReLU inputs, 2-4-bit weights (was +69 % before the fast model read
    the input's format and the accumulator's range)."""
    g = loads((DATA / "flow_mlp_chosen.json").read_text())
    assert abs(_err(g)) <= 0.15


@pytest.mark.parametrize(
    "n_out,n_in,seed,w_fmt,x_fmt",
    [
        (8, 16, 1, "fixed<6,1>", "fixed<8,3>"),
        (12, 24, 2, "fixed<3,1>", "ufixed<4,2>"),
        (6, 32, 3, "fixed<4,2>", "ufixed<3,1>"),
    ],
)
def test_random_dense_within_25_percent(n_out, n_in, seed, w_fmt, x_fmt):
    """Signed 8-bit and narrow unsigned inputs, 3-6-bit weights."""
    g = random_dense(n_out, n_in, seed, w_fmt=w_fmt, x_fmt=x_fmt)
    assert abs(_err(g)) <= 0.25
