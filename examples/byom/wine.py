"""Bring-your-own-model example: scikit-learn's wine data set (ships inside the sklearn wheel, no download).

13 chemical measurements -> 3 cultivars. Run it through the whole flow with::

    hwq flow --model examples/byom/wine.py:build_model --data examples/byom/wine.py:load_data \
             --config examples/byom/wine.toml --out runs/wine

``build_model`` returns a plain float PyTorch model; hwq converts it to quantised layers with the
config's formats. ``load_data`` returns (x_train, y_train, x_test, y_test).
"""

import numpy as np
from torch import nn


def build_model() -> nn.Module:
    """A 13-32-16-3 float MLP."""
    return nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))


def load_data():
    """Standardised features (train statistics), stratified 70/30 split, seed 0."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    d = load_wine()
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.3, random_state=0, stratify=d.target)
    mean, std = xtr.mean(axis=0), xtr.std(axis=0)
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    return xtr.astype(np.float32), ytr, xte.astype(np.float32), yte
