"""FPGA cost model: counted figures equal the emitted design (rtl.json, yosys), targets as data, fitting."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from hwq.cost import fpga, load_target
from hwq.cost.calibrate import FIT_SIZE, accuracy, count_cells, design_set, fit
from hwq.cost.targets import available, dumps
from hwq.rtl import emit

from .graphs import random_dense


def test_every_target_loads_and_round_trips_through_the_writer():
    names = available()
    assert {"xc7", "ice40", "cortex-m4", "cortex-m7", "cortex-m55"} <= set(names)
    for name in names:
        t = load_target(name)
        assert t["target"]["name"] == name
        assert tomllib.loads(dumps(t)) == t


def test_unknown_target_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown cost target 'z80'"):
        load_target("z80")
    with pytest.raises(ValueError, match="not an FPGA target"):
        fpga(random_dense(2, 3, 0), "cortex-m4")


def _emitted(graph, tmp_path, **opts):
    emit(graph, tmp_path, **opts)
    return json.loads((tmp_path / "rtl.json").read_text())


@pytest.mark.parametrize("pipeline", [0, 1, 2, 3])
@pytest.mark.parametrize("adders", ["fewest", "shallow"])
def test_latency_and_adders_equal_the_emitted_manifest(tmp_path, pipeline, adders):
    from tests.rtl.graphs import mlp

    g = mlp([12, 8, 5], "fixed<8,3>", "fixed<6,1>", "fixed<8,3,RND,SAT>", "ufixed<8,3,RND,SAT>", pipeline, "m")
    man = _emitted(g, tmp_path, pipeline=pipeline, adders=adders)
    r = fpga(g, "xc7", pipeline=pipeline, adders=adders)
    assert r["total"]["latency"] == man["latency"]
    assert r["total"]["latency_exact"] is True
    assert [lay["adders"] for lay in r["layers"]] == [lay["adders"] for lay in man["layers"]]
    assert [lay["levels"] for lay in r["layers"]] == [lay["levels"] for lay in man["layers"]]
    assert r["total"]["DSP"] == 0


def test_streamed_design_adders_and_latency_match(tmp_path):
    """A streamed design's latency is exact (line buffers' fill counted: the emitter's rtl.timing model,
    checked against the co-simulation in tests/rtl/test_latency_stream.py). A graph the emitter builds as a
    layer DAG (residual branch: forks, FIFOs, joins) is priced as the emitter builds it
    (``hwq.cost.rtl_dag``): its latency equals the manifest's, exact."""
    from tests.rtl.graphs_stream import GEOMETRIES, stream_cnn

    g = stream_cnn()
    man = _emitted(g, tmp_path, pipeline=2)
    r = fpga(g, "ice40", pipeline=2)
    assert [lay["adders"] for lay in r["layers"]] == [lay["adders"] for lay in man["layers"]]
    assert [lay["style"] for lay in r["layers"]] == [lay["style"] for lay in man["layers"]]
    assert r["total"]["latency"] == man["latency"] == 93  # Icarus, no gaps or back-pressure: 93 cycles
    assert r["total"]["latency_exact"] is True
    assert fpga(g, "ice40", pipeline=2, exact=False)["total"]["latency_exact"] is False
    dag = GEOMETRIES["residual_add"](1)
    man = _emitted(dag, tmp_path / "dag", pipeline=2)
    assert man["latency"] == 42  # Icarus, no gaps or back-pressure: 42 cycles
    total = fpga(dag, "xc7", pipeline=2)["total"]
    assert (total["latency"], total["latency_exact"]) == (42, True)


def test_design_set_size_groups_and_fit_subset():
    ds = design_set()
    assert len(ds) >= 72
    assert sum(d["fit"] for d in ds) == FIT_SIZE <= 12
    groups = {}
    for d in ds:
        groups.setdefault(d["group"], set()).add(d["format"])
    assert all(len(f) >= 5 for f in groups.values())  # equal shape, different formats
    families = {d["format"].split("<")[0] for d in ds}
    assert {"fixed", "csd", "pow2"} <= families


def test_fit_recovers_known_coefficients_and_accuracy_is_perfect():
    from hwq.cost.fpga import LUT_FEATURES

    rng = np.random.default_rng(0)
    target = load_target("xc7")
    fixed = set(target["model"]["fixed"])  # kept at the target's value, not fitted
    names = list(LUT_FEATURES)
    free = [k for k in names if k not in fixed and k not in ("lut_skid", "lut_window", "lut_frame", "lut_layer")]
    true = {k: 0.3 + 0.2 * i for i, k in enumerate(free)} | {"lut_layer": 5.0}
    tv = np.array([true.get(k, target["coefficients"].get(k, 0.0)) for k in names])
    designs = []
    for k in range(40):
        v = np.array([rng.integers(50, 500) if n in free else (1 if n == "lut_layer" else 0) for n in names], float)
        designs.append(
            {"vector": v, "measured": {"LUT": float(v @ tv), "CARRY": 10}, "fit": k < 12, "group": f"g{k % 4}",
             "features": [], "bitops": float(v[0] * 3)}
        )  # fmt: skip
    co = fit(designs, target)
    for k in free + ["lut_layer"]:
        assert co[k] == pytest.approx(true[k], abs=1e-3), k
    for k in fixed:
        assert co[k] == target["coefficients"][k]
    for d in designs:
        d["pred"] = float(d["vector"] @ np.array([co[k] for k in names]))
    acc = accuracy(designs, "pred")
    assert acc["designs"] == 28 and acc["median_ape"] < 0.01 and acc["spearman"] > 0.999


def test_cell_counting_uses_the_target_patterns():
    cells = {"SB_LUT4": 10, "SB_DFFE": 4, "SB_DFFESR": 1, "SB_CARRY": 7, "LUT6": 3}
    got = count_cells(cells, load_target("ice40")["synth"])
    assert got == {"LUT": 10, "FF": 5, "CARRY": 7, "DSP": 0, "BRAM": 0}
    got = count_cells({"LUT2": 2, "LUT6": 3, "FDRE": 4, "FDSE": 1, "CARRY4": 2}, load_target("xc7")["synth"])
    assert got == {"LUT": 5, "FF": 5, "CARRY": 2, "DSP": 0, "BRAM": 0}


def test_hls_backend_is_analytical_and_marked_uncalibrated():
    g = random_dense(4, 8, 1)
    r1 = fpga(g, "xc7", backend="hls")
    r4 = fpga(g, "xc7", backend="hls", strategy="resource", reuse_factor=4)
    assert r1["calibrated"] is False
    assert r4["total"]["ii"] == 4 and r1["total"]["ii"] == 1
    assert r4["total"]["LUT"] < r1["total"]["LUT"]
    with pytest.raises(ValueError, match="strategy"):
        fpga(g, "xc7", backend="hls", strategy="fast")
