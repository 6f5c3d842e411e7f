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

arm_cmsis_nn_status hwq_patch_pack_s8(const hwq_patch_quant_params *params,
                                      const cmsis_nn_dims *dims,
                                      const int8_t *input,
                                      void *packed)
{
    uint8_t *dst = (uint8_t *)packed;
    const int32_t h = dims->h, w = dims->w, c = dims->c, base = params->base;
    int32_t i, j, y, x, ch;
    if (!hwq_pq_check(params, dims))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (i = 0; i < params->rows; i++)
    {
        const int32_t y0 = i * h / params->rows, y1 = (i + 1) * h / params->rows;
        for (j = 0; j < params->cols; j++)
        {
            const int32_t x0 = j * w / params->cols, x1 = (j + 1) * w / params->cols;
            const int32_t b = params->bits[i * params->cols + j];
            const int32_t k = params->shifts[i * params->cols + j];
            const int32_t qmax = (1 << b) - 1, r = k ? 1 << (k - 1) : 0;
            uint32_t acc = 0;
            int32_t nbits = 0;
            for (y = y0; y < y1; y++)
            {
                const int8_t *row = input + ((size_t)y * w + x0) * c;
                if (b == 8)
                {
                    for (x = 0; x < (x1 - x0) * c; x++)
                    {
                        const int32_t d = row[x] - base;
                        *dst++ = (uint8_t)(d < 0 ? 0 : ((d + r) >> k) > qmax ? qmax : (d + r) >> k);
                    }
                    continue;
                }
                for (x = x0; x < x1; x++)
                {
                    for (ch = 0; ch < c; ch++)
                    {
                        const int32_t d = *row++ - base;
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
            }
            if (nbits > 0)
            {
                *dst++ = (uint8_t)acc;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status hwq_patch_unpack_s8(const hwq_patch_quant_params *params,
                                        const cmsis_nn_dims *dims,
                                        const void *packed,
                                        int8_t *output)
{
    const uint8_t *src = (const uint8_t *)packed;
    const int32_t h = dims->h, w = dims->w, c = dims->c, base = params->base;
    const int32_t lo = params->act_min, hi = params->act_max;
    int32_t i, j, y, x, ch;
    if (!hwq_pq_check(params, dims))
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (i = 0; i < params->rows; i++)
    {
        const int32_t y0 = i * h / params->rows, y1 = (i + 1) * h / params->rows;
        for (j = 0; j < params->cols; j++)
        {
            const int32_t x0 = j * w / params->cols, x1 = (j + 1) * w / params->cols;
            const int32_t b = params->bits[i * params->cols + j];
            const int32_t k = params->shifts[i * params->cols + j];
            const uint32_t mask = (1u << b) - 1u;
            uint32_t acc = 0;
            int32_t nbits = 0;
            for (y = y0; y < y1; y++)
            {
                int8_t *row = output + ((size_t)y * w + x0) * c;
                for (x = x0; x < x1; x++)
                {
                    for (ch = 0; ch < c; ch++)
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
                        *row++ = (int8_t)(v < lo ? lo : v > hi ? hi : v);
                    }
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}
