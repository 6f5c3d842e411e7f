"""hwq.hls: the HLS C++ emitter (Vitis HLS ap_fixed projects) and hls4ml interop.

``emit(graph, out_dir, *, command="", strategy="latency", reuse_factor=1, **options) -> list[Path]``
writes a self-contained project whose arithmetic equals ``hwq.ir.run`` bit for bit; ``hwq verify hls``
builds it with g++ (``hwq.sim.csim``) and compares. ``to_hls4ml(graph, output_dir)`` builds the same
network as an hls4ml model (imports hls4ml and torch lazily). ``supports(op, graph) -> None | reason``
(``REGISTRY``: one printer per op kind, ``hls/layers/``) is the capability query emit, cost and explore share.
"""

from .cpp import HLSEmitError
from .layers import REGISTRY, supports
from .project import STRATEGIES, emit


def to_hls4ml(graph, output_dir, **kw):
    """Build an hls4ml model of ``graph`` (see ``hwq.hls.interop.to_hls4ml``)."""
    from .interop import to_hls4ml as _impl

    return _impl(graph, output_dir, **kw)


__all__ = ["REGISTRY", "HLSEmitError", "STRATEGIES", "emit", "supports", "to_hls4ml"]
