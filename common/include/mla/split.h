// mla/split.h - how the keys of one request are divided into split-K
// partitions. Every backend uses these functions, so a split count means the
// same thing everywhere.
//
// A request's key range [begin, end) is cut into n partitions of
// `chunk` keys each (the last one shorter, trailing ones possibly empty),
// where chunk is ceil(len / n) rounded up to a multiple of `align` (the
// backend's key tile). Partitions are merged through their LSE.
#pragma once

#include <cstdint>

#include "mla/constants.h"
#include "mla/host_device.h"

namespace mla {

// Keys per partition for a range of `len` keys cut into n pieces aligned to `align`.
MLA_HD int64_t split_chunk(int64_t len, int32_t n, int32_t align) {
  if (n < 1) n = 1;
  int64_t c = (len + n - 1) / n;
  c = (c + align - 1) / align * align;
  return c < align ? align : c;
}

// Batch-invariant partitioning: the number of partitions and their length
// depend on kv_len only. Partitions are MLA_INVARIANT_SPLIT_KEYS keys long,
// doubled until at most MLA_MAX_SPLITS are needed. Partition boundaries are
// absolute key indices (multiples of the chunk), independent of the mask.
MLA_HD int64_t invariant_chunk(int64_t kv_len) {
  int64_t c = MLA_INVARIANT_SPLIT_KEYS;
  while ((kv_len + c - 1) / c > MLA_MAX_SPLITS) c *= 2;
  return c;
}
MLA_HD int32_t invariant_splits(int64_t kv_len) {
  int64_t c = invariant_chunk(kv_len);
  int64_t n = (kv_len + c - 1) / c;
  return n < 1 ? 1 : int32_t(n);
}

}  // namespace mla
