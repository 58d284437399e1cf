// pipelines.h - the descriptor set layout, the pipeline layout and every
// compute pipeline of a context, built once from the embedded SPIR-V.
#pragma once

#include <vulkan/vulkan.h>

#include <string>
#include <utility>
#include <vector>

#include "mla/status.h"
#include "mla/types.h"

namespace mla::vulkan_impl {

// Which decode shader a context runs.
enum class DecodeKind {
  fp32,              // decode.comp
  coopmat,           // decode_cm.comp on VK_NV_cooperative_matrix
  coopmat_emulated,  // decode_cm.comp with scalar matrix operations (tests)
};
const char* decode_kind_name(DecodeKind k);

// One decode pipeline: `rows` query rows (G) per workgroup, `keys` (N) per tile.
struct DecodeVariant {
  int rows = 0;  // 0: not available on this device
  int keys = 0;
  int qk_rows = 0;   // rows per thread in Q.K (decode.comp)
  int qk_batch = 0;  // keys per Q.K reduction (decode.comp)
  // Coopmat producer-warp build (MLA_VULKAN_CM_WARPS=producer, decode_cm.comp
  // MLA_CM_PRODUCER): the FP16 key tiles it keeps in shared memory (1 or 2);
  // 0: the default build.
  int producer_bufs = 0;
  VkPipeline pipeline = VK_NULL_HANDLE;
};

struct Pipelines {
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;  // push descriptors, MLA_VK_NUM_BINDINGS storage buffers
  VkPipelineLayout layout = VK_NULL_HANDLE;           // that set + the PushConstants block
  VkPipeline pages = VK_NULL_HANDLE;
  VkPipeline plan = VK_NULL_HANDLE;
  VkPipeline combine = VK_NULL_HANDLE;
  VkPipeline copy = VK_NULL_HANDLE;  // the device-copy bandwidth probe
  DecodeKind kind = DecodeKind::fp32;
  DecodeVariant decode[3];  // fp32: G = 4, 8, 16
  DecodeVariant cm[3];      // coopmat: G = 16, 32, 64 (1, 2, 4 row groups of 16)
  int max_rows = 16;        // largest G used (MLA_VULKAN_MAX_ROWS, MLA_VULKAN_COOPMAT_ROWS)
  // Decode module suffix of MLA_VULKAN_FETCH: "" (run, the default), "_fc"
  // (chunk), "_fn" (none, diagnostic); decode_common.glsl fetch_tile.
  std::string fetch_suffix;
  // Suffix of the coopmat decode modules: fetch_suffix, or "_sx" for
  // MLA_VULKAN_CM_SCAN=fast (decode_cm.comp MLA_CM_SCAN_FAST); then "_pf"
  // appended for the clock profile.
  std::string cm_suffix;
  // MLA_VULKAN_CM_RESCALE (coopmat kinds): "auto" (unset), "skip" or
  // "always" (decode_cm_phases.glsl MLA_CM_RESCALE_ALWAYS, the *_ra modules);
  // rescale_suffix() turns it into a module suffix per build.
  std::string cm_rescale = "auto";
  // Set before create_pipelines for the clock profile (MLA_VULKAN_CM_PROFILE=1,
  // coopmat kinds only): cm_suffix gets "_pf" (decode_cm.comp MLA_CM_PROFILE)
  // and the set layout the binding MLA_VK_BIND_PROFILE.
  bool profile = false;
  // MLA_VULKAN_CM_WARPS (coopmat kinds): the key tiles the producer-warp
  // build of the 16-row tile is asked for: 0 = none ("default"), 1 =
  // "producer1", 2 = "producer" or unset (two where they fit the device, else
  // one); producer_fp8: whether FP8 KV takes it too (unset: BF16 KV only,
  // measured slower for FP8 KV on the H200).
  int producer_bufs = 2;
  bool producer_fp8 = false;
  // The 16-row tile's producer-warp build (rows = 0: none), same N as cm[0].
  DecodeVariant cm_producer;
  // Set before create_pipelines when the device enabled pipeline executable
  // statistics (MLA_VULKAN_PIPELINE_STATS): each pipeline's are printed.
  bool capture_statistics = false;
  // Set before create_pipelines (and before the device, which enables the
  // feature): every pipeline asks VK_EXT_pipeline_robustness for no bounds
  // checks on storage and uniform buffers (context.cpp choose_buffer_checks).
  bool no_buffer_checks = false;
  // Set before create_pipelines: the context's VkPipelineCache (owned by the
  // context, pipeline_cache.h) every pipeline is created through.
  VkPipelineCache cache = VK_NULL_HANDLE;
  // Wall time of each pipeline's creation (shader module + pipeline), ms, in
  // creation order, named by module (MLA_VULKAN_TIMING, Context::create).
  std::vector<std::pair<std::string, double>> create_ms;

  // The variant for H heads: the smallest G >= min(H, max_rows) the device
  // runs (of the coopmat variants when kind is not fp32; for the 16-row tile
  // its producer-warp build where cm_producer applies to kv_format, which
  // gives the same results). A function of H, the KV format and the device
  // only, so batch-invariant results hold.
  const DecodeVariant& for_heads(int num_heads, RowFormat kv_format) const;
  std::string describe() const;  // "G4xN16xR1 G8xN16xR1 G16xN8xR1", "CM16xN32 CM32xN16 CM64xN16"
};

// Tile sizes follow the device limits: for each G the largest N in {16, 8, 4}
// whose shared memory fits maxComputeSharedMemorySize (lavapipe reports 32 KiB
// but does not enforce it, so it must be respected here) and whose 16 G
// threads fit the workgroup limits. Tuning and test knobs:
// MLA_VULKAN_KEY_TILE caps N, MLA_VULKAN_QK_ROWS picks 1 or 2 rows per thread
// in Q.K, MLA_VULKAN_QK_BATCH the keys per Q.K reduction (where built),
// MLA_VULKAN_MAX_ROWS caps G.
// kind != fp32: the decode pipelines are those of decode_cm.comp (the fp32
// ones are not built), for each row-group count the largest N in {32, 16}
// that fits; MLA_VULKAN_COOPMAT_KEYS caps N, MLA_VULKAN_COOPMAT_ROWS caps G
// (16, 32 or 64). The native ones require subgroups of exactly 32.
// The 16-row tile (H <= 16) also gets the producer-warp build of the same N
// (4 consumer + 4 producer subgroups, two FP16 key tiles where
// MLA_VK_CM_PW_SMEM_BYTES fits, else one), used for BF16 KV by default and
// for both formats with MLA_VULKAN_CM_WARPS=producer (or producer1);
// MLA_VULKAN_CM_WARPS=default, another fetch or scan, the clock profile, or
// a device where it does not fit: the default build (same results either way).
Status create_pipelines(VkDevice device, const VkPhysicalDeviceLimits& limits, DecodeKind kind, Pipelines* out);
void destroy_pipelines(VkDevice device, Pipelines* p);

}  // namespace mla::vulkan_impl
