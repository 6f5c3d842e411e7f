"""The patch planner's search: enumerate (split, grid, halo) plans, pick one under an SRAM budget.

``enumerate_plans(prog)`` builds every plan of the given splits (default: every valid split op), grids
(default ``R x C`` for R, C in 1..4, at most the split output's size) and halo modes (``recompute``:
nothing cached; ``rows``: every stage tensor carries its rows from the patch above; ``cache``: every stage
tensor carries its rows and its columns from the patch to the left), plus the layer-by-layer program itself
(``split = None``). Each row: split, grid, halo, arena and peak SRAM bytes (``mcu.plan.plan_program`` on
the patch timeline, the bytes the generated code allocates), stage MACs with and without halo
recomputation, estimated instructions (``hwq.cost.mcu`` formulas per call).

``input``: ``sram`` (the caller's whole input array is in SRAM and counted in the peak) or ``stream``
(every patch plan fetches its input windows through the user's callback, ``mcu.patch.plan``; the input
image leaves the peak). The layer-by-layer candidate always holds the whole input in SRAM.

``choose_plan``: with a budget (``sram`` bytes, peak SRAM = arena + the caller's input/output arrays),
the plan with the fewest estimated instructions among those that fit (ties: less SRAM); without one, the
plan with the least peak SRAM (ties: fewer instructions). ``halo="auto"`` then tries, for each stage
tensor on its own on top of the winner, the other two cache levels (none / rows / rows and columns: a
per-layer trade of cache SRAM against recomputation) and keeps a change when it improves the same
objective within the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwq.ir.patchwise import PatchError

from ..kernels import McuEmitError
from ..lower import Program
from ..plan import plan_program
from .plan import PatchProgram, layer_instructions, mcu_split_points, patch_program

HALO_MODES = ("recompute", "rows", "cache", "auto")
#: halo modes enumerated (``auto`` refines the winner per tensor)
ENUM_HALOS = ("recompute", "rows", "cache")
#: split points enumerated by default (the earliest ones: where the activation memory is)
MAX_SPLITS = 16


@dataclass
class Candidate:
    """One enumerated plan (``split`` None: layer by layer)."""

    split: str | None
    grid: tuple[int, int]
    halo: str
    cached: tuple[str, ...]
    arena_bytes: int
    peak_sram_bytes: int
    stage_macs: int
    extra_macs: int
    instructions: int
    pp: PatchProgram | None = None
    hcached: tuple[str, ...] = ()  # tensors whose halo columns are cached too
    column_cache_bytes: int = 0  # bytes of their column caches (inside the arena)
    input: str = "sram"  # sram | stream (input windows through the user's callback)

    def row(self) -> dict:
        """JSON-ready figures (bytes, counts)."""
        return {
            "split": self.split,
            "grid": f"{self.grid[0]}x{self.grid[1]}" if self.split else "layer",
            "halo": self.halo,
            "cached": list(self.cached),
            "cached_columns": list(self.hcached),
            "column_cache_bytes": self.column_cache_bytes,
            "input": self.input,
            "arena_bytes": self.arena_bytes,
            "peak_sram_bytes": self.peak_sram_bytes,
            "stage_macs": self.stage_macs,
            "extra_macs": self.extra_macs,
            "instructions_estimate": self.instructions,
        }


def layer_candidate(prog: Program, target: str = "cortex-m4") -> Candidate:
    """The layer-by-layer program as a candidate."""
    plan = plan_program(prog)
    return Candidate(None, (1, 1), "-", (), plan.arena_bytes, plan.peak_sram_bytes, 0, 0,
                     int(round(sum(layer_instructions(prog, target)))))  # fmt: skip


def _cand(pp: PatchProgram, keep: bool) -> Candidate:
    s = pp.summary()
    return Candidate(pp.split, tuple(pp.sch.grid), pp.halo, tuple(sorted(pp.sch.cached)), s["arena_bytes"],
                     s["peak_sram_bytes"], s["stage_macs"], s["extra_macs"], s["instructions_estimate"],
                     pp if keep else None, tuple(sorted(pp.sch.hcached)), s["column_cache_bytes"],
                     pp.input)  # fmt: skip


def _cached_all(pp_or_units) -> tuple[str, ...]:
    return tuple(u.output for u in pp_or_units[:-1])


def build(prog: Program, split: str, grid, halo: str, cached=None, scratch="cmsis-nn", target="cortex-m4",
          hcached=None, input: str = "sram"):  # fmt: skip
    """One patch program; ``cached`` / ``hcached`` None: from ``halo`` (recompute: none; rows: every stage
    tensor's rows; cache: every stage tensor's rows and columns)."""
    if cached is None or hcached is None:
        every: tuple[str, ...] = ()
        if halo in ("rows", "cache"):
            from hwq.ir.patchwise import stage_units

            from .plan import stage_units_of

            units, _ = stage_units_of(prog)
            every = _cached_all(stage_units(prog.graph, split, units))
        if cached is None:
            cached = every
        if hcached is None:
            hcached = every if halo == "cache" else ()
    return patch_program(prog, split, tuple(grid), cached, halo, scratch, target, hcached, input)


def enumerate_plans(prog: Program, splits=None, grids=None, halos=ENUM_HALOS, scratch="cmsis-nn",
                    target="cortex-m4", keep: bool = False, max_grid: int = 4,
                    max_splits: int = MAX_SPLITS, input: str = "sram") -> list[Candidate]:  # fmt: skip
    """Every plan (see the module docstring), the layer-by-layer program first. Default splits: the first
    ``max_splits`` valid split ops whose output is at least 2 x 2 (the memory-heavy early layers)."""
    out = [layer_candidate(prog, target)]
    if splits is None:
        splits = [s for s in mcu_split_points(prog) if min(prog.graph.tensor(_split_output(prog, s)).shape[1:]) >= 2]
        splits = splits[:max_splits]
    splits = list(splits)
    for sp in splits:
        _, h, w = prog.graph.tensor(_split_output(prog, sp)).shape
        gl = grids or [(r, c) for r in range(1, max_grid + 1) for c in range(1, max_grid + 1)]
        for grid in gl:
            if grid[0] > h or grid[1] > w:
                continue
            for halo in halos:
                try:
                    pp = build(prog, sp, grid, halo, None, scratch, target, None, input)
                except PatchError:
                    continue
                out.append(_cand(pp, keep))
    return out


def _split_output(prog: Program, split: str) -> str:
    for s in prog.steps:
        if s.layer is not None and split in [op.name for op in s.layer.ops]:
            return s.layer.output
    raise McuEmitError(f"split={split!r}: no such op in the model")


def _key(c: Candidate, sram: int):
    if sram:
        return (c.instructions, c.peak_sram_bytes)
    return (c.peak_sram_bytes, c.instructions)


def choose_plan(prog: Program, patches="auto", split="auto", sram: int = 0, halo: str = "auto",
                scratch="cmsis-nn", target="cortex-m4", cands: list[Candidate] | None = None,
                input: str = "sram") -> tuple[Candidate, list[Candidate]]:  # fmt: skip
    """(chosen, enumerated): the plan chosen for the options of ``hwq emit mcu`` (see the module
    docstring); chosen.pp is None for the layer-by-layer program. McuEmitError naming the op (or the
    budget) when nothing fits or the split cannot run patch by patch. ``cands``: plans enumerated
    already (``enumerate_plans`` with the same splits/grids/halos), to choose under several budgets."""
    from .plan import parse_grid

    if halo not in HALO_MODES:
        raise McuEmitError(f"halo={halo!r}: expected one of {', '.join(HALO_MODES)}")
    if input not in ("sram", "stream"):
        raise McuEmitError(f"input={input!r}: expected sram or stream")
    halos = ENUM_HALOS if halo == "auto" else (halo,)
    if split != "auto":
        _split_output(prog, split)
        valid = mcu_split_points(prog)
        if split not in valid:
            units_names = {op.name: s.layer.ops[0].name for s in prog.steps if s.layer for op in s.layer.ops}
            anchor = units_names.get(split, split)
            if anchor not in valid:
                try:
                    build(prog, anchor, (1, 1), "recompute", (), scratch, target, (), input)
                except PatchError as e:
                    raise McuEmitError(str(e)) from None
                raise McuEmitError(f"split={split!r}: the stage up to this op cannot run patch by patch")
            split = anchor
        splits = [split]
    else:
        splits = None
    grids = None if patches == "auto" else [parse_grid(patches)]
    if cands is not None:
        pass
    elif grids and splits:
        cands = [layer_candidate(prog, target)]
        for h in halos:
            try:
                cands.append(_cand(build(prog, splits[0], grids[0], h, None, scratch, target, None, input), False))
            except PatchError as e:
                raise McuEmitError(str(e)) from None
    else:
        cands = enumerate_plans(prog, splits, grids, halos, scratch, target, input=input)
    pool = [c for c in cands if c.split is not None] if (patches != "auto" or split != "auto") else cands
    if not pool:
        raise McuEmitError("no patch plan: the model has no convolution stage that can be split")
    fit = [c for c in pool if not sram or c.peak_sram_bytes <= sram]
    if not fit:
        best = min(pool, key=lambda c: c.peak_sram_bytes)
        where = f"split after {best.split}, {best.grid[0]}x{best.grid[1]}" if best.split else "layer by layer"
        raise McuEmitError(f"sram={sram}: no plan fits; the smallest needs {best.peak_sram_bytes} bytes ({where})")
    chosen = min(fit, key=lambda c: _key(c, sram))
    if chosen.split is not None:
        if halo == "auto":
            chosen = _per_layer(prog, chosen, sram, scratch, target)
        if chosen.pp is None:
            chosen.pp = build(prog, chosen.split, chosen.grid, chosen.halo, chosen.cached, scratch, target,
                              chosen.hcached, chosen.input)  # fmt: skip
    return chosen, cands


def _per_layer(prog, best: Candidate, sram: int, scratch, target) -> Candidate:
    """For each stage tensor on its own, try the other cache levels (none, rows, rows and columns); keep a
    change that improves the objective (within the budget)."""
    from hwq.ir.patchwise import stage_units

    from .plan import stage_units_of

    units, _ = stage_units_of(prog)
    tensors = _cached_all(stage_units(prog.graph, best.split, units))
    cur = best
    for t in tensors:
        base_v, base_h = set(cur.cached) - {t}, set(cur.hcached) - {t}
        for v, h in ((base_v, base_h), (base_v | {t}, base_h), (base_v | {t}, base_h | {t})):
            if (tuple(sorted(v)), tuple(sorted(h))) == (tuple(cur.cached), tuple(cur.hcached)):
                continue
            try:
                pp = build(prog, cur.split, cur.grid, "auto", tuple(sorted(v)), scratch, target, tuple(sorted(h)),
                           cur.input)  # fmt: skip
            except PatchError:
                continue
            c = _cand(pp, True)
            if sram and c.peak_sram_bytes > sram:
                continue
            if _key(c, sram) < _key(cur, sram):
                cur = c
    if cur is not best:
        cur.halo = "auto" if cur.cached else "recompute"
    return cur
