#!/usr/bin/env bash
# Installs what building and testing mla needs on Debian 12 (or a close
# Ubuntu), skipping whatever is already there. Uses sudo when not root.
#
# Debian packages: compiler, ninja, doctest, cmake (meson finds Debian's
# doctest through its CMake package), the Vulkan loader and headers, glslc,
# lavapipe (mesa-vulkan-drivers: a CPU Vulkan device for the tests), the
# validation layer, spirv-tools and numpy. Meson comes from PyPI, pinned:
# Debian 12's meson 1.0.1 is older than the 1.4 the project needs.
# The CUDA toolkit is not installed here; the build uses /usr/local/cuda if present.
set -euo pipefail

MESON_VERSION=1.12.1
PACKAGES=(
  build-essential pkg-config cmake ninja-build doctest-dev
  libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
  python3 python3-pip python3-numpy ca-certificates
)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# meson >= 1.4: keep a recent one, otherwise install the pinned release.
meson_recent() {
  command -v meson >/dev/null 2>&1 || return 1
  local v
  v=$(meson --version 2>/dev/null) || return 1
  [ "$(printf '%s\n1.4.0\n' "$v" | sort -V | head -n1)" = "1.4.0" ]
}
if ! meson_recent; then
  echo "install_deps: installing meson==$MESON_VERSION from PyPI"
  # Debian marks its Python as externally managed (PEP 668); meson is a pure
  # Python tool with no dependencies, so a system-wide pip install is safe.
  "${SUDO[@]}" python3 -m pip install --break-system-packages --no-cache-dir "meson==$MESON_VERSION"
  hash -r
fi
meson_recent || { echo "install_deps: meson >= 1.4 is still not on PATH" >&2; exit 1; }

# numpy must be importable by the python3 that meson's tests will use.
if ! python3 -c "import numpy" >/dev/null 2>&1; then
  echo "install_deps: python3 ($(command -v python3)) has no numpy; installing it with pip"
  "${SUDO[@]}" python3 -m pip install --break-system-packages --no-cache-dir numpy
fi
echo "install_deps: ready (meson $(meson --version), $(python3 -c 'import numpy; print("numpy", numpy.__version__)'))"
