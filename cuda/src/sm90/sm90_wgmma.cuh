// sm90_wgmma.cuh - shared-memory matrix descriptors and the ordering
// primitives around warpgroup MMAs (wgmma.fence / commit / wait), plus the
// register "pin" that keeps the compiler from touching accumulators while an
// MMA that owns them is in flight.
#pragma once

#include <cstdint>

#include "sm90_wgmma_ops.cuh"

namespace mla::cuda_impl::sm90 {

// A wgmma shared-memory descriptor for a 128-byte-swizzled operand
// (PTX ISA, "Matrix Descriptor Format"): start address, leading and stride
// byte offsets (all >> 4), swizzle mode 1 = 128B in bits 62-63, base offset
// 0 (every swizzle atom of ours starts on a 1024-byte boundary).
//  - K-major (rows of 64 BF16 = 128 bytes, 8-row atoms): lbo unused (16),
//    sbo = 1024, the distance between 8-row groups.
//  - MN-major (V: value columns contiguous): lbo = distance between 64-column
//    blocks, sbo = 1024, the distance between groups of 8 keys.
__device__ __forceinline__ uint64_t make_sw128_desc(uint32_t smem_byte_addr, uint32_t lbo, uint32_t sbo) {
  return uint64_t((smem_byte_addr & 0x3FFFFu) >> 4) | (uint64_t((lbo & 0x3FFFFu) >> 4) << 16) |
         (uint64_t((sbo & 0x3FFFFu) >> 4) << 32) | (uint64_t(1) << 62);
}

// Moves a descriptor's start address by a byte offset (a multiple of 16 that
// keeps the address inside shared memory, so the 14-bit field cannot carry).
__device__ __forceinline__ uint64_t desc_advance(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
}

// An empty asm that claims to read and write each register: ordinary code on
// an accumulator cannot be moved across it, so placed after wgmma_wait it
// keeps reads of the results after the wait, and placed before an MMA it keeps
// writes (rescaling) before the issue.
template <int N>
__device__ __forceinline__ void pin_regs(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void pin_regs(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}

}  // namespace mla::cuda_impl::sm90
