// hwq_hls.h -- support macros and raw-bit helpers shared by every hwq-generated HLS project.
//
// Part of hwq (Apache-2.0). Copied unchanged into each generated project's firmware/ folder.
//
// HLS pragmas are written HWQ_PRAGMA(HLS ...): Vitis HLS defines __SYNTHESIS__ and sees the pragma
// (through _Pragma, which it supports inside macros); a plain C++ compiler used for C-simulation sees
// nothing, so `g++ -Wall` stays silent about unknown pragmas.
#ifndef HWQ_HLS_H_
#define HWQ_HLS_H_

#include "ap_fixed.h"
#include "ap_int.h"

#ifdef __SYNTHESIS__
#define HWQ_PRAGMA(x) _Pragma(#x)
#else
#define HWQ_PRAGMA(x)
#endif

// Storage of the parameter arrays in firmware/weights/<op>.h. By default (Vitis HLS, any plain build)
// each array is a `static const` definition in the translation unit of the layers. hwq's C-simulation
// build defines HWQ_EXTERN_WEIGHTS: the layer code then only declares the arrays, and
// firmware/weights.cpp (which also defines HWQ_WEIGHTS_TU) holds their one definition, compiled once
// without optimisation, as building thousands of constant initialisers at -O2 costs most of the build.
#if defined(HWQ_EXTERN_WEIGHTS) && defined(HWQ_WEIGHTS_TU)
#define HWQ_WEIGHT_STORAGE extern
#else
#define HWQ_WEIGHT_STORAGE static
#endif

// Raw integer of a fixed-point value, in units of its LSB: the W-bit register pattern reinterpreted
// as a signed (ap_fixed) or unsigned (ap_ufixed) integer. Exact; no arithmetic, only wires.
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline ap_int<W> hwq_raw(const ap_fixed<W, I, Q, O, N>& x) {
    ap_int<W> r;
    r.range(W - 1, 0) = x.range(W - 1, 0);
    return r;
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline ap_uint<W> hwq_raw(const ap_ufixed<W, I, Q, O, N>& x) {
    ap_uint<W> r;
    r.range(W - 1, 0) = x.range(W - 1, 0);
    return r;
}

// The fixed-point value whose register pattern is the low W bits of the integer r (the inverse of
// hwq_raw). Used for shift-and-add products, which are formed on raw integers.
template <class T, int WR, bool SR>
inline T hwq_from_raw(const ap_int_base<WR, SR>& r) {
    T x;
    const int w = T::width;
    ap_int_base<w, SR> low = r;  // keeps the low w bits
    x.range(w - 1, 0) = low.range(w - 1, 0);
    return x;
}

// CMSIS-NN integer requantisation of an int32 value x by the Q31 multiplier m and shift s
// (scale = m * 2^(s-31)), as documented for arm_nn_requantize:
//   double rounding (default build): v = x * 2^max(s,0) (int32 wrap); h = (v*m + 2^30) >> 31 (int32
//   wrap, ties toward +inf); then h / 2^max(-s,0) rounded half away from zero.
//   single rounding (CMSIS_NN_USE_SINGLE_ROUNDING): ((x*m) >> (30-s) (int32 wrap) + 1) >> 1.
// Products stay below 2^62, so 64-bit arithmetic is exact; >> on negative values is arithmetic.
inline long long hwq_wrap32(long long v) {
    return ((v + 2147483648LL) & 0xFFFFFFFFLL) - 2147483648LL;
}

inline long long hwq_requantize(long long x, long long m, int s, bool single_rounding) {
    if (single_rounding) {
        const long long r = hwq_wrap32((x * m) >> (30 - s));
        return hwq_wrap32(r + 1) >> 1;
    }
    const int left = s > 0 ? s : 0;
    const int right = s < 0 ? -s : 0;
    const long long v = hwq_wrap32(x * (1LL << left));
    const long long h = hwq_wrap32((v * m + (1LL << 30)) >> 31);
    const long long mask = (1LL << right) - 1;
    const long long rem = h & mask;
    const long long q = h >> right;
    const long long threshold = (mask >> 1) + (q < 0 ? 1 : 0);
    return q + (rem > threshold ? 1 : 0);
}

#endif  // HWQ_HLS_H_
