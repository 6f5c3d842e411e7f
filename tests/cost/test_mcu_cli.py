"""MCU cost model (memory from the MCU planner, instruction formulas) and the ``hwq cost`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq.cli import main
from hwq.cost import mcu
from hwq.cost.mcu import fit_instructions, kernel_family
from hwq.ir.serialize import save
from hwq.mcu.plan import plan_memory
from tests.mcu.graphs_c import conv_graph, dense_graph

from .graphs import random_dense


@pytest.mark.parametrize("make", [lambda: dense_graph(0, n=24, m=10), lambda: conv_graph(1)])
def test_peak_sram_and_flash_come_from_the_mcu_planner(make):
    g = make()
    plan = plan_memory(g)
    for cpu in ("cortex-m4", "cortex-m7", "cortex-m55"):
        r = mcu(g, cpu)
        assert r["total"]["peak_sram_bytes"] == plan.peak_sram_bytes
        assert r["total"]["arena_bytes"] == plan.arena_bytes
        assert r["total"]["flash_weight_bytes"] == plan.flash_weight_bytes
        assert r["total"]["flash_bytes"] == plan.flash_weight_bytes + r["total"]["flash_code_bytes"]
        assert r["calibrated"] is True  # M4 / M7 / M55 instruction formulas fitted to QEMU counts
    from hwq.cost.targets import load_target
    from hwq.mcu.lower import lower
    from hwq.mcu.plan import table_code_bytes

    bare = {k: v for k, v in load_target("cortex-m7").items() if k != "flash"}  # no [flash]: the fixed table
    code = mcu(g, bare)["total"]["flash_code_bytes"]
    funcs = [s.func for s in lower(g).steps]
    assert code == table_code_bytes(funcs) + int(bare.get("memory", {}).get("code_base_bytes", 0))
    assert plan.flash_code_bytes == mcu(g, "cortex-m4")["total"]["flash_code_bytes"]  # the planner: M4's table
    macs = sum(int(np.prod(op.weight.shape)) for op in g.ops if op.kind == "dense")
    if not any(op.kind.startswith("conv") for op in g.ops):
        assert mcu(g, "cortex-m4")["total"]["macs"] == macs


def test_instructions_grow_with_macs_and_m55_needs_fewer():
    small, big = dense_graph(0, n=16, m=8), dense_graph(0, n=64, m=8)
    assert mcu(big, "cortex-m4")["total"]["instructions"] > mcu(small, "cortex-m4")["total"]["instructions"]
    assert mcu(big, "cortex-m55")["total"]["instructions"] < mcu(big, "cortex-m4")["total"]["instructions"]


def test_instruction_fit_recovers_a_linear_kernel_law():
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(30):
        macs, outs = int(rng.integers(100, 5000)), int(rng.integers(4, 64))
        samples.append({"macs": macs, "outputs": outs, "instructions": 1.25 * macs + 20 * outs + 150})
    co = fit_instructions(samples, "fc_s8")
    assert co["fc_s8_mac"] == pytest.approx(1.25, rel=1e-6)
    assert co["fc_s8_output"] == pytest.approx(20, rel=1e-6)
    assert co["fc_s8_call"] == pytest.approx(150, rel=1e-6)
    assert co["fc_s8_im2col"] == 0


def test_kernel_families():
    assert kernel_family("arm_fully_connected_s4") == ("fc", "s4")
    assert kernel_family("arm_convolve_wrapper_s8") == ("conv", "s8")
    assert kernel_family("arm_depthwise_conv_wrapper_s8")[0] == "dwconv"
    assert kernel_family("arm_max_pool_s8")[0] == "pool"


def test_cost_command_prints_a_table_per_layer_and_writes_json(tmp_path, capsys):
    g = random_dense(3, 6, 0)
    path = tmp_path / "graph.json"
    save(g, path)
    out = tmp_path / "cost.json"
    assert main(["cost", str(path), "--target", "ice40", "-O", "pipeline=2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layer" in text and "total" in text and "LUT" in text and "FF" in text
    res = json.loads(out.read_text())
    assert res["options"]["pipeline"] == 2 and res["layers"][0]["name"] == "fc"
    assert main(["cost", str(path), "--target", "ice40", "--json", str(out)]) == 2  # exists, no --force
    assert "exists" in capsys.readouterr().err
    assert main(["cost", str(path), "--target", "ice40", "--json", str(out), "--force"]) == 0


def test_cost_command_errors_are_one_line(tmp_path, capsys):
    g = random_dense(2, 3, 0)
    path = tmp_path / "graph.json"
    save(g, path)
    assert main(["cost", str(path), "--target", "z80"]) == 2
    assert "unknown cost target 'z80'" in capsys.readouterr().err
    assert main(["cost", str(tmp_path / "missing.json"), "--target", "xc7"]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["cost", str(path), "--target", "xc7", "-O", "pipeline"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_cost_command_fast_estimate(tmp_path, capsys):
    """``--fast`` prints the digit-count estimate (``fpga(exact=False)``, the same figures in the JSON);
    ``-O exact=...`` (a string, which would have been truthy) and ``--fast`` with HLS or an MCU target are
    refused with one line."""
    from hwq.cost import fpga

    g = random_dense(6, 12, 1)
    path = tmp_path / "graph.json"
    save(g, path)
    out = tmp_path / "fast.json"
    assert main(["cost", str(path), "--target", "xc7", "--fast", "--json", str(out)]) == 0
    assert "fast estimate" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["total"]["LUT"] == fpga(g, "xc7", exact=False)["total"]["LUT"]
    assert (
        res["total"]["adders"] != fpga(g, "xc7")["total"]["adders"]
        or res["total"]["LUT"] != fpga(g, "xc7")["total"]["LUT"]
    )
    assert main(["cost", str(path), "--target", "xc7", "-O", "exact=false"]) == 2
    assert "--fast" in capsys.readouterr().err
    assert main(["cost", str(path), "--target", "xc7", "--backend", "hls", "--fast"]) == 2
    assert "--backend rtl only" in capsys.readouterr().err
    assert main(["cost", str(path), "--target", "cortex-m4", "--fast"]) == 2
    assert "FPGA targets only" in capsys.readouterr().err


def test_flash_code_counts_a_shared_kernel_helper_once():
    """The calibrated flash table (``[flash]`` of the Cortex-M4 target): a model calling the s8 and the s4
    fully connected kernels pays for their shared helper once, and each call adds run-function bytes."""
    from hwq.cost.mcu import flash_code_bytes
    from hwq.cost.targets import load_target

    tab = load_target("cortex-m4")["flash"]
    s8, s4 = tab["kernels"]["arm_fully_connected_s8"], tab["kernels"]["arm_fully_connected_s4"]
    shared = set(s8) & set(s4)
    assert shared, "the s4 and s8 fully connected kernels share a helper in the calibrated table"
    one, other = flash_code_bytes(tab, ["arm_fully_connected_s8"]), flash_code_bytes(tab, ["arm_fully_connected_s4"])
    both = flash_code_bytes(tab, ["arm_fully_connected_s8", "arm_fully_connected_s4"])
    assert both == pytest.approx(one + other - sum(s8[k] for k in shared) - tab["run_base"], abs=1)
    assert flash_code_bytes(tab, ["arm_fully_connected_s8"] * 3) > one


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_more_channels_never_lower_the_mcu_estimate(cpu):
    """Monotone in channels: one more output channel (dense or conv, int8 or int4 weights, either rounding)
    never lowers flash, peak SRAM or MACs (same kernels, more weights, wider tensors). Instructions are left
    out on purpose: the runtime's kernels compute four output channels per block, so 4 channels take fewer
    instructions than 3 (dense 24 -> 3: 811, -> 4: 727 per run on QEMU's Cortex-M4; the model: 835, 743)."""
    keys = ("flash_bytes", "peak_sram_bytes", "macs")
    for make in (
        lambda m, s: dense_graph(0, n=24, m=m, single=s),
        lambda m, s: conv_graph(1, cout=m, single=s),
        lambda m, s: conv_graph(2, cout=m, single=s, wbits=4, pool=False),
    ):
        for single in (False, True):
            prev = None
            for m in range(2, 11):
                t = mcu(make(m, single), cpu)["total"]
                now = [t[k] for k in keys]
                if prev is not None:
                    assert all(b >= a for a, b in zip(prev, now)), (cpu, m, single, dict(zip(keys, now)))
                prev = now


@pytest.mark.parametrize(
    "opts", [{"patches": "2x2"}, {"patches": "3x3", "halo": "cache"}, {"patches": "2x2", "halo": "rows"}, {"sram": 0}]
)
def test_mcu_estimate_of_a_patch_program_is_what_emit_builds(opts, tmp_path):
    """``mcu(graph, "cortex-m4", **opts)`` prices the program ``hwq emit mcu -O ...`` writes: its arena, peak
    SRAM, flash (geometry tables and loop included) and planner instructions equal ``mcu.json``'s."""
    from hwq.mcu import emit
    from hwq.mcu.random_models import random_cmsis_graph

    g = random_cmsis_graph(7301, kinds=["conv", "depthwise", "maxpool"], n_layers=3, dense=True)
    emit(g, tmp_path / "m", **opts)
    manifest = json.loads((tmp_path / "m" / "mcu.json").read_text())
    r = mcu(g, "cortex-m4", **opts)
    t, mem = r["total"], manifest["memory"]
    assert (t["arena_bytes"], t["peak_sram_bytes"]) == (mem["arena_bytes"], mem["peak_sram_bytes"])
    assert t["flash_bytes"] == mem["flash_bytes"] and t["flash_weight_bytes"] == mem["flash_weight_bytes"]
    if "patch" in manifest:
        assert abs(t["instructions"] - manifest["patch"]["instructions_estimate"]) <= 1
        assert t["patch"]["grid"] == manifest["patch"]["grid"] and r["layers"][0]["name"].startswith("patch stage")
        assert t["macs"] == manifest["patch"]["total_macs"] + manifest["patch"]["extra_macs"]
        layer = mcu(g, "cortex-m4")["total"]
        assert t["flash_weight_bytes"] > layer["flash_weight_bytes"]  # + one geometry row per patch per substep
    else:
        assert t == mcu(g, "cortex-m4")["total"]


def test_cost_command_takes_the_mcu_emit_options(tmp_path, capsys):
    from hwq.mcu.random_models import random_cmsis_graph

    path = tmp_path / "graph.json"
    save(random_cmsis_graph(7301, kinds=["conv", "depthwise", "maxpool"], n_layers=3, dense=True), path)
    out = tmp_path / "cost.json"
    assert (
        main(["cost", str(path), "--target", "cortex-m7", "-O", "patches=2x2", "-O", "halo=cache", "--json", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["options"] == {"patches": "2x2", "halo": "cache"} and res["total"]["patch"]["halo"] == "cache"
    assert "patch stage 2x2" in text and "patch plan: split after" in text and "halo cache" in text
    assert main(["cost", str(path), "--target", "cortex-m7", "-O", "grid=2x2"]) == 2
    assert "grid: not an `hwq emit mcu` option" in capsys.readouterr().err
    assert main(["cost", str(path), "--target", "cortex-m7", "-O", "sram=64"]) == 2
    assert "sram=64: no plan fits" in capsys.readouterr().err
