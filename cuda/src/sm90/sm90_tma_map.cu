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

}  // namespace

bool encode_kv_map(CUtensorMap* map, const void* pool, int64_t rows, int32_t box_rows, bool row_groups) {
  PFN_cuTensorMapEncodeTiled_v12000 encode = encoder();
  if (!encode || !pool || rows <= 0 || box_rows <= 0) return false;
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  if (row_groups) {
    if (rows % 8 != 0 || box_rows % 8 != 0) return false;
    // Innermost first: 64 columns of a block, 8 rows of a group, 9 blocks,
    // groups; one box = box_rows / 8 whole groups.
    const cuuint64_t dims[4] = {64, 8, 9, cuuint64_t(rows / 8)};
    const cuuint64_t strides[3] = {1152, 128, 8 * 1152};
    const cuuint32_t box[4] = {64, 8, 9, cuuint32_t(box_rows / 8)};
    return encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<void*>(pool), dims, strides, box,
                  element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                  CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
  }
  const cuuint64_t dims[2] = {576, cuuint64_t(rows)};  // innermost first: columns, rows
  const cuuint64_t strides[1] = {1152};                // bytes between rows
  const cuuint32_t box[2] = {64, cuuint32_t(box_rows)};  // 64 BF16 = 128 bytes: one swizzle row
  return encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(pool), dims, strides, box,
                element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

bool encode_kv_map_fp8(CUtensorMap* map, const void* pool, int64_t rows, int32_t box_rows) {
  PFN_cuTensorMapEncodeTiled_v12000 encode = encoder();
  if (!encode || !pool || rows <= 0 || box_rows <= 0) return false;
  const cuuint64_t dims[2] = {640, cuuint64_t(rows)};    // bytes of a row, rows
  const cuuint64_t strides[1] = {640};
  const cuuint32_t box[2] = {128, cuuint32_t(box_rows)};  // 128 bytes: one swizzle row
  const cuuint32_t element_strides[2] = {1, 1};
  return encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(pool), dims, strides, box,
                element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace mla::cuda_impl::sm90
