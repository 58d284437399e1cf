// sm90_fp8_config.cuh - the shape of the sm_90a decode kernel for an
// fp8_rope640 KV cache (Q either fp8_rope640 or bf16): shared-memory map,
// barrier ids and arrival counts. Thread roles and register budgets are those
// of the BF16 kernel (sm90_config.cuh):
//   WG 0 "producer": Q tile, then 64-key tiles of 640-byte rows (TMA whole
//        page runs or cp.async rows) and their 64 per-key scales, 2 stages.
//   WG 1 "softmax":  S = Q.K^T, scales, mask, online softmax, O[:, 0:256].
//        Content in FP16 against the FP16 copy of the tile (below), rope in
//        BF16 straight from the FP8 tile (its rope is BF16 already). The Q
//        tile is turned into FP16 once per request, in place, with a power
//        of two per row (fp8 Q: code * 2^-8, exact, loaded at kQFp8Off; bf16 Q: its
//        row maximum put near 2^15) and its rope scaled to match.
//   WG 2 "helper":   converts the tile's 512 E4M3 content columns to FP16 once
//        (code * 2^-8, exact; shared by every row of the M tile), then
//        O[:, 256:512].
// P.V runs in FP16 for both pairs: V = sigma_k * content with sigma_k folded
// into P (fp32) and P rescaled per row to at most 1 before it is rounded to
// FP16 (2^-11 relative), V read from the FP16 copy with the transpose bit.
// History (perf_notes.md, "Helper, third session"): the first version ran an
// fp8 Q's content on the FP8 tensor cores (QGMMA: accumulator and products
// truncated to 13-14 bits each k32 step; H200 worst error 6.75x the
// tolerance) and P.V in BF16 (P to 2^-8: up to 1.4x the tolerance).
#pragma once

#include <cstdint>
#if MLA_SM90_FP8_PROFILE
#include <cuda_runtime.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#endif

#include "sm90_config.cuh"

namespace mla::cuda_impl::sm90 {

// A 640-byte row in shared memory: 5 column blocks of [64 rows][128 B], the
// same 128-byte swizzle as the BF16 tile (swizzled_chunk_offset): blocks 0-3
// hold the 512 E4M3 content bytes (128 values a block), block 4 the 64 BF16
// rope values. So an FP8 k-step (32 values) and a BF16 k-step (16 values)
// are both 32 bytes and walk a block the same way. (The KV tiles may take
// the 8-row-group layout instead: below.)
constexpr uint32_t kFp8RowBytes = 640;
constexpr uint32_t kFp8ChunksPerRow = 40;
constexpr uint32_t kFp8ContentBlocks = 4;
constexpr uint32_t kFp8RopeBlock = 4;
constexpr uint32_t kFp8TileBytes = 5 * kColBlockBytes;  // 40 KiB

// MLA_SM90_FP8_KV_ROWGROUPS=1: the raw FP8 KV tiles of every fp8-KV kernel
// by 8-row groups, as the BF16 kernel's KV tiles (sm90_config.cuh,
// kKvRowGroups): group g = keys 8g..8g+7 holds its 5 blocks side by side
// ([group][block][8 rows][128 B], 5120 bytes a group), so one TMA box brings
// whole groups, each 5120 contiguous bytes of a page, where the column-block
// layout needs five boxes that each read 128 bytes of every row of the run,
// 640 bytes apart (the cost the BF16 change removed: H16 159.3 -> 154.3 us).
// The swizzle is the same (a row at the same 128-byte line of a 1024-byte
// atom). Every reader of a raw KV tile goes through these names: wgmma
// descriptors (8-row groups kFp8KvGroupStride apart, blocks
// kFp8KvBlockStride apart: fp8_kv_step_offset), thread and ldmatrix reads
// (fp8_kv_chunk_offset). The Q tiles and the FP16 copy keep the column-block
// layout (cp.async only). H200, graph, B128 kv4096 (docs/perf_notes.md,
// sixteenth session): H16 fp8 / bf16 Q 106.1 -> 105.1 / 115.9 -> 113.4 us,
// H64 fp8 Q 164.7 -> 160.0, H128 q2 fp8 Q 626.6 -> 604.1 (with fewer fp8v3
// spills). 0 builds the column blocks (A/B).
#ifndef MLA_SM90_FP8_KV_ROWGROUPS
#define MLA_SM90_FP8_KV_ROWGROUPS 1
#endif
constexpr bool kFp8KvRowGroups = MLA_SM90_FP8_KV_ROWGROUPS != 0;
constexpr uint32_t kFp8KvGroupStride = kFp8KvRowGroups ? 5u * 1024u : 1024u;     // bytes between 8-row groups
constexpr uint32_t kFp8KvBlockStride = kFp8KvRowGroups ? 1024u : kColBlockBytes;  // bytes between column blocks
__host__ __device__ constexpr uint32_t fp8_kv_chunk_offset(uint32_t row, uint32_t chunk) {
  return tile_chunk_offset<kFp8KvGroupStride, kFp8KvBlockStride>(row, chunk);
}
static_assert(fp8_kv_chunk_offset(63, 39) < kFp8TileBytes && fp8_kv_chunk_offset(56, 32) == kFp8TileBytes - 1024,
              "an FP8 KV tile holds 64 rows x 40 chunks");
// Where 32-byte k-step kk of a KV tile's rows starts (block kk / 4): content
// k-steps 0-15 (32 E4M3 values each), rope 16-19 (16 BF16 values each).
__host__ __device__ constexpr uint32_t fp8_kv_step_offset(uint32_t kk) {
  return (kk >> 2) * kFp8KvBlockStride + (kk & 3u) * 32u;
}
constexpr uint32_t kBf16ContentBytes = 8 * kColBlockBytes;  // 64 keys x 512 FP16: the converted content

// Where an fp8_rope640 Q tile lands inside the 72 KiB Q tile (column blocks
// 4-8): its rope (block 4 of the FP8 row) is then block 8, where the 16-bit
// layout keeps the rope, and the content's conversion (FP8 block j -> blocks
// 2j, 2j + 1) only overwrites FP8 blocks that were read before.
constexpr uint32_t kQFp8Off = 4 * kColBlockBytes;

// Per Q row, S = 2^e x what the MMAs sum on the converted tile; this e marks
// a fp8 Q row holding a NaN code (its logit factor becomes NaN).
constexpr int32_t kQExpNaN = -128;

// Development switch (build with -Dcuda_args=-DMLA_SM90_FP8_PROFILE=1): the
// first thread of each consumer warpgroup sums clock64() deltas of its
// per-tile phases into shared memory, and CTA (0, 0) prints them per tile
// for the first launches (Fp8Prof below). Off in the library.
#ifndef MLA_SM90_FP8_PROFILE
#define MLA_SM90_FP8_PROFILE 0
#endif
constexpr uint32_t kFp8ProfWgs = 3;  // consumer warpgroups profiled at most (the three-consumer kernel)
// Shared-memory slots: 8 per consumer warpgroup (two-consumer layouts; the
// three-consumer layout reserves 8 * kFp8ProfWgs).
constexpr uint32_t kFp8ProfSlots = MLA_SM90_FP8_PROFILE ? 16 : 0;

// One layout for both Q formats (both are converted to FP16 in place).
template <bool kQFp8>
struct Fp8Smem {
  static constexpr uint32_t kQBytes = kTileBytes;
  static constexpr uint32_t kQ = 0;
  static constexpr uint32_t kQLoad = kQ + kQFp8Off;               // where an FP8 Q lands (then converted)
  static constexpr uint32_t kKV = kQ + kQBytes;                   // kStages FP8 tiles
  static constexpr uint32_t kV = kKV + kStages * kFp8TileBytes;   // FP16 content of the current tile
  static constexpr uint32_t kP = kV + kBf16ContentBytes;          // P: 64 x 64 FP16, swizzled
  static constexpr uint32_t kScale = kP + 64 * 128;               // 64 floats: row rescale of this tile
  static constexpr uint32_t kInvSum = kScale + 64 * 4;            // 2 x 64 floats, per item parity
  static constexpr uint32_t kSigmaK = kInvSum + 2 * 64 * 4;       // kStages x 64 floats: sigma_k per key
  static constexpr uint32_t kSigmaS = kSigmaK + kStages * 64 * 4; // 64 floats: WG 2's copy of sigma_k (NaN-aware)
  static constexpr uint32_t kRowF = kSigmaS + 64 * 4;             // 64 floats: sigma_q * scale * log2(e) per row
  static constexpr uint32_t kQExp = kRowF + 64 * 4;               // 64 int8: e of each Q row (kQExpNaN)
  static constexpr uint32_t kProf = kQExp + 64;                   // kFp8ProfSlots uint64 (MLA_SM90_FP8_PROFILE)
  static constexpr uint32_t kBarFull = kProf + 8 * kFp8ProfSlots;
  static constexpr uint32_t kBarEmpty = kBarFull + 8 * kStages;
  static constexpr uint32_t kBarQFull = kBarEmpty + 8 * kStages;
  static constexpr uint32_t kBarQEmpty = kBarQFull + 8;
  static constexpr uint32_t kEnd = kBarQEmpty + 8;
  static constexpr uint32_t kDynamicBytes = kEnd + 1024;  // slack to align the base
  static_assert(kDynamicBytes <= 232448, "more than the 227 KiB a CTA may use");
  static_assert(kKV % 1024 == 0 && kV % 1024 == 0 && kP % 1024 == 0, "swizzle atoms need 1024-byte alignment");
};

// Register budgets after setmaxnreg: the consumers here hold a little more
// than the BF16 kernel's (216 made ptxas spill); the producer's bookkeeping
// fits in 56. The CTA's 384 x 168 launch registers cover exactly
// 128 x 56 + 256 x 224.
constexpr uint32_t kFp8ProducerRegs = 56;
constexpr uint32_t kFp8ConsumerRegs = 224;
static_assert(kWarpgroupThreads * kFp8ProducerRegs + kConsumerThreads * kFp8ConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg budgets exceed the CTA's registers");

// Named barriers between the consumer warpgroups: kBarPReady and kBarItemEnd
// of sm90_config.cuh (1, 3; kBarPFree, 2, is not used here) and these. Each
// is a barrier.sync of both consumer warpgroups (256 threads) on both sides,
// met in the same order by both per tile (TileFree for t > 0, VReady,
// PReady), then ItemEnd per item, which also frees the buffers for the next
// item's first tile. (Until 50157da the writer's side of VReady / PReady and
// the reader's side of VFree / PFree were barrier.arrive: racecheck reported
// 10 hazards on the H200 with this route on.)
constexpr uint32_t kBarVReady = 4;    // WG 2 wrote the FP16 content (and sigma_k copy) of the tile
constexpr uint32_t kBarTileFree = 5;  // both P.V of the previous tile finished: WG 2 may overwrite
                                      // the FP16 content / sigma_k copy, WG 1 P / rescale factors

// Arrivals that release a KV stage: every consumer thread, not lane 0 of
// each warp as in the BF16 kernel. Here the consumers read the stage with
// ordinary loads (the conversion), and racecheck (H200, fourth session,
// reliability fault table, where the producer refills stages with cp.async)
// reported the refill as a WAR hazard against a conversion read of a lane that
// had not arrived itself, although a 256-thread barrier.sync (VReady) orders
// that read before its warp's lane-0 arrive: the tool releases a thread's
// accesses at that thread's own arrive only.
constexpr uint32_t kFp8EmptyArrivals = kConsumerThreads;
// The same for the Q buffer, which the softmax warpgroup converts in place
// with ordinary loads and stores: every thread of it releases Q.
constexpr uint32_t kFp8QEmptyArrivals = kWarpgroupThreads;

// Who converts a tile's FP8 content to the FP16 copy: both consumer
// warpgroups, 32 key rows each (1, the default; sm90_fp8_tile.cuh
// convert_tile_share), or the helper warpgroup alone (0, the form measured
// up to the fourth session). The conversion lies on the serial chain
// TileFree -> conversion -> S -> softmax -> P.V of every tile, and the softmax
// WG waited through it. -DMLA_SM90_FP8_SPLIT_CONVERT=0 builds the old form
// for comparison.
#ifndef MLA_SM90_FP8_SPLIT_CONVERT
#define MLA_SM90_FP8_SPLIT_CONVERT 1
#endif
constexpr bool kFp8SplitConversion = MLA_SM90_FP8_SPLIT_CONVERT != 0;

// MLA_SM90_FP8_DEV_VARIANT (measurement builds only; the outputs are wrong):
// bits that each remove one piece of the per-tile chain, keeping every
// barrier, so the time a bit saves is what that piece costs on the chain.
//   0 the kernel (default)
//   bit 0 (1): no conversion: the FP16 copy and sigma_s are left as they are
//   bit 1 (2): no softmax: P' = S as it comes, no scales, max, exp or WG 1's
//              O rescale (WG 2 still multiplies its half by the factor 1)
//   bit 2 (4): no S: the 36 Q.K wgmma are not issued (S = 0)
//   bit 3 (8): no P.V: the P.V wgmma are not issued (the small-H kernel of
//              sm90_fp8r_*.cuh only, which also reads bit 2)
//   bit 4 (16): loads only: the small-H kernel's attend warpgroups release
//              each stage as soon as it lands and compute nothing (outputs
//              are garbage: the load pipeline's own ceiling)
// 7 leaves the loads, the P store, P.V and the hand-offs.
#ifndef MLA_SM90_FP8_DEV_VARIANT
#define MLA_SM90_FP8_DEV_VARIANT 0
#endif
constexpr int kFp8DevVariant = MLA_SM90_FP8_DEV_VARIANT;

// MLA_SM90_FP8_PROFILE: per-phase cycle sums of one warpgroup's tile loop
// (slots 8 wg .. 8 wg + 6 of the shared array at `smem`, slot 8 wg + 7
// counts tiles), recorded by its thread 0; CTA (0, 0) copies them to
// g_fp8_prof at the end (no printf in the kernel: a call would make ptxas
// serialise every wgmma), printed by the host after the launch
// (fp8_profile_print). Compiles to nothing when off.
#if MLA_SM90_FP8_PROFILE
static __device__ unsigned long long g_fp8_prof[kFp8ProfWgs][8];

// The host side: after the first 2 launches of each (kernel label, grid)
// outside stream capture, waits for the kernel and prints CTA (0, 0)'s
// cycles a tile for the 7 phases `names` of each of its Wgs consumer warpgroups.
template <int Wgs>
inline void fp8_profile_print(cudaStream_t stream, const char* label, dim3 grid,
                              const char* const (&names)[Wgs][7]) {
  static_assert(Wgs <= int(kFp8ProfWgs), "more warpgroups than g_fp8_prof holds");
  static std::mutex mu;
  static std::map<std::tuple<const char*, unsigned, unsigned>, int> seen;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capturing) != cudaSuccess || capturing != cudaStreamCaptureStatusNone) return;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (seen[{label, grid.x, grid.y}]++ >= 2) return;
  }
  unsigned long long v[kFp8ProfWgs][8];
  if (cudaStreamSynchronize(stream) != cudaSuccess || cudaMemcpyFromSymbol(v, g_fp8_prof, sizeof(v)) != cudaSuccess) {
    (void)cudaGetLastError();
    return;
  }
  for (int wg = 0; wg < Wgs; ++wg) {
    const double n = v[wg][7] > 0 ? double(v[wg][7]) : 1.0;
    std::fprintf(stderr, "%s profile grid %ux%u WG %d (CTA 0, %llu tiles), cycles a tile:", label, grid.x, grid.y,
                 wg + 1, v[wg][7]);
    for (int i = 0; i < 7; ++i) std::fprintf(stderr, " %s %.0f", names[wg][i], double(v[wg][i]) / n);
    std::fprintf(stderr, "\n");
  }
}
#endif
struct Fp8Prof {
  uint32_t slots, wg;
  bool on;
  long long last;
  __device__ __forceinline__ Fp8Prof(uint32_t smem, uint32_t wg_index, uint32_t tid)
      : slots(smem + 64u * wg_index), wg(wg_index), on(MLA_SM90_FP8_PROFILE && tid == 0), last(0) {
    if (kFp8ProfSlots && on) last = clock64();
  }
  __device__ __forceinline__ void add(uint32_t slot, unsigned long long d) {
    unsigned long long v;
    asm volatile("ld.shared.u64 %0, [%1];" : "=l"(v) : "r"(slots + 8u * slot) : "memory");
    asm volatile("st.shared.u64 [%0], %1;" ::"r"(slots + 8u * slot), "l"(v + d) : "memory");
  }
  __device__ __forceinline__ void mark(uint32_t slot) {
    if (kFp8ProfSlots && on) {
      const long long now = clock64();
      add(slot, (unsigned long long)(now - last));
      last = clock64();
    }
  }
  __device__ __forceinline__ void tile_done() {
    if (kFp8ProfSlots && on) add(7, 1ull);
  }
  __device__ __forceinline__ void report() {
#if MLA_SM90_FP8_PROFILE
    if (!on || blockIdx.x != 0 || blockIdx.y != 0) return;
    for (uint32_t i = 0; i < 8; ++i)
      asm volatile("ld.shared.u64 %0, [%1];" : "=l"(g_fp8_prof[wg][i]) : "r"(slots + 8u * i) : "memory");
#endif
  }
};

}  // namespace mla::cuda_impl::sm90
