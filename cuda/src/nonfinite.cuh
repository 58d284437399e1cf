// nonfinite.cuh - keeping a NaN / Inf in one cached row out of the rows that
// do not see that key.
//
// Why: tensor-core P.V multiplies every key of a tile into every row, and a
// row that does not see key k (masked, or another split's key that shares the
// tile) still computes 0 * V[k]; with a NaN or Inf in V[k] that is NaN, and
// the row turns NaN although the contract (and the float64 reference) says it
// never saw the value.
//
// How, cheaply: V is the first 512 values of the K row, so a non-finite V[k]
// makes the raw logit Q[r].K[k] non-finite for every row r of the tile
// (x * NaN = NaN, x * Inf = +-Inf or NaN; padding rows hold zeros: 0 * Inf =
// NaN). One row's raw logits therefore reveal every such key, and a tile whose
// logits are all finite (the normal case) costs a sum and a vote (portable
// kernel: a CTA-wide vote; sm90: a flag in shared memory raised by any thread
// and read after the P hand-off's barrier that exists anyway). Only then
// (the rare path) the tile's V rows are scanned: every non-finite value is
// replaced by 0 in shared memory and its key is flagged; a row that sees a
// flagged key becomes NaN (a NaN logit for the key in the portable kernel, a
// NaN softmax sum in sm90), as in the reference (NaN in V: NaN; Inf in V:
// Inf * weight and 0 * Inf give Inf - Inf or NaN there too), while every
// other row reads zeros.
// The scan must run after every warp's S reads of the tile and before any
// P.V read: the callers put a barrier on each side.
#pragma once

#include <cstdint>

namespace mla::cuda_impl {

// True when v is neither NaN nor +-Inf. A sum of logits is non-finite when
// any term is (or when finite terms overflow: a false alarm that only costs
// the rare path).
__device__ __forceinline__ bool is_finite_f32(float v) { return fabsf(v) <= 3.402823466e38f; }

// Replaces each non-finite BF16 of a 16-byte chunk (exponent bits all ones)
// by +0; returns whether there was one.
__device__ __forceinline__ bool zero_nonfinite_bf16x8(uint4& v) {
  uint32_t w[4] = {v.x, v.y, v.z, v.w};
  bool found = false;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const bool lo = (w[i] & 0x7F80u) == 0x7F80u, hi = (w[i] & 0x7F800000u) == 0x7F800000u;
    found = found || lo || hi;
    w[i] &= (lo ? 0xFFFF0000u : 0xFFFFFFFFu) & (hi ? 0x0000FFFFu : 0xFFFFFFFFu);
  }
  v = make_uint4(w[0], w[1], w[2], w[3]);
  return found;
}

}  // namespace mla::cuda_impl
