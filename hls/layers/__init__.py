"""One module per IR op kind: how that op is printed as an HLS C++ layer function.

Each module defines ``KINDS`` (the IR op kinds it prints) and ``emit(op, ctx) -> LayerCode``. The
arithmetic printed must be the op's docstring formula in ``hwq/ir/ops/<kind>.py``, step for step.
An op kind missing from ``LAYERS`` is rejected at emit time with an error naming the op.
"""

from __future__ import annotations

import importlib

from .base import LayerCode, LayerContext

_MODULES = ["dense", "relu", "conv", "elementwise", "pool", "misc"]

#: op kind -> emit function
LAYERS: dict = {}
for _name in _MODULES:
    _m = importlib.import_module(f"{__name__}.{_name}")
    for _kind in _m.KINDS:
        LAYERS[_kind] = _m.emit

__all__ = ["LAYERS", "LayerCode", "LayerContext"]
