// mla/vulkan.h - the Vulkan compute backend of the MLA decode.
//
// Two ways in:
//  * Context::decode_host: inputs and outputs in host memory; the context
//    uploads, runs and downloads (tests, `mla run --backend vulkan`);
//    Context::time_decode_host times it on inputs uploaded once (`mla bench`).
//  * Context::record_decode: inputs and outputs in the caller's VkBuffers on
//    the context's device; the passes are recorded into the caller's command
//    buffer (applications that keep their KV cache in Vulkan memory).
//
// Device selection (Context::create): a discrete GPU first, then integrated,
// virtual, CPU (lavapipe). MLA_VULKAN_DEVICE picks a device by index (as
// vulkaninfo lists them) or by a case-insensitive name substring.
// MLA_VULKAN_VALIDATION=1 enables VK_LAYER_KHRONOS_validation and counts its
// warnings and errors (validation_messages()).
//
// The shaders read every buffer as 32-bit words (no 8/16-bit storage or
// arithmetic) and the FP32 decode uses no subgroup operations. The device needs Vulkan 1.1 and
// VK_KHR_push_descriptor; anything missing is reported by name.
//
// A second decode pipeline on tensor cores through VK_NV_cooperative_matrix
// (FP16 products, fp32 accumulation; see vulkan/README.md), chosen at context
// creation by Options::coopmat or MLA_VULKAN_COOPMAT: 0 / off = the FP32
// decode, unset / auto = the cooperative-matrix one when the device supports
// it, else the FP32 one (the default: the faster of the two where it runs,
// measured on an H200, where the whole suite passed with it natively),
// 1 = required (Context::create fails naming what the device lacks),
// emulate = the same algorithm with scalar stand-ins for the matrix
// operations (tests, any device). DeviceInfo::decode says which one runs.
//
// Diagnostic: MLA_VULKAN_CM_PROFILE=1 (with a cooperative-matrix decode,
// MLA_VULKAN_COOPMAT=1 or emulate, and the default fetch) builds the
// coopmat pipelines from their clock-profile modules (same results), which
// time each phase of the tile loop of workgroup 0 with the shader clock;
// Context::cm_profile reads the last decode's. create() fails, naming what
// is missing, when the device lacks VK_KHR_shader_clock / shaderSubgroupClock.
//
// Creation cost: every pipeline is created through one VkPipelineCache per
// context; Options::pipeline_cache_file (or MLA_VULKAN_PIPELINE_CACHE=<path>)
// seeds it from a file whose header matches the device and writes it back
// after the pipelines are built (a missing, foreign or corrupted file and any
// write failure are ignored). MLA_VULKAN_TIMING=1 prints the time of each
// phase of create() to stderr; DeviceInfo::create_ms holds it always.
//
// A Context is not thread-safe: use one per thread or serialise the calls.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mla/status.h"
#include "mla/types.h"

namespace mla::vulkan {

// "" when a usable Vulkan device is present (honours MLA_VULKAN_DEVICE),
// otherwise why not.
std::string unavailable_reason();

struct Options {
  // Device: -1 = MLA_VULKAN_DEVICE or the best device; >= 0 an index.
  int device_index = -1;
  // Non-empty: the first device whose name contains this (case-insensitive).
  std::string device_name;
  // Enable VK_LAYER_KHRONOS_validation (also when MLA_VULKAN_VALIDATION=1)
  // and count its warnings and errors. Fails when the layer is missing.
  bool validation = false;
  // The cooperative-matrix (tensor-core) decode.
  enum class CoopMat {
    from_env,        // MLA_VULKAN_COOPMAT (unset: when_supported)
    off,             // the FP32 decode
    when_supported,  // cooperative matrices when the device has what they need
    required,        // cooperative matrices; create() fails naming what is missing
    emulate,         // decode_cm.comp with scalar matrix operations (tests; any device)
  };
  CoopMat coopmat = CoopMat::from_env;
  // Enable the device's robustBufferAccess feature (also when
  // MLA_VULKAN_ROBUST=1): an access outside a bound buffer range reads 0 /
  // is dropped instead of being undefined. The library's own checks already
  // keep every access in range (device-side faults are flagged, never
  // followed); this is a second line of defence and what the reliability
  // tests run with. create() fails, naming the feature, when the device lacks it.
  // Off, the pipelines also drop the driver's own bounds checks where the
  // device allows it (DeviceInfo::driver_buffer_checks).
  bool robust_buffer_access = false;
  // Non-empty: the pipeline cache file (read at create() when its header
  // matches the device, rewritten when the cache changed); empty:
  // MLA_VULKAN_PIPELINE_CACHE, or no file when that is unset too.
  std::string pipeline_cache_file;
};

// What the context found and chose, for logs and tests.
struct DeviceInfo {
  std::string name;
  std::string type;                // "discrete", "integrated", "virtual", "cpu", "other"
  std::string driver;              // driver name and info when the device reports them
  uint32_t vendor_id = 0;
  uint32_t api_version = 0;
  uint32_t compute_units = 0;      // SMs / CUs / CPU threads (estimate when the driver does not say)
  uint32_t shared_memory_bytes = 0;  // maxComputeSharedMemorySize
  uint32_t subgroup_size = 0;
  bool timestamps = false;         // kernel_ms available
  std::string tiles;               // decode tile per row group, e.g. "G4xN16 G8xN16 G16xN16"
  // Decode pipeline: "fp32", "coopmat" (VK_NV_cooperative_matrix) or "coopmat-emulated".
  std::string decode;
  // Why the cooperative-matrix decode cannot run here ("" when it can).
  std::string coopmat_missing;
  // Whether the device was created with robustBufferAccess (Options).
  bool robust_buffer_access = false;
  // Whether the driver's own bounds checks on storage buffers stay in the
  // pipelines. false: created with VK_EXT_pipeline_robustness asking for
  // none (where the device has it, robust_buffer_access is off and
  // MLA_VULKAN_DRIVER_CHECKS is not 1); the library's own checks keep every
  // access in range either way (vulkan/README.md, "The driver's bounds checks").
  bool driver_buffer_checks = true;
  // The pipeline cache file ("" for none) and how many of its bytes seeded
  // the cache (0: missing, unreadable, or its header is not this device's).
  std::string pipeline_cache_file;
  uint64_t pipeline_cache_loaded_bytes = 0;
  // Wall time of create() by phase, milliseconds, in order: "instance",
  // "physical device", "device", "pipeline cache", "pipeline <module>" for
  // each pipeline, "submission objects", "pipeline cache save", "other"
  // (the rest: layouts, module lookups) and "total".
  std::vector<std::pair<std::string, double>> create_ms;
};

// The clock profile of one cooperative-matrix decode (MLA_VULKAN_CM_PROFILE=1):
// workgroup 0 of the dispatch (request 0, its first row group, partition 0),
// cycles of the subgroup clock per phase and per warp (subgroup of 32
// invocations), the loop phases summed over its tiles (sums mod 2^32).
// vulkan/README.md, "Clock profile of the coopmat tile loop", says how to read it.
struct CmProfile {
  uint32_t warps = 0;          // subgroups of 32 of the workgroup (4 per row group)
  uint32_t tiles = 0;          // key tiles of its partition
  uint32_t keys_per_tile = 0;  // N
  uint32_t rows = 0;           // live query rows of the workgroup
  // The producer-warp build's key tiles (1 or 2; 0: the default main). Its
  // warps 0-3 are the consumers, 4-7 the producers, whose phases the slots
  // name by what they did in each segment (table() prints the legend).
  uint32_t producer_bufs = 0;
  std::vector<std::string> phases;            // names, in program order (prologue, 11 tile phases, epilogue)
  std::vector<std::vector<uint32_t>> cycles;  // [warp][phase]
  // The table: per phase, cycles per tile of each warp (prologue / epilogue:
  // once), their mean, and the sum over the tile phases.
  std::string table() const;
};

// A range of a caller's buffer. `size` is the number of bytes usable from
// `offset` (VK_WHOLE_SIZE is not accepted: the library checks every size).
// Offsets must be multiples of 16 and of minStorageBufferOffsetAlignment.
struct BufferRange {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize size = 0;
};

// The buffers of record_decode, all created on Context::device() with
// VK_BUFFER_USAGE_STORAGE_BUFFER_BIT (plus the extra bits named below).
// Inputs are the ProblemData layouts of mla/types.h; a buffer that the
// problem does not need (q_scales for BF16 Q, kv_scales for BF16 KV, out and
// lse when total_q = 0, kv_pool when num_pages = 0, page_table when
// max_pages = 0) may be VK_NULL_HANDLE.
struct DeviceBuffers {
  BufferRange q;           // [total_q, H, row_bytes(q_format)]
  BufferRange q_scales;    // float [total_q]
  BufferRange kv_pool;     // [num_pages, page_size, row_bytes(kv_format)]
  BufferRange kv_scales;   // float [num_pages * page_size]
  BufferRange page_table;  // int32 [B, max_pages]
  BufferRange q_offsets;   // int32 [B + 1]
  BufferRange kv_lens;     // int32 [B]
  BufferRange out;         // written: BF16 [total_q, H, 512]
  BufferRange lse;         // written: float [total_q, H]
  // Written: uint32 [1 + B]. [1 + b] holds the MLA_STATUS_* bits of request
  // b (mla/constants.h), [0] their OR. Needs VK_BUFFER_USAGE_TRANSFER_DST_BIT
  // (it is cleared with vkCmdFillBuffer).
  BufferRange status;
  // Scratch of workspace_bytes(desc) bytes; needs
  // VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT (the plan writes the dispatch sizes).
  BufferRange workspace;
};

class Context {
 public:
  // Creates an instance, picks a device (MLA_VULKAN_DEVICE), creates a
  // device and a compute queue, and builds every pipeline once.
  static Status create(std::unique_ptr<Context>* out);
  static Status create(const Options& options, std::unique_ptr<Context>* out);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Host memory in and out: validates the whole problem (metadata included),
  // uploads, runs, downloads. out_bf16: total_q * H * 512 values; lse:
  // total_q * H floats. status_word (optional) receives the OR of the
  // device-side status bits (0 after host validation passed); kernel_ms
  // (optional) the GPU time of the recorded passes from timestamp queries
  // (NaN when the queue has no timestamps).
  Status decode_host(const ProblemDesc& desc, const ProblemData& host, uint16_t* out_bf16, float* lse,
                     uint32_t* status_word = nullptr, double* kernel_ms = nullptr);

  // Times the decode of a host problem on device-resident inputs (the Vulkan
  // bench): a GPU raises its clocks only under sustained load, and the
  // uploads decode_host makes before every decode keep it idle long enough
  // that they never rise (an H200 timed 5x slow that way). Validates like
  // decode_host, uploads the inputs once, runs one decode and returns
  // exactly what decode_host would (out_bf16, lse, status_word), then
  // submits the passes alone, one decode per submission, back to back: at
  // least one untimed decode and more until warmup_ms of wall time have
  // passed, then `reps` decodes, each timed by the timestamp queries
  // decode_host's kernel_ms comes from. ms receives their GPU times in
  // milliseconds, in order (NaN when the queue has no timestamps; 0 for an
  // empty batch). reps in [1, 10000], warmup_ms in [0, 600000].
  Status time_decode_host(const ProblemDesc& desc, const ProblemData& host, double warmup_ms, int reps,
                          std::vector<double>* ms, uint16_t* out_bf16, float* lse, uint32_t* status_word = nullptr);

  // Bytes of scratch record_decode needs for a problem of this shape.
  Status workspace_bytes(const ProblemDesc& desc, VkDeviceSize* bytes) const;

  // Records the decode into `cmd` (a primary or secondary command buffer in
  // the recording state, from a pool of queue_family()). Checks desc and the
  // buffer sizes on the host; the metadata (q_offsets, kv_lens, page_table)
  // is device data and is checked on the device: a request that fails gets
  // its status bits, output 0 and LSE NaN, and no out-of-bounds access.
  //
  // Synchronisation: the recording starts with a barrier that makes earlier
  // compute-shader and transfer writes in this queue visible (so the inputs
  // may come from a copy or a shader just before, and the same workspace may
  // be reused back to back); writes from other stages or queues are the
  // caller's to synchronise. It ends after the last dispatch with no barrier:
  // before reading out / lse / status the caller adds one from
  // VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT / VK_ACCESS_SHADER_WRITE_BIT.
  // The command buffer's compute pipeline, push constants and descriptor set
  // 0 are left changed. Nothing is recorded when desc.batch == 0.
  Status record_decode(VkCommandBuffer cmd, const ProblemDesc& desc, const DeviceBuffers& buffers);

  // The device-copy bandwidth decode figures are compared with: a compute
  // shader copies `bytes` (capped by maxStorageBufferRange and by 2^31 - 1
  // 16-byte words, rounded down to 16 bytes) between two
  // device-local buffers; gb_per_s = (bytes read + bytes written) / median
  // time of `reps` copies (after one warm-up), from timestamp queries.
  // bytes_copied (optional) receives the bytes actually copied.
  Status copy_bandwidth(VkDeviceSize bytes, int reps, double* gb_per_s, VkDeviceSize* bytes_copied = nullptr);

  // The clock profile written by the last decode that ran to completion on
  // this context (the caller has waited for it: host_decode does, a
  // record_decode caller waits for its submission). Fails unless the context
  // was created with MLA_VULKAN_CM_PROFILE=1, or when workgroup 0 had no
  // work (no decode since creation, or request 0 faulty / empty).
  Status cm_profile(CmProfile* out) const;

  std::string device_name() const;
  DeviceInfo device_info() const;
  // Warnings and errors the validation layer reported (0 when it is off).
  uint64_t validation_messages() const;

  // The context's objects, for callers of record_decode.
  VkInstance instance() const;
  VkPhysicalDevice physical_device() const;
  VkDevice device() const;
  VkQueue queue() const;
  uint32_t queue_family() const;

  struct Impl;

 private:
  explicit Context(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mla::vulkan
