// testing.h - hooks into device code for the test suite (not part of the API).
#pragma once

#include <cstdint>

#include "mla/status.h"

namespace mla::cuda_impl {

// Runs the device's E4M3 -> BF16 conversion (fp8_bf16.cuh) on all 256 codes
// of the current device; bits[c] gets the BF16 bits of code c.
Status fp8_to_bf16_on_device(uint16_t bits[256]);

// decode() calls so far (this process) whose kernel merged the split-K
// partials itself (sm90/sm90_fused_combine.cuh) instead of the combine kernel: the
// test that the fused path ran where it should (counted by api.cpp).
int64_t fused_combine_decodes();

}  // namespace mla::cuda_impl
