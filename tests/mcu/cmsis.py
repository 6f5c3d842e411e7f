"""ctypes bindings of the portable CMSIS-NN runtime (mcu/runtime) for the kernel tests.

``runtime_lib(single_rounding)`` builds ``mcu/runtime/Source/*.c`` plus a small test shim into a shared
library with host gcc (``-std=c99 -Wall -Wextra -Werror -pedantic``), cached by content hash in the
system temp folder, and returns a ``ctypes.CDLL``. The struct classes mirror ``arm_nn_types.h``.
"""

from __future__ import annotations

import ctypes as C
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

RUNTIME = Path(__file__).resolve().parents[2] / "mcu" / "runtime"
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-shared", "-fPIC"]

# Exposes the inline requantisers of arm_nnsupportfunctions.h to the tests.
SHIM = r"""
#include "arm_nnsupportfunctions.h"
void hwq_test_requantize(const int32_t *x, int32_t n, const int32_t *m, const int32_t *s, int32_t *out)
{
    for (int32_t i = 0; i < n; i++) out[i] = arm_nn_requantize(x[i], m[i], s[i]);
}
void hwq_test_requantize_s64(const int64_t *x, int32_t n, const int32_t *m, const int32_t *s, int32_t *out)
{
    for (int32_t i = 0; i < n; i++) out[i] = arm_nn_requantize_s64(x[i], REDUCE_MULTIPLIER(m[i]), s[i]);
}
"""


class Tile(C.Structure):
    _fields_ = [("w", C.c_int32), ("h", C.c_int32)]


class Context(C.Structure):
    _fields_ = [("buf", C.c_void_p), ("size", C.c_int32)]


class Dims(C.Structure):
    _fields_ = [("n", C.c_int32), ("h", C.c_int32), ("w", C.c_int32), ("c", C.c_int32)]


class Activation(C.Structure):
    _fields_ = [("min", C.c_int32), ("max", C.c_int32)]


class ConvParams(C.Structure):
    _fields_ = [
        ("input_offset", C.c_int32),
        ("output_offset", C.c_int32),
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("activation", Activation),
    ]


class DwConvParams(C.Structure):
    _fields_ = [
        ("input_offset", C.c_int32),
        ("output_offset", C.c_int32),
        ("ch_mult", C.c_int32),
        ("stride", Tile),
        ("padding", Tile),
        ("dilation", Tile),
        ("activation", Activation),
    ]


class PoolParams(C.Structure):
    _fields_ = [("stride", Tile), ("padding", Tile), ("activation", Activation)]


class FcParams(C.Structure):
    _fields_ = [
        ("input_offset", C.c_int32),
        ("filter_offset", C.c_int32),
        ("output_offset", C.c_int32),
        ("activation", Activation),
    ]


class PerChannel(C.Structure):
    _fields_ = [("multiplier", C.POINTER(C.c_int32)), ("shift", C.POINTER(C.c_int32))]


class PerTensor(C.Structure):
    _fields_ = [("multiplier", C.c_int32), ("shift", C.c_int32)]


class QuantParams(C.Structure):
    _fields_ = [
        ("multiplier", C.POINTER(C.c_int32)),
        ("shift", C.POINTER(C.c_int32)),
        ("is_per_channel", C.c_int32),
    ]


class BiasData(C.Structure):
    _fields_ = [("data", C.c_void_p), ("is_int32_bias", C.c_bool)]


def ptr(a: np.ndarray, ctype):
    """A ctypes pointer to a contiguous numpy array (kept alive by the caller)."""
    assert a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(C.POINTER(ctype))


def dims(n=1, h=1, w=1, c=1) -> Dims:
    return Dims(int(n), int(h), int(w), int(c))


def pack_s4(w: np.ndarray) -> np.ndarray:
    """int4 values (-8..7) flattened in C order, two per byte, low nibble first (odd count: high nibble 0)."""
    flat = np.asarray(w, dtype=np.int64).ravel()
    if flat.size % 2:
        flat = np.append(flat, 0)
    nib = flat & 0xF
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).view(np.int8)


_LIBS: dict[bool, C.CDLL] = {}


def runtime_lib(single_rounding: bool) -> C.CDLL:
    """The runtime built as a host shared library in the given rounding build (cached)."""
    if single_rounding in _LIBS:
        return _LIBS[single_rounding]
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc not found on PATH: the runtime kernel tests need it")
    sources = sorted((RUNTIME / "Source").glob("*.c"))
    headers = sorted((RUNTIME / "Include").glob("*.h"))
    flags = FLAGS + (["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if single_rounding else [])
    h = hashlib.sha256(" ".join(flags).encode() + SHIM.encode())
    for p in sources + headers:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    cache = Path(tempfile.gettempdir()) / "hwq-test-mcu-runtime"
    cache.mkdir(exist_ok=True)
    lib = cache / f"libhwqnn_{h.hexdigest()[:16]}.so"
    if not lib.exists():
        shim = cache / f"shim_{h.hexdigest()[:16]}.c"
        shim.write_text(SHIM)
        tmp = lib.with_name(lib.name + f".{os.getpid()}.tmp")
        cmd = [gcc, *flags, "-I", str(RUNTIME / "Include"), *map(str, sources), str(shim), "-o", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"gcc build of mcu/runtime failed:\n{proc.stderr[-3000:]}")
        os.replace(tmp, lib)
    _LIBS[single_rounding] = C.CDLL(str(lib))
    return _LIBS[single_rounding]
