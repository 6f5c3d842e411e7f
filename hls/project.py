"""``emit``: an IR graph -> a self-contained Vitis HLS project (firmware, test bench, build.tcl).

Layout of the output folder::

    graph.json                 the IR (``hwq verify hls`` reads it)
    build.tcl                  vitis_hls -f build.tcl  (csim, csynth, cosim)
    firmware/<top>.h/.cpp      the top function
    firmware/defines.h         one typedef per tensor and per layer parameter / accumulator
    firmware/layers.h          one function per layer
    firmware/weights/<op>.h    const parameter arrays, exact values
    firmware/weights.cpp       their one definition for builds defining HWQ_EXTERN_WEIGHTS (C-sim)
    firmware/hwq_hls.h         HWQ_PRAGMA and raw-bit helpers (plus hwq_minifloat.h when needed)
    tb/<top>_test.cpp          reads raw input integers, writes raw output integers, compares
    tb/hwq_tb.h                raw-integer text I/O
    tb_data/inputs.txt         sample vectors (raw integers, one vector per line)
    tb_data/expected.txt       the interpreter's outputs on them

Strategies (pragmas only; the arithmetic is the same): ``latency`` (arrays completely partitioned,
every layer and the top pipelined at II=1), ``resource`` (layers pipelined at II=reuse_factor with
ceil(mults/reuse_factor) multipliers), ``stream`` (hls::stream between layers under DATAFLOW).
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

from hwq.io import atomic_write, graph_hash, provenance_lines
from hwq.ir.serialize import dumps

from .cpp import HLSEmitError, comment_block, cpp_type
from .layers import REGISTRY, LayerCode, LayerContext
from .names import Names, assign_names

STRATEGIES = ("latency", "resource", "stream")
DEFAULT_PART = "xcu250-figd2104-2L-e"
_KNOWN_OPTIONS = {"part", "clock_period", "tb_vectors", "seed"}


def _check_options(strategy: str, reuse_factor, options: dict) -> None:
    if strategy not in STRATEGIES:
        raise HLSEmitError(f"unknown HLS strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if not isinstance(reuse_factor, int) or isinstance(reuse_factor, bool) or reuse_factor < 1:
        raise HLSEmitError(f"reuse_factor must be a positive integer, got {reuse_factor!r}")
    unknown = sorted(set(options) - _KNOWN_OPTIONS)
    if unknown:
        raise HLSEmitError(
            f"unknown HLS emitter option(s) {', '.join(unknown)}; known: strategy, reuse_factor, "
            f"{', '.join(sorted(_KNOWN_OPTIONS))}"
        )


def _support_header(name: str) -> str:
    return resources.files("hwq.hls").joinpath("include", name).read_text()


def plan_layers(graph, names: Names) -> list[tuple[object, LayerCode]]:
    """Print every op of the graph; the first unsupported op raises HLSEmitError naming it."""
    for t in graph.tensors.values():
        cpp_type(t.fmt, f"tensor {t.name!r}")
    out = []
    for op in graph.ops:
        REGISTRY.check(op, graph)
        out.append((op, REGISTRY.entry(op.kind).impl(op, LayerContext(op, graph, names))))
    return out


class _Project:
    """Text of every file of one project; ``files()`` returns {relative path: text}."""

    def __init__(self, graph, command: str, strategy: str, reuse_factor: int, options: dict):
        self.graph = graph
        self.strategy = strategy
        self.rf = reuse_factor
        self.options = options
        self.graph_json = dumps(graph)
        self.hash = graph_hash(self.graph_json)
        self.command = command
        self.names = assign_names(graph)
        self.top = self.names.top
        self.layers = plan_layers(graph, self.names)
        self.includes = sorted({h for _, lc in self.layers for h in lc.includes} | self._format_headers())

    def _format_headers(self) -> set[str]:
        fmts = [t.fmt for t in self.graph.tensors.values()]
        fmts += [v for op in self.graph.ops for v in vars(op).values() if hasattr(v, "kind") and hasattr(v, "cast_raw")]
        return {"hwq_minifloat.h"} if any(getattr(f, "kind", None) == "float" for f in fmts) else set()

    # ------------------------------------------------------------------ helpers
    def header(self, what: str) -> str:
        lines = [what, ""] + provenance_lines(self.command, self.hash)
        return comment_block(lines) + "\n"

    def ttype(self, tensor_name: str) -> str:
        return self.names.tensor_type(tensor_name)

    def tvar(self, tensor_name: str) -> str:
        return self.names.tensor[tensor_name]

    def out_port(self, tensor_name: str) -> str:
        """The top-function parameter of a graph output (``<t>_port`` when t is also a graph input)."""
        return self.tvar(tensor_name) + ("_port" if tensor_name in self.graph.inputs else "")

    def size(self, tensor_name: str) -> int:
        return self.graph.tensor(tensor_name).size

    # ------------------------------------------------------------------ firmware/defines.h
    def defines_h(self) -> str:
        g = self.graph
        out = [self.header(f"Number types of graph {g.name!r}: one per tensor, one per layer parameter."), ""]
        out += ["#ifndef HWQ_DEFINES_H_", "#define HWQ_DEFINES_H_", "", '#include "hwq_hls.h"']
        out += [f'#include "{h}"' for h in self.includes]
        out += ["", "// ---- tensors (raw integer = value * 2^frac_bits; arrays are flat, channels first)"]
        for t in g.tensors.values():
            out.append(f"// tensor {t.name!r}: format {t.fmt}, shape {t.shape}")
            out.append(f"typedef {cpp_type(t.fmt, f'tensor {t.name!r}')} {self.ttype(t.name)};")
        for op, lc in self.layers:
            if lc.typedefs:
                out += ["", f"// ---- {op.kind} {op.name!r}"]
                for ident, ctype, comment in lc.typedefs:
                    out.append(f"typedef {ctype} {ident};  // {comment}")
        out += ["", "#endif  // HWQ_DEFINES_H_", ""]
        return "\n".join(out)

    # ------------------------------------------------------------------ firmware/weights/<op>.h
    def weights_h(self, op, lc: LayerCode) -> str:
        ident = self.names.op[op.name]
        guard = f"HWQ_WEIGHTS_{ident}_H_"
        return (
            self.header(f"Parameters of {op.kind} {op.name!r} (exact values of the IR's integers).")
            + f'\n#ifndef {guard}\n#define {guard}\n\n#include "../defines.h"\n\n{_storage(lc.params)}\n'
            + f"#endif  // {guard}\n"
        )

    def weights_cpp(self) -> str:
        """firmware/weights.cpp: the one definition of every parameter array for a build that defines
        HWQ_EXTERN_WEIGHTS (hwq's C-simulation); empty otherwise (see hwq_hls.h)."""
        out = self.header("Parameter arrays of every layer, defined once (C-simulation builds; see hwq_hls.h).")
        out += '\n#define HWQ_WEIGHTS_TU\n#include "defines.h"\n'
        for op, lc in self.layers:
            if lc.params:
                out += f'#include "weights/{self.names.op[op.name]}.h"\n'
        return out

    # ------------------------------------------------------------------ firmware/layers.h
    def signature(self, op) -> str:
        xs = ["x"] if len(op.inputs) == 1 else [f"x{k}" for k in range(len(op.inputs))]
        args = [f"const {self.ttype(t)} {v}[{self.size(t)}]" for t, v in zip(op.inputs, xs)]
        args.append(f"{self.ttype(op.output)} y[{self.size(op.output)}]")
        return f"void {self.names.op[op.name]}({', '.join(args)})"

    def layer_pragmas(self, op, lc: LayerCode) -> list[str]:
        xs = ["x"] if len(op.inputs) == 1 else [f"x{k}" for k in range(len(op.inputs))]
        arrays = xs + ["y"] + lc.param_arrays
        if self.strategy == "resource":
            lines = [f"HWQ_PRAGMA(HLS PIPELINE II={self.rf})"]
            if lc.n_mult:
                limit = max(1, math.ceil(lc.n_mult / self.rf))
                lines.append(f"HWQ_PRAGMA(HLS ALLOCATION operation instances=mul limit={limit})")
            for a in lc.param_arrays:
                lines.append(f"HWQ_PRAGMA(HLS ARRAY_PARTITION variable={a} cyclic factor={self._factor(a, op)} dim=0)")
            return lines
        lines = ["HWQ_PRAGMA(HLS PIPELINE II=1)"] if self.strategy == "latency" else ["HWQ_PRAGMA(HLS INLINE off)"]
        if self.strategy == "stream":
            lines.append("HWQ_PRAGMA(HLS PIPELINE II=1)")
        for a in arrays:
            lines.append(f"HWQ_PRAGMA(HLS ARRAY_PARTITION variable={a} complete dim=0)")
        return lines

    def _factor(self, array: str, op) -> int:
        n = max((int(v.size) for v in op.params().values()), default=1) if hasattr(op, "params") else 1
        return max(1, math.ceil(n / self.rf))

    def layers_h(self) -> str:
        out = [self.header(f"Layer functions of graph {self.graph.name!r}, one per IR op, in graph order."), ""]
        out += ["#ifndef HWQ_LAYERS_H_", "#define HWQ_LAYERS_H_", "", '#include "defines.h"']
        if self.strategy == "stream":
            out.append('#include "hwq_stream.h"')
        for op, lc in self.layers:
            if lc.params:
                out.append(f'#include "weights/{self.names.op[op.name]}.h"')
        for op, lc in self.layers:
            # ``inline`` (not ``static``): a header included by several translation units defines each
            # layer once (C++ inline linkage); g++ still keeps one function per layer rather than folding
            # every single-use static function into the top, which made C-simulation builds ~30% slower.
            out += ["", comment_block(lc.doc), f"inline {self.signature(op)} {{"]
            out += ["    " + p for p in self.layer_pragmas(op, lc)]
            out.append(lc.body.rstrip("\n"))
            out.append("}")
        if self.strategy == "stream":
            for w in self.stream_wrappers():
                out += ["", w]
        out += ["", "#endif  // HWQ_LAYERS_H_", ""]
        return "\n".join(out)

    # ------------------------------------------------------------------ top function
    def top_args(self) -> list[str]:
        g = self.graph
        if self.strategy == "stream":
            args = [f"hls::stream<{self.ttype(t)}>& {self.tvar(t)}" for t in g.inputs]
            args += [f"hls::stream<{self.ttype(t)}>& {self.out_port(t)}" for t in g.outputs]
        else:
            args = [f"const {self.ttype(t)} {self.tvar(t)}[{self.size(t)}]" for t in g.inputs]
            args += [f"{self.ttype(t)} {self.out_port(t)}[{self.size(t)}]" for t in g.outputs]
        return args

    def top_signature(self) -> str:
        return f"void {self.top}({', '.join(self.top_args())})"

    def top_h(self) -> str:
        g = self.graph
        guard = f"HWQ_{self.top}_H_"
        io = [f"input  {t!r}: {g.tensor(t).fmt}, shape {g.tensor(t).shape}" for t in g.inputs]
        io += [f"output {t!r}: {g.tensor(t).fmt}, shape {g.tensor(t).shape}" for t in g.outputs]
        stream = '#include "hwq_stream.h"\n' if self.strategy == "stream" else ""
        return (
            self.header(f"Top function of graph {g.name!r} (strategy {self.strategy}).")
            + f'\n#ifndef {guard}\n#define {guard}\n\n{stream}#include "defines.h"\n\n'
            + comment_block(io)
            + f"\n{self.top_signature()};\n\n#endif  // {guard}\n"
        )

    def top_cpp(self) -> str:
        body = self._top_body_stream() if self.strategy == "stream" else self._top_body_arrays()
        return (
            self.header(f"Top function of graph {self.graph.name!r}: calls the layers in graph order.")
            + f'\n#include "{self.top}.h"\n#include "layers.h"\n\n{self.top_signature()} {{\n{body}}}\n'
        )

    def _top_body_arrays(self) -> str:
        g = self.graph
        lines = []
        ii = 1 if self.strategy == "latency" else self.rf
        for v in [self.tvar(t) for t in g.inputs] + [self.out_port(t) for t in g.outputs]:
            lines.append(f"HWQ_PRAGMA(HLS ARRAY_PARTITION variable={v} complete dim=0)")
        lines.append(f"HWQ_PRAGMA(HLS PIPELINE II={ii})")
        # Locals: every computed tensor that is not a graph output, or an output also read by a later op
        # (then the output port is written by a copy at the end).
        local = {}
        for op in g.ops:
            t = op.output
            if t not in g.outputs or g.consumers(t):
                local[t] = self.tvar(t) if t not in g.outputs else self.tvar(t) + "_local"
        for op in g.ops:
            t = op.output
            lines.append("")
            if t in local:
                tt = g.tensor(t)
                lines.append(f"{self.ttype(t)} {local[t]}[{tt.size}];  // {t!r}: {tt.fmt}, shape {tt.shape}")
                lines.append(f"HWQ_PRAGMA(HLS ARRAY_PARTITION variable={local[t]} complete dim=0)")
            args = [local.get(i, self.tvar(i)) for i in op.inputs] + [local.get(t, self.tvar(t))]
            lines.append(f"{self.names.op[op.name]}({', '.join(args)});  // {op.kind} {op.name!r}")
        for t in g.outputs:
            src = local.get(t) if t in local else (self.tvar(t) if t in g.inputs else None)
            if src is not None:
                lines += [
                    "",
                    f"for (int i = 0; i < {self.size(t)}; i++) {{",
                    f"    {self.out_port(t)}[i] = {src}[i];",
                    "}",
                ]
        return "".join(("    " + ln if ln else "") + "\n" for ln in lines)

    def _top_body_stream(self) -> str:
        """DATAFLOW top: one stream per tensor, a wrapper per layer, fan-out copies for shared tensors.

        A tensor read n > 1 times (by layers, plus the output port when an output is also read) is
        written to one stream and copied to ``<t>_copies[n]`` by ``hwq_fanout``.
        """
        g = self.graph
        ports = [self.tvar(t) for t in g.inputs] + [self.out_port(t) for t in g.outputs]
        lines = [f"HWQ_PRAGMA(HLS INTERFACE axis port={v})" for v in ports]
        lines.append("HWQ_PRAGMA(HLS DATAFLOW)")
        readers: dict[str, list[str]] = {}
        writer: dict[str, str] = {}
        for t in list(g.inputs) + [op.output for op in g.ops]:
            port = t in g.inputs or t in g.outputs
            n_read = len(g.consumers(t)) + (1 if t in g.outputs and t not in g.inputs and g.consumers(t) else 0)
            n_read += 1 if t in g.outputs and t in g.inputs else 0
            base = self.tvar(t)
            fmt = g.tensor(t).fmt
            if t in g.inputs:
                writer[t] = base
            elif t in g.outputs and n_read > 1:
                writer[t] = f"{base}_local"
            else:
                writer[t] = base
            if not (t in g.inputs or (t in g.outputs and n_read <= 1)):
                lines += ["", f'hls::stream<{self.ttype(t)}> {writer[t]}("{writer[t]}");  // {t!r}: {fmt}']
                lines.append(f"HWQ_PRAGMA(HLS STREAM variable={writer[t]} depth={self.size(t)})")
            if n_read > 1:
                copies = f"{base}_copies"
                lines += ["", f"hls::stream<{self.ttype(t)}> {copies}[{n_read}];  // {t!r} is read {n_read} times"]
                lines.append(f"HWQ_PRAGMA(HLS STREAM variable={copies} depth={self.size(t)})")
                readers[t] = [f"{copies}[{k}]" for k in range(n_read)]
            else:
                readers[t] = [writer[t]]
            del port
        body = []

        def fan(t: str) -> None:
            if len(readers[t]) > 1:
                tt, n, k = self.ttype(t), self.size(t), len(readers[t])
                body.append(f"hwq_fanout<{tt}, {n}, {k}>({writer[t]}, {self.tvar(t)}_copies);")

        for t in g.inputs:
            fan(t)
        pending = {t: list(r) for t, r in readers.items()}
        for op in g.ops:
            args = [pending[i].pop(0) for i in op.inputs] + [writer[op.output]]
            body.append(f"{self.names.op[op.name]}_stream({', '.join(args)});  // {op.kind} {op.name!r}")
            fan(op.output)
        for t in g.outputs:
            if len(readers[t]) > 1:
                body.append(f"hwq_copy<{self.ttype(t)}, {self.size(t)}>({pending[t].pop(0)}, {self.out_port(t)});")
        lines += [""] + body
        return "".join(("    " + ln if ln else "") + "\n" for ln in lines)

    def stream_wrappers(self) -> list[str]:
        """One DATAFLOW process per layer: read whole input tensors, call the layer, write the output."""
        out = []
        for op, _ in self.layers:
            fn = self.names.op[op.name]
            xs = ["x"] if len(op.inputs) == 1 else [f"x{k}" for k in range(len(op.inputs))]
            args = [f"hls::stream<{self.ttype(t)}>& {v}_s" for t, v in zip(op.inputs, xs)]
            args.append(f"hls::stream<{self.ttype(op.output)}>& y_s")
            lines = [f"// stream process of {op.kind} {op.name!r}", f"void {fn}_stream({', '.join(args)}) {{"]
            for t, v in zip(op.inputs, xs):
                lines.append(f"    {self.ttype(t)} {v}[{self.size(t)}];")
            lines.append(f"    {self.ttype(op.output)} y[{self.size(op.output)}];")
            for t, v in zip(op.inputs, xs):
                lines.append(f"    for (int i = 0; i < {self.size(t)}; i++) {{")
                lines.append(f"        {v}[i] = {v}_s.read();")
                lines.append("    }")
            lines.append(f"    {fn}({', '.join(xs + ['y'])});")
            lines.append(f"    for (int i = 0; i < {self.size(op.output)}; i++) {{")
            lines.append("        y_s.write(y[i]);")
            lines.append("    }")
            lines.append("}")
            out.append("\n".join(lines))
        return out

    # ------------------------------------------------------------------ test bench
    def testbench(self) -> str:
        from .testbench import testbench_cpp

        return testbench_cpp(self)

    def build_tcl(self) -> str:
        from .testbench import build_tcl

        return build_tcl(self)

    def files(self) -> dict[str, str]:
        from .testbench import sample_vectors

        files = {
            "graph.json": self.graph_json,
            "build.tcl": self.build_tcl(),
            f"firmware/{self.top}.h": self.top_h(),
            f"firmware/{self.top}.cpp": self.top_cpp(),
            "firmware/defines.h": self.defines_h(),
            "firmware/layers.h": self.layers_h(),
            "firmware/hwq_hls.h": _support_header("hwq_hls.h"),
            f"tb/{self.top}_test.cpp": self.testbench(),
            "tb/hwq_tb.h": _support_header("hwq_tb.h"),
        }
        for h in self.includes + (["hwq_stream.h"] if self.strategy == "stream" else []):
            files[f"firmware/{h}"] = _support_header(h)
        for op, lc in self.layers:
            if lc.params:
                files[f"firmware/weights/{self.names.op[op.name]}.h"] = self.weights_h(op, lc)
        if any(lc.params for _, lc in self.layers):
            files["firmware/weights.cpp"] = self.weights_cpp()
        n = int(self.options.get("tb_vectors", 64))
        if n > 0:
            inputs, expected = sample_vectors(self.graph, n, int(self.options.get("seed", 0)))
            files["tb_data/inputs.txt"] = inputs
            files["tb_data/expected.txt"] = expected
        return files


_PARAM_DEF = re.compile(r"^static const (.+?) (\w+)((?:\[\d+\])*) = ", re.M)


def _storage(params: str) -> str:
    """The layer's ``static const T name[dims] = {...};`` definitions with their storage switchable:
    a declaration only under HWQ_EXTERN_WEIGHTS (outside weights.cpp), else the definition with
    HWQ_WEIGHT_STORAGE (``static``; ``extern`` in weights.cpp). The initialiser is written once."""

    def repl(m: re.Match) -> str:
        t, name, dims = m.group(1), m.group(2), m.group(3)
        return (
            "#if defined(HWQ_EXTERN_WEIGHTS) && !defined(HWQ_WEIGHTS_TU)\n"
            f"extern const {t} {name}{dims};\n"
            "#else\n"
            f"HWQ_WEIGHT_STORAGE const {t} {name}{dims} = "
        )

    out, n = _PARAM_DEF.subn(repl, params)
    if not n:
        return params
    # close each #if after its definition's terminating ";"
    lines, closed, inside = out.split("\n"), [], False
    for line in lines:
        if line.startswith("HWQ_WEIGHT_STORAGE const "):
            inside = True
        closed.append(line)
        if inside and line.endswith(";"):
            closed.append("#endif")
            inside = False
    return "\n".join(closed)


def emit(
    graph,
    out_dir,
    *,
    command: str = "",
    strategy: str = "latency",
    reuse_factor: int = 1,
    **options,
) -> list[Path]:
    """Write a Vitis HLS project for ``graph`` into ``out_dir`` (created if needed); return the files.

    strategy: ``latency`` | ``resource`` | ``stream``; reuse_factor: multiplications per multiplier
    (resource); options: ``part`` (FPGA part for build.tcl), ``clock_period`` (ns), ``tb_vectors``
    (sample vectors written to tb_data/, default 64), ``seed``. The caller refuses non-empty folders
    (``hwq emit``); files are written atomically. Raises HLSEmitError naming any op, tensor or format
    the emitter cannot print. Same graph and options -> byte-identical files.
    """
    graph.validate()
    _check_options(strategy, reuse_factor, options)
    project = _Project(graph, command, strategy, reuse_factor, options)
    out_dir = Path(out_dir)
    written = []
    for rel, text in sorted(project.files().items()):
        written.append(atomic_write(out_dir / rel, text))
    return written
