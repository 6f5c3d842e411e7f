/*
 * hwq MCU harness: minimal Cortex-M startup for QEMU (mps2-an386, mps3-an547) with semihosting.
 *
 * Vector table (initial stack pointer, reset handler, fault handlers), FPU enable, .bss clear (the
 * ELF loader places .data), newlib's semihosting file handles, main, exit. A fault prints the
 * exception number over semihosting and exits non-zero.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern void __hwq_stack_top(void); /* a linker symbol; declared as a function for the vector table */
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern void initialise_monitor_handles(void);
extern int main(int argc, char **argv);

void hwq_reset_handler(void);
void hwq_fault_handler(void);

__attribute__((section(".vectors"), used)) void (*const hwq_vectors[16])(void) = {
    __hwq_stack_top,   hwq_reset_handler, hwq_fault_handler, hwq_fault_handler,
    hwq_fault_handler, hwq_fault_handler, hwq_fault_handler, 0,
    0,                 0,                 0,                 hwq_fault_handler,
    hwq_fault_handler, 0,                 hwq_fault_handler, hwq_fault_handler,
};

void hwq_reset_handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10, CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *p = __bss_start__; p < __bss_end__; p++)
    {
        *p = 0;
    }
    initialise_monitor_handles();
    exit(main(0, 0));
}

void hwq_fault_handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    printf("hwq: fault, exception %lu\n", (unsigned long)(ipsr & 0x1FFu));
    exit(4);
}
