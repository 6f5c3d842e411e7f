"""Graph passes: each one module with one job, checking its preconditions first and never mutating its
input graph (each returns a new graph; ``validate`` returns its argument unchanged).

- ``validate``: full consistency check.
- ``fold_constants``: float parameters -> integer raws of their declared formats.
- ``remove_dead_ops``: drop ops and tensors that do not reach an output.
- ``infer_accumulators``: narrowest lossless accumulators for the actual weights and input ranges.
- ``fold_batchnorm``: fold BatchNorm into the preceding dense/conv (exactly, or refuse).
"""

from ._common import PassError
from .fold_batchnorm import fold_batchnorm
from .fold_constants import fold_constants, quantize_param
from .infer_accumulators import infer_accumulators
from .remove_dead_ops import remove_dead_ops
from .validate import validate

__all__ = [
    "PassError",
    "fold_batchnorm",
    "fold_constants",
    "infer_accumulators",
    "quantize_param",
    "remove_dead_ops",
    "validate",
]
