/*
 * hwq portable CMSIS-NN runtime: element-wise add and multiply (s8, s16) and in-place activations.
 *
 * Written for hwq from the documented CMSIS-NN arithmetic (formulas in arm_nnfunctions.h). The s16
 * forms ignore the offsets, as the library's do (int16 tensors are symmetric).
 */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

static int32_t hwq_add_one(const int32_t a,
                           const int32_t b,
                           const int32_t m1,
                           const int32_t s1,
                           const int32_t m2,
                           const int32_t s2,
                           const int32_t left_shift,
                           const int32_t out_mult,
                           const int32_t out_shift)
{
    const int32_t x1 = arm_nn_requantize((int32_t)((uint32_t)a << left_shift), m1, s1);
    const int32_t x2 = arm_nn_requantize((int32_t)((uint32_t)b << left_shift), m2, s2);
    return arm_nn_requantize(x1 + x2, out_mult, out_shift);
}

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_1_mult,
                                           const int32_t input_1_shift,
                                           const int32_t input_2_offset,
                                           const int32_t input_2_mult,
                                           const int32_t input_2_shift,
                                           const int32_t left_shift,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t r = hwq_add_one(input_1_vect[i] + input_1_offset, input_2_vect[i] + input_2_offset,
                                      input_1_mult, input_1_shift, input_2_mult, input_2_shift, left_shift,
                                      out_mult, out_shift) +
            out_offset;
        output[i] = (int8_t)hwq_nn_clamp(r, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_add_s16(const int16_t *input_1_vect,
                                            const int16_t *input_2_vect,
                                            const int32_t input_1_offset,
                                            const int32_t input_1_mult,
                                            const int32_t input_1_shift,
                                            const int32_t input_2_offset,
                                            const int32_t input_2_mult,
                                            const int32_t input_2_shift,
                                            const int32_t left_shift,
                                            int16_t *output,
                                            const int32_t out_offset,
                                            const int32_t out_mult,
                                            const int32_t out_shift,
                                            const int32_t out_activation_min,
                                            const int32_t out_activation_max,
                                            const int32_t block_size)
{
    (void)input_1_offset;
    (void)input_2_offset;
    (void)out_offset;
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t r = hwq_add_one(input_1_vect[i], input_2_vect[i], input_1_mult, input_1_shift, input_2_mult,
                                      input_2_shift, left_shift, out_mult, out_shift);
        output[i] = (int16_t)hwq_nn_clamp(r, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_2_offset,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t prod = (input_1_vect[i] + input_1_offset) * (input_2_vect[i] + input_2_offset);
        const int32_t r = arm_nn_requantize(prod, out_mult, out_shift) + out_offset;
        output[i] = (int8_t)hwq_nn_clamp(r, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s16(const int16_t *input_1_vect,
                                            const int16_t *input_2_vect,
                                            const int32_t input_1_offset,
                                            const int32_t input_2_offset,
                                            int16_t *output,
                                            const int32_t out_offset,
                                            const int32_t out_mult,
                                            const int32_t out_shift,
                                            const int32_t out_activation_min,
                                            const int32_t out_activation_max,
                                            const int32_t block_size)
{
    (void)input_1_offset;
    (void)input_2_offset;
    (void)out_offset;
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t prod = (int32_t)input_1_vect[i] * input_2_vect[i];
        const int32_t r = arm_nn_requantize(prod, out_mult, out_shift);
        output[i] = (int16_t)hwq_nn_clamp(r, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

void arm_relu_q7(int8_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; i++)
    {
        data[i] = data[i] < 0 ? 0 : data[i];
    }
}

void arm_relu6_s8(int8_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; i++)
    {
        data[i] = (int8_t)hwq_nn_clamp(data[i], 0, 6);
    }
}

void arm_relu_q15(int16_t *data, uint16_t size)
{
    for (uint16_t i = 0; i < size; i++)
    {
        data[i] = data[i] < 0 ? 0 : data[i];
    }
}
