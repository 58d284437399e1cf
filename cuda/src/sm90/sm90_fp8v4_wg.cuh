// sm90_fp8v4_wg.cuh - the P.V warpgroups of the FP16-copy P.V variant of the
// three-consumer fp8-KV kernel (sm90_fp8v4_config.cuh). WG 1 is the
// three-consumer kernel's (fp8v3_softmax_wg_loop_in with Fp8v4Smem).
#pragma once

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_epilogue.cuh"
#include "sm90_fp8_tile.cuh"
#include "sm90_fp8v4_config.cuh"
#include "sm90_items.cuh"
#include "sm90_softmax_wg.cuh"
#include "sm90_sync.cuh"
#include "sm90_wgmma.cuh"
#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// The 8 FP8 chunks (16 codes each) of value dims [256 w, 256 w + 256) that
// thread `tid` converts: key row conversion_row(tid) (two lanes a row, lane
// bit 3 picks the half), chunks 16 w + 8 half .. + 7, into FP16 chunks of
// the same row of `copy` (blocks 4 w .. 4 w + 3, codes x 2^-8). The 8 lanes
// of a quarter-warp touch 8 rows of one chunk: distinct bank groups under
// the swizzle for the loads and the stores.
__device__ __forceinline__ void fp8v4_convert_half(uint32_t tile, uint32_t copy, uint32_t tid, uint32_t w) {
  const uint32_t half = (tid >> 3) & 1;
  (void)convert_row_chunks<2, false>(tile, copy, conversion_row(tid), 16 * w + 8 * half);
}

// O *= the rescale factor of the thread's two rows (64 floats at `scale`),
// skipped when every factor of the warp is exactly 1 (lazy R: most tiles).
__device__ __forceinline__ void fp8v4_rescale(float (&o)[128], uint32_t scale, RowPair rp) {
  float a0, a1;
  asm volatile("ld.shared.f32 %0, [%1];" : "=f"(a0) : "r"(scale + 4u * rp.r0));
  asm volatile("ld.shared.f32 %0, [%1];" : "=f"(a1) : "r"(scale + 4u * (rp.r0 + 8)));
  if (__all_sync(0xffffffffu, a0 == 1.f && a1 == 1.f)) return;
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] *= ((i >> 1) & 1) ? a1 : a0;
}

// w = 0 (WG 2) or 1 (WG 3): O[:, 256 w .. 256 w + 255].
__device__ __forceinline__ void fp8v4_pv_wg_loop(const DecodeParams& p, uint32_t base, int32_t m_tile, uint32_t w) {
  using Sm = Fp8v4Smem;
  const uint32_t tid = threadIdx.x - kWarpgroupThreads * (2 + w);
  const RowPair rp = thread_rows(tid);
  // B of each 128-dim half n: V copy blocks 4 w + 2 n, + 1 (64 dims each, kColBlockBytes apart).
  uint64_t v_desc[2];
#pragma unroll
  for (uint32_t n = 0; n < 2; ++n)
    v_desc[n] = make_sw128_desc(base + Sm::kVCopy + (4 * w + 2 * n) * kColBlockBytes, kColBlockBytes, 1024);

  float o[128];
  uint32_t tile_count = 0;
  Fp8Prof prof(base + Sm::kProf, 1 + w, tid);  // MLA_SM90_FP8_PROFILE only
  const volatile int32_t* part_end = p.part_begin + blockIdx.x + 1;
  for (int32_t index = p.part_begin[blockIdx.x]; index < *part_end; ++index) {
    const ItemView v = view_item(p, index, m_tile);
    if (v.rows == 0) continue;
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    for (int32_t t = 0; t < v.n_tiles; ++t, ++tile_count) {
      const uint32_t stage = tile_count % kV4Stages;
      const uint32_t tile = base + Sm::kKV + stage * kFp8TileBytes;
      const uint32_t b = tile_count & 1, use = tile_count >> 1;
      prof.mark(5);
      mbar_wait(base + Sm::kBarFull + 8 * stage, (tile_count / kV4Stages) & 1);
      prof.mark(0);
      // Every warp's wgmma of the previous tile finished (the barrier after
      // wait<0> below): the copy is free.
      fp8v4_convert_half(tile, base + Sm::kVCopy, tid, w);
      fence_proxy_async();                            // the FP16 copy is read by wgmma (async proxy)
      mbar_arrive(base + Sm::kBarEmpty + 8 * stage);  // the stage's last read here
      named_sync(kBarV4CopyReady0 + w, kWarpgroupThreads);
      prof.mark(1);
      mbar_wait(base + Sm::kBarPReady + 8 * b, use & 1);
      prof.mark(2);
      fp8v4_rescale(o, base + Sm::kScale + 256 * b, rp);
      pin_regs(o);
      const uint64_t p_desc = make_sw128_desc(base + Sm::kP + b * 8192, 16, 1024);
      wgmma_fence();
      // Two m64n128 halves (a 512-thread launch caps ptxas at 128 registers:
      // no m64n256, C7602); o[64 n ..] is half n, which is exactly the
      // m64n256 accumulator order store_output_half reads.
#pragma unroll
      for (uint32_t kk = 0; kk < 4; ++kk)
#pragma unroll
        for (uint32_t n = 0; n < 2; ++n)
          wgmma_m64n128k16_f16_ss_vt(*reinterpret_cast<float(*)[64]>(&o[64 * n]), desc_advance(p_desc, kk * 32),
                                     desc_advance(v_desc[n], kk * 2048), 1u);
      wgmma_commit();
      wgmma_wait<0>();
      pin_regs(o);
      // wait_group covers this warp's wgmma only, and every warp's reads all
      // 64 keys of the copy: the next conversion starts once all four are done.
      named_sync(kBarV4CopyReady0 + w, kWarpgroupThreads);
      prof.mark(3);
      if (t == v.n_tiles - 1) {
        // O * R / sum, and 2^8 for V = code x 2^-8.
        float inv[2];
        const uint32_t inv_buf = base + Sm::kInvSum + 256 * b;
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(inv[0]) : "r"(inv_buf + 4u * rp.r0));
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(inv[1]) : "r"(inv_buf + 4u * (rp.r0 + 8)));
        inv[0] *= 256.f;
        inv[1] *= 256.f;
        store_output_half(p, v, rp, 256 * w, o, inv);
      }
      mbar_arrive(base + Sm::kBarPFree + 8 * b);  // P', the factors and R / sum of buffer b read
      prof.mark(4);
      prof.tile_done();
    }
    if (v.n_tiles == 0) {  // the rows see no key: zeros (inv 0)
      const float zero[2] = {0.f, 0.f};
      store_output_half(p, v, rp, 256 * w, o, zero);
    }
  }
  prof.report();
}

}  // namespace mla::cuda_impl::sm90
