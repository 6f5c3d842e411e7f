/*
 * hwq portable CMSIS-NN runtime: convolutions (s8, s4 weights, s16 activations), direct form.
 *
 * Written for hwq from the documented CMSIS-NN arithmetic (see arm_nnfunctions.h). Per output pixel
 * (y, x) and output channel o of group g = o / (C_OUT / groups), groups = C_IN / filter C:
 *   acc = bias[o] + sum_{ky,kx valid} sum_{i<Cf} (in[y*sy-py+ky*dy][x*sx-px+kx*dx][g*Cf+i] + input_offset)
 *                                               * w[o][ky][kx][i]
 * taps in the padding are skipped (they would multiply a zero-point, i.e. add 0).
 */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#include <stddef.h>

/* Stack bytes the int4 convolution may use to unpack four output channels' filters (filters larger than
 * a quarter of this take the slower nibble-by-nibble loop). */
#ifndef HWQ_S4_UNPACK_BYTES
#define HWQ_S4_UNPACK_BYTES 1024
#endif

/* Geometry shared by the three element types. */
typedef struct
{
    int32_t in_h, in_w, in_c, f_h, f_w, f_c, out_h, out_w, out_c, groups, out_per_group;
} hwq_conv_geom;

static arm_cmsis_nn_status hwq_conv_geometry(const cmsis_nn_dims *input_dims,
                                             const cmsis_nn_dims *filter_dims,
                                             const cmsis_nn_dims *output_dims,
                                             hwq_conv_geom *g)
{
    g->in_h = input_dims->h;
    g->in_w = input_dims->w;
    g->in_c = input_dims->c;
    g->f_h = filter_dims->h;
    g->f_w = filter_dims->w;
    g->f_c = filter_dims->c;
    g->out_h = output_dims->h;
    g->out_w = output_dims->w;
    g->out_c = output_dims->c;
    if (g->f_c <= 0 || g->in_c % g->f_c != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    g->groups = g->in_c / g->f_c;
    if (g->out_c % g->groups != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    g->out_per_group = g->out_c / g->groups;
    return ARM_CMSIS_NN_SUCCESS;
}

/* The accumulators of output channels oc..oc+nb-1 (nb = 1 or 4, same group) at one output pixel; w0 is
 * channel oc's filter, the next channels' filters follow it. Four channels at a time read each input value
 * once for four multiply-accumulates. */
static void hwq_conv_s8_pixel(const hwq_conv_geom *g,
                              const cmsis_nn_conv_params *conv_params,
                              const int8_t *in,
                              const int8_t *w0,
                              const int32_t base_y,
                              const int32_t base_x,
                              const int32_t oc,
                              const int32_t nb,
                              int32_t *acc)
{
    const int32_t in_off = conv_params->input_offset;
    const int32_t filter_size = g->f_h * g->f_w * g->f_c;
    const int32_t ch0 = (oc / g->out_per_group) * g->f_c;
    for (int32_t ky = 0; ky < g->f_h; ky++)
    {
        const int32_t iy = base_y + ky * conv_params->dilation.h;
        if (iy < 0 || iy >= g->in_h)
        {
            continue;
        }
        for (int32_t kx = 0; kx < g->f_w; kx++)
        {
            const int32_t ix = base_x + kx * conv_params->dilation.w;
            if (ix < 0 || ix >= g->in_w)
            {
                continue;
            }
            const int8_t *px = in + ((size_t)iy * g->in_w + ix) * g->in_c + ch0;
            const int8_t *q0 = w0 + (ky * g->f_w + kx) * g->f_c;
            if (nb == 4)
            {
                const int8_t *q1 = q0 + filter_size;
                const int8_t *q2 = q1 + filter_size;
                const int8_t *q3 = q2 + filter_size;
                int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
                for (int32_t i = 0; i < g->f_c; i++)
                {
                    const int32_t x = px[i] + in_off;
                    a0 += x * q0[i];
                    a1 += x * q1[i];
                    a2 += x * q2[i];
                    a3 += x * q3[i];
                }
                acc[0] = a0;
                acc[1] = a1;
                acc[2] = a2;
                acc[3] = a3;
            }
            else
            {
                int32_t a0 = acc[0];
                for (int32_t i = 0; i < g->f_c; i++)
                {
                    a0 += (px[i] + in_off) * q0[i];
                }
                acc[0] = a0;
            }
        }
    }
}

arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_conv_params *conv_params,
                                    const cmsis_nn_per_channel_quant_params *quant_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const int8_t *filter_data,
                                    const cmsis_nn_dims *bias_dims,
                                    const int32_t *bias_data,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    hwq_conv_geom g;
    (void)ctx;
    (void)bias_dims;
    if (hwq_conv_geometry(input_dims, filter_dims, output_dims, &g) != ARM_CMSIS_NN_SUCCESS)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t out_off = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input_data + (size_t)b * g.in_h * g.in_w * g.in_c;
        int8_t *out = output_data + (size_t)b * g.out_h * g.out_w * g.out_c;
        for (int32_t oy = 0; oy < g.out_h; oy++)
        {
            const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
            for (int32_t ox = 0; ox < g.out_w; ox++)
            {
                const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                int32_t oc = 0;
                while (oc < g.out_c)
                {
                    const int32_t group_end = (oc / g.out_per_group + 1) * g.out_per_group;
                    const int32_t nb = oc + 4 <= group_end ? 4 : 1;
                    int32_t acc[4];
                    for (int32_t j = 0; j < nb; j++)
                    {
                        acc[j] = bias_data != NULL ? bias_data[oc + j] : 0;
                    }
                    hwq_conv_s8_pixel(&g, conv_params, in, filter_data + (size_t)oc * g.f_h * g.f_w * g.f_c, base_y,
                                      base_x, oc, nb, acc);
                    for (int32_t j = 0; j < nb; j++)
                    {
                        const int32_t r =
                            arm_nn_requantize(acc[j], quant_params->multiplier[oc + j], quant_params->shift[oc + j]);
                        *out++ = (int8_t)hwq_nn_clamp(r + out_off, act_min, act_max);
                    }
                    oc += nb;
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx,
                                            const cmsis_nn_conv_params *conv_params,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims,
                                            const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims,
                                            const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims,
                                            const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims,
                                            int8_t *output_data)
{
    return arm_convolve_s8(ctx, conv_params, quant_params, input_dims, input_data, filter_dims, filter_data,
                           bias_dims, bias_data, output_dims, output_data);
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)output_dims;
    return arm_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

arm_cmsis_nn_status arm_convolve_wrapper_s4(const cmsis_nn_context *ctx,
                                            const cmsis_nn_conv_params *conv_params,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims,
                                            const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims,
                                            const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims,
                                            const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims,
                                            int8_t *output_data)
{
    hwq_conv_geom g;
    (void)ctx;
    (void)bias_dims;
    if (hwq_conv_geometry(input_dims, filter_dims, output_dims, &g) != ARM_CMSIS_NN_SUCCESS)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t in_off = conv_params->input_offset;
    const int32_t out_off = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int32_t filter_size = g.f_h * g.f_w * g.f_c;
    if (4 * filter_size <= HWQ_S4_UNPACK_BYTES)
    {
        /* Unpack up to four channels' filters (same group) once, then run the int8 loop over every pixel. */
        int8_t unpacked[HWQ_S4_UNPACK_BYTES];
        int32_t oc = 0;
        while (oc < g.out_c)
        {
            const int32_t group_end = (oc / g.out_per_group + 1) * g.out_per_group;
            const int32_t nb = oc + 4 <= group_end ? 4 : 1;
            hwq_nn_s4_unpack(filter_data, oc * filter_size, nb * filter_size, unpacked);
            for (int32_t b = 0; b < input_dims->n; b++)
            {
                const int8_t *in = input_data + (size_t)b * g.in_h * g.in_w * g.in_c;
                int8_t *out = output_data + (size_t)b * g.out_h * g.out_w * g.out_c + oc;
                for (int32_t oy = 0; oy < g.out_h; oy++)
                {
                    const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
                    for (int32_t ox = 0; ox < g.out_w; ox++, out += g.out_c)
                    {
                        const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                        int32_t acc[4];
                        for (int32_t j = 0; j < nb; j++)
                        {
                            acc[j] = bias_data != NULL ? bias_data[oc + j] : 0;
                        }
                        hwq_conv_s8_pixel(&g, conv_params, in, unpacked, base_y, base_x, oc, nb, acc);
                        for (int32_t j = 0; j < nb; j++)
                        {
                            const int32_t r = arm_nn_requantize(acc[j], quant_params->multiplier[oc + j],
                                                                quant_params->shift[oc + j]);
                            out[j] = (int8_t)hwq_nn_clamp(r + out_off, act_min, act_max);
                        }
                    }
                }
            }
            oc += nb;
        }
        return ARM_CMSIS_NN_SUCCESS;
    }
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input_data + (size_t)b * g.in_h * g.in_w * g.in_c;
        int8_t *out = output_data + (size_t)b * g.out_h * g.out_w * g.out_c;
        for (int32_t oy = 0; oy < g.out_h; oy++)
        {
            const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
            for (int32_t ox = 0; ox < g.out_w; ox++)
            {
                const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                for (int32_t oc = 0; oc < g.out_c; oc++)
                {
                    const int32_t ch0 = (oc / g.out_per_group) * g.f_c;
                    int32_t acc = bias_data != NULL ? bias_data[oc] : 0;
                    for (int32_t ky = 0; ky < g.f_h; ky++)
                    {
                        const int32_t iy = base_y + ky * conv_params->dilation.h;
                        if (iy < 0 || iy >= g.in_h)
                        {
                            continue;
                        }
                        for (int32_t kx = 0; kx < g.f_w; kx++)
                        {
                            const int32_t ix = base_x + kx * conv_params->dilation.w;
                            if (ix < 0 || ix >= g.in_w)
                            {
                                continue;
                            }
                            const int8_t *px = in + ((size_t)iy * g.in_w + ix) * g.in_c + ch0;
                            const int32_t k0 = oc * filter_size + (ky * g.f_w + kx) * g.f_c;
                            for (int32_t i = 0; i < g.f_c; i++)
                            {
                                acc += (px[i] + in_off) * hwq_nn_s4_at(filter_data, k0 + i);
                            }
                        }
                    }
                    acc = arm_nn_requantize(acc, quant_params->multiplier[oc], quant_params->shift[oc]) + out_off;
                    *out++ = (int8_t)hwq_nn_clamp(acc, act_min, act_max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_convolve_wrapper_s4_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

arm_cmsis_nn_status arm_convolve_wrapper_s16(const cmsis_nn_context *ctx,
                                             const cmsis_nn_conv_params *conv_params,
                                             const cmsis_nn_per_channel_quant_params *quant_params,
                                             const cmsis_nn_dims *input_dims,
                                             const int16_t *input_data,
                                             const cmsis_nn_dims *filter_dims,
                                             const int8_t *filter_data,
                                             const cmsis_nn_dims *bias_dims,
                                             const cmsis_nn_bias_data *bias_data,
                                             const cmsis_nn_dims *output_dims,
                                             int16_t *output_data)
{
    hwq_conv_geom g;
    (void)ctx;
    (void)bias_dims;
    if (hwq_conv_geometry(input_dims, filter_dims, output_dims, &g) != ARM_CMSIS_NN_SUCCESS)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int32_t filter_size = g.f_h * g.f_w * g.f_c;
    const int has_bias = bias_data != NULL && bias_data->data != NULL;
    const int bias32 = bias_data != NULL && bias_data->is_int32_bias;
    const int32_t *b32 = has_bias && bias32 ? (const int32_t *)bias_data->data : NULL;
    const int64_t *b64 = has_bias && !bias32 ? (const int64_t *)bias_data->data : NULL;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int16_t *in = input_data + (size_t)b * g.in_h * g.in_w * g.in_c;
        int16_t *out = output_data + (size_t)b * g.out_h * g.out_w * g.out_c;
        for (int32_t oy = 0; oy < g.out_h; oy++)
        {
            const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
            for (int32_t ox = 0; ox < g.out_w; ox++)
            {
                const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                for (int32_t oc = 0; oc < g.out_c; oc++)
                {
                    const int32_t ch0 = (oc / g.out_per_group) * g.f_c;
                    const int8_t *w = filter_data + (size_t)oc * filter_size;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < g.f_h; ky++)
                    {
                        const int32_t iy = base_y + ky * conv_params->dilation.h;
                        if (iy < 0 || iy >= g.in_h)
                        {
                            continue;
                        }
                        for (int32_t kx = 0; kx < g.f_w; kx++)
                        {
                            const int32_t ix = base_x + kx * conv_params->dilation.w;
                            if (ix < 0 || ix >= g.in_w)
                            {
                                continue;
                            }
                            const int16_t *px = in + ((size_t)iy * g.in_w + ix) * g.in_c + ch0;
                            const int8_t *wk = w + (ky * g.f_w + kx) * g.f_c;
                            for (int32_t i = 0; i < g.f_c; i++)
                            {
                                acc += (int32_t)px[i] * wk[i];
                            }
                        }
                    }
                    int32_t r;
                    if (bias32)
                    {
                        const int32_t acc32 = (int32_t)(uint32_t)((uint64_t)acc + (uint64_t)(b32 ? b32[oc] : 0));
                        r = arm_nn_requantize(acc32, quant_params->multiplier[oc], quant_params->shift[oc]);
                    }
                    else
                    {
                        acc += b64 ? b64[oc] : 0;
                        r = arm_nn_requantize_s64(
                            acc, REDUCE_MULTIPLIER(quant_params->multiplier[oc]), quant_params->shift[oc]);
                    }
                    *out++ = (int16_t)hwq_nn_clamp(r, act_min, act_max);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_convolve_wrapper_s16_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const cmsis_nn_dims *filter_dims,
                                                 const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}
