#!/usr/bin/env bash
# Runs the whole test suite (slow end-to-end tests included) on all cores; extra arguments go to pytest.
# In CI (CI=true, or HWQ_REQUIRE_TOOLS=1 as .ci/run sets it) a test whose tool (iverilog, yosys, verilator,
# g++, arm-none-eabi-gcc, qemu-system-arm, chromium) or optional package is missing FAILS naming it instead
# of skipping. HWQ_SKIP_SETUP=1 skips scripts/setup.sh (quick local re-runs).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then export HWQ_REQUIRE_TOOLS="${HWQ_REQUIRE_TOOLS:-1}"; fi
if [ "${HWQ_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh || { echo "test.sh: scripts/setup.sh failed (see above)" >&2; exit 1; }
fi
python3 -m pytest -n "${HWQ_TEST_WORKERS:-2}" -q --durations=15 "$@"  # no path given: testpaths (tests/)
rc=$?
if [ $rc -eq 5 ]; then
  echo "test.sh: FAILED: pytest collected no tests (exit code 5) for: ${*:-tests}" >&2
fi
exit $rc
