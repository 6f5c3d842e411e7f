/*
 * hwq per-patch mixed precision: pack an int8 NHWC activation map into per-patch b-bit codes and unpack it
 * back to int8 for the stock CMSIS-NN kernels (the MCU side of the IR op ``patch_quant``,
 * hwq/ir/ops/patch_quant.py, whose module docstring is the arithmetic; this restates the storage).
 *
 * Layout: the H x W plane is cut into rows x cols patches, patch (i, j) covering image rows
 * [i*H/rows, (i+1)*H/rows) and columns [j*W/cols, (j+1)*W/cols) (integer division), all channels.
 * Patches are stored one after the other, row-major over the grid; each starts on a byte boundary and
 * holds its elements in NHWC order (row, column, channel) as one bit stream of bits[p]-bit unsigned codes,
 * least significant bit first. Values are int8 storage (raw + storage offset); base, act_min and act_max
 * are in the same storage units. Per element of patch p, with b = bits[p], k = shifts[p]:
 *
 *   pack:    q = x < base ? 0 : min((x - base + (k ? 1 << (k - 1) : 0)) >> k, 2^b - 1)
 *   unpack:  y = clamp(base + (q << k), act_min, act_max)
 *
 * Valid ranges: 1 <= bits[p] <= 8, 0 <= shifts[p] <= 8 - bits[p], 1 <= rows <= H, 1 <= cols <= W.
 */
#ifndef HWQ_PATCH_PACK_H
#define HWQ_PATCH_PACK_H

#include <stdint.h>

#include "arm_nn_types.h"

/* Per-patch precision map: rows x cols entries in bits[] and shifts[], row-major over the grid. */
typedef struct
{
    int32_t rows;
    int32_t cols;
    const int8_t *bits;
    const int8_t *shifts;
    int32_t base;
    int32_t act_min;
    int32_t act_max;
} hwq_patch_quant_params;

/* Bytes of the packed storage of an (1, H, W, C) map: sum over patches of ceil(elements * bits / 8). */
int32_t hwq_patch_pack_s8_get_buffer_size(const hwq_patch_quant_params *params, const cmsis_nn_dims *dims);

/* int8 NHWC input -> packed codes (hwq_patch_pack_s8_get_buffer_size bytes). ARM_CMSIS_NN_ARG_ERROR on a
 * parameter outside the valid ranges. */
arm_cmsis_nn_status hwq_patch_pack_s8(const hwq_patch_quant_params *params,
                                      const cmsis_nn_dims *dims,
                                      const int8_t *input,
                                      void *packed);

/* packed codes -> int8 NHWC output. */
arm_cmsis_nn_status hwq_patch_unpack_s8(const hwq_patch_quant_params *params,
                                        const cmsis_nn_dims *dims,
                                        const void *packed,
                                        int8_t *output);

#endif
