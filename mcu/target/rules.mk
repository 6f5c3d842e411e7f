# hwq MCU build rules: a generated model + the hwq harness (hwq_main.c) + CMSIS-NN, for the host or a
# Cortex-M under QEMU. Included by the Makefile that `hwq emit mcu` writes, or used directly:
#
#   make -f <hwq>/mcu/target/rules.mk CPU=cortex-m4 CMSIS_NN_USE_SINGLE_ROUNDING=0 MODEL_SRCS="model.c"
#
# Variables
#   CPU                           host (default) | cortex-m4 | cortex-m7 | cortex-m55
#   CMSIS_NN                      CMSIS-NN root (Include/, Source/); default: hwq's portable runtime
#   CMSIS_NN_USE_SINGLE_ROUNDING  0 | 1, required. The library tests the macro with #ifdef, so 1 passes
#                                 -DCMSIS_NN_USE_SINGLE_ROUNDING and 0 leaves it undefined (-U)
#   MODEL_SRCS                    generated C files (relative to MODEL_DIR)
#   MODEL_DIR                     folder of MODEL_SRCS and hwq_model.h (default: .)
#   BUILD_DIR                     objects and the program (default: build/$(CPU)[-profile])
#   HWQ_PROFILE                   1: compile HWQ_PROFILE_MARK(i) markers in (for instruction counts)
#   OPT                           optimisation flag (default -O2)
# Targets: all (the program $(BUILD_DIR)/hwq_main[.elf]), run (host: INPUTS= OUTPUTS=; Cortex-M:
# QEMU with semihosting, files inputs.bin/outputs.bin in the current folder), clean.

HWQ_TARGET_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CPU ?= host
CMSIS_NN ?= $(HWQ_TARGET_DIR)/../runtime
MODEL_DIR ?= .
OPT ?= -O2
HWQ_PROFILE ?= 0

ifeq ($(strip $(CMSIS_NN_USE_SINGLE_ROUNDING)),1)
ROUNDING_FLAG := -DCMSIS_NN_USE_SINGLE_ROUNDING
else ifeq ($(strip $(CMSIS_NN_USE_SINGLE_ROUNDING)),0)
ROUNDING_FLAG := -UCMSIS_NN_USE_SINGLE_ROUNDING
else
$(error hwq rules.mk: set CMSIS_NN_USE_SINGLE_ROUNDING=0 or 1 (the rounding build must be explicit))
endif

ifeq ($(HWQ_PROFILE),1)
PROFILE_FLAG := -DHWQ_PROFILE
BUILD_DIR ?= build/$(CPU)-profile
else
PROFILE_FLAG :=
BUILD_DIR ?= build/$(CPU)
endif

ifeq ($(CPU),host)
CC := gcc
ARCH_FLAGS :=
LDFLAGS :=
PROGRAM := $(BUILD_DIR)/hwq_main
HARNESS_SRCS := hwq_main.c
else
CC := arm-none-eabi-gcc
ifeq ($(CPU),cortex-m4)
ARCH_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
LINKER_SCRIPT := $(HWQ_TARGET_DIR)/an386.ld
QEMU_MACHINE := mps2-an386
else ifeq ($(CPU),cortex-m7)
ARCH_FLAGS := -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16
LINKER_SCRIPT := $(HWQ_TARGET_DIR)/an386.ld
QEMU_MACHINE := mps2-an500
else ifeq ($(CPU),cortex-m55)
ARCH_FLAGS := -mcpu=cortex-m55 -mthumb -mfloat-abi=hard
LINKER_SCRIPT := $(HWQ_TARGET_DIR)/an547.ld
QEMU_MACHINE := mps3-an547
else
$(error hwq rules.mk: unknown CPU=$(CPU) (host, cortex-m4, cortex-m7, cortex-m55))
endif
ARCH_FLAGS += -DHWQ_TARGET_CORTEX_M -ffunction-sections -fdata-sections
LDFLAGS := -T $(LINKER_SCRIPT) -nostartfiles --specs=nano.specs --specs=rdimon.specs -Wl,--gc-sections
PROGRAM := $(BUILD_DIR)/hwq_main.elf
HARNESS_SRCS := hwq_main.c startup_cortex_m.c
endif

# hwq's runtime is -pedantic -Werror clean; the real library is built with its own warnings left alone.
ifneq ($(wildcard $(CMSIS_NN)/Source/arm_convolve_hwq.c),)
LIB_WARN := -Wall -Wextra -Werror -pedantic
else
LIB_WARN := -w
endif

LIB_SRCS := $(patsubst $(CMSIS_NN)/Source/%,%,$(wildcard $(CMSIS_NN)/Source/*.c $(CMSIS_NN)/Source/*/*.c))
COMMON_FLAGS := -std=c99 $(OPT) $(ARCH_FLAGS) $(ROUNDING_FLAG) $(PROFILE_FLAG) -I$(CMSIS_NN)/Include
MODEL_FLAGS := $(COMMON_FLAGS) -Wall -Wextra -Werror -I$(MODEL_DIR) -I$(HWQ_TARGET_DIR)

LIB_OBJS := $(addprefix $(BUILD_DIR)/lib/,$(LIB_SRCS:.c=.o))
MODEL_OBJS := $(addprefix $(BUILD_DIR)/model/,$(MODEL_SRCS:.c=.o))
HARNESS_OBJS := $(addprefix $(BUILD_DIR)/harness/,$(HARNESS_SRCS:.c=.o))

.PHONY: all run clean
all: $(PROGRAM)

$(PROGRAM): $(MODEL_OBJS) $(HARNESS_OBJS) $(LIB_OBJS)
	$(CC) $(ARCH_FLAGS) $^ $(LDFLAGS) -o $@

$(BUILD_DIR)/lib/%.o: $(CMSIS_NN)/Source/%.c
	@mkdir -p $(@D)
	$(CC) $(COMMON_FLAGS) $(LIB_WARN) -c $< -o $@

$(BUILD_DIR)/model/%.o: $(MODEL_DIR)/%.c $(wildcard $(MODEL_DIR)/*.h)
	@mkdir -p $(@D)
	$(CC) $(MODEL_FLAGS) -c $< -o $@

$(BUILD_DIR)/harness/%.o: $(HWQ_TARGET_DIR)/%.c $(wildcard $(MODEL_DIR)/*.h) $(HWQ_TARGET_DIR)/hwq_profile.h
	@mkdir -p $(@D)
	$(CC) $(MODEL_FLAGS) -c $< -o $@

ifeq ($(CPU),host)
run: $(PROGRAM)
	$(PROGRAM) $(INPUTS) $(OUTPUTS)
else
run: $(PROGRAM)
	qemu-system-arm -M $(QEMU_MACHINE) -nographic -monitor none -serial none \
	  -semihosting-config enable=on,target=native -kernel $(PROGRAM)
endif

clean:
	rm -rf $(BUILD_DIR)
