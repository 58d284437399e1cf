// sm90_tma_map.cu - encoding the KV pool's tensor map through the driver
// entry point (no link against libcuda: the runtime hands the function out).
#include <cudaTypedefs.h>

#include <atomic>

#include "sm90_tma_map.h"

namespace mla::cuda_impl::sm90 {

namespace {

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static std::atomic<PFN_cuTensorMapEncodeTiled_v12000> cached{nullptr};
  static std::atomic<bool> tried{false};
  PFN_cuTensorMapEncodeTiled_v12000 fn = cached.load(std::memory_order_acquire);
  if (fn || tried.load(std::memory_order_acquire)) return fn;
  void* p = nullptr;
  cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) == cudaSuccess &&
      q == cudaDriverEntryPointSuccess)
    fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  else
    (void)cudaGetLastError();
  cached.store(fn, std::memory_order_release);
  tried.store(true, std::memory_order_release);
  return fn;
}

// A pool of rows of row_bytes (a multiple of 128) in elements of elem_bytes,
// 128-byte swizzle. Column blocks: a 2-D view [rows][row_bytes], a box = 128
// bytes of box_rows rows (one box a column block). Row groups: a 4-D view,
// innermost first 128 bytes of a block, 8 rows of a group, the blocks, the
// groups (strides row_bytes, 128, 8 row_bytes), a box = box_rows / 8 whole
// groups, which lands as [group][block][8 rows][128 B]; rows and box_rows
// multiples of 8.
bool encode_pool(CUtensorMap* map, CUtensorMapDataType type, uint32_t elem_bytes, uint32_t row_bytes,
                 const void* pool, int64_t rows, int32_t box_rows, bool row_groups) {
  PFN_cuTensorMapEncodeTiled_v12000 encode = encoder();
  if (!encode || !pool || rows <= 0 || box_rows <= 0) return false;
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  const cuuint32_t block = 128 / elem_bytes;  // elements of a 128-byte block: one swizzle row
  if (row_groups) {
    if (rows % 8 != 0 || box_rows % 8 != 0) return false;
    const cuuint64_t dims[4] = {block, 8, row_bytes / 128, cuuint64_t(rows / 8)};
    const cuuint64_t strides[3] = {row_bytes, 128, 8 * cuuint64_t(row_bytes)};
    const cuuint32_t box[4] = {block, 8, row_bytes / 128, cuuint32_t(box_rows / 8)};
    return encode(map, type, 4, const_cast<void*>(pool), dims, strides, box, element_strides,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
  }
  const cuuint64_t dims[2] = {row_bytes / elem_bytes, cuuint64_t(rows)};  // innermost first: columns, rows
  const cuuint64_t strides[1] = {row_bytes};                              // bytes between rows
  const cuuint32_t box[2] = {block, cuuint32_t(box_rows)};
  return encode(map, type, 2, const_cast<void*>(pool), dims, strides, box, element_strides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace

bool encode_kv_map(CUtensorMap* map, const void* pool, int64_t rows, int32_t box_rows, bool row_groups) {
  return encode_pool(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, 1152, pool, rows, box_rows, row_groups);
}

bool encode_kv_map_fp8(CUtensorMap* map, const void* pool, int64_t rows, int32_t box_rows, bool row_groups) {
  return encode_pool(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, 640, pool, rows, box_rows, row_groups);
}

}  // namespace mla::cuda_impl::sm90
