#version 450
// pages.comp - the device-side page-id check (first pass). One thread per
// page-table entry: an entry a request uses (column < ceil(kv_len /
// page_size)) that is not a page of the pool flags the request with
// MLA_STATUS_BAD_PAGE_ID. A request whose kv_len is itself out of range is
// left to plan.comp (MLA_STATUS_BAD_KV_LEN); its entries are not judged.
// The status buffer is zeroed before this pass.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = MLA_VK_PAGES_THREADS) in;

layout(std430, set = 0, binding = MLA_VK_BIND_PAGE_TABLE) readonly buffer PageTable { int page_table[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_KV_LENS) readonly buffer KvLens { int kv_lens[]; };
layout(std430, set = 0, binding = MLA_VK_BIND_STATUS) buffer Status { uint status_words[]; };

void main() {
  const uint max_pages = uint(pc.max_pages);
  const uint total = uint(pc.batch) * max_pages;  // < 2^31, validated on the host
  const int cap = pc.max_pages * pc.page_size;      // < 2^31, validated on the host
  const uint stride = gl_NumWorkGroups.x * MLA_VK_PAGES_THREADS;
  for (uint e = gl_GlobalInvocationID.x; e < total; e += stride) {
    const uint b = e / max_pages, column = e % max_pages;
    const int kv = kv_lens[b];
    if (kv < 0 || kv > cap) continue;
    const uint pages = (uint(kv) + uint(pc.page_size) - 1u) >> pc.page_shift;
    if (column >= pages) continue;
    const int id = page_table[e];
    if (id < 0 || id >= pc.num_pages) atomicOr(status_words[1u + b], MLA_STATUS_BAD_PAGE_ID);
  }
}
