"""The HLS emitter's op registry: one printer (one named function) per IR op kind.

``REGISTRY`` (a ``hwq.backend.OpRegistry``, defined in ``base.py``) maps an op kind to
``impl(op, ctx: LayerContext) -> LayerCode``: how that op is printed as an HLS C++ layer function, and
``supports(op, graph) -> None | reason`` (``hwq.hls.supports``), the capability query shared by emit, the
cost model and the explorer. The printers live in the modules below, grouped by arithmetic (``dense``,
``relu``, ``conv``, ``elementwise``, ``pool``, ``misc``); the arithmetic printed must be the op's docstring
formula in ``hwq/ir/ops/<kind>.py``, step for step. An op kind that is not registered is refused at emit
time with an error naming the op. Adding an op kind: one ``@REGISTRY.register("kind")`` function in one of
these modules (or a new module listed in ``_MODULES``).
"""

from __future__ import annotations

import importlib

from .base import REGISTRY, LayerCode, LayerContext

_MODULES = ["dense", "relu", "conv", "elementwise", "pool", "misc"]
for _name in _MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def supports(op, graph) -> str | None:
    """None when the HLS emitter prints ``op`` of ``graph`` exactly, else the reason (one line)."""
    return REGISTRY.supports(op, graph)


__all__ = ["REGISTRY", "LayerCode", "LayerContext", "supports"]
