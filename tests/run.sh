#!/usr/bin/env bash
# Runs the whole test suite on a Debian 12 machine: installs missing packages (as root),
# configures and builds in build/, then runs `meson test`. Extra arguments go to meson test
# (e.g. `./tests/run.sh --suite ops`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
if [ -d build ] && [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build
fi
ninja -C build
status=0
# Every suite, "quality" (issue 5's targets on the shipped demo model) included.
meson test -C build --print-errorlogs --num-processes "$(nproc)" "$@" || status=$?
# One closing line for tools that read it.
python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r == "OK" or r == "EXPECTEDFAIL":
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
