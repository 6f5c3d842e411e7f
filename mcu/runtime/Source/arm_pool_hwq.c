/*
 * hwq portable CMSIS-NN runtime: max and average pooling (s8, s16).
 *
 * Written for hwq from the documented CMSIS-NN arithmetic. Window filter_dims->h x filter_dims->w
 * starting at (y*sy - py, x*sx - px); taps outside the input are skipped.
 *   max: out = clamp(max over valid taps, act.min, act.max)
 *   avg: sum over the n valid taps; out = clamp(round(sum / n), act.min, act.max), rounding half away
 *        from zero: (sum > 0 ? sum + n/2 : sum - n/2) / n with C truncating division. n = 0 is an error.
 */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#include <stddef.h>

/* is16: element type; is_avg: average else max. Reads/writes through the typed pointers given. */
static arm_cmsis_nn_status hwq_pool(const cmsis_nn_pool_params *p,
                                    const cmsis_nn_dims *input_dims,
                                    const void *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    void *output_data,
                                    const int is16,
                                    const int is_avg)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;
    const int8_t *in8 = (const int8_t *)input_data;
    const int16_t *in16 = (const int16_t *)input_data;
    int8_t *out8 = (int8_t *)output_data;
    int16_t *out16 = (int16_t *)output_data;
    for (int32_t b = 0; b < batches; b++)
    {
        const size_t in_base = (size_t)b * in_h * in_w * ch;
        const size_t out_base = (size_t)b * out_h * out_w * ch;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * p->stride.h - p->padding.h;
            const int32_t y0 = MAX(0, -base_y), y1 = MIN(f_h, in_h - base_y);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * p->stride.w - p->padding.w;
                const int32_t x0 = MAX(0, -base_x), x1 = MIN(f_w, in_w - base_x);
                const int32_t count = (y1 > y0 && x1 > x0) ? (y1 - y0) * (x1 - x0) : 0;
                if (count == 0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                for (int32_t c = 0; c < ch; c++)
                {
                    int32_t acc = is_avg ? 0 : (is16 ? INT16_MIN : INT8_MIN);
                    for (int32_t ky = y0; ky < y1; ky++)
                    {
                        for (int32_t kx = x0; kx < x1; kx++)
                        {
                            const size_t i = in_base + ((size_t)(base_y + ky) * in_w + (base_x + kx)) * ch + c;
                            const int32_t v = is16 ? in16[i] : in8[i];
                            if (is_avg)
                            {
                                acc += v;
                            }
                            else if (v > acc)
                            {
                                acc = v;
                            }
                        }
                    }
                    if (is_avg)
                    {
                        acc = (acc > 0 ? acc + count / 2 : acc - count / 2) / count;
                    }
                    acc = hwq_nn_clamp(acc, p->activation.min, p->activation.max);
                    const size_t o = out_base + ((size_t)oy * out_w + ox) * ch + c;
                    if (is16)
                    {
                        out16[o] = (int16_t)acc;
                    }
                    else
                    {
                        out8[o] = (int8_t)acc;
                    }
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/* int8: four channels per pass over the window (valid window computed once per pixel). */
static arm_cmsis_nn_status hwq_pool_s8(const cmsis_nn_pool_params *p,
                                       const cmsis_nn_dims *input_dims,
                                       const int8_t *input_data,
                                       const cmsis_nn_dims *filter_dims,
                                       const cmsis_nn_dims *output_dims,
                                       int8_t *output_data,
                                       const int is_avg)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;
    for (int32_t b = 0; b < batches; b++)
    {
        const int8_t *in = input_data + (size_t)b * in_h * in_w * ch;
        int8_t *out = output_data + (size_t)b * out_h * out_w * ch;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * p->stride.h - p->padding.h;
            const int32_t y0 = MAX(0, -base_y), y1 = MIN(f_h, in_h - base_y);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * p->stride.w - p->padding.w;
                const int32_t x0 = MAX(0, -base_x), x1 = MIN(f_w, in_w - base_x);
                const int32_t count = (y1 > y0 && x1 > x0) ? (y1 - y0) * (x1 - x0) : 0;
                if (count == 0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                int32_t c = 0;
                while (c < ch)
                {
                    const int32_t nb = c + 4 <= ch ? 4 : 1;
                    int32_t a[4];
                    for (int32_t j = 0; j < 4; j++)
                    {
                        a[j] = is_avg ? 0 : INT8_MIN;
                    }
                    for (int32_t ky = y0; ky < y1; ky++)
                    {
                        const int8_t *v = in + ((size_t)(base_y + ky) * in_w + (base_x + x0)) * ch + c;
                        for (int32_t kx = x0; kx < x1; kx++, v += ch)
                        {
                            if (is_avg)
                            {
                                a[0] += v[0];
                                if (nb == 4)
                                {
                                    a[1] += v[1];
                                    a[2] += v[2];
                                    a[3] += v[3];
                                }
                            }
                            else
                            {
                                a[0] = MAX(a[0], v[0]);
                                if (nb == 4)
                                {
                                    a[1] = MAX(a[1], v[1]);
                                    a[2] = MAX(a[2], v[2]);
                                    a[3] = MAX(a[3], v[3]);
                                }
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++)
                    {
                        int32_t r = a[j];
                        if (is_avg)
                        {
                            r = (r > 0 ? r + count / 2 : r - count / 2) / count;
                        }
                        out[((size_t)oy * out_w + ox) * ch + c + j] =
                            (int8_t)hwq_nn_clamp(r, p->activation.min, p->activation.max);
                    }
                    c += nb;
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)ctx;
    return hwq_pool_s8(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 0);
}

arm_cmsis_nn_status arm_max_pool_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_pool_params *pool_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *input_data,
                                     const cmsis_nn_dims *filter_dims,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *output_data)
{
    (void)ctx;
    return hwq_pool(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1, 0);
}

arm_cmsis_nn_status arm_avgpool_s8(const cmsis_nn_context *ctx,
                                   const cmsis_nn_pool_params *pool_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input_data,
                                   const cmsis_nn_dims *filter_dims,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output_data)
{
    (void)ctx;
    return hwq_pool_s8(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1);
}

int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}

arm_cmsis_nn_status arm_avgpool_s16(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int16_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int16_t *output_data)
{
    (void)ctx;
    return hwq_pool(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1, 1);
}

int32_t arm_avgpool_s16_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}
