#!/usr/bin/env bash
# Builds and runs every test suite: tools/test.sh [meson test arguments]
# (e.g. --suite unit). A suite whose device is missing is reported as SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
mla_configure
meson test -C "$MLA_BUILD_DIR" --print-errorlogs "$@"
