"""Pass ``infer_accumulators``: give every accumulating op the narrowest lossless accumulator.

For dense / conv1d / conv2d: F_acc = max(F_x + F_w, F_b) (no product or bias is rounded) and W the
fewest signed bits holding every partial sum for the actual integer weights and the input's raw range
(sum of positive and negative weight bounds per output channel, see ``mac_value_range``). For avgpool /
global_avgpool: F_acc = F_x and W holds n * the input range (n = window size). The accumulator keeps
its rounding and overflow modes (irrelevant once lossless). With a lossless accumulator the op computes
the exact sum, so the result equals that of any wider lossless accumulator bit for bit.
"""

from __future__ import annotations

from hwq.formats import FixedFormat

from ..graph import Graph
from ._common import MAC_KINDS, POOL_KINDS, PassError, copy_graph, lossless_acc, mac_value_range, pool_value_range


def infer_accumulators(
    graph: Graph,
    force: FixedFormat | dict[str, FixedFormat] | None = None,
    input_ranges: dict[str, tuple[int, int]] | None = None,
) -> Graph:
    """A copy of ``graph`` with inferred accumulator formats.

    force: one fixed format for every accumulating op, or a dict op name -> format (others inferred).
    input_ranges: raw ranges (lo, hi) of tensors by name, to infer from measured activation ranges
    instead of the full range of each input format (the caller then guarantees those ranges).
    """
    g = copy_graph(graph)
    names = {op.name for op in g.ops}
    if isinstance(force, dict):
        unknown = sorted(set(force) - names)
        if unknown:
            raise PassError(f"infer_accumulators: force names unknown op(s) {unknown}")
    for op in g.ops:
        if op.kind not in MAC_KINDS + POOL_KINDS:
            continue
        forced = force.get(op.name) if isinstance(force, dict) else force
        if forced is not None:
            if not isinstance(forced, FixedFormat):
                raise PassError(f"infer_accumulators: op {op.name!r}: forced accumulator {forced!r} is not fixed")
            op.acc_fmt = forced
            continue
        if op.kind in MAC_KINDS:
            lo, hi, frac = mac_value_range(op, g, input_ranges)
        else:
            lo, hi, frac = pool_value_range(op, g, input_ranges)
        op.acc_fmt = lossless_acc(lo, hi, frac, op.acc_fmt)
    g.validate()
    return g
