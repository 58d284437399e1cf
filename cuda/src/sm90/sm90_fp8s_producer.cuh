// sm90_fp8s_producer.cuh - warpgroup 0 of the transposed small-H fp8-KV
// kernel: the compact Q (16 rows, 9 blocks of [16 rows][128 B]) and the FP8
// KV tiles with their scales (load_kv_tile_fp8 of sm90_fp8_producer.cuh,
// unchanged: TMA for whole readable page runs, cp.async rows otherwise,
// zero rows and MLA_STATUS_BAD_PAGE_ID for page ids outside the pool).
#pragma once

#include <cuda.h>

#include <cstdint>

#include "../decode_params.h"
#include "sm90_config.cuh"
#include "sm90_fp8_config.cuh"
#include "sm90_fp8_producer.cuh"
#include "sm90_fp8s_config.cuh"
#include "sm90_items.cuh"
#include "sm90_sync.cuh"

namespace mla::cuda_impl::sm90 {

// The Q rows of one M tile (at most 16) into the compact layout at `dst`,
// 16-byte cp.async per chunk (rows past `rows` become zeros): BF16 rows (72
// chunks) at blocks 0-8, fp8_rope640 rows (40 chunks) at blocks 4-8
// (kQcFp8Off), where WG 1 converts them in place. Every producer thread then
// arrives on `full` (kQFullArrivals).
template <bool kQFp8>
__device__ __forceinline__ void load_q_compact(const DecodeParams& p, int64_t q_row0, int32_t rows, uint32_t dst,
                                               uint32_t full) {
  constexpr uint32_t kChunks = kQFp8 ? kFp8ChunksPerRow : kChunksPerRow;
  constexpr uint32_t kRowBytesQ = kQFp8 ? kFp8RowBytes : kRowBytes;
  const uint32_t tid = threadIdx.x & (kWarpgroupThreads - 1);
  const uint8_t* q = static_cast<const uint8_t*>(p.q);
#pragma unroll 1
  for (uint32_t i = tid; i < kSmallRows * kChunks; i += kWarpgroupThreads) {
    const uint32_t r = i / kChunks, c = i % kChunks;
    const bool valid = int32_t(r) < rows;
    cp_async_16_sized(dst + qc_chunk_offset(r, c), valid ? q + (q_row0 + r) * int64_t(kRowBytesQ) + 16 * c : q,
                valid ? 16u : 0u);
  }
  cp_async_arrive_noinc(full);
}

// S: the kernel's shared-memory map (Fp8rSmem), kN its stage count; the
// loop is fp8_producer_ring's with the compact Q.
template <bool kQFp8, class S, uint32_t kN>
__device__ __forceinline__ void fp8s_producer_loop(const DecodeParams& p, const CUtensorMap* kv_map, int32_t box_rows,
                                                   uint32_t base) {
  fp8_producer_ring<S, kN>(p, kv_map, box_rows, base, 0, [&](const ItemView& v) {
    uint32_t q_dst;  // in an asm so that ptxas does not keep it live across the loop
    asm volatile("add.u32 %0, %1, %2;" : "=r"(q_dst) : "r"(base), "n"(S::kQ + (kQFp8 ? kQcFp8Off : 0u)));
    load_q_compact<kQFp8>(p, v.q_row0, v.rows, q_dst, base + S::kBarQFull);
  });
}

}  // namespace mla::cuda_impl::sm90
