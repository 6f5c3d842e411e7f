/*
 * hwq per-patch mixed precision: pack / unpack (see hwq_patch_pack.h for layout and arithmetic).
 * Written for hwq; no CMSIS-NN kernel stores activations below 8 bits, so the kernels read the unpacked map.
 */
#include "hwq_patch_pack.h"

#include <stddef.h>

static int hwq_pq_check(const hwq_patch_quant_params *p, const cmsis_nn_dims *d)
{
    int32_t i;
    if (p->rows < 1 || p->cols < 1 || p->rows > d->h || p->cols > d->w)
    {
        return 0;
    }
    for (i = 0; i < p->rows * p->cols; i++)
    {
        if (p->bits[i] < 1 || p->bits[i] > 8 || p->shifts[i] < 0 || p->shifts[i] > 8 - p->bits[i])
        {
            return 0;
        }
    }
    return 1;
}

int32_t hwq_patch_pack_s8_get_buffer_size(const hwq_patch_quant_params *params, const cmsis_nn_dims *dims)
{
    int32_t i, j, total = 0;
    for (i = 0; i < params->rows; i++)
    {
        const int32_t nh = (i + 1) * dims->h / params->rows - i * dims->h / params->rows;
        for (j = 0; j < params->cols; j++)
        {
            const int32_t nw = (j + 1) * dims->w / params->cols - j * dims->w / params->cols;
            total += (nh * nw * dims->c * params->bits[i * params->cols + j] + 7) / 8;
        }
    }
    return total;
}

/* One patch: `rows` runs of `n` contiguous int8 values, `stride` elements apart, packed as one bit stream of
 * b-bit codes at step 2^k (hwq_patch_pack.h); returns the byte after the stream. */
static uint8_t *hwq_pq_pack_patch(const int8_t *src, int32_t rows, int32_t n, int32_t stride, int32_t b, int32_t k,
                                  int32_t base, uint8_t *dst)
{
    const int32_t qmax = (1 << b) - 1, r = k ? 1 << (k - 1) : 0;
    uint32_t acc = 0;
    int32_t nbits = 0, y, e;
    for (y = 0; y < rows; y++, src += stride)
    {
        if (b == 8) /* k = 0: a byte per element */
        {
            for (e = 0; e < n; e++)
            {
                const int32_t d = src[e] - base;
                *dst++ = (uint8_t)(d < 0 ? 0 : d > qmax ? qmax : d);
            }
            continue;
        }
        for (e = 0; e < n; e++)
        {
            const int32_t d = src[e] - base;
            int32_t q = d < 0 ? 0 : (d + r) >> k;
            q = q > qmax ? qmax : q;
            acc |= (uint32_t)q << nbits;
            nbits += b;
            while (nbits >= 8)
            {
                *dst++ = (uint8_t)acc;
                acc >>= 8;
                nbits -= 8;
            }
        }
    }
    if (nbits > 0)
    {
        *dst++ = (uint8_t)acc;
    }
    return dst;
}

/* The inverse walk: one patch's bit stream at src -> int8 values clamped to [lo, hi]; returns the byte after it. */
static const uint8_t *hwq_pq_unpack_patch(const uint8_t *src, int32_t rows, int32_t n, int32_t stride, int32_t b,
                                          int32_t k, int32_t base, int32_t lo, int32_t hi, int8_t *dst)
{
    const uint32_t mask = (1u << b) - 1u;
    uint32_t acc = 0;
    int32_t nbits = 0, y, e;
    for (y = 0; y < rows; y++, dst += stride)
    {
        for (e = 0; e < n; e++)
        {
            int32_t v;
            if (nbits < b)
            {
                acc |= (uint32_t)(*src++) << nbits;
                nbits += 8;
            }
            v = base + (int32_t)((acc & mask) << k);
            acc >>= b;
            nbits -= b;
            dst[e] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
        }
    }
    return src;
}

/* The grid walk shared by pack (input set, output NULL) and unpack (input NULL, output set): each patch's
 * rows of (x1 - x0) * c contiguous NHWC elements, patches one after the other in the packed stream. */
static arm_cmsis_nn_status hwq_pq_walk(const hwq_patch_quant_params *p, const cmsis_nn_dims *d,
                                       const int8_t *input, int8_t *output, const uint8_t *codes_in,
                                       uint8_t *codes_out)
{
    const int32_t h = d->h, w = d->w, c = d->c;
    int32_t i, j;
    if (!hwq_pq_check(p, d))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (i = 0; i < p->rows; i++)
    {
        const int32_t y0 = i * h / p->rows, y1 = (i + 1) * h / p->rows;
        for (j = 0; j < p->cols; j++)
        {
            const int32_t x0 = j * w / p->cols, x1 = (j + 1) * w / p->cols;
            const int32_t b = p->bits[i * p->cols + j], k = p->shifts[i * p->cols + j];
            const size_t at = ((size_t)y0 * w + x0) * c;
            if (output == NULL)
            {
                codes_out = hwq_pq_pack_patch(input + at, y1 - y0, (x1 - x0) * c, w * c, b, k, p->base, codes_out);
            }
            else
            {
                codes_in = hwq_pq_unpack_patch(codes_in, y1 - y0, (x1 - x0) * c, w * c, b, k, p->base, p->act_min,
                                               p->act_max, output + at);
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status hwq_patch_pack_s8(const hwq_patch_quant_params *params,
                                      const cmsis_nn_dims *dims,
                                      const int8_t *input,
                                      void *packed)
{
    return hwq_pq_walk(params, dims, input, NULL, NULL, (uint8_t *)packed);
}

arm_cmsis_nn_status hwq_patch_unpack_s8(const hwq_patch_quant_params *params,
                                        const cmsis_nn_dims *dims,
                                        const void *packed,
                                        int8_t *output)
{
    return hwq_pq_walk(params, dims, NULL, output, (const uint8_t *)packed, NULL);
}
