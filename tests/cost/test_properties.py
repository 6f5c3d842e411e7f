"""Monotonic sanity of the FPGA estimate (hypothesis): more digits, wider formats, more channels never
lower it. Checked on the fast estimate (``exact=False``, a search's inner loop). The exact model follows
the emitter's greedy CSE, which is not monotone: one more digit can let it share more
(``test_exact_model_follows_the_emitter_where_one_more_digit_lowers_flip_flops`` pins such a case)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwq.cost import fpga

from .graphs import dense_graph

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
weights = st.integers(2, 5).flatmap(
    lambda n: st.lists(st.lists(st.integers(-15, 15), min_size=n, max_size=n), min_size=1, max_size=4)
)


def _lut(w, **kw) -> tuple[int, int]:
    t = fpga(dense_graph(np.array(w), **kw), "xc7", pipeline=1, exact=False)["total"]
    return t["LUT"], t["FF"]


@SETTINGS
@given(weights, st.data())
def test_one_more_digit_never_lowers_the_estimate(w, data):
    j = data.draw(st.integers(0, len(w) - 1))
    i = data.draw(st.integers(0, len(w[0]) - 1))
    sign = data.draw(st.sampled_from([1, -1]))
    more = [row[:] for row in w]
    top = abs(more[j][i]).bit_length()
    more[j][i] += sign * (1 << (top + 1))  # a new non-zero digit above the existing ones
    lut0, ff0 = _lut(w, w_fmt="fixed<8,1>")
    lut1, ff1 = _lut(more, w_fmt="fixed<8,1>")
    assert lut1 >= lut0
    assert ff1 >= ff0


@SETTINGS
@given(weights, st.integers(1, 4))
def test_a_wider_input_format_never_lowers_the_estimate(w, extra):
    lut0, ff0 = _lut(w, x_fmt="fixed<6,3>")
    lut1, ff1 = _lut(w, x_fmt=f"fixed<{6 + extra},3>")
    assert lut1 >= lut0
    assert ff1 >= ff0


@SETTINGS
@given(weights, st.lists(st.integers(-15, 15), min_size=5, max_size=5))
def test_one_more_output_channel_never_lowers_the_estimate(w, row):
    more = w + [row[: len(w[0])]]
    lut0, ff0 = _lut(w)
    lut1, ff1 = _lut(more)
    assert lut1 >= lut0
    assert ff1 >= ff0


def test_exact_model_follows_the_emitter_where_one_more_digit_lowers_flip_flops(tmp_path):
    import json

    from hwq.rtl import emit

    w0 = [[0, 7, 5, -15]]
    w1 = [[-2, 7, 5, -15]]  # one more CSD digit: the emitter builds a shallower tree (fewer registers)
    ffs = []
    for k, w in enumerate((w0, w1)):
        g = dense_graph(np.array(w), w_fmt="fixed<8,1>")
        d = tmp_path / str(k)
        d.mkdir()
        emit(g, d, pipeline=1, adders="fewest")
        man = json.loads((d / "rtl.json").read_text())
        est = fpga(g, "xc7", pipeline=1, adders="fewest")
        assert est["total"]["adders"] == sum(lay["adders"] for lay in man["layers"])
        assert est["total"]["latency"] == man["latency"]
        ffs.append(est["total"]["FF"])
    assert ffs[1] < ffs[0]
