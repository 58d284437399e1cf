# shellcheck shell=bash
# Sourced by tools/demo.sh and tools/test.sh: the build directory and its
# configuration, shared so that both commands build the same tree.
#   MLA_BUILD_DIR   build directory (default: build)
#   MLA_MESON_ARGS  extra `meson setup` arguments, e.g. "-Dcuda=disabled"

MLA_BUILD_DIR=${MLA_BUILD_DIR:-build}

# The CUDA toolkit's usual place, for machines where nvcc is not on PATH.
if [ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null 2>&1; then
  export PATH="$PATH:/usr/local/cuda/bin"
fi

# Configures the build directory once; later calls only reconfigure (cheap).
mla_configure() {
  # shellcheck disable=SC2086  # MLA_MESON_ARGS is a list of words
  if [ -f "$MLA_BUILD_DIR/build.ninja" ]; then
    meson setup --reconfigure "$MLA_BUILD_DIR" ${MLA_MESON_ARGS:-}
  else
    meson setup "$MLA_BUILD_DIR" ${MLA_MESON_ARGS:-}
  fi
}
