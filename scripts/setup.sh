#!/usr/bin/env bash
# Installs everything the hwq test suite needs, idempotently, and FAILS (exit 1, naming what is missing)
# when it cannot: system tools from apt when root (Icarus Verilog, yosys, g++, the Cortex-M cross
# compiler with newlib, QEMU, Chromium; retried while another apt/dpkg holds the lock), the CPU build of
# torch, then hwq itself (editable) with the extras the tests use. Quick when everything is present.
# HWQ_ALLOW_MISSING_TOOLS=1: only warn about system tools it cannot install (their tests then skip,
# unless HWQ_REQUIRE_TOOLS=1 makes them fail).
set -euo pipefail
cd "$(dirname "$0")/.."

have_newlib() {
  command -v arm-none-eabi-gcc >/dev/null 2>&1 || return 1
  local libc
  libc=$(arm-none-eabi-gcc -print-file-name=libc.a 2>/dev/null) || return 1
  [ -f "$libc" ]
}
have_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

# missing_apt: apt packages whose tools are not found (tool -> package)
missing_apt() {
  local pkgs=()
  command -v iverilog >/dev/null 2>&1 || pkgs+=(iverilog)
  command -v yosys >/dev/null 2>&1 || pkgs+=(yosys)
  command -v g++ >/dev/null 2>&1 || pkgs+=(g++)
  command -v arm-none-eabi-gcc >/dev/null 2>&1 || pkgs+=(gcc-arm-none-eabi)
  have_newlib || pkgs+=(libnewlib-arm-none-eabi)
  command -v qemu-system-arm >/dev/null 2>&1 || pkgs+=(qemu-system-arm)
  have_chromium || pkgs+=(chromium)
  echo "${pkgs[@]+"${pkgs[@]}"}"
}

# apt_retry CMD...: run an apt-get command, waiting for the apt/dpkg lock (up to ~10 minutes)
apt_retry() {
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 "$@"; then return 0; fi
    echo "setup: apt-get $1 failed (attempt $i; another apt/dpkg may hold the lock); retrying in 10 s" >&2
    sleep 10
  done
  return 1
}

need=$(missing_apt)
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing from apt: $need"
    # shellcheck disable=SC2086  # $need is a list of package names
    if ! { apt_retry update -qq && apt_retry install -y -qq --no-install-recommends $need; }; then
      echo "setup: FAILED to install $need with apt-get" >&2
      exit 1
    fi
    need=$(missing_apt)
  fi
  if [ -n "$need" ]; then
    msg="setup: not installed: $need (tests that need them skip, or fail under HWQ_REQUIRE_TOOLS=1)"
    if [ "${HWQ_ALLOW_MISSING_TOOLS:-0}" = 1 ]; then
      echo "$msg" >&2
    else
      echo "$msg; install them (as root: apt-get install $need) or set HWQ_ALLOW_MISSING_TOOLS=1" >&2
      exit 1
    fi
  fi
fi

PY=${PYTHON:-python3}
# (metadata and find_spec only: importing torch or ray just to check them takes many seconds)
"$PY" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('torch').startswith('2.13.0') else 1)" \
  2>/dev/null || "$PY" -m pip install -q --root-user-action=ignore torch==2.13.0
# (Re)install hwq editable unless this very checkout is already the installed one (hwq.hls included) and
# every package the test extras bring is installed.
here=$(pwd -P)
if ! (cd / && "$PY" - "$here" <<'PYCHECK'
import os, sys
from importlib.util import find_spec

root = sys.argv[1]
mods = [
    "pymoo", "ray",  # explore's NSGA-II (core) and its Ray executor (extra explore-ray)
    "pytest", "xdist", "hypothesis", "ml_dtypes", "pyslang",  # extra test
    "brevitas", "onnx",  # extra interop
    "da4ml", "apytypes", "fxpmath",  # extra bench
]
if any(find_spec(m) is None for m in mods):
    sys.exit(1)
specs = [find_spec("hwq"), find_spec("hwq.hls")]
ok = all(s is not None and os.path.realpath(s.origin).startswith(root + os.sep) for s in specs)
sys.exit(0 if ok else 1)
PYCHECK
) >/dev/null 2>&1; then
  "$PY" -m pip install -q --root-user-action=ignore -e '.[test,bench,interop,explore-ray]'
fi
command -v ruff >/dev/null 2>&1 || { echo "setup: ruff missing after install" >&2; exit 1; }
