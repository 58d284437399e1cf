// sm90_decode_bf16.cu - the library's sm_90a entry point: the full kernel
// of sm90_kernel.cuh for the (bf16, bf16) pair, the fp8_rope640-KV kernel
// (sm90_decode_fp8.cu) for the FP8 pairs; whatever they decline goes to the
// portable kernel (the caller's fallback when this returns false).
#include "sm90_decode.h"
#include "sm90_kernel.cuh"

// Measurement builds only: the TMA box height cap; below 8 every row goes by
// cp.async (docs/perf_notes.md, fifteenth session; tools/device/loads_probe.sh).
// 64 in every real build.
#ifndef MLA_DEV_BOX_CAP
#define MLA_DEV_BOX_CAP 64
#endif

namespace mla::cuda_impl {

bool sm90_decode_launch(const DecodeParams& p, cudaStream_t stream) {
  if (p.kv_format == MLA_FORMAT_FP8_ROPE640) return sm90_decode_launch_fp8kv(p, stream);
  // TMA boxes as tall as the page (up to the 64-row tile); no L2 prefetch
  // (measured 37% slower at 2 tiles ahead, see docs/perf_notes.md).
#if defined(MLA_DEV_SKIP) && (MLA_DEV_SKIP & 8)
  return sm90::launch_bf16<sm90::kVariantNoCompute>(p, stream, MLA_DEV_BOX_CAP, 0);  // measurement builds: loads only
#elif defined(MLA_DEV_SKIP) && (MLA_DEV_SKIP & 16)
  // Measurement builds: math only (add -DMLA_SM90_NONFINITE_CHECK=0: tiles
  // that were never loaded hold garbage, which takes the non-finite path).
  return sm90::launch_bf16<sm90::kVariantNoLoad>(p, stream, 64, 0);
#else
  return sm90::launch_bf16<sm90::kVariantFull>(p, stream, MLA_DEV_BOX_CAP, 0);
#endif
}

}  // namespace mla::cuda_impl

MLA_DEV_TIMELINE_READER(read_decode_stamps)
