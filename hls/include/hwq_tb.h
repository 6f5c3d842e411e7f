// hwq_tb.h -- text I/O of raw integers for hwq-generated C++ test benches (not synthesised).
//
// Part of hwq (Apache-2.0). Values cross the file boundary as decimal raw integers (units of each
// tensor format's LSB), never as floats, so that the comparison with hwq's interpreter is exact.
#ifndef HWQ_TB_H_
#define HWQ_TB_H_

#include <cstdlib>
#include <string>

#include "hwq_hls.h"

// Set a fixed-point value from the decimal text of its raw integer (64-bit fast path up to 63 bits).
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void hwq_set_raw(ap_fixed<W, I, Q, O, N>& x, const std::string& tok) {
    ap_int<W> r;
    if (W <= 63) {
        r = (long long)std::strtoll(tok.c_str(), 0, 10);
    } else {
        r = ap_int<W>(tok.c_str(), 10);
    }
    x.range(W - 1, 0) = r.range(W - 1, 0);
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void hwq_set_raw(ap_ufixed<W, I, Q, O, N>& x, const std::string& tok) {
    ap_uint<W> r;
    if (W <= 63) {
        r = (unsigned long long)std::strtoull(tok.c_str(), 0, 10);
    } else {
        r = ap_uint<W>(tok.c_str(), 10);
    }
    x.range(W - 1, 0) = r.range(W - 1, 0);
}

// The decimal text of a fixed-point value's raw integer.
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline std::string hwq_raw_text(const ap_fixed<W, I, Q, O, N>& x) {
    return W <= 63 ? std::to_string(hwq_raw(x).to_int64()) : hwq_raw(x).to_string(10, true);
}

template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline std::string hwq_raw_text(const ap_ufixed<W, I, Q, O, N>& x) {
    return W <= 63 ? std::to_string(hwq_raw(x).to_uint64()) : hwq_raw(x).to_string(10, false);
}

#endif  // HWQ_TB_H_
