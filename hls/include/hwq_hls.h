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

#endif  // HWQ_HLS_H_
