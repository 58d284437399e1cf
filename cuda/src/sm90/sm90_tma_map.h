// sm90_tma_map.h - host side: the tensor map (TMA descriptor) over the KV
// pool that the sm_90a kernel's producer loads whole page runs with.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

namespace mla::cuda_impl::sm90 {

// Rows of the box each TMA load brings (per column block): the page size,
// at most a whole 64-row tile (capped by `cap`, a power of two); 0 for pages
// of 1, 2 or 4 rows, which the producer gathers with cp.async instead (a box
// narrower than a swizzle atom would not start on a 1024-byte boundary).
inline int32_t tma_box_rows(int32_t page_size, int32_t cap = 64) {
  int32_t r = page_size < 64 ? page_size : 64;
  if (r > cap) r = cap;
  return r >= 8 ? r : 0;
}

// Fills `map` for the pool [rows][576] BF16 with boxes of 64 columns x
// box_rows rows, 128-byte swizzle. False when the driver cannot (then the
// producer falls back to cp.async). row_groups: the pool seen as 8-row groups
// of 9 column blocks ([rows / 8][9][8][64], strides 9216, 128, 1152 bytes), a
// box = box_rows / 8 whole groups, which lands in the row-group layout of
// sm90_config.cuh (MLA_SM90_KV_ROWGROUPS); rows and box_rows multiples of 8.
bool encode_kv_map(CUtensorMap* map, const void* pool, int64_t rows, int32_t box_rows, bool row_groups);

// The same for a pool of fp8_rope640 rows (640 bytes), seen as bytes: boxes
// of 128 bytes x box_rows rows, 128-byte swizzle; 5 boxes make a row run
// (4 blocks of E4M3 content, 1 of BF16 rope). Used by the fp8-KV kernels.
// row_groups: [rows / 8][5][8][128] (strides 5120, 128, 640 bytes), a box =
// box_rows / 8 whole groups, the FP8 row-group layout of sm90_fp8_config.cuh
// (MLA_SM90_FP8_KV_ROWGROUPS).
bool encode_kv_map_fp8(CUtensorMap* map, const void* pool, int64_t rows, int32_t box_rows, bool row_groups);

// What an fp8-KV kernel launch passes: `map` zeroed, then filled for the
// pool of (pool, num_pages x page_size rows) when TMA applies; returns the
// box rows, 0 for cp.async only (small pages, a pool beyond INT32_MAX rows,
// or a driver that cannot encode it). row_groups: kFp8KvRowGroups.
inline int32_t fp8_kv_map_for_launch(CUtensorMap* map, const void* pool, int32_t num_pages, int32_t page_size,
                                     bool row_groups) {
  *map = CUtensorMap{};
  const int32_t box_rows = tma_box_rows(page_size);
  const int64_t pool_rows = int64_t(num_pages) * page_size;
  if (box_rows > 0 && pool_rows > 0 && pool_rows <= INT32_MAX &&
      encode_kv_map_fp8(map, pool, pool_rows, box_rows, row_groups))
    return box_rows;
  return 0;
}

}  // namespace mla::cuda_impl::sm90
