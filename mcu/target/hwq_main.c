/*
 * hwq MCU harness: runs a generated model on every input vector of a binary file.
 *
 * Usage (host): hwq_main INPUTS.bin OUTPUTS.bin. On Cortex-M under QEMU (semihosting file I/O,
 * started with the QEMU working directory holding the files) the names default to inputs.bin and
 * outputs.bin. INPUTS.bin holds vectors of HWQ_MODEL_INPUT_COUNT hwq_model_in_t values back to back
 * (little-endian); OUTPUTS.bin receives HWQ_MODEL_OUTPUT_COUNT hwq_model_out_t values per vector.
 * The last stdout line is "hwq: vectors=N stack_bytes=S arena_bytes=A" (S = -1 where the stack is not
 * measured: host builds); exit status 0 on success, 2 on I/O errors, 3 when the model returns non-zero.
 *
 * hwq_model.h (written by hwq emit mcu) defines HWQ_MODEL_INPUT_COUNT, HWQ_MODEL_OUTPUT_COUNT,
 * hwq_model_in_t, hwq_model_out_t, HWQ_MODEL_ARENA_BYTES and HWQ_MODEL_RUN(in, out).
 */
#include <stdint.h>
#include <stdio.h>

#include "hwq_model.h"
#include "hwq_profile.h"

static hwq_model_in_t hwq_in[HWQ_MODEL_INPUT_COUNT];
static hwq_model_out_t hwq_out[HWQ_MODEL_OUTPUT_COUNT];

/* Trace anchors: the runner finds these functions' addresses with nm and their executions in QEMU's
 * trace. The empty asm keeps each call and body in place at any optimisation level. */
__attribute__((noinline)) void hwq_profile_start(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void hwq_profile_stop(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void hwq_profile_mark(int layer)
{
    __asm__ volatile("" : : "r"(layer) : "memory");
}

#ifdef HWQ_TARGET_CORTEX_M
/* Stack high-water mark: the region between the linker symbols is painted before each run and the
 * deepest overwritten word found after it. */
extern uint32_t __hwq_stack_limit[];
extern uint32_t __hwq_stack_top[];
#define HWQ_PAINT 0xA5C3A5C3u

__attribute__((noinline)) static void hwq_stack_paint(void)
{
    volatile uint32_t *p = __hwq_stack_limit;
    const uintptr_t sp = (uintptr_t)__builtin_frame_address(0) - 64u;
    while ((uintptr_t)p < sp)
    {
        *p++ = HWQ_PAINT;
    }
}

static long hwq_stack_used(void)
{
    const volatile uint32_t *p = __hwq_stack_limit;
    while (p < __hwq_stack_top && *p == HWQ_PAINT)
    {
        p++;
    }
    return (long)((uintptr_t)__hwq_stack_top - (uintptr_t)p);
}
#endif

int main(int argc, char **argv)
{
    const char *in_path = argc > 2 ? argv[1] : "inputs.bin";
    const char *out_path = argc > 2 ? argv[2] : "outputs.bin";
    long vectors = 0;
    long stack = -1;
    FILE *fin = fopen(in_path, "rb");
    if (fin == NULL)
    {
        printf("hwq: cannot open input file %s\n", in_path);
        return 2;
    }
    FILE *fout = fopen(out_path, "wb");
    if (fout == NULL)
    {
        printf("hwq: cannot open output file %s\n", out_path);
        return 2;
    }
    while (fread(hwq_in, sizeof hwq_in, 1, fin) == 1)
    {
#ifdef HWQ_TARGET_CORTEX_M
        hwq_stack_paint();
#endif
        hwq_profile_start();
        const int status = (int)HWQ_MODEL_RUN(hwq_in, hwq_out);
        hwq_profile_stop();
#ifdef HWQ_TARGET_CORTEX_M
        {
            const long used = hwq_stack_used();
            stack = used > stack ? used : stack;
        }
#endif
        if (status != 0)
        {
            printf("hwq: the model returned %d on vector %ld\n", status, vectors);
            return 3;
        }
        if (fwrite(hwq_out, sizeof hwq_out, 1, fout) != 1)
        {
            printf("hwq: cannot write %s\n", out_path);
            return 2;
        }
        vectors++;
    }
    fclose(fin);
    if (fclose(fout) != 0)
    {
        printf("hwq: cannot write %s\n", out_path);
        return 2;
    }
    printf("hwq: vectors=%ld stack_bytes=%ld arena_bytes=%ld\n", vectors, stack, (long)HWQ_MODEL_ARENA_BYTES);
    return 0;
}
