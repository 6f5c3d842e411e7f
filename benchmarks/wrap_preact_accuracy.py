"""Accuracy of QAT with WRAP pre-activation formats whose binary point comes from data (issue 17 item 6).

MLP 16-64-32-32-5 on a seeded synthetic 5-class problem (scikit-learn ``make_classification``, 5,000 train /
1,000 test), float training 20 epochs, then 10 epochs of QAT with 12-bit pre-activations and outputs in SAT
or WRAP, the binary point learned or calibrated from the first batch. Before the WRAP floor
(``FixedQuantizer.wrap_floor``) WRAP runs trained to near chance; ``--no-floor`` shows that behaviour.

    python benchmarks/wrap_preact_accuracy.py [--no-floor]
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
from sklearn.datasets import make_classification
from torch import nn

from hwq.nn import quantize_model
from hwq.nn.quantizers import FixedQuantizer


def data(seed: int = 0):
    """Standardised, clipped 16-feature 5-class data: (x_train, y_train, x_test, y_test) tensors."""
    x, y = make_classification(
        n_samples=6000, n_features=16, n_informative=12, n_redundant=2, n_classes=5, class_sep=1.5, random_state=seed
    )
    x = np.clip((x - x.mean(0)) / x.std(0), -3.9, 3.9)
    t = torch.tensor(x, dtype=torch.float32)
    return t[:5000], torch.tensor(y[:5000]), t[5000:], torch.tensor(y[5000:])


def fit(m: nn.Module, x, y, epochs: int, lr: float) -> None:
    """Adam, batch 256, seeded order."""
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        m.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 256):
            idx = perm[i : i + 256]
            opt.zero_grad()
            nn.functional.cross_entropy(m(x[idx]), y[idx]).backward()
            opt.step()


def accuracy(m: nn.Module, x, y) -> float:
    """Top-1 accuracy in percent."""
    m.eval()
    with torch.no_grad():
        return float((m(x).argmax(1) == y).float().mean()) * 100


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-floor", action="store_true", help="disable the WRAP floor (the old behaviour)")
    a = ap.parse_args()
    if a.no_floor:
        FixedQuantizer.wrap_floor = lambda self, x: None
    torch.manual_seed(0)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = data()
    sizes = [16, 64, 32, 32, 5]
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [nn.Linear(sizes[i], sizes[i + 1])] + ([nn.ReLU()] if i < 3 else [])
    fm = nn.Sequential(*layers)
    fit(fm, xtr, ytr, 20, 3e-3)
    print(f"| float | - | {accuracy(fm, xte, yte):.1f} |")
    for ov in ("SAT", "WRAP"):
        for ib in ("learn", "calibrate"):
            q = {
                "input": "fixed<8,3,RND_CONV,SAT>",
                "weight": {"kind": "fixed", "width": 8, "int_bits": "learn"},
                "bias": {"kind": "fixed", "width": 16, "int_bits": "learn"},
                "preact": {"kind": "fixed", "width": 12, "int_bits": ib, "overflow": ov},
                "act": {"kind": "fixed", "width": 8, "int_bits": "learn", "signed": False},
                "output": {"kind": "fixed", "width": 12, "int_bits": ib, "overflow": ov},
            }
            qm = quantize_model(copy.deepcopy(fm), q)  # binary points from the first training batch
            fit(qm, xtr, ytr, 10, 1e-3)
            print(f"| {ov} | {ib} | {accuracy(qm, xte, yte):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
