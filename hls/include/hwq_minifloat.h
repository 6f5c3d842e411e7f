// hwq_minifloat.h -- float<E,M> minifloats for hwq-generated HLS projects: exact, synthesisable, no float.
//
// Part of hwq (Apache-2.0). Copied into firmware/ when a tensor or parameter is a minifloat.
//
// hwq_float<E, M, BIAS, POLICY, SUB> holds the 1+E+M bit code (sign, exponent, mantissa) of a minifloat
// as hwq.formats.FloatFormat defines it:
//   exponent field e, mantissa field m, bias b:  e == 0: (-1)^s * 2^(1-b) * m/2^M   (subnormal; 0 if !SUB)
//                                                e  > 0: (-1)^s * 2^(e-b) * (1 + m/2^M)
// Every value is an integer multiple ("raw") of 2^-F with F = b + M - 1, so to_fixed() returns the value
// exactly as an ap_fixed with F fractional bits; arithmetic then happens in ap_fixed (exact products,
// the layer's fixed accumulator). from_fixed() is the one rounding into the format: round to nearest,
// ties to even mantissa; overflow saturates to +-max whatever the inf/NaN policy (the IR's rule: raws
// hold no inf/NaN, so POLICY only decides which codes are finite); without subnormals (SUB false) a
// result below the smallest normal is flushed to zero after rounding. Zero is always encoded as +0.
#ifndef HWQ_MINIFLOAT_H_
#define HWQ_MINIFLOAT_H_

#include "hwq_hls.h"

enum hwq_float_policy { HWQ_IEEE = 0, HWQ_FN = 1, HWQ_FNUZ = 2, HWQ_FINITE = 3 };

template <int E, int M, int BIAS, int POLICY, bool SUB>
struct hwq_float {
    static const int width = 1 + E + M;
    static const int frac_bits = BIAS + M - 1;
    // bits of the largest raw magnitude: (2^(M+1) - 1) << (2^E - 2)
    static const int mag_bits = M + (1 << E) - 1;
    // the exact value of every code (signed, F fractional bits)
    typedef ap_fixed<mag_bits + 1, mag_bits + 1 - frac_bits> fixed_t;
    typedef ap_uint<mag_bits + 2> mag_t;

    ap_uint<width> bits;  // the code: sign | exponent | mantissa (an aggregate, so arrays init as {{code}})

    static hwq_float from_bits(unsigned code) {
        hwq_float f;
        f.bits = code;
        return f;
    }

    // raw magnitude (units of 2^-F) of a magnitude code
    static mag_t code_to_mag(unsigned code) {
        const unsigned e = code >> M;
        const unsigned m = code & ((1u << M) - 1u);
        mag_t mag = 0;
        if (e == 0) {
            mag = SUB ? m : 0u;
        } else {
            mag = (1u << M) | m;
            mag <<= (e - 1);
        }
        return mag;
    }

    // largest finite magnitude code under the policy
    static unsigned max_code() {
        const unsigned top = (1u << (E + M)) - 1u;
        return POLICY == HWQ_IEEE ? top - (1u << M) : POLICY == HWQ_FN ? top - 1u : top;
    }

    static mag_t raw_max() { return code_to_mag(max_code()); }

    fixed_t to_fixed() const {
        const unsigned code = bits.to_uint();
        const bool neg = (code >> (E + M)) & 1u;
        const mag_t mag = code_to_mag(code & ((1u << (E + M)) - 1u));
        ap_int<mag_bits + 2> raw = mag;
        if (neg) raw = -raw;
        return hwq_from_raw<fixed_t>(raw);
    }

    // Round the exact value r * 2^-(frac_bits + s) (a raw integer r at s more fractional bits) into the
    // format: round to nearest even on the binade's spacing, saturate, flush subnormals if !SUB.
    template <int W, bool S>
    static hwq_float from_raw(const ap_int_base<W, S>& r, int s) {
        const bool neg = S && r < 0;
        ap_uint<W + 1> a = r;
        if (neg) a = -r;
        int ea = -1;  // position of the leading one
        for (int i = W; i >= 0; i--) {
            if (a[i]) {
                ea = i;
                break;
            }
        }
        mag_t res = 0;
        if (ea >= 0) {
            if (ea - s > mag_bits) {
                res = raw_max();  // beyond every finite value: saturate
            } else {
                int g = ea - s - M;  // spacing exponent of the target binade (raw units)
                if (g < 0) g = 0;
                const int k = s + g;  // bits of a to drop
                if (k <= 0) {
                    res = a;  // exact: s <= 0 here, so a fits mag_t
                    res <<= -s;
                } else if (k <= ea + 1) {
                    const ap_uint<W + 1> q = a >> k;
                    const ap_uint<W + 2> rem = a & ((ap_uint<W + 2>(1) << k) - 1);
                    const ap_uint<W + 2> half = ap_uint<W + 2>(1) << (k - 1);
                    const bool up = rem > half || (rem == half && q[0] == 1);
                    res = q;
                    res += up ? 1 : 0;
                    res <<= g;
                }  // else: below half the spacing, rounds to 0
            }
            if (res > raw_max()) res = raw_max();
            if (!SUB && res < (mag_t(1) << M)) res = 0;
        }
        return encode(res, neg);
    }

    template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
    static hwq_float from_fixed(const ap_fixed<W, I, Q, O, N>& v) {
        return from_raw(hwq_raw(v), (W - I) - frac_bits);
    }

    template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
    static hwq_float from_fixed(const ap_ufixed<W, I, Q, O, N>& v) {
        return from_raw(hwq_raw(v), (W - I) - frac_bits);
    }

    // the code of a representable magnitude res (raw units) with a sign
    static hwq_float encode(const mag_t& res, bool neg) {
        unsigned e = 0, m = 0;
        if (res < (mag_t(1) << M)) {
            m = res.to_uint();
        } else {
            int lead = M;
            for (int i = mag_bits + 1; i >= M; i--) {
                if (res[i]) {
                    lead = i;
                    break;
                }
            }
            e = lead - M + 1;
            m = (res >> (e - 1)).to_uint() & ((1u << M) - 1u);
        }
        const unsigned sign = (neg && res != 0) ? 1u : 0u;
        return from_bits((sign << (E + M)) | (e << M) | m);
    }
};

#ifndef __SYNTHESIS__
#include <string>

// Test bench I/O of minifloats as raw integers (value * 2^F), like the fixed-point helpers in hwq_tb.h.
template <int E, int M, int BIAS, int POLICY, bool SUB>
inline void hwq_set_raw(hwq_float<E, M, BIAS, POLICY, SUB>& x, const std::string& tok) {
    typedef hwq_float<E, M, BIAS, POLICY, SUB> T;
    ap_int<T::mag_bits + 2> r(tok.c_str(), 10);
    x = T::from_raw(r, 0);
}

template <int E, int M, int BIAS, int POLICY, bool SUB>
inline std::string hwq_raw_text(const hwq_float<E, M, BIAS, POLICY, SUB>& x) {
    return hwq_raw(x.to_fixed()).to_string(10, true);
}
#endif

#endif  // HWQ_MINIFLOAT_H_
