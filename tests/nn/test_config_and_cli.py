"""Config validation (fails before training, naming the key) and the train/calibrate commands."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hwq.cli import main
from hwq.ir.serialize import load
from hwq.train import ConfigError, resolve_config, train_from_config

TINY = {"train": {"epochs": 2, "qat_epochs": 1}}


@pytest.mark.parametrize(
    "cfg,key",
    [
        ({"quant": {"layers": {"fc9": {"weight": "fixed<4,1>"}}}}, "quant.layers.fc9"),
        ({"quant": {"weight": {"kind": "fixed", "width": 0}}}, "quant.weight.width"),
        ({"quant": {"act": "fixed<8,3,RND_WHATEVER>"}}, "quant.act"),
        ({"quant": {"weight": {"kind": "csd", "width": 8, "digits": 0}}}, "quant.weight.digits"),
        ({"quant": {"weight": {"kind": "float", "name": "e9m9"}}}, "quant.weight.name"),
        ({"quant": {"weight": {"kind": "fixed", "widht": 4}}}, "quant.weight.widht"),
        ({"quant": {"wieght": "fixed<4,1>"}}, "quant.wieght"),
        ({"quant": {"layers": {"fc1": {"weigth": "fixed<4,1>"}}}}, "quant.layers.fc1.weigth"),
        ({"model": {"arch": "resnet"}}, "model.arch"),
        ({"model": {"hidden": [64, 0]}}, "model.hidden[1]"),
        ({"train": {"epochs": -1}}, "train.epochs"),
        ({"train": {"lr": 0}}, "train.lr"),
        ({"ptq": {"calibrator": "magic"}}, "ptq.calibrator"),
        ({"ptq": {"gptq": "yes"}}, "ptq.gptq"),
        ({"mode": "both"}, "mode"),
        ({"trian": {}}, "trian"),
    ],
)
def test_bad_config_names_the_key(cfg, key):
    with pytest.raises(ConfigError) as e:
        resolve_config(cfg)
    assert str(e.value).startswith(key), str(e.value)


def test_bad_config_fails_before_training(tmp_path):
    t = time.time()
    with pytest.raises(ConfigError, match="quant.layers.conv9"):
        train_from_config({"model": {"arch": "cnn"}, "quant": {"layers": {"conv9": {}}}}, tmp_path / "r", False)
    assert not (tmp_path / "r").exists()  # nothing written
    assert time.time() - t < 10


def test_layer_override_changes_only_that_layer(tmp_path):
    cfg = {**TINY, "quant": {"layers": {"fc2": {"weight": {"kind": "fixed", "width": 6, "int_bits": 1}}}}}
    s = train_from_config(cfg, tmp_path / "r", progress=False)
    assert s["formats"]["fc2.weight"] == "fixed<6,1,RND_CONV,SAT>"
    assert s["formats"]["fc1.weight"].startswith("fixed<4,")


def test_cli_train_writes_outputs_and_refuses_nonempty(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert "0 mismatches" in line
    s = json.loads((out / "summary.json").read_text())
    assert set(s["accuracy"]) >= {"float", "quantized"}
    assert s["emulator_vs_ir"]["mismatches"] == 0 and s["emulator_vs_ir"]["vectors"] == 360
    assert s["bits"]["weights"] > 0 and s["bits"]["activations"] > 0
    g = load(out / "graph.json")
    assert [o.kind for o in g.ops] == ["dense", "relu", "dense", "relu", "dense"]
    assert (out / "model.pt").stat().st_size > 0
    before = (out / "summary.json").read_bytes()
    assert main(["train", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before


def test_cli_bad_config_is_one_line_error(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[quant]\nweight = { kind = "fixed", width = 0 }\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hwq train: error: {cfg}: quant.weight.width") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_calibrate_from_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    train_from_config(TINY, run, progress=False)
    cfg = tmp_path / "ptq.toml"
    cfg.write_text(
        '[ptq]\ncalibrator = "percentile"\nbias_correction = true\n[quant]\n'
        'weight = { kind = "fixed", width = 6, int_bits = "calibrate" }\n'
        'act = { kind = "fixed", width = 6, int_bits = "calibrate", signed = false }\n'
    )
    out = tmp_path / "cal"
    rc = main(["calibrate", "--model", str(run / "model.pt"), "--config", str(cfg), "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr()
    s = json.loads((out / "summary.json").read_text())
    assert s["mode"] == "ptq" and s["emulator_vs_ir"]["mismatches"] == 0
    assert s["formats"]["fc1.weight"].startswith("fixed<6,")
    # the float model was reused, not retrained: same float accuracy as the run it came from
    assert s["accuracy"]["float"] == json.loads((run / "summary.json").read_text())["accuracy"]["float"]


def test_cli_calibrate_missing_model_file(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text("{}")
    rc = main(["calibrate", "--model", str(tmp_path / "nope.pt"), "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "nope.pt" in capsys.readouterr().err


_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(p for p in _EXAMPLES.glob("*.toml") if not p.name.startswith("space_")))
def test_example_configs_are_valid(path):
    from hwq.train import load_config

    resolve_config(load_config(path))


@pytest.mark.parametrize("path", sorted(_EXAMPLES.glob("space_*.toml")))
def test_example_spaces_are_valid(path):
    """examples/space_*.toml are hwq explore search spaces, not run configs: each builds a space for the
    digits MLP's layers (per-layer tables name them)."""
    import tomllib

    from hwq.explore.space import build_space

    kind = "mcu" if "mcu" in path.name else "fpga"
    space = build_space(["fc1", "fc2", "fc3"], {"fc1": "relu1", "fc2": "relu2", "fc3": None}, kind,
                        tomllib.loads(path.read_text()))  # fmt: skip
    assert space.size() >= 2


def test_cli_calibrate_builtin_model_and_arch_mismatch(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"train": {"epochs": 2}, "ptq": {"calibrator": "output"}}))
    out = tmp_path / "o"
    assert main(["calibrate", "--model", "mlp", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["emulator_vs_ir"]["mismatches"] == 0
    capsys.readouterr()
    rc = main(["calibrate", "--model", "cnn", "--config", str(cfg), "--out", str(tmp_path / "o2"), "--no-progress"])
    assert rc == 2 and "model.arch" in capsys.readouterr().err


def test_same_config_and_seed_give_byte_identical_outputs(tmp_path):
    a = train_from_config(TINY, tmp_path / "a", progress=False)
    b = train_from_config(TINY, tmp_path / "b", progress=False)
    assert (tmp_path / "a" / "graph.json").read_bytes() == (tmp_path / "b" / "graph.json").read_bytes()
    assert a["accuracy"] == b["accuracy"] and a["formats"] == b["formats"]


def test_cli_calibrate_pickled_float_model(tmp_path, capsys):
    import torch

    from hwq.train.models import digits_mlp

    torch.manual_seed(0)
    model = digits_mlp((16,))
    torch.save(model, tmp_path / "float.pt")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"ptq": {"calibrator": "mse"}, "quant": {"weight": "fixed<6,0,RND_CONV,SAT>"}}))
    out = tmp_path / "o"
    rc = main(
        ["calibrate", "--model", str(tmp_path / "float.pt"), "--config", str(cfg), "--out", str(out), "--no-progress"]
    )
    assert rc == 0, capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["formats"]["fc1.weight"] == "fixed<6,0,RND_CONV,SAT>"
    assert s["emulator_vs_ir"]["mismatches"] == 0
    g = load(out / "graph.json")
    assert g.ops[0].weight.shape == (16, 64)
