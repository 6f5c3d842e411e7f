"""Printing of a patch program (``mcu.patch.plan.PatchProgram``): the stage as nested patch loops.

The run function opens with the stage: ``for (pc ...) for (pr ...)`` over the grid (column by column, top
to bottom), each patch running the substeps with its row of the per-substep geometry tables
(``hwq_patch_geom_t``, const, in flash). Kernel calls are the layer-by-layer program's CMSIS-NN calls
with the patch's dimensions and per-patch padding; the rest of the model is printed by ``mcu.cgen`` as
usual. Everything is decided in ``mcu.patch.plan``; this module prints it.

With ``input="stream"`` the first substep asks the user's callback for the patch's input window (with
its halo) instead of gathering it from the caller's whole input array:

    int32_t hwq_<model>_read_input_window(const int8_t *in, int32_t y0, int32_t x0, int32_t h, int32_t w,
                                          int8_t *dst);

declared in ``hwq_<model>.h``; it writes rows ``y0..y0+h-1`` x columns ``x0..x0+w-1`` of the input image,
HWC (channels fastest), as the int8 storage values the input array would hold, to ``dst``, and returns 0
(non-zero: the run function returns the substep's error code). ``in`` is the pointer given to the run
function, passed on untouched (a context; the program never reads it). ``hwq_model.h`` (the harness
glue of ``mcu/target``) implements it from the harness's test vector (CHW storage), which stands for the
camera / flash / external RAM the user reads from.
"""

from __future__ import annotations

import json

from ..cgen import CProgram, _family, comment_text

PATCH_HELPERS = """/* CHW window (h x w at src, plane = H*W, row = W elements) -> HWC at dst */
static void hwq_patch_gather_s8(const int8_t *src, int8_t *dst, int32_t c, int32_t plane, int32_t row,
                                int32_t h, int32_t w)
{
    int32_t y, x, ch;
    for (y = 0; y < h; y++) {
        for (x = 0; x < w; x++) {
            for (ch = 0; ch < c; ch++) {
                *dst++ = src[ch * plane + y * row + x];
            }
        }
    }
}

"""

PATCH_COPY_ROWS = """/* rows x n bytes from src (src_stride bytes per row) to dst (dst_stride bytes per row) */
static void hwq_patch_copy_rows_s8(const int8_t *src, int32_t src_stride, int8_t *dst, int32_t dst_stride,
                                   int32_t rows, int32_t n)
{
    int32_t r;
    for (r = 0; r < rows; r++) {
        memcpy(dst + r * dst_stride, src + r * src_stride, (size_t)n);
    }
}
"""

PATCH_GEOM = """/* geometry of one substep for one patch: byte offsets/strides into its buffers, window and output sizes
 * in elements, per-patch padding, and the carried halo rows: keep_n bytes restored from the halo cache to
 * the front of the output before the call, save_n bytes at y + save_src saved to the cache after it;
 * the carried halo columns: hl_rows x hl_n bytes restored from the column cache before the call,
 * hs_rows x hs_n bytes saved to it after; row0 / x_row0: absolute first output row / input buffer row
 * (kernels called once per output row); int16_t fields when every value of the model fits */
typedef struct {
    int32_t a_off, a_stride, b_off, b_stride;
    int32_t in_h, in_w, pad_t, pad_l;
    int32_t y_off, y_stride, out_h, out_w;
    int32_t keep_n, save_src, save_n;
    int32_t row0, x_row0;
    int32_t hl_src, hl_dst, hl_rows, hl_n;
    int32_t hs_src, hs_dst, hs_rows, hs_n;
} hwq_patch_geom_t;
"""


class PatchCProgram(CProgram):
    """``CProgram`` whose run function starts with the patch loops of a ``PatchProgram``."""

    CODE_NOTE = "Cortex-M4: linked kernel sizes and the calibrated patch-loop prices of hwq.mcu.patch.plan"

    def __init__(self, pp, command: str, graph_hash: str, graph_json: str):
        import dataclasses

        self.pp = pp
        self.tables: list[str] = []
        prog = dataclasses.replace(pp.prog, steps=pp.rest, buffers=pp.buffers)
        super().__init__(prog, pp.plan, command, graph_hash, graph_json)

    # ------------------------------------------------------------------ body
    def _build(self) -> None:
        self.body.append(self._stage())
        sch = self.pp.sch
        self._layers_json.append({
            "index": 0,
            "ops": [n for u in sch.units for n in u.ops],
            "kinds": [self.prog.graph.op(n).kind for u in sch.units for n in u.ops],
            "function": f"patch stage {sch.grid[0]}x{sch.grid[1]}: " + ", ".join(s.func for s in self.pp.stage_steps),
            "macs": self.pp.macs["stage_patch"],
            "scratch_bytes": max((sub.scratch for sub in self.pp.subs), default=0),
            "weight_bytes": 0,
            "inputs": [self.prog.tensor_buffer[sch.input]],
            "output": self.prog.tensor_buffer[sch.output],
        })  # fmt: skip
        for s in self.prog.steps:
            self._layers_json.append(self._step(s))

    def _table(self, sub) -> str:
        name = f"{self.p}_patch{sub.index}"
        rows = ["    { " + ", ".join(str(v) for v in gg.values()) + " }," for gg in sub.geom]
        self.tables.append(f"static const hwq_patch_geom_t {name}[{len(sub.geom)}] = {{\n" + "\n".join(rows) + "\n};\n")
        return name

    def _stage(self) -> str:
        pp = self.pp
        sch = pp.sch
        r, c = sch.grid
        g = self.prog.graph
        ops = [comment_text(n) for u in sch.units for n in u.ops]
        cached = ", ".join(comment_text(t) for t in sorted(sch.cached))
        lines = [
            f"    /* patch stage: ops {ops[0]} .. {ops[-1]} ({len(sch.units)} kernels) on a {r}x{c} grid of",
            f"     * tensor {comment_text(sch.output)} {g.tensor(sch.output).shape}, column by column, top to bottom; "
            f"halo {pp.halo}" + (f" (cached: {cached})" if cached else "") + " */",
            "    {",
            "        int32_t pc, pr;",
            f"        for (pc = 0; pc < {c}; pc++) {{",
            f"            for (pr = 0; pr < {r}; pr++) {{",
            f"                const int32_t p = pc * {r} + pr;",
        ]
        for sub in pp.subs:
            body = getattr(self, "_sub_" + sub.kind)(sub)
            lines.append(f"                /* substep {sub.index}: {sub.kind} {sub.func} */")
            lines.append("                {")
            lines.append(f"                    const hwq_patch_geom_t *const g = &{self._table(sub)}[p];")
            lines += ["                    " + x for x in body]
            lines.append("                }")
        lines += ["            }", "        }", "    }", f"    HWQ_PROFILE_MARK({len(pp.subs)});"]
        return "\n".join(lines)

    def _sub_gather(self, sub) -> list[str]:
        g = self.prog.graph
        x = self.pp.sch.input
        c, h, w = g.tensor(x).shape
        src = self._ptr(sub.inputs[0], True)
        return [f"hwq_patch_gather_s8({src} + g->a_off, {self._ptr(sub.output)}, {c}, {h * w}, {w}, g->in_h, g->in_w);"]

    def _sub_fetch(self, sub) -> list[str]:
        return [
            "if (g->in_h > 0) {",
            f"    const int32_t y0 = g->a_off / {self.prog.graph.tensor(self.pp.sch.input).shape[2]};",
            f"    const int32_t x0 = g->a_off % {self.prog.graph.tensor(self.pp.sch.input).shape[2]};",
            f"    if ({self.p}_read_input_window(in, y0, x0, g->in_h, g->in_w, {self._ptr(sub.output)}) != 0) {{",
            f"        return -{sub.index + 1};",
            "    }",
            "}",
        ]

    def _window_prototype(self) -> str:
        return (
            f"int32_t {self.p}_read_input_window(const int8_t *in, int32_t y0, int32_t x0, int32_t h, int32_t w,\n"
            f"    int8_t *dst);\n"
        )

    def model_h(self) -> str:
        """``hwq_<model>.h``; with ``input="stream"`` also the input-window callback the user implements."""
        text = super().model_h()
        if self.pp.input != "stream":
            return text
        c, h, w = self.prog.graph.tensor(self.pp.sch.input).shape
        up = self.p.upper()
        block = (
            f"/* input=stream: the patch loop never reads the whole input array. For every patch it calls\n"
            f" * {self.p}_read_input_window(in, y0, x0, h, w, dst), which you implement: write rows y0..y0+h-1 x\n"
            f" * columns x0..x0+w-1 of the {c}x{h}x{w} (CxHxW) input image to dst, HWC (channels fastest), as the\n"
            f" * int8 storage values the input array would hold (h*w*{c} bytes); return 0, or non-zero to abort\n"
            f" * the run. `in` is the pointer given to {self.p}_run, passed on untouched. */\n"
            f"#define {up}_INPUT_CHANNELS {c}\n#define {up}_INPUT_HEIGHT {h}\n#define {up}_INPUT_WIDTH {w}\n"
            + self._window_prototype()
            + "\n"
        )
        at = text.rindex(f"int {self.p}_run(")  # the declaration, after the header comment
        return text[:at] + block + text[at:]

    def input_window_c(self) -> str:
        """C definition of the input-window callback reading a CHW int8 array given as ``in`` (the
        harness's test vector; also a reference for users whose image is in memory)."""
        c, h, w = self.prog.graph.tensor(self.pp.sch.input).shape
        return (
            "/* input=stream callback of the harness: the window of the test vector (CHW storage at in), HWC */\n"
            + self._window_prototype().replace(";\n", "\n")
            + "{\n"
            "    int32_t y, x, ch;\n"
            "    for (y = 0; y < h; y++) {\n"
            "        for (x = 0; x < w; x++) {\n"
            f"            for (ch = 0; ch < {c}; ch++) {{\n"
            f"                *dst++ = in[ch * {h * w} + (y0 + y) * {w} + x0 + x];\n"
            "            }\n"
            "        }\n"
            "    }\n"
            "    return 0;\n"
            "}\n"
        )

    def harness_h(self) -> str:
        """``hwq_model.h``; with ``input="stream"`` it also defines the callback from the test vector."""
        text = super().harness_h()
        if self.pp.input != "stream":
            return text
        at = text.rindex("#endif")
        return text[:at] + self.input_window_c() + "\n" + text[at:]

    def _sub_crop(self, sub) -> list[str]:
        src, dst = self._ptr(sub.inputs[0], True), self._ptr(sub.output)
        return [f"hwq_patch_copy_rows_s8({src} + g->a_off, g->a_stride, {dst}, g->y_stride, g->out_h, g->out_w);"]

    def _sub_paste(self, sub) -> list[str]:
        src, dst = self._ptr(sub.inputs[0], True), self._ptr(sub.output)
        return [f"hwq_patch_copy_rows_s8({src}, g->a_stride, {dst} + g->y_off, g->y_stride, g->out_h, g->out_w);"]

    def _sub_pack(self, sub) -> list[str]:
        """The output patch (HWC, contiguous in ``pw_out``) packed as a 1x1 map at its own bits and step into
        its byte range of the packed map (``g->y_off``); bits/shifts are the whole map's tables (shared with
        the unpack steps), indexed by the patch's grid position."""
        from ..cgen import _ident

        p = sub.layer.params
        key = sub.output
        if key not in self._patch_arrays:
            name = _ident(self.pp.pack)
            self._patch_arrays[key] = (self._const("int8_t", f"{name}_bits", p["bits"]),
                                       self._const("int8_t", f"{name}_shifts", p["shifts"]))  # fmt: skip
        bits, shifts = self._patch_arrays[key]
        q = self.pp.sch.grid[1]
        return [
            f"const int32_t at = pr * {q} + pc;",
            f"const hwq_patch_quant_params pq = {{ .rows = 1, .cols = 1, .bits = {bits} + at, .shifts = {shifts} + at,",
            f"    .base = {p['base']}, .act_min = {p['act_min']}, .act_max = {p['act_max']} }};",
            f"const cmsis_nn_dims dims = {{ .n = 1, .h = g->out_h, .w = g->out_w, .c = {p['c']} }};",
            f"const arm_cmsis_nn_status st = hwq_patch_pack_s8(&pq, &dims, {self._ptr(sub.inputs[0], True)}, "
            f"{self._ptr(sub.output)} + g->y_off);",
            f"if (st != ARM_CMSIS_NN_SUCCESS) {{ return -{sub.index + 1}; }}",
        ]

    def _sub_kernel(self, sub) -> list[str]:
        fam = _family(sub.func)
        y = self._ptr(sub.output)
        out = []
        cache = self._ptr(sub.cache) if sub.cache is not None else None
        if cache is not None and any(gg.keep_n for gg in sub.geom):
            out.append(f"if (g->keep_n > 0) {{ memcpy({y}, {cache}, (size_t)g->keep_n); }}")
        strip = self._ptr(sub.strip) if sub.strip is not None else None
        if strip is not None and any(gg.hl_n for gg in sub.geom):
            out.append(f"if (g->hl_n > 0) {{ hwq_patch_copy_rows_s8({strip} + g->hl_src, {sub.strip_stride}, "
                       f"{y} + g->hl_dst, g->y_stride, g->hl_rows, g->hl_n); }}")  # fmt: skip
        err = f"return -{sub.index + 1};"
        if fam in ("add", "mul", "clamp"):
            out += ["{"] + ["    " + x for x in self._elementwise(sub, fam, y, err)] + ["}"]
        else:
            out.append("if (g->out_h > 0) {")
            out += ["    " + x for x in self._window(sub, fam, y, err)]
            out.append("}")
        if cache is not None and any(gg.save_n for gg in sub.geom):
            out.append(f"if (g->save_n > 0) {{ memcpy({cache}, {y} + g->save_src, (size_t)g->save_n); }}")
        if strip is not None and any(gg.hs_n for gg in sub.geom):
            out.append(f"if (g->hs_n > 0) {{ hwq_patch_copy_rows_s8({y} + g->hs_src, g->y_stride, {strip} + "
                       f"g->hs_dst, {sub.strip_stride}, g->hs_rows, g->hs_n); }}")  # fmt: skip
        return out

    def _elementwise(self, sub, fam: str, y: str, err: str) -> list[str]:
        p = sub.layer.params
        a = self._ptr(sub.inputs[0], True)
        lines = ["int32_t i;", "for (i = 0; i < g->out_h; i++) {"]
        ai = f"{a} + g->a_off + i * g->a_stride"
        yi = f"{y} + g->y_off + i * g->y_stride"
        if fam == "clamp":
            lines.append(f"    {sub.func}({ai}, {yi}, g->out_w, {p['act_min']}, {p['act_max']});")
            return lines + ["}"]
        b = self._ptr(sub.inputs[1], True)
        bi = f"{b} + g->b_off + i * g->b_stride"
        if fam == "add":
            lines += [
                f"    const arm_cmsis_nn_status st = {sub.func}({ai}, {bi},",
                f"        {p['in1_offset']}, {p['in1_mult']}, {p['in1_shift']}, {p['in2_offset']}, {p['in2_mult']}, "
                f"{p['in2_shift']}, {p['left_shift']},",
                f"        {yi}, {p['output_offset']}, {p['out_mult']}, {p['out_shift']},",
                f"        {p['act_min']}, {p['act_max']}, g->out_w);",
            ]
        else:
            lines += [
                f"    const arm_cmsis_nn_status st = {sub.func}({ai}, {bi}, {p['in1_offset']}, {p['in2_offset']},",
                f"        {yi}, {p['output_offset']}, {p['out_mult']}, {p['out_shift']},",
                f"        {p['act_min']}, {p['act_max']}, g->out_w);",
            ]
        return lines + [f"    if (st != ARM_CMSIS_NN_SUCCESS) {{ {err} }}", "}"]

    def _ctx_sub(self, sub) -> str:
        if sub.scratch:
            return f"{{ .buf = arena + {self.plan.scratch[sub.index]}, .size = {sub.scratch} }}"
        return "{ .buf = NULL, .size = 0 }"

    def _window(self, sub, fam: str, y: str, err: str) -> list[str]:
        x = self._ptr(sub.inputs[0], True)
        if sub.row_calls:
            return self._window_rows(sub, fam, x, y, err)
        geo = (self._ctx_sub(sub), ("g->pad_l", "g->pad_t"), ("g->in_h", "g->in_w"), ("g->out_h", "g->out_w"))
        return self._window_call(sub, fam, geo, f"{x} + g->a_off", f"{y} + g->y_off", err)

    def _window_call(self, sub, fam: str, geo: tuple, xp: str, yp: str, err: str) -> list[str]:
        s = sub.step
        if fam == "pool":
            return self.pool_setup(s, *geo) + [
                f"const arm_cmsis_nn_status st = {s.func}(&ctx, &pp, &in_dims, {xp}, &filter_dims, &out_dims, {yp});",
                f"if (st != ARM_CMSIS_NN_SUCCESS) {{ {err} }}",
            ]
        decl, wn, bn = self.conv_setup(s, *geo)
        return decl + [
            f"if ({s.func}_get_buffer_size(&cp, &in_dims, &filter_dims, &out_dims) > ctx.size) {{",
            f"    {err} /* the linked library needs more scratch than planned */",
            "}",
            f"const arm_cmsis_nn_status st = {s.func}(&ctx, &cp, &q, &in_dims, {xp}, &filter_dims, {wn},",
            f"    &bias_dims, {bn}, &out_dims, {yp});",
            f"if (st != ARM_CMSIS_NN_SUCCESS) {{ {err} }}",
        ]

    def _window_rows(self, sub, fam: str, x: str, y: str, err: str) -> list[str]:
        """The kernel called once per output row when the patch's output columns are not contiguous in the
        buffer (restored cached columns on their left), else once; each call's input rows and top padding
        from the absolute output row (stride, kernel extent and top padding of the layer)."""
        from hwq.ir.patchwise import _geometry

        g = self.prog.graph
        op = g.op(sub.layer.ops[0].name)
        (kh, _), (sh, _), pad, (dh, _) = _geometry(op)
        hin = g.tensor(op.inputs[0]).shape[1]
        cout = g.tensor(sub.layer.output).shape[0]
        geo = (self._ctx_sub(sub), ("g->pad_l", "pt"), ("ih", "g->in_w"), ("n", "g->out_w"))
        xp, yp = f"{x} + (r0 - g->x_row0) * g->a_stride", f"{y} + g->y_off + i * g->y_stride"
        body = self._window_call(sub, fam, geo, xp, yp, err)
        return [
            "int32_t i;",
            f"const int32_t n = g->y_stride == g->out_w * {cout} ? g->out_h : 1; /* rows per call */",
            "for (i = 0; i < g->out_h; i += n) {",
            f"    const int32_t lo = (g->row0 + i) * {sh} - {pad[0]}; /* first input row read (absolute) */",
            f"    const int32_t hi = lo + (n - 1) * {sh} + {dh * (kh - 1) + 1};",
            "    const int32_t r0 = lo < 0 ? 0 : lo;",
            f"    const int32_t ih = (hi < {hin} ? hi : {hin}) - r0;",
            "    const int32_t pt = r0 - lo;",
            *["    " + v for v in body],
            "}",
        ]

    # ------------------------------------------------------------------ files
    def uses_patch_pack(self) -> bool:
        """True when the patch loop packs (per-patch precision) or a later step packs or unpacks."""
        return self.pp.pack is not None or super().uses_patch_pack()

    def memory_comment(self) -> list[str]:
        """The layer-by-layer memory comment, headed by the patch plan's figures."""
        s = self.pp.summary()
        head = [
            f"Patch-based stage: split after op {comment_text(s['split'])}, grid {s['grid'][0]}x{s['grid'][1]}, "
            f"halo {s['halo']}; "
            + (
                f"input=stream: windows of the input image ({s['input_window_bytes']} bytes at most) through "
                f"{self.p}_read_input_window, the whole image ({s['input_image_bytes']} bytes) is not in SRAM; "
                if s["input"] == "stream"
                else ""
            )
            + (
                f"per-patch precision of op {comment_text(s['patch_quant']['op'])} packed inside the loop "
                f"({s['patch_quant']['packed_bytes']} bytes instead of {s['patch_quant']['int8_bytes']}); "
                if "patch_quant" in s
                else ""
            )
            + f"stage MACs {s['stage_macs']} layer by layer, {s['stage_patch_macs']} patch by patch "
            f"(+{s['extra_macs_pct_of_stage']} %).",
        ]
        return head + super().memory_comment()

    def model_c(self) -> str:
        """``hwq_<model>.c`` with the patch helpers and geometry tables before the run function."""
        text = super().model_c()
        text = text.replace("#include <stdint.h>\n", "#include <stdint.h>\n#include <string.h>\n", 1)
        at = text.index(f"int {self.p}_run(")
        from .plan import PATCH_COPY_ROWS as COPY_ROWS_NAME
        from .plan import PATCH_GATHER, geom_ctype, patch_helpers

        used = patch_helpers(self.pp)  # the helpers the flash estimate prices, too
        helpers = PATCH_HELPERS + "\n" if PATCH_GATHER in used else ""
        if COPY_ROWS_NAME in used:
            helpers += PATCH_COPY_ROWS + "\n"

        ctype = geom_ctype(self.pp)  # int16_t when every table value fits (half the flash)
        geom = PATCH_GEOM.replace("    int32_t ", f"    {ctype} ")
        return text[:at] + helpers + geom + "\n" + "\n".join(self.tables) + "\n" + text[at:]

    def mcu_json(self) -> str:
        """``mcu.json`` with a ``patch`` section (plan figures: bytes, MACs, estimated instructions)."""
        d = json.loads(super().mcu_json())
        d["patch"] = dict(self.pp.summary(), **getattr(self.pp, "report", {}))
        d["patch"]["stage_layers"] = [
            {"ops": [op.name for op in s.layer.ops], "function": s.func, "macs": s.layer.macs}
            for s in self.pp.stage_steps
        ]
        return json.dumps(d, indent=1) + "\n"


__all__ = ["PATCH_HELPERS", "PatchCProgram"]
