"""Bring your own model and data: model.factory / data.loader specs, the wine example, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwq.train import train_from_config  # noqa: E402
from hwq.train.config import ConfigError, load_config  # noqa: E402
from hwq.train.user import UserModelError, load_user_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WINE = ROOT / "examples" / "byom" / "wine.py"


def _wine_config(epochs: int = 8) -> dict:
    cfg = load_config(ROOT / "examples" / "byom" / "wine.toml")
    cfg["model"]["factory"] = f"{WINE}:build_model"
    cfg["data"]["loader"] = f"{WINE}:load_data"
    cfg["train"].update(epochs=epochs, qat_epochs=2)
    return cfg


def test_wine_example_trains_and_lowers_exactly(tmp_path):
    summary = train_from_config(_wine_config(), tmp_path / "run", progress=False)
    assert summary["emulator_vs_ir"] == {"vectors": 54, "mismatches": 0}
    assert summary["accuracy"]["quantized"] > 80.0  # 3 classes: chance is 33 %
    graph = json.loads((tmp_path / "run" / "graph.json").read_text())
    assert [t["shape"] for t in graph["tensors"] if t["name"] in graph["inputs"]] == [[13]]


def test_loader_returning_dataloaders(tmp_path):
    mod = tmp_path / "loaders.py"
    mod.write_text(
        "import torch\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "def load():\n"
        "    g = torch.Generator().manual_seed(0)\n"
        "    x, y = torch.randn(40, 5, generator=g), torch.randint(0, 3, (40,), generator=g)\n"
        "    train = DataLoader(TensorDataset(x[:30], y[:30]), batch_size=7)\n"
        "    return train, DataLoader(TensorDataset(x[30:], y[30:]))\n"
    )
    split = load_user_data(f"{mod}:load")
    assert split.x_train.shape == (30, 5) and split.x_test.shape == (10, 5)
    assert split.y_train.dtype == np.int64 and split.num_classes <= 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon_here", "expected 'package.module:function'"),
        ("examples/byom/missing.py:load_data", "no such Python file"),
        ("hwq_no_such_module_xyz:f", "cannot import module 'hwq_no_such_module_xyz'"),
        (f"{WINE}:no_such_function", "has no function 'no_such_function'"),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(UserModelError, match=message) as info:
        load_user_data(spec, "data.loader")
    assert str(info.value).startswith("data.loader:")


def test_wrong_return_values_are_named(tmp_path):
    mod = tmp_path / "bad.py"
    mod.write_text(
        "def three():\n    return 1, 2, 3\n"
        "def floats():\n    return [[0.5]], [0.5], [[0.5]], [1]\n"
        "def boom():\n    raise RuntimeError('disk on fire')\n"
        "def not_a_module():\n    return 42\n"
    )
    with pytest.raises(UserModelError, match="must return"):
        load_user_data(f"{mod}:three")
    with pytest.raises(UserModelError, match="y_train must hold integer class labels"):
        load_user_data(f"{mod}:floats")
    with pytest.raises(UserModelError, match="RuntimeError: disk on fire"):
        load_user_data(f"{mod}:boom")
    cfg = _wine_config()
    cfg["model"]["factory"] = f"{mod}:not_a_module"
    with pytest.raises(ConfigError, match=r"model.factory: .* returned int, expected a torch.nn.Module"):
        train_from_config(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "graph.json").exists()
