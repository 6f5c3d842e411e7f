"""Fixtures of the HLS tests: a shared, content-hash-keyed cache of C-simulation binaries, and the
bit-exact check (emit -> g++ -> C-sim -> compare every integer with hwq.ir.run)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from hwq.sim.csim import CsimError, ap_types_dir

from ..tools import require_tool, required


def need_csim_toolchain() -> None:
    """g++ and the ap_types headers (from hls4ml, a core dependency), or skip (fail under HWQ_REQUIRE_TOOLS=1)."""
    require_tool("g++", "the HLS C-simulation")
    try:
        ap_types_dir()
    except CsimError as e:
        if required():
            pytest.fail(f"ap_types headers: {e} [HWQ_REQUIRE_TOOLS=1]", pytrace=False)
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def csim_cache() -> Path:
    """Binaries keyed by the hash of their sources: re-runs and identical projects build once."""
    need_csim_toolchain()
    path = Path(tempfile.gettempdir()) / "hwq-test-hls-csim"
    path.mkdir(exist_ok=True)
    return path


def check_bit_exact(graph, out, cache, vectors: int = 2000, seed: int = 0, **options):
    """Emit ``graph`` into ``out``, build and run the C-simulation on random vectors, compare every output
    integer with hwq.ir.run. Returns (mismatching vectors, first mismatches, extra, per-output mismatch
    counts). Asserts that g++ -Wall -Wextra reported nothing in the generated files."""
    import numpy as np

    from hwq.hls import emit
    from hwq.ir import run
    from hwq.sim.csim import run_csim
    from hwq.sim.verify import compare, random_inputs

    options.setdefault("tb_vectors", 8)
    emit(graph, out, command="pytest", **options)
    inputs = random_inputs(graph, vectors, seed)
    expected = run(graph, inputs).outputs()
    got, extra = run_csim(out, graph, inputs, cache_dir=cache)
    assert extra["warnings"] == [], "g++ -Wall -Wextra diagnostics in generated files"
    bad, first = compare(graph, expected, got)
    per_output = {
        n: int((np.asarray(e).reshape(vectors, -1) != np.asarray(g).reshape(vectors, -1)).any(axis=1).sum())
        for n, e, g in zip(graph.outputs, expected, got)
    }
    return bad, first, extra, per_output


@pytest.fixture
def bit_exact(csim_cache, tmp_path):
    """check(graph, vectors=2000, seed=0, **emit_options) -> (mismatching vectors, first mismatches, extra)."""

    def check(graph, vectors: int = 2000, seed: int = 0, **options):
        bad, first, extra, _ = check_bit_exact(graph, tmp_path / graph.name, csim_cache, vectors, seed, **options)
        return bad, first, extra

    return check
