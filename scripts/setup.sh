#!/usr/bin/env bash
# Installs everything hwq needs, idempotently: system simulators/synthesis (apt, when root),
# the CPU build of torch, then hwq itself (editable) with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
for tool in iverilog yosys; do command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool"); done
# MCU backend: Cortex-M cross compiler + newlib (semihosting), QEMU for mps2-an386 / mps3-an547
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need_apt+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_apt[*]} from apt"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: ${need_apt[*]} not found and cannot apt-get install them; tests that need them will skip"
  fi
fi
PY=${PYTHON:-python3}
"$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
  || "$PY" -m pip install -q --root-user-action=ignore torch==2.13.0
# (Re)install hwq editable unless this very checkout is already the installed one (hwq.hls included).
here=$(pwd -P)
(cd / && "$PY" - "$here" <<'PYCHECK'
import os, sys
import hwq, hwq.hls
import pymoo, ray  # explore's NSGA-II (core) and its Ray executor (extra explore-ray)
root = sys.argv[1]
ok = all(os.path.realpath(m.__file__).startswith(root + os.sep) for m in (hwq, hwq.hls))
sys.exit(0 if ok else 1)
PYCHECK
) >/dev/null 2>&1 || "$PY" -m pip install -q --root-user-action=ignore -e '.[test,bench,interop,explore-ray]'
