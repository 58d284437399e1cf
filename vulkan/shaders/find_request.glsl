// find_request.glsl - which request an item id belongs to. Include after
// declaring the workspace array `meta`. offsets_at is the first word of an
// exclusive prefix sum off[0..B] (off[0] = 0, off[B] = total) written by
// plan.comp; returns the b with off[b] <= item < off[b + 1] (item < total).
#ifndef MLA_VK_FIND_REQUEST_GLSL
#define MLA_VK_FIND_REQUEST_GLSL

uint find_request(uint item, uint offsets_at) {
  uint lo = 0u, hi = uint(pc.batch);  // off[lo] <= item < off[hi]
  while (hi - lo > 1u) {
    const uint mid = (lo + hi) >> 1;
    if (meta[offsets_at + mid] <= item) lo = mid; else hi = mid;
  }
  return lo;
}

// The linear id of this workgroup in an indirect dispatch folded into (x, y).
uint folded_workgroup_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

#endif
