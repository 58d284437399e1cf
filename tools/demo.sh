#!/usr/bin/env bash
# On a fresh machine: installs what is missing, builds, and runs `mla demo`
# (a realistic decode batch on the best backend present, checked against the
# float64 reference, with timing). Arguments go to `mla demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
source tools/lib.sh
mla_configure
meson compile -C "$MLA_BUILD_DIR"
exec "$MLA_BUILD_DIR/tools/mla" demo "$@"
