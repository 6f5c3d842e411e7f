"""One module per IR op: the op's dataclass and its ``evaluate`` (the golden integer arithmetic).

Builders' helpers exported here: ``reciprocal(n)`` (the avgpool reciprocal constant),
``sigmoid_table`` / ``tanh_table`` / ``table_for`` (lut tables), ``dyadic_requantize`` (CMSIS-NN).

``EVALUATORS`` maps an op kind to ``evaluate(op, args, graph) -> raw ndarray``, where ``args`` are
the raw integer arrays of the op's inputs with a leading batch axis.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from . import (
    add,
    add_dyadic,
    avgpool,
    batchnorm,
    clip,
    concat,
    conv1d,
    conv2d,
    dense,
    flatten,
    global_avgpool,
    lut,
    maxpool,
    mul,
    mul_dyadic,
    relu,
    requantize,
    reshape,
)

_MODULES = [
    dense,
    relu,
    conv1d,
    conv2d,
    add,
    mul,
    flatten,
    reshape,
    batchnorm,
    clip,
    maxpool,
    avgpool,
    global_avgpool,
    concat,
    lut,
    requantize,
    add_dyadic,
    mul_dyadic,
]

_N = len(__name__) + 1
# Any other op module in this package (a new op: one file, see README "Adding an op") is found here.
_MODULES += [
    importlib.import_module(f"{__name__}.{_info.name}")
    for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    if not _info.name.startswith("_")
    and _info.name != "common"
    and _info.name not in {m.__name__[_N:] for m in _MODULES}
]

EVALUATORS: dict[str, Callable] = {}
for _m in _MODULES:
    for _obj in vars(_m).values():
        if isinstance(_obj, type) and getattr(_obj, "__module__", None) == _m.__name__ and hasattr(_obj, "kind"):
            EVALUATORS[_obj.kind] = _m.evaluate

from ._pool import reciprocal  # noqa: E402
from .add import Add  # noqa: E402
from .add_dyadic import AddDyadic  # noqa: E402
from .avgpool import AvgPool  # noqa: E402
from .batchnorm import BatchNorm  # noqa: E402
from .clip import Clip  # noqa: E402
from .concat import Concat  # noqa: E402
from .conv1d import Conv1d  # noqa: E402
from .conv2d import Conv2d  # noqa: E402
from .dense import Dense  # noqa: E402
from .flatten import Flatten  # noqa: E402
from .global_avgpool import GlobalAvgPool  # noqa: E402
from .lut import LUT, sigmoid_table, table_for, tanh_table  # noqa: E402
from .maxpool import MaxPool  # noqa: E402
from .mul import Multiply  # noqa: E402
from .mul_dyadic import MulDyadic  # noqa: E402
from .relu import ReLU  # noqa: E402
from .requantize import Requantize, dyadic_requantize, dyadic_requantize_s64, reduce_multiplier  # noqa: E402
from .reshape import Reshape  # noqa: E402

__all__ = [
    "EVALUATORS",
    "LUT",
    "Add",
    "AddDyadic",
    "AvgPool",
    "BatchNorm",
    "Clip",
    "Concat",
    "Conv1d",
    "Conv2d",
    "Dense",
    "Flatten",
    "GlobalAvgPool",
    "MaxPool",
    "MulDyadic",
    "Multiply",
    "ReLU",
    "Requantize",
    "Reshape",
    "dyadic_requantize",
    "dyadic_requantize_s64",
    "reciprocal",
    "reduce_multiplier",
    "sigmoid_table",
    "table_for",
    "tanh_table",
]
