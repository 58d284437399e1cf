#version 450
// combine.comp - merges the partitions of split requests through their LSE
// (last pass). One workgroup per output row of a split request, a 4-column
// quad per thread; partitions are summed in index order (deterministic):
//   M = max_s lse_s,  w_s = 2^(lse_s - M),  out = sum_s w_s o_s / sum_s w_s,
//   LSE = ln 2 * (M + log2(sum_s w_s)).
// A partition with no visible key has lse -inf and weight 0; a row whose
// partitions are all empty gets output 0 and LSE -inf. A NaN LSE in any
// partition makes the row NaN (output and LSE), as in the reference: max()
// may drop a NaN operand, so NaN is tested on the bits, not through max().
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = MLA_VK_COMBINE_THREADS) in;

layout(std430, set = 0, binding = MLA_VK_BIND_OUT) writeonly buffer Out { uvec2 out_bf16[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_LSE) writeonly buffer Lse { float lse_out[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_META) readonly buffer Meta { uint meta[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_PART_LSE) readonly buffer PartLse { float part_lse[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_PART_OUT) readonly buffer PartOut { vec4 part_out[]; };

#include "find_request.glsl"

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint item = folded_workgroup_id();
  if (item >= meta[MLA_VK_META_COMBINE_TOTAL]) return;
  const uint b = find_request(item, MLA_VK_META_COMBINE_OFF(uint(pc.batch)));
  const uint ib = MLA_VK_META_INFO(b);
  const uint nsplit = meta[ib + MLA_VK_INFO_NSPLIT];
  const uint row = item - meta[MLA_VK_META_COMBINE_OFF(uint(pc.batch)) + b];
  const uint grow = meta[ib + MLA_VK_INFO_Q_BEGIN] * uint(pc.num_heads) + row;
  const uint base = grow * uint(pc.split_slots);

  float m = MLA_NEG_INF;
  bool nan_seen = false;
  for (uint s = 0u; s < nsplit; ++s) {
    const float ls = part_lse[base + s];
    nan_seen = nan_seen || is_nan_bits(ls);
    m = max(m, ls);
  }
  if (nan_seen) {
    out_bf16[grow * MLA_VK_OUT_ROW_UVEC2 + tid] = pack_bf16x4(vec4(MLA_NAN));
    if (tid == 0u) lse_out[grow] = MLA_NAN;
    return;
  }
  vec4 o = vec4(0.0);
  float sum_w = 0.0;
  if (m != MLA_NEG_INF) {
    for (uint s = 0u; s < nsplit; ++s) {
      const float ls = part_lse[base + s];
      const float w = ls == MLA_NEG_INF ? 0.0 : exp2(ls - m);
      sum_w += w;
      o = fma(vec4(w), part_out[(base + s) * MLA_VK_OUT_ROW_UVEC2 + tid], o);
    }
    o /= sum_w;
  }
  out_bf16[grow * MLA_VK_OUT_ROW_UVEC2 + tid] = pack_bf16x4(o);
  if (tid == 0u) lse_out[grow] = m == MLA_NEG_INF ? MLA_NEG_INF : float((m + log2(sum_w)) * MLA_LN2);
}
