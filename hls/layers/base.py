"""What a layer printer receives (``LayerContext``) and returns (``LayerCode``), and the registry of printers."""

from __future__ import annotations

from dataclasses import dataclass, field

from hwq.backend import OpRegistry

from ..cpp import HLSEmitError, array_initialiser, cast, code_initialiser, cpp_type
from ..minifloat import exact_fixed
from ..names import Names

#: op kind -> the HLS printer of that kind: ``impl(op, ctx: LayerContext) -> LayerCode``
REGISTRY = OpRegistry("hls", error=HLSEmitError, label="the HLS emitter")


@dataclass
class LayerContext:
    """The op being printed, its graph and the identifier table.

    The layer function is ``void <fn>(const <in>_t x[N], <out>_t y[M])`` (inputs ``x0, x1, ...`` when
    there are several); every array is flat, in the IR's C order (channels first).
    """

    op: object
    graph: object
    names: Names

    @property
    def fn(self) -> str:
        """The layer function's identifier (also the prefix of its parameters and types)."""
        return self.names.op[self.op.name]

    def where(self) -> str:
        """``op 'name' (kind)`` for error messages."""
        return f"op {self.op.name!r} ({self.op.kind})"

    def tensor(self, i: int = 0):
        """The i-th input tensor."""
        return self.graph.tensor(self.op.inputs[i])

    @property
    def out(self):
        """The output tensor."""
        return self.graph.tensor(self.op.output)

    def in_type(self, i: int = 0) -> str:
        return self.names.tensor_type(self.op.inputs[i])

    @property
    def out_type(self) -> str:
        return self.names.tensor_type(self.op.output)

    def ctype(self, fmt, role: str) -> str:
        """C++ type of a parameter format, with an error naming this op and the role."""
        return cpp_type(fmt, f"{self.where()} {role}")

    def param_type(self, fmt, role: str) -> str:
        """C++ storage type of a constant parameter array (weights, biases, scales).

        Parameters are never converted into their type at run time (only read), so the rounding and
        overflow modes of their format do not apply; the type keeps the format's W and I with the
        default modes, which stores every raw exactly (an SAT_SYM type would clamp raw -2^(W-1) when
        initialised).
        """
        if getattr(fmt, "kind", None) == "fixed":
            fmt = fmt.with_modes("TRN", "WRAP")
        return self.ctype(fmt, role)

    def val(self, expr: str, fmt) -> str:
        """C++ expression of the exact value of element ``expr`` of format ``fmt`` (an ap_fixed):
        minifloats are read through ``.to_fixed()``."""
        return f"{expr}.to_fixed()" if getattr(fmt, "kind", None) == "float" else expr

    def exact(self, fmt):
        """The FixedFormat of ``val(..., fmt)``."""
        if getattr(fmt, "kind", None) == "float":
            return exact_fixed(fmt)
        return fmt

    def param_init(self, values, fmt) -> str:
        """Brace initialiser of a constant parameter array of format ``fmt`` (exact)."""
        if getattr(fmt, "kind", None) == "float":
            return code_initialiser(fmt, values)
        return array_initialiser(values, fmt.frac_bits)

    def require_fixed(self, what: str, fmt) -> None:
        """Reject a non-fixed format where this op has no minifloat / CSD implementation."""
        if getattr(fmt, "kind", None) != "fixed":
            raise self.fail(f"{what} has format {fmt}; the HLS emitter supports only fixed point here")

    def cast(self, expr: str, src_fmt, dst_type: str, dst_fmt) -> str:
        """``(dst_type)expr`` for a value of ``src_fmt`` (see ``hwq.hls.cpp.cast``)."""
        return cast(expr, src_fmt, dst_type, dst_fmt)

    def fail(self, message: str) -> HLSEmitError:
        return HLSEmitError(f"{self.where()}: {message}")


@dataclass
class LayerCode:
    """The printed layer: op-specific typedefs, parameter arrays, and the function body.

    typedefs: (identifier, C++ type, comment) declared in defines.h;
    params: text of the parameter header ``firmware/weights/<fn>.h`` (``""`` for none);
    body: the function body, indented by 4 spaces, without the braces;
    param_arrays: identifiers of const arrays the body reads (for partition pragmas);
    n_mult: multiplications per call (for the resource strategy's multiplier limit);
    doc: comment lines above the function (formats, formula).
    includes: extra firmware headers the layer needs (e.g. "hwq_minifloat.h").
    """

    body: str
    doc: list[str] = field(default_factory=list)
    typedefs: list[tuple[str, str, str]] = field(default_factory=list)
    params: str = ""
    param_arrays: list[str] = field(default_factory=list)
    n_mult: int = 0
    includes: list[str] = field(default_factory=list)
