/*
 * hwq portable CMSIS-NN runtime: the requantisation arithmetic shared by every kernel.
 *
 * Written for hwq from CMSIS-NN's documented arithmetic (hwq/ir/ops/requantize.py states the same
 * formulas; both must agree bit for bit). Two builds, selected like the real library by whether
 * CMSIS_NN_USE_SINGLE_ROUNDING is *defined* (#ifdef: its value is ignored, so a build that wants
 * double rounding must leave it undefined -- mcu/target/rules.mk does that for =0).
 *
 *   double rounding (default):  v = x << max(s,0) (32-bit, wraps); h = (v*m + 2^30) >> 31;
 *                               r = h / 2^max(-s,0) rounded half away from zero
 *   single rounding:            r = ((x*m) >> (30 - s) + 1) >> 1   (64-bit product, arithmetic shifts)
 *   int16 kernels with int64 accumulators: m16 = REDUCE_MULTIPLIER(m);
 *                               r = (((x*m16) >> (14 - s)) + 1) >> 1
 *
 * Signed overflow is avoided by doing the wrapping steps in unsigned arithmetic; right shifts of
 * negative values are arithmetic on every compiler hwq supports (gcc, clang, arm-none-eabi-gcc).
 */
#ifndef ARM_NNSUPPORTFUNCTIONS_H
#define ARM_NNSUPPORTFUNCTIONS_H

#include <stdint.h>

#include "arm_nn_types.h"

#ifndef MAX
#define MAX(A, B) ((A) > (B) ? (A) : (B))
#endif
#ifndef MIN
#define MIN(A, B) ((A) < (B) ? (A) : (B))
#endif

/** Q31 multiplier reduced to Q15 (rounded) for the int16 kernels with int64 accumulators. */
#define REDUCE_MULTIPLIER(_mult) (((_mult) < 0x7FFF0000) ? (((_mult) + (1 << 15)) >> 16) : 0x7FFF)

/** (a * b + 2^30) >> 31 with a 64-bit product, truncated to 32 bits. */
static inline int32_t arm_nn_doubling_high_mult_no_sat(const int32_t a, const int32_t b)
{
    const int64_t p = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    return (int32_t)(uint32_t)(uint64_t)(p >> 31);
}

/** dividend / 2^exponent rounded to nearest, ties away from zero (0 <= exponent <= 31). */
static inline int32_t arm_nn_divide_by_power_of_two(const int32_t dividend, const int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = dividend & mask;
    int32_t result = dividend >> exponent;
    int32_t threshold = mask >> 1;
    if (result < 0)
    {
        threshold++;
    }
    if (remainder > threshold)
    {
        result++;
    }
    return result;
}

/** CMSIS-NN arm_nn_requantize: val * multiplier * 2^(shift - 31), in the selected rounding build. */
static inline int32_t arm_nn_requantize(const int32_t val, const int32_t multiplier, const int32_t shift)
{
#ifdef CMSIS_NN_USE_SINGLE_ROUNDING
    const int64_t prod = (int64_t)val * (int64_t)multiplier;
    const int32_t r = (int32_t)(uint32_t)(uint64_t)(prod >> (30 - shift));
    return ((int32_t)((uint32_t)r + 1u)) >> 1;
#else
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int32_t v = (int32_t)((uint32_t)val << left);
    return arm_nn_divide_by_power_of_two(arm_nn_doubling_high_mult_no_sat(v, multiplier), right);
#endif
}

/** CMSIS-NN arm_nn_requantize_s64: a 64-bit value times a Q15 (reduced) multiplier, one rounding. */
static inline int32_t arm_nn_requantize_s64(const int64_t val, const int32_t reduced_multiplier, const int32_t shift)
{
    const int64_t prod = val * (int64_t)reduced_multiplier;
    const int32_t r = (int32_t)(uint32_t)(uint64_t)(prod >> (14 - shift));
    return ((int32_t)((uint32_t)r + 1u)) >> 1;
}

/** The k-th int4 value of a packed array: two per byte, low nibble first, sign-extended. */
static inline int32_t hwq_nn_s4_at(const int8_t *packed, const int32_t k)
{
    const uint32_t byte = (uint8_t)packed[k >> 1];
    const int32_t nibble = (int32_t)((k & 1) ? (byte >> 4) : (byte & 0xFu));
    return nibble >= 8 ? nibble - 16 : nibble;
}

/** Unpack n int4 values starting at value index k0 of a packed array into dst (one int8 each). */
static inline void hwq_nn_s4_unpack(const int8_t *packed, int32_t k0, int32_t n, int8_t *dst)
{
    if (n > 0 && (k0 & 1))
    {
        *dst++ = (int8_t)hwq_nn_s4_at(packed, k0++);
        n--;
    }
    const uint8_t *src = (const uint8_t *)packed + (k0 >> 1);
    for (; n >= 2; n -= 2)
    {
        const int32_t byte = *src++;
        dst[0] = (int8_t)(((byte & 0xF) ^ 8) - 8);
        dst[1] = (int8_t)(((byte >> 4) ^ 8) - 8);
        dst += 2;
    }
    if (n > 0)
    {
        *dst = (int8_t)((((int32_t)*src & 0xF) ^ 8) - 8);
    }
}

/** Clamp to [lo, hi]. */
static inline int32_t hwq_nn_clamp(const int32_t v, const int32_t lo, const int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* ARM_NNSUPPORTFUNCTIONS_H */
