"""Per-layer weight precision in the CMSIS-NN profile (``[quant.layers.<layer>] weights = "int4" | "int8"``):
emulator == IR bit for bit (PTQ and QAT), the graph mixes int<8,narrow> and int<4,narrow> weight formats, the
MCU generator's host build equals hwq.ir.run on 2,000 vectors for a mixed MLP and a mixed CNN (``_s4`` and
``_s8`` kernels in one file), config errors name the key, ``cmsis_config`` turns a per-layer choice into a
run config that ``train_from_config`` takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwq.data import load_digits_split
from hwq.ir import run
from hwq.ir.serialize import loads
from hwq.nn import emulate_raw
from hwq.nn.cmsis import CmsisError, calibrate, cmsis_from_float, mac_layer_names
from hwq.train import resolve_config
from hwq.train.config import ConfigError
from hwq.train.loop import fit, train_from_config
from hwq.train.models import digits_cnn, digits_mlp
from hwq.train.profiles import cmsis_config

from ..tools import require_tool

MIXED = {
    "mlp": {"fc1": "int4", "fc3": "int4"},  # fc2 keeps the profile-wide int8
    "cnn": {"conv2": "int4", "fc": "int4"},  # conv1 int8
}


@pytest.fixture(scope="module")
def trained():
    """Float MLP and CNN trained for a few epochs (ranges worth quantising), with their data splits."""
    out = {}
    for arch, build in (("mlp", digits_mlp), ("cnn", digits_cnn)):
        torch.manual_seed(0)
        data = load_digits_split(image=arch == "cnn")
        m = build()
        fit(m, data.x_train, data.y_train, epochs=3, batch_size=64, lr=0.01, seed=0)
        out[arch] = (m.eval(), data)
    return out


def _mixed(trained, arch, **opts):
    fm, data = trained[arch]
    layers = {n: {"weights": w} for n, w in MIXED[arch].items()}
    qm = cmsis_from_float(fm, {"profile": "cmsis-nn", "layers": layers, **opts})
    calibrate(qm, torch.from_numpy(data.x_train[:256]), "mse")
    return qm.eval(), data


def _weight_widths(g) -> dict[str, int]:
    return {op.name: op.weight_fmt.width for op in g.ops if op.kind in ("dense", "conv2d")}


def _exact(qm, x):
    g = qm.lower_to_ir(torch.from_numpy(x[:4]), "m")
    emu = emulate_raw(qm, x)[0]
    ref = run(g, x.astype(np.float64)).raw[g.outputs[0]]
    assert emu.shape == ref.shape
    assert np.array_equal(emu, ref), f"{int((emu != ref).any(axis=1).sum())} of {len(emu)} vectors differ"
    return g


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_mixed_ptq_graph_mixes_int8_and_int4_and_equals_ir(trained, arch):
    qm, data = _mixed(trained, arch)
    g = _exact(qm, data.x_test)
    want = {n: 4 if MIXED[arch].get(n) == "int4" else 8 for n in mac_layer_names(qm)}
    assert _weight_widths(g) == want and set(want.values()) == {4, 8}
    for op in g.ops:
        if op.kind in ("dense", "conv2d"):
            assert op.weight_fmt.narrow and op.weight_fmt.axis == 0
            lim = (1 << (op.weight_fmt.width - 1)) - 1
            assert np.abs(np.asarray(op.weight)).max() <= lim
    assert g.meta["cmsis_nn"]["layer_weights"] == {n: f"int{b}" for n, b in want.items()}


def test_per_layer_int8_overrides_profile_wide_int4(trained):
    fm, data = trained["mlp"]
    qm = cmsis_from_float(fm, {"profile": "cmsis-nn", "weights": "int4", "layers": {"fc3": {"weights": "int8"}}})
    calibrate(qm, torch.from_numpy(data.x_train[:256]))
    g = _exact(qm.eval(), data.x_test)
    assert _weight_widths(g) == {"fc1": 4, "fc2": 4, "fc3": 8}


def test_mixed_qat_changes_scales_and_stays_exact(trained):
    qm, data = _mixed(trained, "mlp", single_rounding=True)
    before = qm.nodes[0].wq.scales()
    qm.train()
    fit(qm, data.x_train, data.y_train, epochs=1, batch_size=64, lr=0.002, seed=1)
    qm.eval()
    assert qm.nodes[0].wq.scales() != before
    rng = np.random.default_rng(3)
    x = (rng.integers(0, 17, size=(2000, 64)) / 16).astype(np.float32)
    g = _exact(qm, x)
    assert _weight_widths(g) == {"fc1": 4, "fc2": 8, "fc3": 4}


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_mixed_mcu_host_build_exact_on_2000_vectors(trained, arch, tmp_path):
    require_tool("gcc", "host build of the MCU generator's C")
    from hwq.mcu import emit
    from hwq.sim.verify import verify

    qm, data = _mixed(trained, arch, single_rounding=arch == "cnn")
    g = qm.lower_to_ir(torch.from_numpy(data.x_test[:1]), f"digits_{arch}_mixed")
    emit(g, tmp_path / "m")
    r = verify("mcu", tmp_path / "m", vectors=2000, seed=1)
    assert r.vectors == 2000 and r.mismatches == 0, r.detail_lines()[:5]
    text = "".join(p.read_text() for p in (tmp_path / "m").glob("*.c"))
    assert "_s4(" in text and "_s8(" in text  # both kernel families in one network


@pytest.mark.parametrize(
    "layers, match",
    [
        ({"fc9": {"weights": "int4"}}, r"quant.layers.fc9: unknown layer; the model's dense/conv layers are fc1, fc2"),
        ({"relu1": {"weights": "int4"}}, r"quant.layers.relu1: unknown layer"),
        ({"fc1": {"weights": "int2"}}, r"quant.layers.fc1.weights: expected one of int8, int4, got 'int2'"),
        ({"fc1": {"width": 4}}, r"quant.layers.fc1.width: unknown key for profile 'cmsis-nn'; allowed: weights"),
        ({"fc1": {}}, r"quant.layers.fc1: missing key 'weights'"),
        ({"fc1": 4}, r"quant.layers.fc1: expected a table with key 'weights'"),
        (["fc1"], r"quant.layers: expected a table of layer names"),
    ],
)
def test_layer_errors_name_the_key(layers, match):
    cfg = {"mode": "ptq", "quant": {"profile": "cmsis-nn", "layers": layers}}
    with pytest.raises(ConfigError, match=match):
        resolve_config(cfg)


def test_cmsis_config_builds_a_valid_run_config():
    base = {
        "name": "explore-best",
        "mode": "qat",
        "model": {"arch": "cnn", "channels": [8, 16]},
        "train": {"epochs": 5},
        "ptq": {"calibrator": "output", "gptq": True, "samples": 128},
        "quant": {"weight": "fixed<4,1>"},
    }
    cfg = cmsis_config({"conv1": "int8", "conv2": "int4", "fc": "int4"}, base, single_rounding=True)
    assert cfg["mode"] == "ptq" and cfg["model"] == base["model"] and cfg["train"] == base["train"]
    assert cfg["ptq"] == {"calibrator": "mse", "samples": 128}  # no GPTQ / output calibrator in the profile
    assert cfg["quant"] == {
        "profile": "cmsis-nn",
        "weights": "int8",
        "activations": "int8",
        "single_rounding": True,
        "layers": {"conv1": {"weights": "int8"}, "conv2": {"weights": "int4"}, "fc": {"weights": "int4"}},
    }
    assert cfg["name"] == "explore-best-cmsis-conv1w8-conv2w4-fcw4-ptq"
    assert base["ptq"]["gptq"] is True  # the caller's dict is not modified
    assert resolve_config(cfg)["quant"]["layers"]["conv2"] == {"weights": "int4"}
    with pytest.raises(CmsisError, match=r"quant.layers.fc3: unknown layer; the model's dense/conv layers are conv1"):
        cmsis_config({"fc3": "int4"}, base)
    with pytest.raises(CmsisError, match=r"quant.layers.conv1.weights: expected one of int8, int4, got 'int16'"):
        cmsis_config({"conv1": "int16"}, base)
    with pytest.raises(CmsisError, match=r"mode: expected 'ptq' or 'qat'"):
        cmsis_config({}, base, mode="train")


@pytest.mark.parametrize("mode", ["ptq", "qat"])
def test_cmsis_config_trains_to_a_mixed_exact_graph(mode, tmp_path):
    base = {"model": {"arch": "mlp", "hidden": [32]}, "train": {"epochs": 3, "qat_epochs": 2}}
    cfg = cmsis_config({"fc1": "int4", "fc2": "int8"}, base, mode=mode)
    s = train_from_config(cfg, tmp_path / mode, progress=False)
    assert s["emulator_vs_ir"] == {"vectors": 360, "mismatches": 0}
    assert s["formats"]["fc1.weight"].startswith("int<4,axis=0,scale=[")
    assert s["formats"]["fc2.weight"].startswith("int<8,axis=0,scale=[")
    g = loads((tmp_path / mode / "graph.json").read_text())
    assert g.meta["cmsis_nn"]["layer_weights"] == {"fc1": "int4", "fc2": "int8"}
    assert _weight_widths(g) == {"fc1": 4, "fc2": 8}
