"""The analytical cost model's digit counts, against a brute-force minimal signed-digit search."""

import itertools

import numpy as np

from hwq.cost import csd_digit_count, graph_cost


def _min_signed_digits(n: int, max_digits: int = 6, max_shift: int = 14) -> int:
    """Fewest terms +-2**k summing to n, by exhaustive search (independent of the NAF identity)."""
    if n == 0:
        return 0
    terms = [s * (1 << k) for k in range(max_shift) for s in (1, -1)]
    for d in range(1, max_digits + 1):
        for combo in itertools.combinations_with_replacement(terms, d):
            if sum(combo) == n:
                return d
    raise AssertionError(n)


def test_digit_count_is_minimal_for_small_integers():
    values = np.arange(-300, 301)
    got = csd_digit_count(values)
    want = np.array([_min_signed_digits(int(v)) for v in values])
    assert np.array_equal(got, want)


def test_graph_cost_counts_macs_and_zero_dsp():
    from hwq.formats import parse
    from hwq.ir import Dense, Graph

    g = Graph("g", ["x"], ["y"])
    g.add_tensor("x", (3,), "fixed<8,3>")
    g.add_tensor("y", (2,), "fixed<16,8>")
    w = np.array([[1, 3, 0], [7, -8, 5]])
    g.add_op(
        Dense(
            "d",
            ["x"],
            "y",
            weight=w,
            bias=np.zeros(2, dtype=np.int64),
            weight_fmt=parse("fixed<5,1>"),
            bias_fmt=parse("fixed<8,3>"),
            acc_fmt=parse("fixed<16,8>"),
        )
    )
    c = graph_cost(g)
    assert c["mcu"]["macs"] == 6
    assert c["fpga"]["dsp"] == 0
    # digits: row0 1+2+0=3 -> 2 adders; row1 2+1+2=5 -> 4 adders; plus one bias add per output
    assert c["fpga"]["adders"] == 2 + 4 + 2
