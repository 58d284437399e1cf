// sm90_dev_variants.cu - the timing variants of the sm_90a kernel for the dev
// harness: the whole kernel with another TMA box cap, without the loads, or
// without the math (outputs are then garbage).
#include "../sm90_kernel.cuh"
#include "dev_variants.h"

namespace mla::sm90_dev {

bool launch_variant(const cuda_impl::DecodeParams& p, cudaStream_t stream, int variant, int box_cap, int prefetch) {
  using namespace cuda_impl::sm90;
  switch (variant) {
    case kVariantFull: return launch_bf16<kVariantFull>(p, stream, box_cap, prefetch);
    case kVariantNoCompute: return launch_bf16<kVariantNoCompute>(p, stream, box_cap, prefetch);
    case kVariantNoLoad: return launch_bf16<kVariantNoLoad>(p, stream, box_cap, prefetch);
  }
  return false;
}

}  // namespace mla::sm90_dev
