// testing.h - hooks into device code for the test suite (not part of the API).
#pragma once

#include <cstdint>

#include "mla/status.h"

namespace mla::cuda_impl {

// Runs the device's E4M3 -> BF16 conversion (fp8_bf16.cuh) on all 256 codes
// of the current device; bits[c] gets the BF16 bits of code c.
Status fp8_to_bf16_on_device(uint16_t bits[256]);

}  // namespace mla::cuda_impl
