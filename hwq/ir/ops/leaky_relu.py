"""LeakyReLU with a power-of-two slope: ``y = cast_out(x > 0 ? x : x * 2**-shift)``.

x raw in the input format (F_x fractional bits). The negative branch is exact: ``x * 2**-shift`` is the
same raw integer read with ``F_x + shift`` fractional bits, so no multiplier and no rounding happen before
the one cast to the output format (its rounding and overflow modes). ``shift`` in [1, 31] (slope 1/2 ...
2**-31; e.g. 3 gives PyTorch's ``LeakyReLU(0.125)``). Any shape. An input of 0 gives cast_out(0).

This op is the worked example of the contributor recipe (README "Adding an op"): this module (dataclass,
``evaluate``, random builder), its oracle in ``tests/ir/oracle.py`` and test ``tests/ir/test_leaky_relu.py``,
and one registry entry per backend (``hls/layers/relu.py``, ``rtl/ops.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import cast_to, check_arity, op_error


@register
@dataclass
class LeakyReLU(Op):
    """``cast_out(x > 0 ? x : x * 2**-shift)``."""

    kind = "leaky_relu"
    shift: int = 3  # slope 2**-shift

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        if graph.tensor(self.inputs[0]).shape != graph.tensor(self.output).shape:
            raise op_error(self, "input and output shapes differ")
        if isinstance(self.shift, bool) or not isinstance(self.shift, (int, np.integer)) or not 1 <= self.shift <= 31:
            raise op_error(self, f"shift must be an integer in [1, 31] (slope 2**-shift), got {self.shift!r}")
        fmt = graph.tensor(self.inputs[0]).fmt
        if getattr(fmt, "kind", None) != "fixed":
            raise op_error(self, f"input format {fmt} is not fixed point")


def evaluate(op: LeakyReLU, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, ...) -> y raw (B, ...) in the output format."""
    (x,) = args
    f = graph.tensor(op.inputs[0]).fmt.frac_bits
    yf = graph.tensor(op.output).fmt
    pos = cast_to(x, f, yf)
    neg = cast_to(x, f + int(op.shift), yf)  # the same raws, read 2**shift times smaller
    return np.where(np.asarray(x) > 0, pos, neg)


#: rank of the input ``random_graph`` gives this op (None: any)
RANDOM_RANK = None


def random_op(g: Graph, ctx, x: str) -> str:
    """``random_graph`` builder: a LeakyReLU of random slope and output format after tensor ``x``."""
    t = g.tensor(x)
    name = ctx.name("leaky_relu")
    g.add_tensor(f"{name}_out", t.shape, ctx.fmt(mini=False))
    g.add_op(LeakyReLU(name, [x], f"{name}_out", shift=ctx.ri(1, 6)))
    return f"{name}_out"
