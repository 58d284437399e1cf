// dev_variants.h - launching the timing variants of the sm_90a kernel
// (sm90_dev_variants.cu): 0 full, 1 without the math, 2 without the loads;
// box_cap bounds the TMA box height, prefetch is the L2 prefetch distance in tiles.
#pragma once

#include <cuda_runtime.h>

#include "../../decode_params.h"

namespace mla::sm90_dev {

bool launch_variant(const cuda_impl::DecodeParams& p, cudaStream_t stream, int variant, int box_cap, int prefetch);

}  // namespace mla::sm90_dev
