"""Static memory plan of a generated MCU model: one arena, tensor lifetimes, in-place ops, scratch buffers.

``plan_memory(graph) -> MemoryPlan`` (no file writes; the cost model calls it per configuration):

- buffers: every arena tensor (graph inputs/outputs live in the caller's ``in``/``out`` arrays) and one
  scratch buffer per kernel call that needs one, sized exactly as the runtime's ``*_get_buffer_size``
  functions compute it (``scratch_bytes``; tests compare with the C functions);
- lifetimes from the op order: a tensor lives from the step writing it to the last step reading it; a
  scratch buffer lives during its step only;
- in place: an element-wise step (clamp, add, mul) may write over its first input when that input dies
  at this step and has the same size (CMSIS-NN's element-wise kernels read element i before writing it);
- placement: offsets aligned to ``ALIGN`` bytes. Three figures: ``naive_bytes`` (every buffer its own
  memory), ``tflm_bytes`` (TFLite Micro's greedy planner: largest first, each at the lowest offset that
  does not overlap a placed buffer with an overlapping lifetime) and ``arena_bytes`` (hwq: the best of
  several orders, each placed best-fit: the smallest gap that holds it; never worse than the TFLM order,
  which is one of the candidates). ``lower_bound`` is the largest sum of simultaneously live buffers.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

from .lower import lower
from .scratch import SCRATCH_MODES, scratch_bytes

__all__ = ["SCRATCH_MODES", "MemoryPlan", "Placement", "plan_memory", "plan_program", "scratch_bytes"]

ALIGN = 4

#: code bytes of each portable-runtime kernel with its private helpers (arm-none-eabi-gcc -O2, Cortex-M4,
#: measured with arm-none-eabi-nm -S on mcu/runtime; Cortex-M55 within 10 %), for the flash estimate
CODE_BYTES = {
    "arm_convolve_wrapper_s8": 970,
    "arm_convolve_wrapper_s4": 1630,
    "arm_convolve_wrapper_s16": 980,
    "arm_depthwise_conv_wrapper_s8": 1030,
    "arm_depthwise_conv_wrapper_s4": 960,
    "arm_fully_connected_s8": 820,
    "arm_fully_connected_per_channel_s8": 820,
    "arm_fully_connected_s4": 420,
    "arm_fully_connected_s16": 330,
    "arm_max_pool_s8": 750,
    "arm_avgpool_s8": 750,
    "arm_max_pool_s16": 650,
    "arm_avgpool_s16": 650,
    "arm_elementwise_add_s8": 380,
    "arm_elementwise_mul_s8": 180,
    "hwq_patch_pack_s8": 560,  # mcu/target/hwq_patch_pack.c with its parameter check
    "hwq_patch_unpack_s8": 400,
}
CALL_BYTES = 210  # per generated call site (parameter structs, size and status checks; digits CNN: 1,072 / 5)
RUNTIME_BASE_BYTES = 0  # the requantisation helpers are inlined into each kernel


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Placement:
    """One buffer of the arena: name, offset and size in bytes, lifetime [first, last] in steps."""

    name: str
    offset: int
    size: int
    first: int
    last: int
    kind: str  # "tensor" | "scratch"


@dataclass
class MemoryPlan:
    """The arena layout and the SRAM/flash figures of one model (bytes)."""

    arena_bytes: int  # hwq's placement (HWQ_MODEL_ARENA_BYTES)
    tflm_bytes: int  # TFLite Micro's greedy order on the same buffers
    naive_bytes: int  # every buffer its own memory
    lower_bound: int  # largest simultaneous live set
    io_bytes: int  # caller's input + output arrays
    peak_sram_bytes: int  # arena + io
    flash_weight_bytes: int  # const arrays: weights, biases, multipliers, shifts (+ patch geometry tables)
    flash_code_bytes: int  # Cortex-M4 code bytes (code_bytes: the cost target's linked-build table)
    placements: list[Placement] = field(default_factory=list)
    scratch: list[int] = field(default_factory=list)  # per step: ctx buffer offset (-1: none)
    inplace: list[str] = field(default_factory=list)  # buffers sharing their input's bytes

    def offset(self, name: str) -> int:
        """Arena offset of a buffer (tensor buffer name or ``scratch<i>``)."""
        for p in self.placements:
            if p.name == name:
                return p.offset
        raise KeyError(name)

    def to_dict(self) -> dict:
        """JSON-ready form (``mcu.json`` ``memory``)."""
        return asdict(self)


@dataclass
class _Item:
    name: str
    size: int
    first: int
    last: int
    kind: str
    members: tuple = ()


def _overlap(a: _Item, b: _Item) -> bool:
    return not (a.last < b.first or b.last < a.first)


def _place(items: list[_Item], order: list[int], best_fit: bool) -> tuple[int, dict[str, int]]:
    placed: list[tuple[int, _Item]] = []
    offsets: dict[str, int] = {}
    peak = 0
    for i in order:
        it = items[i]
        busy = sorted((o, o + p.size) for o, p in placed if _overlap(p, it))
        gaps, cur = [], 0
        for lo, hi in busy:
            if lo - cur >= it.size:
                gaps.append((lo - cur, cur))
            cur = max(cur, hi)
        if gaps and best_fit:
            off = min(gaps)[1]
        elif gaps:
            off = gaps[0][1]
        else:
            off = cur
        placed.append((off, it))
        offsets[it.name] = off
        peak = max(peak, off + it.size)
    return peak, offsets


def plan_program(prog) -> MemoryPlan:
    """Plan the arena of a lowered ``Program`` (``mcu.lower.lower``)."""
    steps, bufs = prog.steps, prog.buffers
    alias: dict[str, str] = {}
    # in place: an element-wise output takes its first input's bytes when that input dies here
    for s in steps:
        if not s.inplace:
            continue
        src, dst = s.inputs[0], s.output
        a, b = bufs[src], bufs[dst]
        root = alias.get(src, src)
        if a.place == b.place == "arena" and a.last == s.index and a.nbytes == b.nbytes and root not in alias:
            alias[dst] = root
    items: list[_Item] = []
    index: dict[str, int] = {}
    arena = [b for b in bufs.values() if b.place == "arena"]
    for b in arena:
        if b.name not in alias:
            index[b.name] = len(items)
            items.append(_Item(b.name, _align(b.nbytes), b.first, max(b.last, b.first), "tensor", (b.name,)))
    for b in arena:
        if b.name in alias:
            it = items[index[alias[b.name]]]
            it.first, it.last = min(it.first, b.first), max(it.last, b.last)
            it.members += (b.name,)
    for s in steps:
        if s.scratch:
            items.append(_Item(f"scratch{s.index}", _align(s.scratch), s.index, s.index, "scratch"))
    naive = sum(it.size for it in items)
    lower_bound = 0
    for t in range(len(steps)):
        lower_bound = max(lower_bound, sum(it.size for it in items if it.first <= t <= it.last))
    n = len(items)
    tflm_order = sorted(range(n), key=lambda i: (-items[i].size, items[i].first, i))
    tflm, tflm_off = _place(items, tflm_order, best_fit=False)
    best, best_off = tflm, tflm_off
    candidates = [
        tflm_order,
        sorted(range(n), key=lambda i: (-(items[i].last - items[i].first), -items[i].size, i)),
        sorted(range(n), key=lambda i: (-items[i].size * (items[i].last - items[i].first + 1), i)),
        sorted(range(n), key=lambda i: (items[i].first, -items[i].size, i)),
    ]
    for order in candidates:
        for bf in (True, False):
            peak, off = _place(items, order, bf)
            if peak < best:
                best, best_off = peak, off
    placements = []
    for it in items:
        for m in it.members or (it.name,):
            b = bufs.get(m)
            first, last = (b.first, b.last) if b is not None else (it.first, it.last)
            placements.append(Placement(m, best_off[it.name], it.size, first, last, it.kind))
    placements.sort(key=lambda p: (p.offset, p.first, p.name))
    scratch = [best_off.get(f"scratch{s.index}", -1) if s.scratch else -1 for s in steps]
    io = sum(b.nbytes for b in bufs.values() if b.place != "arena")
    wbytes = sum(weight_bytes(s.layer) for s in steps if s.layer is not None)
    code = code_bytes([s.func for s in steps], bool(getattr(prog, "single_rounding", False)))
    return MemoryPlan(
        _align(best), _align(tflm), _align(naive), _align(lower_bound), io, _align(best) + io, wbytes, code,
        placements, scratch, sorted(alias),
    )  # fmt: skip


def table_code_bytes(funcs: list[str]) -> int:
    """Code bytes from the fixed table: ``CODE_BYTES`` per distinct kernel + ``CALL_BYTES`` per call."""
    return RUNTIME_BASE_BYTES + CALL_BYTES * len(funcs) + sum(CODE_BYTES.get(f, 100) for f in set(funcs))


def flash_code_bytes(table: dict, funcs: list[str], single_rounding: bool = False) -> int:
    """Code bytes (flash) of a model whose run function calls ``funcs`` (one entry per call), from a target's
    ``[flash]`` table: ``run_base + run_call[f]`` per call (the generated run function and the call's
    ``static const`` argument object) + the model file's helpers used (``helpers[f]``, layout copies) + the
    bytes of the union of the symbols each called kernel keeps when linked alone in the model's rounding
    variant (``kernels`` / ``kernels_single_rounding``: a helper two kernels share counts once); a kernel
    missing from the table costs the planner's ``mcu.plan.CODE_BYTES`` entry."""
    run_call = table.get("run_call", {})
    helpers = table.get("helpers", {})
    kernels = table.get("kernels_single_rounding" if single_rounding else "kernels") or table.get("kernels", {})
    total = float(table.get("run_base", 0.0)) + sum(float(run_call.get(f, 0.0)) for f in funcs)
    total += sum(float(helpers[f]) for f in set(funcs) if f in helpers)
    union: dict[str, int] = {}
    for f in set(funcs):
        if f in helpers:
            continue
        if f in kernels:
            union.update(kernels[f])
        elif f in CODE_BYTES:
            union[f] = CODE_BYTES[f]
    return int(round(total + sum(union.values())))


def code_bytes(funcs: list[str], single_rounding: bool = False) -> int:
    """Code bytes (flash) of a model whose run function calls ``funcs`` (one entry per call) on a Cortex-M4
    (arm-none-eabi-gcc -O2, gc-sections): ``flash_code_bytes`` with the ``[flash]`` table of
    ``hwq/cost/targets/cortex-m4.toml`` (measured on linked builds, within 1 %); the fixed table
    (``table_code_bytes``) when that file has none."""
    table = _m4_flash_table()
    if not table:
        return table_code_bytes(funcs)
    return flash_code_bytes(table, funcs, single_rounding)


@functools.lru_cache(maxsize=1)
def _m4_flash_table() -> dict:
    from hwq.cost.targets import load_target

    return load_target("cortex-m4").get("flash") or {}


def weight_bytes(layer) -> int:
    """Flash bytes of one layer's const arrays: weights (int8, or int4 packed two per byte), biases (int32;
    int64 for s16 kernels), per-channel multiplier and shift arrays (int32; convolutions always have them)."""
    p = layer.params
    if "weight" not in p:
        return 0
    nw = int(p["weight"].size)
    wb = (nw + 1) // 2 if p.get("weight_bits") == 4 else nw
    bias = (8 if layer.func.endswith("_s16") else 4) * int(p["bias"].size)
    arrays = layer.func.startswith(("arm_convolve", "arm_depthwise")) or layer.func.endswith("per_channel_s8")
    per_ch = 8 * int(p["bias"].size) if arrays else 0
    return wb + bias + per_ch


def plan_memory(graph, scratch: str = "cmsis-nn", check: bool = True) -> MemoryPlan:
    """Static memory plan of ``graph`` as the MCU backend emits it (bytes; no files written).

    scratch: ``cmsis-nn`` (default) or ``portable`` (see ``scratch_bytes``); check=False skips
    ``Graph.validate`` (for callers that validated the graph already). Raises ``McuEmitError``
    naming the op when the graph is not emittable."""
    return plan_program(lower(graph, scratch, check))
