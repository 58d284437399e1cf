#version 450
// plan.comp - the device-side half of validation and the schedule (second
// pass, one workgroup). For every request it checks the metadata the host
// may not have seen (q_offsets, kv_lens; page ids come from pages.comp),
// writes the request's status word, a sanitised request record, how many
// decode workgroups (row groups x partitions) and combine rows it needs, and
// the exclusive prefix sums of both, and fills the two indirect dispatches.
//
// Rows. Request b owns the query tokens [q_offsets[b], q_offsets[b+1]) only
// when they lie in [0, total_q) and start at or after every earlier offset
// (so two requests never own the same row). A request that does not own its
// rows gets MLA_STATUS_BAD_Q_OFFSETS and nothing is written for it; a faulty
// request that owns its rows gets output 0 and LSE NaN on them.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = MLA_VK_PLAN_THREADS) in;

layout(std430, set = 0, binding = MLA_VK_BIND_Q_OFFSETS) readonly buffer QOffsets { int q_offsets[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_KV_LENS) readonly buffer KvLens { int kv_lens[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_STATUS) buffer Status { uint status_words[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_META) buffer Meta { uint meta[]; };

shared int sh_max[MLA_VK_PLAN_THREADS];
shared uint sh_items[MLA_VK_PLAN_THREADS];
shared uint sh_rows[MLA_VK_PLAN_THREADS];
shared uint sh_status[MLA_VK_PLAN_THREADS];

const int kIntMin = -2147483647 - 1;

// Decode workgroups and combine rows of a request, from its record.
uint decode_items(uint ib) {
  const uint rows = meta[ib + MLA_VK_INFO_Q_LEN] * uint(pc.num_heads);
  const uint groups = (rows + uint(pc.rows_per_group) - 1u) / uint(pc.rows_per_group);
  const uint n = meta[ib + MLA_VK_INFO_NSPLIT];
  return n == 0u ? groups : groups * n;
}
uint combine_rows(uint ib) {
  return meta[ib + MLA_VK_INFO_NSPLIT] > 1u ? meta[ib + MLA_VK_INFO_Q_LEN] * uint(pc.num_heads) : 0u;
}

// Partitions of a valid request's key range [kb, ke): writes nsplit, origin, chunk.
void plan_partitions(int kv, int kb, int ke, inout uint nsplit, inout uint origin, inout uint chunk) {
  const uint len = uint(ke - kb);
  if (pc.split_mode == MLA_VK_SPLIT_INVARIANT) {
    // Absolute boundaries at multiples of invariant_chunk(kv_len); only the
    // partitions that meet [kb, ke) are run (empty ones would add exact zeros).
    chunk = invariant_chunk(uint(kv));
    const uint s0 = uint(kb) / chunk;
    const uint s1 = (uint(ke) + chunk - 1u) / chunk;
    origin = s0 * chunk;
    nsplit = max(s1 - s0, 1u);
    return;
  }
  uint want;
  if (pc.split_mode == MLA_VK_SPLIT_EXPLICIT) {
    want = min(uint(pc.split_count), (len + uint(pc.key_tile) - 1u) / uint(pc.key_tile));
  } else {
    want = min(uint(pc.split_count), len / uint(MLA_VK_MIN_SPLIT_KEYS));
  }
  chunk = split_chunk(len, max(want, 1u), uint(pc.key_tile));
  origin = uint(kb);
  nsplit = max((len + chunk - 1u) / chunk, 1u);
}

// Judge request b, write its record and status; returns its status bits.
uint plan_request(uint b, int prefix_max) {
  const int qb = q_offsets[b], qe = q_offsets[b + 1u], kv = kv_lens[b];
  const int cap = pc.max_pages * pc.page_size;
  uint st = status_words[1u + b];  // page-id bits from pages.comp
  const bool owns_rows = qb >= 0 && qe >= qb && qe <= pc.total_q && (b == 0u ? qb == 0 : qb >= prefix_max);
  const int q_len = owns_rows ? qe - qb : 0;
  if (!owns_rows || q_len > MLA_MAX_Q_LEN || (b + 1u == uint(pc.batch) && qe != pc.total_q))
    st |= MLA_STATUS_BAD_Q_OFFSETS;
  if (kv < 0 || kv > cap) st |= MLA_STATUS_BAD_KV_LEN;
  if ((st & (MLA_STATUS_BAD_Q_OFFSETS | MLA_STATUS_BAD_KV_LEN)) == 0u && pc.mask != MLA_MASK_NONE && q_len > kv)
    st |= MLA_STATUS_BAD_Q_LEN_CAUSAL;

  uint nsplit = 0u, origin = 0u, chunk = uint(pc.key_tile);
  ivec2 keys = ivec2(0, 0);
  if (st == 0u) {
    keys = request_keys(kv, q_len);
    plan_partitions(kv, keys.x, keys.y, nsplit, origin, chunk);
  }
  const uint ib = MLA_VK_META_INFO(b);
  meta[ib + MLA_VK_INFO_Q_BEGIN] = uint(max(qb, 0));
  meta[ib + MLA_VK_INFO_Q_LEN] = uint(q_len);
  meta[ib + MLA_VK_INFO_KV_LEN] = st == 0u ? uint(kv) : 0u;
  meta[ib + MLA_VK_INFO_NSPLIT] = nsplit;
  meta[ib + MLA_VK_INFO_KEY_BEGIN] = uint(keys.x);
  meta[ib + MLA_VK_INFO_KEY_END] = uint(keys.y);
  meta[ib + MLA_VK_INFO_ORIGIN] = origin;
  meta[ib + MLA_VK_INFO_CHUNK] = chunk;
  status_words[1u + b] = st;
  return st;
}

void write_dispatch(uint at, uint items) {
  const uint x = min(items, uint(MLA_VK_MAX_GROUPS_X));
  meta[at + 0u] = x;
  meta[at + 1u] = x == 0u ? 1u : (items + x - 1u) / x;
  meta[at + 2u] = 1u;
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint B = uint(pc.batch);
  // Each thread takes a contiguous run of requests, so prefix values are a
  // scan over threads plus a serial walk inside the run.
  const uint per = (B + MLA_VK_PLAN_THREADS - 1u) / MLA_VK_PLAN_THREADS;
  const uint c0 = min(tid * per, B), c1 = min(c0 + per, B);

  int local_max = kIntMin;
  for (uint b = c0; b < c1; ++b) local_max = max(local_max, q_offsets[b]);
  sh_max[tid] = local_max;
  memoryBarrierShared();
  barrier();
  int prefix_max = kIntMin;  // max of q_offsets[0 .. c0 - 1]
  for (uint t = 0u; t < tid; ++t) prefix_max = max(prefix_max, sh_max[t]);

  uint items = 0u, rows = 0u, st_or = 0u;
  for (uint b = c0; b < c1; ++b) {
    st_or |= plan_request(b, prefix_max);
    prefix_max = max(prefix_max, q_offsets[b]);
    items += decode_items(MLA_VK_META_INFO(b));
    rows += combine_rows(MLA_VK_META_INFO(b));
  }
  sh_items[tid] = items;
  sh_rows[tid] = rows;
  sh_status[tid] = st_or;
  memoryBarrierShared();
  barrier();

  uint item_base = 0u, row_base = 0u;
  for (uint t = 0u; t < tid; ++t) {
    item_base += sh_items[t];
    row_base += sh_rows[t];
  }
  const uint dec_off = MLA_VK_META_DECODE_OFF(B), comb_off = MLA_VK_META_COMBINE_OFF(B);
  for (uint b = c0; b < c1; ++b) {
    meta[dec_off + b] = item_base;
    meta[comb_off + b] = row_base;
    item_base += decode_items(MLA_VK_META_INFO(b));
    row_base += combine_rows(MLA_VK_META_INFO(b));
  }
  if (tid == MLA_VK_PLAN_THREADS - 1u) {  // the last run ends at the totals
    meta[dec_off + B] = item_base;
    meta[comb_off + B] = row_base;
    meta[MLA_VK_META_DECODE_TOTAL] = item_base;
    meta[MLA_VK_META_COMBINE_TOTAL] = row_base;
    write_dispatch(MLA_VK_META_DECODE_ARGS, item_base);
    write_dispatch(MLA_VK_META_COMBINE_ARGS, row_base);
    uint all = 0u;
    for (uint t = 0u; t < MLA_VK_PLAN_THREADS; ++t) all |= sh_status[t];
    status_words[0] = all;
  }
}
