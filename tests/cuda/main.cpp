// The CUDA suite: skips (77) without a usable CUDA device.
#include "mla/cuda.h"
#include "mla_test.h"

int main(int argc, char** argv) {
  return mla::test::run_suite(argc, argv, [] { return mla::cuda::unavailable_reason(); });
}
