// common.glsl - what every pass shares: the push-constant block, BF16
// conversions, and the mask and split rules of common/include/mla/mask.h and
// split.h written again in GLSL (same formulas; tests compare against the
// float64 reference that uses the C++ versions).
#ifndef MLA_VK_COMMON_GLSL
#define MLA_VK_COMMON_GLSL

#include "shader_interface.h"

#define MLA_VK_INT(name) int name;
#define MLA_VK_FLOAT(name) float name;
layout(push_constant) uniform PushBlock { MLA_VK_PUSH_FIELDS } pc;
#undef MLA_VK_INT
#undef MLA_VK_FLOAT

#define MLA_NEG_INF uintBitsToFloat(0xFF800000u)
#define MLA_NAN uintBitsToFloat(0x7FC00000u)
#define MLA_LN2 0.69314718055994530942

// NaN test on the bits (integer compare): drivers may assume floats are not
// NaN (no SignedZeroInfNanPreserve), and max() / comparisons may drop one.
bool is_nan_bits(float f) { return (floatBitsToUint(f) & 0x7FFFFFFFu) > 0x7F800000u; }

// BF16 halves of a little-endian 32-bit word (element 2k in the low half).
float bf16_lo(uint w) { return uintBitsToFloat(w << 16); }
float bf16_hi(uint w) { return uintBitsToFloat(w & 0xFFFF0000u); }

// float -> BF16 bits, round to nearest even; NaN stays a quiet NaN (as mla::float_to_bf16).
uint float_to_bf16(float f) {
  uint u = floatBitsToUint(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u >> 16) | 0x40u;
  return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}
uvec2 pack_bf16x4(vec4 v) {
  return uvec2(float_to_bf16(v.x) | (float_to_bf16(v.y) << 16), float_to_bf16(v.z) | (float_to_bf16(v.w) << 16));
}

// mla::visible_keys: keys [x, y) that query i of a request sees.
ivec2 visible_keys(int kv_len, int q_len, int i) {
  const int p = kv_len - q_len + i;
  if (pc.mask == MLA_MASK_NONE) return ivec2(0, kv_len);
  int end = min(p + 1, kv_len);
  int begin = 0;
  if (pc.mask == MLA_MASK_SLIDING_WINDOW) {
    // max(0, p - window + 1) without forming p - window, which can overflow for huge windows.
    begin = p >= pc.window ? p - pc.window + 1 : 0;
  } else if (pc.mask == MLA_MASK_CHUNKED) {
    begin = p >= 0 ? (p / pc.chunk) * pc.chunk : 0;
  }
  if (end < begin) end = begin;
  return ivec2(begin, end);
}

// mla::request_keys: the union of the ranges of the request's queries.
ivec2 request_keys(int kv_len, int q_len) {
  if (q_len <= 0) return ivec2(0, 0);
  const ivec2 a = visible_keys(kv_len, q_len, 0);
  const ivec2 b = visible_keys(kv_len, q_len, q_len - 1);
  return ivec2(a.x, max(b.y, a.x));
}

// mla::split_chunk, in uint (lengths are < 2^31, sums stay below 2^32).
uint split_chunk(uint len, uint n, uint align_keys) {
  n = max(n, 1u);
  uint c = (len + n - 1u) / n;
  c = (c + align_keys - 1u) / align_keys * align_keys;
  return max(c, align_keys);
}

// mla::invariant_chunk.
uint invariant_chunk(uint kv_len) {
  uint c = MLA_INVARIANT_SPLIT_KEYS;
  while ((kv_len + c - 1u) / c > uint(MLA_MAX_SPLITS)) c *= 2u;
  return c;
}

#endif  // MLA_VK_COMMON_GLSL
