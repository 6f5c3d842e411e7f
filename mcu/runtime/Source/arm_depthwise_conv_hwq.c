/*
 * hwq portable CMSIS-NN runtime: depthwise convolutions (s8, s4 weights), direct form.
 *
 * Written for hwq from the documented CMSIS-NN arithmetic. Output channel o = c * ch_mult + m reads
 * input channel c; filter [1, HK, WK, C_OUT]:
 *   acc = bias[o] + sum_{ky,kx valid} (in[y*sy-py+ky*dy][x*sx-px+kx*dx][c] + input_offset) * w[ky][kx][o]
 *   out = clamp(arm_nn_requantize(acc, m[o], s[o]) + output_offset, act.min, act.max)
 */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#include <stddef.h>

/* Stack bytes the int4 kernel may use to unpack the whole filter (larger filters take the slower
 * nibble-by-nibble loop). */
#ifndef HWQ_S4_UNPACK_BYTES
#define HWQ_S4_UNPACK_BYTES 1024
#endif

/* int4 (packed) weights, one output channel at a time. */
static arm_cmsis_nn_status hwq_depthwise(const cmsis_nn_dw_conv_params *p,
                                         const cmsis_nn_per_channel_quant_params *quant_params,
                                         const cmsis_nn_dims *input_dims,
                                         const int8_t *input_data,
                                         const cmsis_nn_dims *filter_dims,
                                         const int8_t *filter_data,
                                         const int32_t *bias_data,
                                         const cmsis_nn_dims *output_dims,
                                         int8_t *output_data)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t ch_mult = p->ch_mult;
    if (ch_mult <= 0 || out_c != in_c * ch_mult)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input_data + (size_t)b * in_h * in_w * in_c;
        int8_t *out = output_data + (size_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * p->stride.h - p->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * p->stride.w - p->padding.w;
                for (int32_t c = 0; c < in_c; c++)
                {
                    for (int32_t m = 0; m < ch_mult; m++)
                    {
                        const int32_t oc = c * ch_mult + m;
                        int32_t acc = bias_data != NULL ? bias_data[oc] : 0;
                        for (int32_t ky = 0; ky < f_h; ky++)
                        {
                            const int32_t iy = base_y + ky * p->dilation.h;
                            if (iy < 0 || iy >= in_h)
                            {
                                continue;
                            }
                            for (int32_t kx = 0; kx < f_w; kx++)
                            {
                                const int32_t ix = base_x + kx * p->dilation.w;
                                if (ix < 0 || ix >= in_w)
                                {
                                    continue;
                                }
                                const int32_t x = in[((size_t)iy * in_w + ix) * in_c + c] + p->input_offset;
                                const int32_t k = (ky * f_w + kx) * out_c + oc;
                                acc += x * hwq_nn_s4_at(filter_data, k);
                            }
                        }
                        acc = arm_nn_requantize(acc, quant_params->multiplier[oc], quant_params->shift[oc]) +
                            p->output_offset;
                        out[((size_t)oy * out_w + ox) * out_c + oc] =
                            (int8_t)hwq_nn_clamp(acc, p->activation.min, p->activation.max);
                    }
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/* int8 weights: four consecutive output channels per pass over the window (valid taps computed once per
 * pixel); each weight and input value is loaded once per multiply-accumulate. */
static arm_cmsis_nn_status hwq_depthwise_s8(const cmsis_nn_dw_conv_params *p,
                                            const cmsis_nn_per_channel_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims,
                                            const int8_t *input_data,
                                            const cmsis_nn_dims *filter_dims,
                                            const int8_t *filter_data,
                                            const int32_t *bias_data,
                                            const cmsis_nn_dims *output_dims,
                                            int8_t *output_data)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t f_h = filter_dims->h, f_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t ch_mult = p->ch_mult;
    const int32_t in_off = p->input_offset;
    if (ch_mult <= 0 || out_c != in_c * ch_mult)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input_data + (size_t)b * in_h * in_w * in_c;
        int8_t *out = output_data + (size_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * p->stride.h - p->padding.h;
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * p->stride.w - p->padding.w;
                int32_t oc = 0;
                while (oc < out_c)
                {
                    const int32_t nb = oc + 4 <= out_c ? 4 : 1;
                    int32_t acc[4] = {0, 0, 0, 0};
                    int32_t ic[4] = {0, 0, 0, 0};
                    for (int32_t j = 0; j < nb; j++)
                    {
                        acc[j] = bias_data != NULL ? bias_data[oc + j] : 0;
                        ic[j] = (oc + j) / ch_mult;
                    }
                    for (int32_t ky = 0; ky < f_h; ky++)
                    {
                        const int32_t iy = base_y + ky * p->dilation.h;
                        if (iy < 0 || iy >= in_h)
                        {
                            continue;
                        }
                        for (int32_t kx = 0; kx < f_w; kx++)
                        {
                            const int32_t ix = base_x + kx * p->dilation.w;
                            if (ix < 0 || ix >= in_w)
                            {
                                continue;
                            }
                            const int8_t *px = in + ((size_t)iy * in_w + ix) * in_c;
                            const int8_t *wk = filter_data + (ky * f_w + kx) * out_c + oc;
                            if (nb == 4)
                            {
                                acc[0] += (px[ic[0]] + in_off) * wk[0];
                                acc[1] += (px[ic[1]] + in_off) * wk[1];
                                acc[2] += (px[ic[2]] + in_off) * wk[2];
                                acc[3] += (px[ic[3]] + in_off) * wk[3];
                            }
                            else
                            {
                                acc[0] += (px[ic[0]] + in_off) * wk[0];
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++)
                    {
                        const int32_t r = arm_nn_requantize(acc[j], quant_params->multiplier[oc + j],
                                                            quant_params->shift[oc + j]) +
                            p->output_offset;
                        out[((size_t)oy * out_w + ox) * out_c + oc + j] =
                            (int8_t)hwq_nn_clamp(r, p->activation.min, p->activation.max);
                    }
                    oc += nb;
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_dw_conv_params *dw_conv_params,
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
    (void)ctx;
    (void)bias_dims;
    return hwq_depthwise_s8(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data,
                            output_dims, output_data);
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                      const cmsis_nn_dims *input_dims,
                                                      const cmsis_nn_dims *filter_dims,
                                                      const cmsis_nn_dims *output_dims)
{
    (void)dw_conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s4(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_dw_conv_params *dw_conv_params,
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
    (void)ctx;
    (void)bias_dims;
    const int32_t n_weights = filter_dims->h * filter_dims->w * output_dims->c;
    if (n_weights > 0 && n_weights <= HWQ_S4_UNPACK_BYTES)
    {
        /* small filter: unpack it once and run the int8 kernel */
        int8_t unpacked[HWQ_S4_UNPACK_BYTES];
        hwq_nn_s4_unpack(filter_data, 0, n_weights, unpacked);
        return hwq_depthwise_s8(dw_conv_params, quant_params, input_dims, input_data, filter_dims, unpacked,
                                bias_data, output_dims, output_data);
    }
    return hwq_depthwise(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data,
                         output_dims, output_data);
}

int32_t arm_depthwise_conv_wrapper_s4_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                      const cmsis_nn_dims *input_dims,
                                                      const cmsis_nn_dims *filter_dims,
                                                      const cmsis_nn_dims *output_dims)
{
    (void)dw_conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}
