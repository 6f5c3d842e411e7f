"""One module per IR op: the op's dataclass and its ``evaluate`` (the golden integer arithmetic).

``EVALUATORS`` maps an op kind to ``evaluate(op, args, graph) -> raw ndarray``, where ``args`` are
the raw integer arrays of the op's inputs with a leading batch axis.
"""

from __future__ import annotations

from collections.abc import Callable

from . import add, conv1d, conv2d, dense, flatten, mul, relu, reshape

_MODULES = [dense, relu, conv1d, conv2d, add, mul, flatten, reshape]

EVALUATORS: dict[str, Callable] = {}
for _m in _MODULES:
    for _obj in vars(_m).values():
        if isinstance(_obj, type) and getattr(_obj, "__module__", None) == _m.__name__ and hasattr(_obj, "kind"):
            EVALUATORS[_obj.kind] = _m.evaluate

from .add import Add  # noqa: E402
from .conv1d import Conv1d  # noqa: E402
from .conv2d import Conv2d  # noqa: E402
from .dense import Dense  # noqa: E402
from .flatten import Flatten  # noqa: E402
from .mul import Multiply  # noqa: E402
from .relu import ReLU  # noqa: E402
from .reshape import Reshape  # noqa: E402

__all__ = ["EVALUATORS", "Add", "Conv1d", "Conv2d", "Dense", "Flatten", "Multiply", "ReLU", "Reshape"]
