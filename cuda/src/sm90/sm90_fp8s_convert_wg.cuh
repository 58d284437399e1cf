// sm90_fp8s_convert_wg.cuh - warpgroup 2 of the transposed small-H fp8-KV
// kernel: per tile, the E4M3 content of the FP8 stage -> the FP16 copy (code
// x 2^-8, exact; convert_content_tile of sm90_fp8_tile.cuh, the whole tile)
// and the NaN-aware copy of the tile's 64 sigma_k (NaN for a key with a NaN
// code: the conversion made it finite).
//
// Step 2 of docs/fp8_small_h_design.md (no overlap): per tile
//   (t > 0) PoolFree: WG 1's S^T and O^T of the previous tile completed
//   -> wait for the stage -> convert -> sigma copy -> proxy fence
//   -> VReady (WG 1 may read the copy) -> release the stage (every thread:
//      its reads were ordinary loads, kFp8EmptyArrivals)
// and per item ItemEnd (WG 1's last wgmma of the item completed, so the next
// item's first tile may overwrite the copy). Both sides of every hand-off
// are barrier.sync, met in the same order as in WG 1.
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_tile.cuh"
#include "sm90_fp8s_config.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl::sm90 {

__device__ __forceinline__ void fp8s_convert_wg_loop(const DecodeParams& p, uint32_t base) {
  using Sm = Fp8sSmem;
  const uint32_t tid = threadIdx.x - 2 * kWarpgroupThreads;
  const uint32_t lane = tid & 31;
  float* sigma_s = reinterpret_cast<float*>(__cvta_shared_to_generic(base + Sm::kSigmaS));
  const float* sigma_k = reinterpret_cast<const float*>(__cvta_shared_to_generic(base + Sm::kSigmaK));
  uint32_t tile_count = 0;
  const volatile int32_t* part_end = p.part_begin + blockIdx.x + 1;
  for (int32_t index = p.part_begin[blockIdx.x]; index < *part_end; ++index) {
    const ItemView v = view_item(p, index, 0);
    if (v.rows == 0) continue;
    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kStages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      if (t > 0) named_sync(kBarSmallPoolFree, kConsumerThreads);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kStages) & 1);
      bool has_nan = false;
      if constexpr ((kFp8DevVariant & 1) == 0) has_nan = convert_content_tile<true>(tile, base + Sm::kV, tid);
      if ((lane & 8) == 0) {
        const uint32_t row = conversion_row(tid);
        const float sk = sigma_k[stage * 64 + row];
        sigma_s[row] = has_nan ? __int_as_float(0x7fc00000) : sk;
      }
      fence_proxy_async();  // the FP16 copy is read by wgmma (async proxy)
      named_sync(kBarSmallVReady, kConsumerThreads);
      mbar_arrive(base + Sm::kBarEmpty + 8 * stage);  // every thread (kFp8EmptyArrivals)
    }
    named_sync(kBarItemEnd, kConsumerThreads);
  }
}

}  // namespace mla::cuda_impl::sm90
