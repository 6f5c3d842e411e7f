"""Printing of a lowered MCU model: the C files, the Makefile, ``hwq_model.h`` and ``mcu.json``.

Everything decided in ``mcu.kernels`` / ``mcu.lower`` / ``mcu.plan`` is printed as it is: this module only
lays weights out for CMSIS-NN (OHWI, 1HWC, dense columns in the input's physical order, int4 packing)
and prints C. Same program -> byte-identical text.
"""

from __future__ import annotations

import json
import re

import numpy as np

import hwq

from .plan import weight_bytes

_SUPPORT_HELPERS = {
    "hwq_chw_to_hwc_s8": """static void hwq_chw_to_hwc_s8(const int8_t *src, int8_t *dst,
                              int32_t c, int32_t h, int32_t w)
{
    int32_t ch, p;
    for (ch = 0; ch < c; ch++) {
        for (p = 0; p < h * w; p++) {
            dst[p * c + ch] = src[ch * h * w + p];
        }
    }
}""",
    "hwq_hwc_to_chw_s8": """static void hwq_hwc_to_chw_s8(const int8_t *src, int8_t *dst,
                              int32_t c, int32_t h, int32_t w)
{
    int32_t ch, p;
    for (ch = 0; ch < c; ch++) {
        for (p = 0; p < h * w; p++) {
            dst[ch * h * w + p] = src[p * c + ch];
        }
    }
}""",
    "hwq_clamp_s8": """static void hwq_clamp_s8(const int8_t *src, int8_t *dst, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        int32_t v = src[i];
        dst[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}""",
}
for _k in list(_SUPPORT_HELPERS):
    _SUPPORT_HELPERS[_k.replace("_s8", "_s16")] = (
        _SUPPORT_HELPERS[_k].replace("int8_t", "int16_t").replace("_s8(", "_s16(")
    )


def comment_text(s) -> str:
    """Text safe inside a C block comment and on one line (model-derived names)."""
    s = re.sub(r"[^\x20-\x7e]", "?", str(s))
    return s.replace("*/", "*_/").replace("/*", "/_*")


def _fmt(f) -> str:
    return comment_text(str(f))


def pack_s4(values: np.ndarray) -> np.ndarray:
    """Pack int4 values two per byte, low nibble first, across the whole array (CMSIS-NN ``_s4``)."""
    v = np.asarray(values, dtype=np.int64).ravel() & 0xF
    if v.size % 2:
        v = np.concatenate([v, [0]])
    b = v[0::2] | (v[1::2] << 4)
    return np.where(b > 127, b - 256, b).astype(np.int64)


def kernel_layout(step, buffers_perm) -> np.ndarray:
    """Weights of a MAC step in CMSIS-NN order: dense [M][N] (columns in the input's physical order),
    conv OHWI, depthwise 1HWC; conv1d as a 2-D kernel with kH = 1."""
    lay = step.layer
    w = np.asarray(lay.params["weight"], dtype=np.int64)
    if lay.kind == "dense":
        order = buffers_perm
        if order is not None:
            c, h, ww = order
            idx = np.arange(c * h * ww).reshape(c, h * ww).T.ravel()
            w = w[:, idx]
        return w
    if w.ndim == 3:  # conv1d (O, I, k) -> (O, I, 1, k)
        w = w[:, :, None, :]
    if lay.func.startswith("arm_depthwise"):
        return w.transpose(1, 2, 3, 0)  # (1, kH, kW, Cout)
    return w.transpose(0, 2, 3, 1)  # (O, kH, kW, I)


def _array(ctype: str, name: str, values, per_line: int = 16) -> str:
    vals = [int(v) for v in np.asarray(values).ravel().tolist()]
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append("    " + ", ".join(str(v) for v in vals[i : i + per_line]) + ",")
    body = "\n".join(lines) if lines else "    0,"
    return f"const {ctype} {name}[{max(len(vals), 1)}] = {{\n{body}\n}};\n"


class CProgram:
    """Text of every generated file for one ``Program`` and its ``MemoryPlan``."""

    #: what the code-bytes figure of the memory comment is
    CODE_NOTE = "Cortex-M4, gcc -O2: hwq.cost.mcu's estimate, within 1 % of linked builds"

    def __init__(self, prog, plan, command: str, graph_hash: str, graph_json: str):
        self.prog, self.plan = prog, plan
        self.command, self.hash, self.graph_json = command, graph_hash, graph_json
        self.m = prog.model
        self.p = f"hwq_{self.m}"
        self.weights: list[tuple[str, str, np.ndarray]] = []  # (ctype, name, values)
        self.helpers: set[str] = set()
        self.arg_types: dict[str, list[tuple[str, str]]] = {}  # hwq_<kernel>_args -> (C type, member)
        self.arg_data: list[str] = []  # the steps' static const argument objects
        self.body: list[str] = []
        self._layers_json: list[dict] = []
        self._patch_arrays: dict[str, tuple[str, str]] = {}  # packed buffer -> (bits, shifts) const arrays
        self._build()

    # ---------------------------------------------------------------- names and pointers
    def _ptr(self, buf_name: str, const: bool = False) -> str:
        b = self.prog.buffers[buf_name]
        if b.place == "in":
            base = f"in + {b.io_offset}" if b.io_offset else "in"
            return base
        if b.place == "out":
            return f"out + {b.io_offset}" if b.io_offset else "out"
        off = self.plan.offset(buf_name)
        cast = "int16_t" if b.ctype == "int16_t" else "int8_t"
        return f"({'const ' if const else ''}{cast} *)(arena + {off})"

    def _const(self, ctype: str, suffix: str, values) -> str:
        name = f"{self.p}_{suffix}"
        self.weights.append((ctype, name, np.asarray(values)))
        return name

    def _head(self, what: str) -> list[str]:
        from hwq.io import provenance_lines

        lines = [f"{what} of model '{comment_text(self.prog.graph.name)}'"]
        lines += [comment_text(x) for x in provenance_lines(self.command, self.hash)]
        return lines

    @staticmethod
    def _block(lines: list[str]) -> str:
        return "/*\n" + "".join(f" * {x}".rstrip() + "\n" for x in lines) + " */\n"

    # ---------------------------------------------------------------- steps
    def _build(self) -> None:
        for s in self.prog.steps:
            self._layers_json.append(self._step(s))

    def _step_comment(self, s) -> list[str]:
        g = self.prog.graph
        out = []
        if s.func.startswith("hwq_patch_unpack"):
            src = self.prog.buffers[s.inputs[0]].tensor
            out.append(f"unpack the per-patch codes of {comment_text(src)} to int8 NHWC for the next kernel")
        elif s.layer is None:
            src = self.prog.buffers[s.inputs[0]].tensor
            out.append(f"layout copy of {comment_text(src)!s} ({s.params['c']}x{s.params['h']}x{s.params['w']})")
        else:
            for op in s.layer.ops:
                ins = ", ".join(f"{comment_text(t)} {_fmt(g.tensor(t).fmt)} {g.tensor(t).shape}" for t in op.inputs)
                y = g.tensor(op.output)
                out.append(
                    f"op '{comment_text(op.name)}' ({op.kind}): {ins} -> {comment_text(y.name)} {_fmt(y.fmt)} {y.shape}"
                )
        tail = f"{s.func}"
        if s.layer is not None and s.layer.macs:
            tail += f", {s.layer.macs} MACs"
        if s.scratch:
            tail += f", scratch {s.scratch} bytes at arena+{self.plan.scratch[s.index]}"
        out.append(tail)
        return out

    def _step(self, s) -> dict:
        i = s.index
        lines = [f"    /* step {i}: " + self._step_comment(s)[0]]
        lines += [f"     * {x}" for x in self._step_comment(s)[1:]]
        lines[-1] += " */"
        call = getattr(self, "_call_" + _family(s.func))(s)
        lines += call
        lines.append(f"    HWQ_PROFILE_MARK({i + 1});")
        self.body.append("\n".join(lines))
        lay = s.layer
        return {
            "index": i,
            "ops": [op.name for op in lay.ops] if lay else [],
            "kinds": [op.kind for op in lay.ops] if lay else [],
            "function": s.func,
            "macs": lay.macs if lay else 0,
            "scratch_bytes": s.scratch,
            "weight_bytes": weight_bytes(lay) if lay else 0,
            "inputs": list(s.inputs),
            "output": s.output,
        }

    def _status(self, i: int, expr: str) -> list[str]:
        return [f"        if ({expr} != ARM_CMSIS_NN_SUCCESS) {{", f"            return -{i + 1};", "        }"]

    def _scratch_check(self, s, size_call: str) -> list[str]:
        return [
            f"        if ({size_call} > a->ctx.size) {{",
            f"            return -{s.index + 1}; /* the linked library needs more scratch than planned */",
            "        }",
        ]

    # ---------------------------------------------------------------- per-step argument objects
    def _field_ptr(self, buf_name: str, ctype: str, const: bool) -> tuple[str, str, str]:
        """(member C type, initialiser, value at the call) of a tensor pointer: an address in the arena is
        a constant of the argument object; the caller's ``in`` / ``out`` arrays are passed at the call."""
        b = self.prog.buffers[buf_name]
        mtype = f"{'const ' if const else ''}{ctype} *"
        if b.place in ("in", "out"):
            at = f"{b.place} + {b.io_offset}" if b.io_offset else b.place
            return mtype, f"NULL /* the caller's {at} */", at
        off = self.plan.offset(buf_name)
        base = f"(int8_t *){self.p}_arena + {off}"
        init = f"({mtype.strip()})({base})" if ctype != "int8_t" or const else base
        return mtype, init, ""

    def _args(self, s, fields: list[tuple[str, str, str]]) -> str:
        """Declare step ``s``'s call arguments as one ``static const`` object (flash) of its kernel's argument
        type ``hwq_<kernel>_args`` and return the object's name. ``fields``: (member C type, member,
        initialiser). Every call of a kernel then compiles to the same instructions (the object's address
        and member loads), so the run function's code bytes are a constant per kernel (``hwq.cost.mcu``)."""
        tname = _args_type(s.func)
        members = [(ctype, m) for ctype, m, _ in fields]
        if self.arg_types.setdefault(tname, members) != members:
            raise AssertionError(f"{tname}: two steps disagree on the argument members")
        name = f"{self.p}_{_ident(s)}_args"
        lines = [f"static const {tname} {name} = {{"]
        lines += [f"    .{m} = {v}," for _, m, v in fields]
        what = ", ".join(f"'{comment_text(op.name)}'" for op in s.layer.ops) if s.layer else "layout copy"
        self.arg_data.append(f"/* step {s.index} ({what}): {s.func} */\n" + "\n".join(lines) + "\n};\n")
        return name

    @staticmethod
    def _call_text(lhs: str, func: str, args: list[str], indent: str = "        ") -> list[str]:
        """``lhs func(args);`` wrapped at about 110 columns."""
        lines, cur = [], f"{indent}{lhs}{func}("
        for k, x in enumerate(args):
            piece = x + (", " if k < len(args) - 1 else ");")
            if len(cur) + len(piece) > 110 and not cur.endswith("("):
                lines.append(cur.rstrip())
                cur = indent + "    "
            cur += piece
        return lines + [cur]

    def _invoke(self, s, obj: str, args: list[str], size_call: str | None = None) -> list[str]:
        """The block calling ``s.func`` with members of the argument object ``obj`` (``a->``)."""
        lines = ["    {", f"        const {_args_type(s.func)} *const a = &{obj};"]
        if size_call:
            lines += self._scratch_check(s, size_call)
        lines += self._call_text("const arm_cmsis_nn_status st = ", s.func, args)
        return lines + self._status(s.index, "st") + ["    }"]

    def _ctx_init(self, s) -> str:
        if s.scratch:
            return f"{{ .buf = (int8_t *){self.p}_arena + {self.plan.scratch[s.index]}, .size = {s.scratch} }}"
        return "{ .buf = NULL, .size = 0 }"

    def _io_fields(self, s, ctype: str, names=("input",)) -> tuple[list, list[str]]:
        """Fields and call values of the step's input pointers (``names``) and its ``output``."""
        fields, calls = [], []
        for buf, m in zip(s.inputs, names):
            mt, init, at = self._field_ptr(buf, ctype, True)
            fields.append((mt, m, init))
            calls.append(at or f"a->{m}")
        mt, init, at = self._field_ptr(s.output, ctype, False)
        fields.append((mt, "output", init))
        calls.append(at or "a->output")
        return fields, calls

    def _call_helper(self, s, scalars: dict) -> list[str]:
        """A call of one of the model file's helpers (``_SUPPORT_HELPERS``: layout copy, clamp) with the
        step's pointers and the int32 ``scalars`` from its argument object."""
        self.helpers.add(s.func)
        fields, (x, y) = self._io_fields(s, "int16_t" if s.func.endswith("_s16") else "int8_t")
        obj = self._args(s, fields + [("int32_t ", m, str(v)) for m, v in scalars.items()])
        return [
            "    {",
            f"        const {_args_type(s.func)} *const a = &{obj};",
            f"        {s.func}({x}, {y}, {', '.join(f'a->{m}' for m in scalars)});",
            "    }",
        ]

    def _call_copy(self, s) -> list[str]:
        return self._call_helper(s, {m: s.params[m] for m in ("c", "h", "w")})

    def _call_clamp(self, s) -> list[str]:
        return self._call_helper(s, {m: s.layer.params[m] for m in ("count", "act_min", "act_max")})

    def _call_patch(self, s) -> list[str]:
        """pack (patch_quant's step) or unpack (inserted before the first reader): ``mcu/target/hwq_patch_pack.h``."""
        pack = s.func.startswith("hwq_patch_pack")
        p = s.layer.params if pack else s.params
        key = s.output if pack else s.inputs[0]  # the packed buffer
        arrays = self._patch_arrays
        if key not in arrays:
            name = _ident(s)
            arrays[key] = (self._const("int8_t", f"{name}_bits", p["bits"]),
                           self._const("int8_t", f"{name}_shifts", p["shifts"]))  # fmt: skip
        bits, shifts = arrays[key]
        io, (x, y) = self._io_fields(s, "int8_t")
        obj = self._args(s, [
            ("hwq_patch_quant_params ", "pq", f"{{ .rows = {p['rows']}, .cols = {p['cols']}, .bits = {bits}, "
             f".shifts = {shifts}, .base = {p['base']}, .act_min = {p['act_min']}, .act_max = {p['act_max']} }}"),
            ("cmsis_nn_dims ", "dims", _dims(1, p["h"], p["w"], p["c"])),
            *io,
        ])  # fmt: skip
        return self._invoke(s, obj, ["&a->pq", "&a->dims", x, y])

    def _quant_arrays(self, s, cout: int) -> tuple[str, str]:
        p = s.layer.params
        name = _ident(s)
        m = np.broadcast_to(np.asarray(p["multiplier"], dtype=np.int64), (cout,))
        sh = np.broadcast_to(np.asarray(p["shift"], dtype=np.int64), (cout,))
        return self._const("int32_t", f"{name}_mult", m), self._const("int32_t", f"{name}_shift", sh)

    def _weights(self, s) -> tuple[str, str]:
        p = s.layer.params
        name = _ident(s)
        w = kernel_layout(s, s.in_perm[0])
        if p["weight_bits"] == 4:
            w = pack_s4(w)
        wn = self._const("int8_t", f"{name}_weight", w)
        btype = "int64_t" if s.func.endswith("_s16") else "int32_t"
        bn = self._const(btype, f"{name}_bias", p["bias"])
        return wn, bn

    def _call_fc(self, s) -> list[str]:
        p = s.layer.params
        wn, bn = self._weights(s)
        s16 = s.func.endswith("_s16")
        io, (x, y) = self._io_fields(s, "int16_t" if s16 else "int8_t")
        if s.func == "arm_fully_connected_per_channel_s8":
            mn, sn = self._quant_arrays(s, p["m"])
            quant = ("cmsis_nn_per_channel_quant_params ", "quant",
                     f"{{ .multiplier = (int32_t *){mn}, .shift = (int32_t *){sn} }}")  # fmt: skip
        else:
            quant = ("cmsis_nn_per_tensor_quant_params ", "quant",
                     f"{{ .multiplier = {int(p['multiplier'][0])}, .shift = {int(p['shift'][0])} }}")  # fmt: skip
        obj = self._args(s, [
            ("cmsis_nn_context ", "ctx", self._ctx_init(s)),
            ("cmsis_nn_fc_params ", "fc", f"{{ .input_offset = {p['input_offset']}, .filter_offset = 0, "
             f".output_offset = {p['output_offset']}, .activation = {_act(p)} }}"),
            quant,
            ("cmsis_nn_dims ", "input_dims", _dims(1, 1, 1, p["n"])),
            ("cmsis_nn_dims ", "filter_dims", _dims(p["n"], 1, 1, p["m"])),
            ("cmsis_nn_dims ", "bias_dims", _dims(1, 1, 1, p["m"])),
            ("cmsis_nn_dims ", "output_dims", _dims(1, 1, 1, p["m"])),
            ("const int8_t *", "filter", wn),
            ("const int64_t *" if s16 else "const int32_t *", "bias", bn),
            *io,
        ])  # fmt: skip
        size_fn = scratch_size_function(s.func)
        size_call = f"{size_fn}(&a->filter_dims)" if size_fn else None
        args = ["&a->ctx", "&a->fc", "&a->quant", "&a->input_dims", x, "&a->filter_dims", "a->filter",
                "&a->bias_dims", "a->bias", "&a->output_dims", y]  # fmt: skip
        return self._invoke(s, obj, args, size_call)

    def conv_fields(self, s, ctx: str, pad: tuple, in_hw: tuple, out_hw: tuple) -> tuple[list, str, str]:
        """A convolution call's arguments as (member C type, member, initialiser): context, conv params,
        quant params, dims; and the weight and bias array names. ``pad`` = (w, h), ``in_hw`` / ``out_hw`` =
        (h, w): C expressions or ints (the whole tensor's, or a patch's from its geometry table)."""
        p = s.layer.params
        wn, bn = self._weights(s)
        mn, sn = self._quant_arrays(s, p["cout"])
        st, dl = p["stride"], p["dilation"]
        dw = s.func.startswith("arm_depthwise")
        conv = (
            f"{{ .input_offset = {p['input_offset']}, .output_offset = {p['output_offset']}, "
            + (f".ch_mult = {p['ch_mult']}, " if dw else "")
            + f".stride = {{ .w = {st[1]}, .h = {st[0]} }}, .padding = {{ .w = {pad[0]}, .h = {pad[1]} }}, "
            f".dilation = {{ .w = {dl[1]}, .h = {dl[0]} }}, .activation = {_act(p)} }}"
        )
        fdims = _dims(1, p["kh"], p["kw"], p["cout"]) if dw else _dims(p["cout"], p["kh"], p["kw"], p["cin"])
        fields = [
            ("cmsis_nn_context ", "ctx", ctx),
            ("cmsis_nn_dw_conv_params " if dw else "cmsis_nn_conv_params ", "conv", conv),
            ("cmsis_nn_per_channel_quant_params ", "quant",
             f"{{ .multiplier = (int32_t *){mn}, .shift = (int32_t *){sn} }}"),
            ("cmsis_nn_dims ", "input_dims", _dims(1, in_hw[0], in_hw[1], p["cin"])),
            ("cmsis_nn_dims ", "filter_dims", fdims),
            ("cmsis_nn_dims ", "bias_dims", _dims(1, 1, 1, p["cout"])),
            ("cmsis_nn_dims ", "output_dims", _dims(1, out_hw[0], out_hw[1], p["cout"])),
        ]  # fmt: skip
        return fields, wn, bn

    def pool_fields(self, s, ctx: str, pad: tuple, in_hw: tuple, out_hw: tuple) -> list:
        """A pooling call's arguments (context, pool params, dims) as ``conv_fields``."""
        p = s.layer.params
        st = p["stride"]
        return [
            ("cmsis_nn_context ", "ctx", ctx),
            ("cmsis_nn_pool_params ", "pool", f"{{ .stride = {{ .w = {st[1]}, .h = {st[0]} }}, "
             f".padding = {{ .w = {pad[0]}, .h = {pad[1]} }}, .activation = {_act(p)} }}"),
            ("cmsis_nn_dims ", "input_dims", _dims(1, in_hw[0], in_hw[1], p["c"])),
            ("cmsis_nn_dims ", "filter_dims", _dims(1, p["kh"], p["kw"], p["c"])),
            ("cmsis_nn_dims ", "output_dims", _dims(1, out_hw[0], out_hw[1], p["c"])),
        ]  # fmt: skip

    #: local names of the members in the patch loop's declarations (``conv_setup`` / ``pool_setup``)
    _LOCAL = {"conv": "cp", "pool": "pp", "quant": "q", "input_dims": "in_dims", "output_dims": "out_dims"}

    @classmethod
    def _locals(cls, fields: list) -> list[str]:
        return [f"const {ctype.strip()} {cls._LOCAL.get(m, m)} = {init};" for ctype, m, init in fields]

    def conv_setup(self, s, ctx: str, pad: tuple, in_hw: tuple, out_hw: tuple) -> tuple[list[str], str, str]:
        """Declarations of a convolution call (``conv_fields`` as locals ``ctx``, ``cp``, ``q``, ``in_dims``,
        ``filter_dims``, ``bias_dims``, ``out_dims``), unindented, and the weight and bias array names; the
        patch loop's kernels, whose geometry is read at run time."""
        fields, wn, bn = self.conv_fields(s, ctx, pad, in_hw, out_hw)
        return self._locals(fields), wn, bn

    def pool_setup(self, s, ctx: str, pad: tuple, in_hw: tuple, out_hw: tuple) -> list[str]:
        """Declarations of a pooling call (``pool_fields`` as locals ``ctx``, ``pp``, ...), as ``conv_setup``."""
        return self._locals(self.pool_fields(s, ctx, pad, in_hw, out_hw))

    def _call_conv(self, s) -> list[str]:
        p = s.layer.params
        pd = p["padding"]
        s16 = s.func.endswith("_s16")
        io, (x, y) = self._io_fields(s, "int16_t" if s16 else "int8_t")
        fields, wn, bn = self.conv_fields(s, self._ctx_init(s), (pd[2], pd[0]), (p["h"], p["w"]), (p["ho"], p["wo"]))
        bias = ("cmsis_nn_bias_data ", "bias", f"{{ .data = {bn}, .is_int32_bias = 0 }}") if s16 else (
            "const int32_t *", "bias", bn)  # fmt: skip
        obj = self._args(s, [*fields, ("const int8_t *", "filter", wn), bias, *io])
        size_call = f"{scratch_size_function(s.func)}(&a->conv, &a->input_dims, &a->filter_dims, &a->output_dims)"
        args = ["&a->ctx", "&a->conv", "&a->quant", "&a->input_dims", x, "&a->filter_dims", "a->filter",
                "&a->bias_dims", "&a->bias" if s16 else "a->bias", "&a->output_dims", y]  # fmt: skip
        return self._invoke(s, obj, args, size_call)

    def _call_pool(self, s) -> list[str]:
        p = s.layer.params
        pd = p["padding"]
        io, (x, y) = self._io_fields(s, "int16_t" if s.func.endswith("_s16") else "int8_t")
        fields = self.pool_fields(s, self._ctx_init(s), (pd[2], pd[0]), (p["h"], p["w"]), (p["ho"], p["wo"]))
        obj = self._args(s, [*fields, *io])
        return self._invoke(s, obj, ["&a->ctx", "&a->pool", "&a->input_dims", x, "&a->filter_dims",
                                     "&a->output_dims", y])  # fmt: skip

    _ADD_SCALARS = ("in1_offset", "in1_mult", "in1_shift", "in2_offset", "in2_mult", "in2_shift", "left_shift")
    _OUT_SCALARS = ("output_offset", "out_mult", "out_shift", "act_min", "act_max", "count")

    def _call_add(self, s) -> list[str]:
        p = s.layer.params
        io, (a, b, y) = self._io_fields(s, "int8_t", ("input1", "input2"))
        scalars = [("int32_t ", m, str(p[m])) for m in self._ADD_SCALARS + self._OUT_SCALARS]
        obj = self._args(s, io + scalars)
        vals = [f"a->{m}" for m in self._ADD_SCALARS]
        return self._invoke(s, obj, [a, b, *vals, y, *(f"a->{m}" for m in self._OUT_SCALARS)])

    def _call_mul(self, s) -> list[str]:
        p = s.layer.params
        io, (a, b, y) = self._io_fields(s, "int8_t", ("input1", "input2"))
        ins = ("in1_offset", "in2_offset")
        obj = self._args(s, io + [("int32_t ", m, str(p[m])) for m in ins + self._OUT_SCALARS])
        return self._invoke(s, obj, [a, b, *(f"a->{m}" for m in ins), y, *(f"a->{m}" for m in self._OUT_SCALARS)])

    # ---------------------------------------------------------------- files
    def uses_patch_pack(self) -> bool:
        """True when a step packs or unpacks per-patch codes (``target/hwq_patch_pack.c`` is compiled in)."""
        return any(s.func.startswith("hwq_patch_") for s in self.prog.steps)

    def memory_comment(self) -> list[str]:
        """Comment lines of the memory plan (bytes, offsets, lifetimes in steps)."""
        pl = self.plan
        lines = [
            f"Memory plan: arena {pl.arena_bytes} bytes (TFLM greedy order: {pl.tflm_bytes}, naive: "
            f"{pl.naive_bytes}, lower bound: {pl.lower_bound}); caller's in/out arrays {pl.io_bytes} bytes;",
            f"peak SRAM {pl.peak_sram_bytes} bytes (arena + in/out, stack excluded). Flash: "
            f"{pl.flash_weight_bytes} bytes of const data, {pl.flash_code_bytes} bytes of code ({self.CODE_NOTE}).",
        ]
        for p in pl.placements:
            lines.append(f"  arena+{p.offset:<6d} {p.size:6d} bytes  steps {p.first}..{p.last}  {p.kind} {p.name}")
        return lines

    def model_c(self) -> str:
        """``hwq_<model>.c``: the arena and the run function (one CMSIS-NN call per step)."""
        pr = self.prog
        head = self._head("CMSIS-NN calls") + [""] + self.memory_comment()
        if pr.single_rounding:
            head.append(
                "Requantisation: CMSIS_NN_USE_SINGLE_ROUNDING=1 (the graph's Requantize ops say single_rounding)."
            )
        else:
            head.append("Requantisation: CMSIS_NN_USE_SINGLE_ROUNDING=0 (double rounding, CMSIS-NN's default).")
        out = [self._block(head)]
        out.append(
            '#include <stddef.h>\n#include <stdint.h>\n\n#include "arm_nnfunctions.h"\n'
            + ('#include "hwq_patch_pack.h"\n' if self.uses_patch_pack() else "")
            + f'#include "{self.p}.h"\n\n'
            '#ifdef HWQ_PROFILE\n#include "hwq_profile.h"\n#endif\n'
            "#ifndef HWQ_PROFILE_MARK\n#define HWQ_PROFILE_MARK(i) ((void)0)\n#endif\n\n"
            + (
                "#ifndef CMSIS_NN_USE_SINGLE_ROUNDING\n"
                f'#error "{self.p}: the graph uses single rounding: build with -DCMSIS_NN_USE_SINGLE_ROUNDING"\n'
                if pr.single_rounding
                else "#ifdef CMSIS_NN_USE_SINGLE_ROUNDING\n"
                f'#error "{self.p}: the graph uses double rounding: build without CMSIS_NN_USE_SINGLE_ROUNDING"\n'
            )
            + "#endif\n\n"
        )
        for ctype, name, vals in self.weights:
            out.append(f"extern const {ctype} {name}[{max(int(np.asarray(vals).size), 1)}];\n")
        words = max((self.plan.arena_bytes + 3) // 4, 1)
        out.append(f"\n/* the arena: {self.plan.arena_bytes} bytes, 4-byte aligned */\n")
        out.append(f"static int32_t {self.p}_arena[{words}];\n\n")
        if self.arg_types:
            out.append(
                "/* Each step's call arguments as one const object in flash (one type per kernel): every call\n"
                " * of a kernel compiles to the same loads, and nothing is built on the stack. */\n"
            )
        for tname, members in sorted(self.arg_types.items()):
            body = "".join(f"    {ctype}{m};\n" for ctype, m in members)
            out.append(f"typedef struct {{\n{body}}} {tname};\n\n")
        for text in self.arg_data:
            out.append(text + "\n")
        if self.helpers:
            out.append(
                "/* the helpers stay functions of their own (one copy whatever the call count) */\n"
                "#if defined(__clang__)\n#define HWQ_NOINLINE __attribute__((noinline))\n"
                "#elif defined(__GNUC__) && __GNUC__ >= 8\n#define HWQ_NOINLINE __attribute__((noipa))\n"
                "#elif defined(__GNUC__)\n#define HWQ_NOINLINE __attribute__((noinline, noclone))\n"
                "#else\n#define HWQ_NOINLINE\n#endif\n\n"
            )
        for h in sorted(self.helpers):
            out.append("HWQ_NOINLINE " + _SUPPORT_HELPERS[h] + "\n\n")
        in_t, out_t = pr.in_ctype, pr.out_ctype
        body = "\n".join(self.body)
        out.append(
            f"int {self.p}_run(const {in_t} *in, {out_t} *out)\n{{\n"
            f"    int8_t *const arena = (int8_t *){self.p}_arena;\n"
            "    (void)arena;\n    (void)in;\n"
            "    HWQ_PROFILE_MARK(0);\n"
            f"{body}\n    return 0;\n}}\n"
        )
        return "".join(out)

    def weights_c(self) -> str:
        """``hwq_<model>_weights.c``: const weights, biases, multipliers and shifts (flash)."""
        out = [self._block(self._head("Constant data (flash)")), "#include <stdint.h>\n\n"]
        for ctype, name, vals in self.weights:
            out.append(_array(ctype, name, vals) + "\n")
        return "".join(out)

    def model_h(self) -> str:
        """``hwq_<model>.h``: the entry point and its counts."""
        pr = self.prog
        g = f"HWQ_{self.m.upper()}_H"
        nin = sum(d["count"] for d in pr.inputs)
        nout = sum(d["count"] for d in pr.outputs)
        ins = "; ".join(
            f"{comment_text(d['name'])}: {d['count']} x {d['ctype']} at in+{d['offset']}" for d in pr.inputs
        )
        outs = "; ".join(
            f"{comment_text(d['name'])}: {d['count']} x {d['ctype']} at out+{d['offset']}" for d in pr.outputs
        )
        head = self._head("Entry point") + [
            "",
            f"int {self.p}_run(const {pr.in_ctype} *in, {pr.out_ctype} *out): runs the model once; returns 0, or",
            "-(k+1) when the CMSIS-NN call of step k reports an error.",
            "Element order: the IR's (channels first, row-major); storage = raw + storage offset.",
            f"Inputs: {ins}.",
            f"Outputs: {outs}.",
        ]
        return (
            self._block(head)
            + f"#ifndef {g}\n#define {g}\n\n#include <stdint.h>\n\n"
            + f"#define {self.p.upper()}_INPUT_COUNT {nin}\n#define {self.p.upper()}_OUTPUT_COUNT {nout}\n"
            + f"#define {self.p.upper()}_ARENA_BYTES {self.plan.arena_bytes}\n\n"
            + f"int {self.p}_run(const {pr.in_ctype} *in, {pr.out_ctype} *out);\n\n#endif\n"
        )

    def harness_h(self) -> str:
        """``hwq_model.h``: the macros and typedefs the harness (``mcu/target/hwq_main.c``) includes."""
        pr = self.prog
        nin = sum(d["count"] for d in pr.inputs)
        nout = sum(d["count"] for d in pr.outputs)
        return (
            self._block(self._head("Harness glue (mcu/target)"))
            + "#ifndef HWQ_MODEL_H\n#define HWQ_MODEL_H\n\n#include <stdint.h>\n\n"
            + f'#include "{self.p}.h"\n\n'
            + f"#define HWQ_MODEL_INPUT_COUNT {nin}\n#define HWQ_MODEL_OUTPUT_COUNT {nout}\n"
            + f"typedef {pr.in_ctype} hwq_model_in_t;\ntypedef {pr.out_ctype} hwq_model_out_t;\n"
            + f"#define HWQ_MODEL_ARENA_BYTES {self.plan.arena_bytes}\n"
            + f"#define HWQ_MODEL_RUN(in, out) {self.p}_run(in, out)\n\n#endif\n"
        )

    def makefile(self) -> str:
        """``Makefile``: host and arm-none-eabi builds through ``target/rules.mk``."""
        head = "".join(f"# {x}\n" for x in self._head("Makefile"))
        return (
            head + "#\n# make                          host build (gcc), program ./build/host/hwq_main\n"
            "# make CPU=cortex-m4            arm-none-eabi-gcc build, build/cortex-m4/hwq_main.elf (QEMU mps2-an386)\n"
            "# make CPU=cortex-m55           arm-none-eabi-gcc build for QEMU mps3-an547\n"
            "# make CMSIS_NN=/path/to/CMSIS-NN   build against the real library instead of the copy here\n\n"
            f"MODEL = {self.p}\n"
            f"MODEL_SRCS = {self.p}.c {self.p}_weights.c"
            + (" target/hwq_patch_pack.c" if self.uses_patch_pack() else "")
            + "\n"
            "CMSIS_NN ?= cmsis_nn\n"
            "CPU ?= host\n"
            f"CMSIS_NN_USE_SINGLE_ROUNDING ?= {int(self.prog.single_rounding)}\n"
            "HWQ_TARGET ?= target\n\n"
            "include $(HWQ_TARGET)/rules.mk\n"
        )

    def mcu_json(self) -> str:
        """``mcu.json``: layers, memory plan (bytes) and the storage mapping of inputs/outputs."""
        pr, pl = self.prog, self.plan
        d = {
            "hwq_version": hwq.__version__,
            "graph_sha256": self.hash,
            "model": pr.graph.name,
            "identifier": self.m,
            "entry": f"{self.p}_run",
            "single_rounding": bool(pr.single_rounding),
            "inputs": [{k: v for k, v in x.items()} for x in pr.inputs],
            "outputs": [{k: v for k, v in x.items()} for x in pr.outputs],
            "layers": self._layers_json,
            "memory": {
                "arena_bytes": pl.arena_bytes,
                "tflm_greedy_bytes": pl.tflm_bytes,
                "naive_bytes": pl.naive_bytes,
                "lower_bound_bytes": pl.lower_bound,
                "io_bytes": pl.io_bytes,
                "peak_sram_bytes": pl.peak_sram_bytes,
                "flash_bytes": pl.flash_weight_bytes + pl.flash_code_bytes,
                "flash_weight_bytes": pl.flash_weight_bytes,
                "flash_code_bytes_estimate": pl.flash_code_bytes,
                "placements": [vars(p) for p in pl.placements],
                "inplace": pl.inplace,
            },
            "macs": sum(x["macs"] for x in self._layers_json),
        }
        if self.uses_patch_pack():  # the model's C files, for runners (the Makefile's MODEL_SRCS)
            d["sources"] = [f"{self.p}.c", f"{self.p}_weights.c", "target/hwq_patch_pack.c"]
        return json.dumps(d, indent=1) + "\n"


def _dims(n, h, w, c) -> str:
    return f"{{ .n = {n}, .h = {h}, .w = {w}, .c = {c} }}"


def scratch_size_function(func: str) -> str | None:
    """The runtime's ``*_get_buffer_size`` function the run function calls before ``func`` (its scratch
    check), or None (no check: pools, element-wise ops, int4 fully connected, copies)."""
    fam = _family(func)
    if fam == "conv":
        return f"{func}_get_buffer_size"
    if fam == "fc" and not func.endswith("_s4"):
        return "arm_fully_connected_s16_get_buffer_size" if func.endswith("_s16") else (
            "arm_fully_connected_s8_get_buffer_size")  # fmt: skip
    return None


def _args_type(func: str) -> str:
    """``hwq_<kernel>_args``: the C type of one call's arguments (``arm_`` prefix dropped)."""
    return "hwq_" + func.removeprefix("arm_").removeprefix("hwq_") + "_args"


def _act(p: dict) -> str:
    return f"{{ .min = {p['act_min']}, .max = {p['act_max']} }}"


def _family(func: str) -> str:
    if func.startswith(("hwq_chw_to_hwc", "hwq_hwc_to_chw")):
        return "copy"
    if func.startswith("hwq_clamp"):
        return "clamp"
    if func.startswith(("hwq_patch_pack", "hwq_patch_unpack")):
        return "patch"
    if func.startswith("arm_fully_connected"):
        return "fc"
    if func.startswith(("arm_convolve", "arm_depthwise")):
        return "conv"
    if func.startswith(("arm_max_pool", "arm_avgpool")):
        return "pool"
    if func.startswith("arm_elementwise_add"):
        return "add"
    if func.startswith("arm_elementwise_mul"):
        return "mul"
    raise ValueError(f"no printer for {func}")


def _ident(step) -> str:
    from hwq.io import sanitize_identifier

    if step.layer is None:
        return f"s{step.index}_" + sanitize_identifier(step.func, "op")
    return f"s{step.index}_" + sanitize_identifier(step.layer.ops[0].name, "op")
