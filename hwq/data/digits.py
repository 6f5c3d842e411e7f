"""The built-in data set: scikit-learn's 8x8 handwritten digits (shipped inside the sklearn wheel, no
download), with a fixed, seeded, stratified train/test split.

Pixels are integers 0..16; ``load_digits_split`` scales them to [0, 1] by dividing by 16 (exact in
float32), so a ``ufixed<W,1>`` input format with W >= 5 represents every pixel exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: fraction of the 1,797 images held out for testing
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class Split:
    """Train/test arrays: x float32 ``(N, 64)`` in [0, 1] (or ``(N, 1, 8, 8)`` as images), y int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10


def load_digits_split(image: bool = False, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION) -> Split:
    """The digits set split into train/test, stratified by class, deterministic for a given seed.

    image: shape samples as ``(1, 8, 8)`` images (channels first) instead of flat 64-vectors.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data.astype(np.float32) / np.float32(16.0)).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    if image:
        xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
    return Split(np.ascontiguousarray(xtr), ytr, np.ascontiguousarray(xte), yte)
