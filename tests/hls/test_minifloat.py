"""hls/include/hwq_minifloat.h against hwq.formats.FloatFormat (the oracle, itself checked against
ml_dtypes by the formats tests): every code's exact value, and the rounding of fixed-point values into
each format (nearest even, saturation, flush-to-zero) at many scales; then minifloat models bit-exact."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from hwq.formats import parse
from hwq.hls.minifloat import float_type
from hwq.sim.csim import CXX_FLAGS, ap_types_dir, find_compiler

pytestmark = pytest.mark.slow  # one g++ build of the oracle program (~20 s on a loaded machine)

FORMATS = ["e4m3fn", "e5m2", "e4m3", "e2m1fn", "e3m2fn", "e4m3fnuz", "float<3,2,nosub>", "e3m4", "float<2,3,bias=0>"]
SHIFTS = [-4, -1, 0, 1, 3, 7]

_PROGRAM = """
#include <iostream>
#include <string>
#include "hwq_minifloat.h"
{typedefs}
template <class T> void one(int s, const std::string& tok) {{
    ap_int<80> r(tok.c_str(), 10);
    const T f = T::from_raw(r, s);
    std::cout << f.bits.to_uint() << " " << hwq_raw(f.to_fixed()).to_string(10, true) << "\\n";
}}
template <class T> void codes() {{
    for (unsigned c = 0; c < (1u << T::width); c++) {{
        std::cout << hwq_raw(T::from_bits(c).to_fixed()).to_string(10, true) << "\\n";
    }}
}}
int main() {{
    int k, s;
    std::string tok;
    while (std::cin >> k >> s >> tok) {{
        switch (k) {{
{cases}
        }}
    }}
    return 0;
}}
"""


@pytest.fixture(scope="module")
def oracle_binary(tmp_path_factory, csim_cache):
    d = tmp_path_factory.mktemp("minifloat")
    typedefs = "\n".join(f"typedef {float_type(parse(f))} f{k}_t;" for k, f in enumerate(FORMATS))
    cases = "\n".join(
        f"            case {k}: if (s == 999) codes<f{k}_t>(); else one<f{k}_t>(s, tok); break;"
        for k in range(len(FORMATS))
    )
    src = d / "mf.cpp"
    src.write_text(_PROGRAM.format(typedefs=typedefs, cases=cases))
    from importlib import resources

    inc = resources.files("hwq.hls").joinpath("include")
    binary = d / "mf"
    cmd = [find_compiler(), *CXX_FLAGS, f"-I{inc}", "-isystem", str(ap_types_dir()), str(src), "-o", str(binary)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "hwq_minifloat.h" not in "".join(ln for ln in proc.stderr.splitlines() if "warning:" in ln)
    return binary


def _run(binary, lines: list[str]) -> list[str]:
    out = subprocess.run([str(binary)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.mark.parametrize("name", FORMATS)
def test_every_code_decodes_exactly(oracle_binary, name):
    k = FORMATS.index(name)
    fmt = parse(name)
    got = _run(oracle_binary, [f"{k} 999 0"])
    assert len(got) == 1 << fmt.width
    finite = [c for c in range(1 << fmt.width) if _finite(fmt, c)]
    want = fmt.from_bits(np.array(finite))
    assert [int(got[c]) for c in finite] == [int(v) for v in want]


def _finite(fmt, code: int) -> bool:
    try:
        fmt.from_bits(np.array([code]))
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("name", FORMATS)
def test_rounding_into_the_format_matches_cast_raw(oracle_binary, name):
    k = FORMATS.index(name)
    fmt = parse(name)
    rng = np.random.default_rng(k)
    lines, expect = [], []
    for s in SHIFTS:
        top = fmt.raw_max * (2 ** max(s, 0)) * 4 + 8
        mags = np.unique(np.concatenate([np.arange(0, 70), np.exp(rng.uniform(0, np.log(top), 600)).astype(np.int64)]))
        raws = np.concatenate([mags, -mags])
        want = fmt.cast_raw(raws, fmt.frac_bits + s)
        lines += [f"{k} {s} {int(r)}" for r in raws]
        expect += [int(v) for v in want]
    got = _run(oracle_binary, lines)
    got_raw = [int(g.split()[1]) for g in got]
    bad = [(ln, e, g) for ln, e, g in zip(lines, expect, got_raw) if e != g]
    assert not bad, bad[:10]
    codes = [int(g.split()[0]) for g in got]
    assert all(c != (1 << (fmt.width - 1)) for c in codes), "zero must be encoded as +0"
