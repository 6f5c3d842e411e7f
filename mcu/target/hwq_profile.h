/*
 * hwq MCU harness: per-layer profile markers.
 *
 * Generated model code calls HWQ_PROFILE_MARK(i) right before layer i. Without HWQ_PROFILE the macro
 * is empty (no code at all); with -DHWQ_PROFILE it calls hwq_profile_mark(i), a noinline function of
 * the harness (mcu/target/hwq_main.c) whose executions sim/mcurun.py finds in a QEMU trace, so the
 * instructions executed between consecutive markers are the instructions of one layer.
 */
#ifndef HWQ_PROFILE_H
#define HWQ_PROFILE_H

#ifdef HWQ_PROFILE
#ifdef __cplusplus
extern "C" {
#endif
void hwq_profile_mark(int layer);
#ifdef __cplusplus
}
#endif
#define HWQ_PROFILE_MARK(i) hwq_profile_mark(i)
#else
#define HWQ_PROFILE_MARK(i) ((void)0)
#endif

#endif /* HWQ_PROFILE_H */
