// sm90_refill.cuh - consumer-issued refills of the BF16 kernel's KV stages
// (MLA_SM90_REFILL=consumer; off by default). Measured on the H200 (fifteenth
// session, docs/perf_notes.md): slower everywhere, H16 q1 185.6 vs 164.4 us,
// H128 q1 324 vs 297, page 16 225 vs 167; the suite passes with it.
//
// Why: with a producer warpgroup a stage goes back to the copy engine only
// after both consumer warpgroups have finished their P.V on it, arrived on
// the stage's empty barrier, and a producer warp has woken from its wait and
// issued the boxes. FlashMLA has no producer: the thread that retires the
// last wgmma reading part of a stage issues that part's TMA boxes at once.
// Here each consumer warpgroup refills the column blocks it reads last:
//   softmax WG: blocks 0-3 (its P.V) and 8 (rope, read by S only),
//   helper WG:  blocks 4-7 (its P.V).
// The producer keeps everything that is not on that path: page-table
// lookups, the decision per tile, Q, and every tile that is not plain TMA.
//
// Protocol for tile T (T >= kStages; stage s = T % kStages):
//  1. Producer warp 0, once tile T - kStages has landed (its note has been
//     read and its landed barriers are in T's phase), writes T's refill
//     note: `tma` = 1 when every run of T goes through TMA, and each run's
//     first pool row; then arrives on the note's barrier.
//     tma = 1: the producer arrives on each landed barrier for its 132
//     threads' share and issues nothing.
//     tma = 0: it issues T itself, as the default kernel does, after T -
//     kStages is empty, and arrives for the consumers' share too.
//  2. Each consumer warpgroup, when it frees tile T - kStages: all its warps
//     meet (their wgmma have retired), then its thread 0 waits for the note,
//     and when tma = 1 announces its blocks' bytes on the landed barriers and
//     issues them. Its warps arrive on the empty barrier after that read,
//     so the producer never rewrites a note before both issuers read it.
//  3. After its last tile the producer writes tma = 0 notes for the tiles
//     the consumers would look at next, so no consumer waits forever.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "sm90_config.cuh"
#include "sm90_sync.cuh"
#include "sm90_tma.cuh"

namespace mla::cuda_impl::sm90 {

// The blocks each consumer warpgroup refills (bit cb: column block cb).
constexpr uint32_t kSoftmaxRefillBlocks = 0x10Fu;  // 0-3 and 8
constexpr uint32_t kHelperRefillBlocks = 0x0F0u;   // 4-7
static_assert((kSoftmaxRefillBlocks | kHelperRefillBlocks) == 0x1FFu &&
                  (kSoftmaxRefillBlocks & kHelperRefillBlocks) == 0u,
              "the two warpgroups refill each of the 9 blocks exactly once");

__device__ __forceinline__ uint32_t refill_note(uint32_t base, uint32_t stage) {
  return base + smem::kRefillNote + stage * smem::kRefillNoteBytes;
}
__device__ __forceinline__ uint32_t refill_note_bar(uint32_t base, uint32_t stage) {
  return base + smem::kBarRefillNote + 8 * stage;
}

// Arrives `count` times at once (mbarrier arrive with a count, sm_90).
__device__ __forceinline__ void mbar_arrive_count(uint32_t bar, uint32_t count) {
  asm volatile(
      "{\n\t.reg .b64 st;\n\t"
      "mbarrier.arrive.shared::cta.b64 st, [%0], %1;\n\t}" ::"r"(bar),
      "r"(count)
      : "memory");
}

// Every part of tile `tile_index`'s landed signal has completed.
__device__ __forceinline__ void wait_tile_landed(uint32_t base, uint32_t tile_index) {
  const uint32_t stage = tile_index % kStages, parity = (tile_index / kStages) & 1;
#pragma unroll
  for (uint32_t part = 0; part < kFullParts; ++part) mbar_wait(full_bar(base, stage, part), parity);
}

// Step 1 and 3, by the whole of producer warp 0 for tile T >= kStages:
// `tma` as above; lane l holds the pool rows of the tile's keys l (lo_row)
// and l + 32 (hi_row); runs are run_rows long.
__device__ __forceinline__ void publish_refill_note(uint32_t base, uint32_t T, bool tma, int32_t lo_row,
                                                    int32_t hi_row, int32_t run_rows) {
  const uint32_t lane = threadIdx.x & 31;
  int32_t first_row[8];
#pragma unroll
  for (int32_t j = 0; j < 8; ++j) {
    const int32_t row = (j * run_rows) & 63;  // runs past the tile (run_rows > 8) are never read
    const int32_t lo = __shfl_sync(0xffffffffu, lo_row, row & 31);
    const int32_t hi = __shfl_sync(0xffffffffu, hi_row, row & 31);
    first_row[j] = row < 32 ? lo : hi;
  }
  wait_tile_landed(base, T - kStages);
  if (lane == 0) {
    const uint32_t note = refill_note(base, T % kStages);
    asm volatile("st.shared.u32 [%0], %1;" ::"r"(note), "r"(tma ? 1u : 0u) : "memory");
#pragma unroll
    for (int32_t j = 0; j < 8; ++j)
      asm volatile("st.shared.u32 [%0], %1;" ::"r"(note + 4 + 4 * j), "r"(first_row[j]) : "memory");
    mbar_arrive(refill_note_bar(base, T % kStages));  // release: the note is visible to its waiters
  }
  __syncwarp();
}

// Step 2, by all 128 threads of one consumer warpgroup right after their
// wgmma reading tile `freed` have retired (before their empty arrivals);
// thread 0 issues. (One box a lane of warp 0 instead was slower still: H200,
// H16 q1 199.5 vs 185.6 us; docs/perf_notes.md, fifteenth session.)
template <uint32_t kBlocks>
__device__ __forceinline__ void consumer_refill(const CUtensorMap* kv_map, int32_t box_rows, uint32_t base,
                                                uint32_t freed, uint32_t wg_barrier) {
  // Each warp has waited for its own wgmma only; the boxes overwrite what all four read.
  named_sync(wg_barrier, kWarpgroupThreads);
  if ((threadIdx.x % kWarpgroupThreads) != 0) return;
  const uint32_t T = freed + kStages, stage = T % kStages;
  mbar_wait(refill_note_bar(base, stage), (T / kStages - 1) & 1);
  const uint32_t note = refill_note(base, stage);
  uint32_t tma;
  asm volatile("ld.shared.u32 %0, [%1];" : "=r"(tma) : "r"(note) : "memory");
  if (tma == 0) return;
  const uint32_t tile = base + smem::kKV + stage * kTileBytes;
#pragma unroll
  for (uint32_t part = 0; part < kFullParts; ++part) {
    uint32_t blocks = 0;
#pragma unroll
    for (uint32_t cb = 0; cb < 9; ++cb) blocks += ((kBlocks >> cb) & 1u) && block_part(cb) == part ? 1u : 0u;
    mbar_arrive_expect_tx(full_bar(base, stage, part), blocks * kColBlockBytes);
  }
  for (int32_t j = 0; j * box_rows < kKeys; ++j) {
    int32_t row;
    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(row) : "r"(note + 4 + 4 * uint32_t(j)) : "memory");
    const uint32_t dst = tile + uint32_t(j * box_rows) * 128u;
#pragma unroll
    for (uint32_t cb = 0; cb < 9; ++cb)
      if ((kBlocks >> cb) & 1u)
        tma_load_2d(dst + cb * kColBlockBytes, kv_map, int32_t(cb * 64), row, full_bar(base, stage, block_part(cb)));
  }
}

}  // namespace mla::cuda_impl::sm90
