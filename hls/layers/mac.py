"""The product term of a multiply-accumulate, as a C++ expression cast to the accumulator type.

- fixed x fixed: ``(accum_t)(x * w)`` -- ap_fixed's exact product, then accum_t's rounding/overflow.
- other weight kinds (multiplier-free CSD, minifloat) are printed by their own helpers here so that
  every layer with weights (dense, conv) treats them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cpp import mult_fmt
from .base import LayerContext


@dataclass
class Product:
    expr: str
    typedefs: list[tuple[str, str, str]] = field(default_factory=list)
    doc: list[str] = field(default_factory=list)
    n_mult_per_term: int = 1
    includes: list[str] = field(default_factory=list)


def product_expr(ctx: LayerContext, x: str, w: str, x_fmt, w_fmt, role: str, acc_t: str, acc_fmt) -> Product:
    """C++ expression of ``(acc_t)(x * w)`` with exact product for the operand formats."""
    xk, wk = getattr(x_fmt, "kind", None), getattr(w_fmt, "kind", None)
    if xk in ("fixed", "float") and wk in ("fixed", "float"):
        src = mult_fmt(ctx.exact(x_fmt), ctx.exact(w_fmt))
        doc = ["minifloat operands are read exactly (to_fixed); the product is exact"] if "float" in (xk, wk) else []
        return Product(ctx.cast(f"{ctx.val(x, x_fmt)} * {ctx.val(w, w_fmt)}", src, acc_t, acc_fmt), doc=doc)
    raise ctx.fail(f"products of a {x_fmt} input with {role} format {w_fmt} are not supported by the HLS emitter")
