/*
 * hwq portable CMSIS-NN runtime: fully connected (s8 per-tensor / per-channel, s4 weights, s16).
 *
 * Written for hwq from the documented CMSIS-NN arithmetic. Filter [C_OUT][D] (D = filter_dims->n, the
 * accumulation depth; C_OUT = output_dims->c), one row per batch (input_dims->n rows of D):
 *   s8/s4: acc = bias[o] + sum_d (x[d] + input_offset) * (w[o][d] + filter_offset)   (int32)
 *          out = clamp(arm_nn_requantize(acc, m, s) + output_offset, act.min, act.max)
 *   s16:   acc = bias64[o] + sum_d x[d] * w[o][d]   (int64; offsets unused)
 *          out = clamp(arm_nn_requantize_s64(acc, REDUCE_MULTIPLIER(m), s), act.min, act.max)
 */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

#include <stddef.h>

/* Stack bytes the int4 kernel may use to unpack weight rows (rows longer than this take the slower
 * nibble-by-nibble loop). */
#ifndef HWQ_S4_UNPACK_BYTES
#define HWQ_S4_UNPACK_BYTES 1024
#endif

/* One implementation of the int8-activation forms: per_channel selects m[o]/s[o] over m[0]/s[0]. */
static arm_cmsis_nn_status hwq_fc_s8(const cmsis_nn_fc_params *p,
                                     const int32_t *mult,
                                     const int32_t *shift,
                                     const int per_channel,
                                     const cmsis_nn_dims *input_dims,
                                     const int8_t *input_data,
                                     const cmsis_nn_dims *filter_dims,
                                     const int8_t *filter_data,
                                     const int32_t *bias_data,
                                     const cmsis_nn_dims *output_dims,
                                     int8_t *output_data,
                                     const int packed_s4,
                                     const int32_t o_begin,
                                     const int32_t o_end)
{
    const int32_t depth = filter_dims->n;
    const int32_t out_c = output_dims->c;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *x = input_data + (size_t)b * depth;
        int8_t *out = output_data + (size_t)b * out_c;
        for (int32_t o = o_begin; o < o_end; o++)
        {
            int32_t acc = bias_data != NULL ? bias_data[o] : 0;
            if (packed_s4)
            {
                const int32_t k0 = o * depth;
                for (int32_t d = 0; d < depth; d++)
                {
                    acc += (x[d] + p->input_offset) * (hwq_nn_s4_at(filter_data, k0 + d) + p->filter_offset);
                }
            }
            else if (o + 4 <= o_end)
            {
                /* four rows at a time: each input value is read once for four multiply-accumulates */
                const int8_t *w0 = filter_data + (size_t)(o - o_begin) * depth;
                const int8_t *w1 = w0 + depth;
                const int8_t *w2 = w1 + depth;
                const int8_t *w3 = w2 + depth;
                const int32_t f_off = p->filter_offset;
                int32_t a[4];
                a[0] = acc;
                for (int32_t j = 1; j < 4; j++)
                {
                    a[j] = bias_data != NULL ? bias_data[o + j] : 0;
                }
                int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
                for (int32_t d = 0; d < depth; d++)
                {
                    const int32_t xv = x[d] + p->input_offset;
                    a0 += xv * (w0[d] + f_off);
                    a1 += xv * (w1[d] + f_off);
                    a2 += xv * (w2[d] + f_off);
                    a3 += xv * (w3[d] + f_off);
                }
                a[0] = a0;
                a[1] = a1;
                a[2] = a2;
                a[3] = a3;
                for (int32_t j = 0; j < 4; j++)
                {
                    const int32_t q = per_channel ? o + j : 0;
                    const int32_t r = arm_nn_requantize(a[j], mult[q], shift[q]) + p->output_offset;
                    out[o + j] = (int8_t)hwq_nn_clamp(r, p->activation.min, p->activation.max);
                }
                o += 3;
                continue;
            }
            else
            {
                const int8_t *w = filter_data + (size_t)(o - o_begin) * depth;
                for (int32_t d = 0; d < depth; d++)
                {
                    acc += (x[d] + p->input_offset) * (w[d] + p->filter_offset);
                }
            }
            const int32_t q = per_channel ? o : 0;
            acc = arm_nn_requantize(acc, mult[q], shift[q]) + p->output_offset;
            out[o] = (int8_t)hwq_nn_clamp(acc, p->activation.min, p->activation.max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
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
    return hwq_fc_s8(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims, input_data,
                     filter_dims, filter_data, bias_data, output_dims, output_data, 0, 0,
                     output_dims->c);
}

int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

arm_cmsis_nn_status arm_fully_connected_per_channel_s8(const cmsis_nn_context *ctx,
                                                       const cmsis_nn_fc_params *fc_params,
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
    return hwq_fc_s8(fc_params, quant_params->multiplier, quant_params->shift, 1, input_dims, input_data,
                     filter_dims, filter_data, bias_data, output_dims, output_data, 0, 0,
                     output_dims->c);
}

arm_cmsis_nn_status arm_fully_connected_wrapper_s8(const cmsis_nn_context *ctx,
                                                   const cmsis_nn_fc_params *fc_params,
                                                   const cmsis_nn_quant_params *quant_params,
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
    return hwq_fc_s8(fc_params, quant_params->multiplier, quant_params->shift, quant_params->is_per_channel != 0,
                     input_dims, input_data, filter_dims, filter_data, bias_data, output_dims, output_data, 0, 0,
                     output_dims->c);
}

arm_cmsis_nn_status arm_fully_connected_s4(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
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
    const int32_t depth = filter_dims->n;
    if (depth <= 0 || depth > HWQ_S4_UNPACK_BYTES)
    {
        return hwq_fc_s8(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims, input_data,
                         filter_dims, filter_data, bias_data, output_dims, output_data, 1, 0, output_dims->c);
    }
    /* unpack up to four rows at a time, then run the int8 loop on them */
    int8_t unpacked[HWQ_S4_UNPACK_BYTES];
    const int32_t rows = MIN(4, HWQ_S4_UNPACK_BYTES / depth);
    for (int32_t o0 = 0; o0 < output_dims->c; o0 += rows)
    {
        const int32_t o1 = MIN(o0 + rows, output_dims->c);
        hwq_nn_s4_unpack(filter_data, o0 * depth, (o1 - o0) * depth, unpacked);
        hwq_fc_s8(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims, input_data, filter_dims,
                  unpacked, bias_data, output_dims, output_data, 0, o0, o1);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_fully_connected_s16(const cmsis_nn_context *ctx,
                                            const cmsis_nn_fc_params *fc_params,
                                            const cmsis_nn_per_tensor_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims,
                                            const int16_t *input_data,
                                            const cmsis_nn_dims *filter_dims,
                                            const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims,
                                            const int64_t *bias_data,
                                            const cmsis_nn_dims *output_dims,
                                            int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t depth = filter_dims->n;
    const int32_t out_c = output_dims->c;
    const int32_t reduced = REDUCE_MULTIPLIER(quant_params->multiplier);
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int16_t *x = input_data + (size_t)b * depth;
        int16_t *out = output_data + (size_t)b * out_c;
        for (int32_t o = 0; o < out_c; o++)
        {
            const int8_t *w = filter_data + (size_t)o * depth;
            int64_t acc = bias_data != NULL ? bias_data[o] : 0;
            for (int32_t d = 0; d < depth; d++)
            {
                acc += (int32_t)x[d] * w[d];
            }
            const int32_t r = arm_nn_requantize_s64(acc, reduced, quant_params->shift);
            out[o] = (int16_t)hwq_nn_clamp(r, fc_params->activation.min, fc_params->activation.max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_fully_connected_s16_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}
