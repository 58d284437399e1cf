// Shader modules, layouts and pipelines from the embedded SPIR-V.
#include "pipelines.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "mla_spirv.h"
#include "pipeline_stats.h"
#include "shader_interface.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan_impl {

namespace {

constexpr int kRows[3] = {4, 8, 16};
constexpr int kKeys[3] = {16, 8, 4};  // largest first

const spirv::Module* find_module(const std::string& name) {
  for (const auto& m : spirv::kModules)
    if (name == m.name) return &m;
  return nullptr;
}

// Through p's layout and pipeline cache; its time goes to p->create_ms.
// subgroup32: run with subgroups of exactly 32 invocations, all full
// (VK_EXT_subgroup_size_control; the cooperative-matrix decode needs both).
// With p->capture_statistics the driver's statistics of the pipeline are
// printed (pipeline_stats.h). spec: specialisation constants, or null.
Status make_pipeline(VkDevice device, Pipelines* p, const spirv::Module* m, VkPipeline* out, bool subgroup32 = false,
                     const VkSpecializationInfo* spec = nullptr) {
  const auto start = std::chrono::steady_clock::now();
  const bool capture = p->capture_statistics;
  auto mi = vk_struct<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  mi.codeSize = m->count * 4;
  mi.pCode = m->words;
  VkShaderModule module = VK_NULL_HANDLE;
  MLA_VK_CHECK(vkCreateShaderModule(device, &mi, nullptr, &module));
  auto pi = vk_struct<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  pi.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pi.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pi.stage.module = module;
  pi.stage.pName = "main";
  pi.stage.pSpecializationInfo = spec;
  auto sg = vk_struct<VkPipelineShaderStageRequiredSubgroupSizeCreateInfoEXT>(
      VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO_EXT);
  if (subgroup32) {
    sg.requiredSubgroupSize = MLA_VK_CM_SUBGROUP;
    pi.stage.pNext = &sg;
    pi.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT_EXT;
  }
  auto rb = vk_struct<VkPipelineRobustnessCreateInfoEXT>(VK_STRUCTURE_TYPE_PIPELINE_ROBUSTNESS_CREATE_INFO_EXT);
  if (p->no_buffer_checks) {
    rb.storageBuffers = VK_PIPELINE_ROBUSTNESS_BUFFER_BEHAVIOR_DISABLED_EXT;
    rb.uniformBuffers = VK_PIPELINE_ROBUSTNESS_BUFFER_BEHAVIOR_DISABLED_EXT;
    rb.vertexInputs = VK_PIPELINE_ROBUSTNESS_BUFFER_BEHAVIOR_DEVICE_DEFAULT_EXT;
    rb.images = VK_PIPELINE_ROBUSTNESS_IMAGE_BEHAVIOR_DEVICE_DEFAULT_EXT;
    pi.pNext = &rb;
  }
  pi.layout = p->layout;
  if (capture) pi.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  const VkResult r = vkCreateComputePipelines(device, p->cache, 1, &pi, nullptr, out);
  vkDestroyShaderModule(device, module, nullptr);
  if (r != VK_SUCCESS) return vk_error(r, (std::string("vkCreateComputePipelines(") + m->name + ")").c_str());
  p->create_ms.emplace_back(
      m->name, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  if (capture) print_pipeline_statistics(device, *out, m->name);
  return Status::Ok();
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// MLA_VULKAN_FETCH: how a decode fetches its key tiles (decode_common.glsl
// fetch_tile): "run" (unset, the default: a tile inside one page as one run,
// the page entry loaded a tile ahead), "chunk" (a page lookup per 16-byte
// chunk, the fetch before "run"; same results, kept for comparison) or
// "none" (diagnostic: no KV loads, wrong results). The module name suffix:
// "", "_fc", "_fn".
Status fetch_from_env(std::string* suffix) {
  const char* v = std::getenv("MLA_VULKAN_FETCH");
  const std::string e = v ? v : "";
  if (e.empty() || e == "run") *suffix = "";
  else if (e == "chunk") *suffix = "_fc";
  else if (e == "none") *suffix = "_fn";
  else return invalid_argument("MLA_VULKAN_FETCH = '" + e + "': expected run, chunk or none");
  return Status::Ok();
}

const char* fetch_name(const std::string& suffix) {
  return suffix.empty() ? "run" : suffix == "_fc" ? "chunk" : "none";
}

// The fetch build of decode module `name`: "chunk" exists for every module;
// the diagnostic "none" only for a few, the others keep the default fetch.
const spirv::Module* find_fetch_module(const std::string& name, const std::string& suffix) {
  if (const spirv::Module* m = find_module(name + suffix)) return m;
  return suffix == "_fn" ? find_module(name) : nullptr;
}

// MLA_VULKAN_CM_SCAN: the coopmat decode's exponent scan of a key tile
// (decode_cm.comp publish_tile_exponents): "fast" (unset, the default: the
// *_sx builds, same exponents and the same bits as the tile scan, about half
// the instructions; H200, B=128 kv=4096 H=16 BF16: 0.822 vs 0.900 ms) or
// "tile" (the scan before it, explicitly). The fast scan is built with the
// default run fetch only: the other fetches keep the tile scan, set or not.
// The suffix of the coopmat modules.
Status cm_suffix_from_env(const std::string& fetch_suffix, std::string* suffix) {
  const char* v = std::getenv("MLA_VULKAN_CM_SCAN");
  const std::string e = v ? v : "";
  *suffix = fetch_suffix;
  if (e == "tile") return Status::Ok();
  if (!e.empty() && e != "fast") return invalid_argument("MLA_VULKAN_CM_SCAN = '" + e + "': expected tile or fast");
  if (fetch_suffix.empty()) *suffix = "_sx";
  return Status::Ok();
}

// The clock-profile build of the coopmat suffix (MLA_VULKAN_CM_PROFILE=1):
// "_pf" / "_sx_pf", built with the default run fetch only.
Status cm_profile_suffix(const std::string& fetch_suffix, std::string* suffix) {
  if (!fetch_suffix.empty())
    return invalid_argument(std::string("MLA_VULKAN_CM_PROFILE=1 is built with the default run fetch only, not with "
                                        "MLA_VULKAN_FETCH=") + fetch_name(fetch_suffix));
  *suffix += "_pf";
  return Status::Ok();
}

// MLA_VULKAN_CM_WARPS: how the coopmat decode's 16-row tile splits its work
// over subgroups: "default" (4 subgroups that fetch, scan, stage and compute
// in turn), "producer" (decode_cm.comp MLA_CM_PRODUCER: 4 more subgroups
// fetch, scan and stage the next tile into a second FP16 key tile while the
// 4 compute; one tile where two do not fit) or "producer1" (the same with
// one key tile, for comparison), for both KV formats; unset: "producer" for
// BF16 KV, "default" for FP8 KV (H200, B128 kv4096 H16: BF16 0.739 vs 0.825
// ms, FP8 0.911 vs 0.883). Same results. Sets Pipelines::producer_bufs and
// producer_fp8.
Status cm_warps_from_env(Pipelines* out) {
  const char* v = std::getenv("MLA_VULKAN_CM_WARPS");
  const std::string e = v ? v : "";
  out->producer_fp8 = !e.empty();
  if (e.empty() || e == "producer") out->producer_bufs = 2;
  else if (e == "default") out->producer_bufs = 0;
  else if (e == "producer1") out->producer_bufs = 1;
  else return invalid_argument("MLA_VULKAN_CM_WARPS = '" + e + "': expected default, producer or producer1");
  return Status::Ok();
}

// MLA_VULKAN_CM_RESCALE: the coopmat decode's O rescale (decode_cm_phases.glsl
// CM_PV_RESCALE): "skip" (a subgroup multiplies its O accumulators by its
// rows' rescale factors only when one of them is not exactly 1, i.e. some
// row's running max moved; same bits), "always" (the multiply on every tile:
// *_ra modules) or unset ("auto": skip in the producer-warp build with one
// key tile, always elsewhere: H200, B128 kv4096 H16, sixteenth session, skip
// vs always: producer N32 0.738 -> 0.726 ms, but the default main 0.822 ->
// 0.831 (FP8 KV 0.880 -> 0.887) and the producer N16 with two key tiles
// 0.781 -> 0.812). The *_ra modules exist for the default fetch and scan
// only, without the clock profile. Sets Pipelines::cm_rescale.
Status cm_rescale_from_env(Pipelines* out) {
  const char* v = std::getenv("MLA_VULKAN_CM_RESCALE");
  const std::string e = v ? v : "";
  out->cm_rescale = e.empty() ? "auto" : e;
  if (e.empty() || e == "skip") return Status::Ok();
  if (e != "always") return invalid_argument("MLA_VULKAN_CM_RESCALE = '" + e + "': expected skip or always");
  if (out->cm_suffix != "_sx")
    return invalid_argument("MLA_VULKAN_CM_RESCALE=always is built with the default fetch and scan only (not with "
                            "MLA_VULKAN_FETCH, MLA_VULKAN_CM_SCAN=tile or MLA_VULKAN_CM_PROFILE)");
  return Status::Ok();
}

// The rescale suffix of a coopmat module: the default main (producer_bufs =
// 0) or the producer-warp build with producer_bufs key tiles.
std::string rescale_suffix(const Pipelines& p, int producer_bufs) {
  if (p.cm_suffix != "_sx" || p.cm_rescale == "skip") return "";  // the other builds skip only
  if (p.cm_rescale == "always") return "_ra";
  return producer_bufs == 1 ? "" : "_ra";
}

// The producer-warp build of coopmat module `name` (rg row groups, n keys)
// for the default suffix "_sx" (+ rescale, "" or "_ra"; or "_pf", the clock
// profile, which skips the rescale as the "" builds do): two key tiles when
// asked for and they fit, else one; null (the default build) when none fits
// or it is not built.
const spirv::Module* producer_module(const std::string& name, const Pipelines& p, int rg, int n, int want_bufs,
                                     const VkPhysicalDeviceLimits& limits, int* bufs) {
  const uint32_t threads = MLA_VK_CM_PW_THREADS(rg);
  if (threads > limits.maxComputeWorkGroupInvocations || threads > limits.maxComputeWorkGroupSize[0]) return nullptr;
  for (int b = want_bufs; b >= 1; --b) {
    const std::string suffix = "_sx_pw" + std::to_string(b) + (p.profile ? "_pf" : rescale_suffix(p, b));
    const uint32_t smem = uint32_t(MLA_VK_CM_PW_SMEM_BYTES(rg, n, b)) +
                          (p.profile && p.kind == DecodeKind::coopmat_emulated ? MLA_VK_CM_PW_PROF_SMEM_BYTES(rg) : 0);
    if (smem > limits.maxComputeSharedMemorySize) continue;
    if (const spirv::Module* m = find_module(name + suffix)) {
      *bufs = b;
      return m;
    }
  }
  return nullptr;
}

// The module of a decode variant; the tuning knobs fall back to the default
// build where their variant was not built.
const spirv::Module* decode_module(int g, int n, int rows, int batch, const std::string& fetch, DecodeVariant* v) {
  const std::string base = "decode_g" + std::to_string(g) + "_n" + std::to_string(n) + "_r";
  const int default_batch = MLA_VK_QK_BATCH(n);
  for (int r : {rows, 1})
    for (int b : {batch, default_batch}) {
      const std::string name = base + std::to_string(r) + (b == default_batch ? "" : "_b" + std::to_string(b));
      if (const spirv::Module* m = find_fetch_module(name, fetch)) {
        v->qk_rows = r;
        v->qk_batch = b;
        return m;
      }
    }
  return nullptr;
}

// The cooperative-matrix decode pipelines: for 1, 2, 4 row groups the
// largest N in {32, 16} that fits the device (and the caps).
Status create_coopmat_pipelines(VkDevice device, const VkPhysicalDeviceLimits& limits, Pipelines* out) {
  const bool emulated = out->kind == DecodeKind::coopmat_emulated;
  const int key_cap = env_int("MLA_VULKAN_COOPMAT_KEYS", 32);
  MLA_RETURN_IF_ERROR(cm_suffix_from_env(out->fetch_suffix, &out->cm_suffix));
  if (out->profile) MLA_RETURN_IF_ERROR(cm_profile_suffix(out->fetch_suffix, &out->cm_suffix));
  MLA_RETURN_IF_ERROR(cm_warps_from_env(out));
  MLA_RETURN_IF_ERROR(cm_rescale_from_env(out));
  // The producer build exists for the default suffix only (run fetch, fast
  // scan), with or without the clock profile.
  const int want_bufs = out->cm_suffix == "_sx" || out->cm_suffix == "_sx_pf" ? out->producer_bufs : 0;
  out->max_rows = std::max(16, std::min(64, env_int("MLA_VULKAN_COOPMAT_ROWS", 64)));
  for (int i = 0; i < 3; ++i) {
    const int rg = 1 << i;
    const uint32_t threads = MLA_VK_CM_THREADS(rg);
    if (threads > limits.maxComputeWorkGroupInvocations || threads > limits.maxComputeWorkGroupSize[0]) continue;
    for (int n : {32, 16}) {
      const uint32_t smem = MLA_VK_CM_SMEM_BYTES(rg, n) + (out->profile && emulated ? MLA_VK_CM_PROF_SMEM_BYTES(rg) : 0);
      if (n > std::max(16, key_cap) || smem > limits.maxComputeSharedMemorySize) continue;
      const std::string name = std::string(emulated ? "decode_cme_r" : "decode_cm_r") + std::to_string(rg) + "_n" +
                               std::to_string(n);
      const spirv::Module* m = find_fetch_module(name, out->cm_suffix + rescale_suffix(*out, 0));
      if (!m) continue;  // not built (the emulated build has N = 16, 1 and 2 groups)
      DecodeVariant v;
      v.rows = 16 * rg;
      v.keys = n;
      MLA_RETURN_IF_ERROR(make_pipeline(device, out, m, &v.pipeline, !emulated));
      out->cm[i] = v;
      // The same N's producer-warp build (same results) where asked for and possible.
      DecodeVariant pv = v;
      pv.pipeline = VK_NULL_HANDLE;
      if (want_bufs > 0)
        if (const spirv::Module* pm =
                producer_module(name, *out, rg, n, want_bufs, limits, &pv.producer_bufs)) {
          MLA_RETURN_IF_ERROR(make_pipeline(device, out, pm, &pv.pipeline, !emulated));
          out->cm_producer = pv;
        }
      break;
    }
  }
  if (out->cm[0].rows == 0)
    return Status(StatusCode::unsupported, "no cooperative-matrix decode tile fits this device "
                                           "(maxComputeSharedMemorySize = " +
                                               std::to_string(limits.maxComputeSharedMemorySize) + ")");
  return Status::Ok();
}

}  // namespace

const char* decode_kind_name(DecodeKind k) {
  switch (k) {
    case DecodeKind::coopmat: return "coopmat";
    case DecodeKind::coopmat_emulated: return "coopmat-emulated";
    default: return "fp32";
  }
}

const DecodeVariant& Pipelines::for_heads(int num_heads, RowFormat kv_format) const {
  const int want = std::min(num_heads, max_rows);
  if (kind != DecodeKind::fp32 && cm_producer.rows >= want &&
      (producer_fp8 || kv_format != RowFormat::fp8_rope640))
    return cm_producer;
  const DecodeVariant* v = kind == DecodeKind::fp32 ? decode : cm;
  for (int i = 0; i < 3; ++i)
    if (v[i].rows >= want) return v[i];
  for (int i = 2; i > 0; --i)
    if (v[i].rows) return v[i];
  return v[0];
}

std::string Pipelines::describe() const {
  std::string s;
  for (const auto& v : decode)
    if (v.rows)
      s += (s.empty() ? "G" : " G") + std::to_string(v.rows) + "xN" + std::to_string(v.keys) + "xR" +
           std::to_string(v.qk_rows) + (v.qk_batch != MLA_VK_QK_BATCH(v.keys) ? "xB" + std::to_string(v.qk_batch) : "");
  for (const auto& v : cm)
    if (v.rows) s += (s.empty() ? "CM" : " CM") + std::to_string(v.rows) + "xN" + std::to_string(v.keys);
  if (kind == DecodeKind::coopmat_emulated) s += " (emulated)";
  s += std::string(" fetch=") + fetch_name(fetch_suffix);
  if (kind != DecodeKind::fp32 && cm_suffix.compare(0, 3, "_sx") == 0) s += " scan=fast";
  if (kind != DecodeKind::fp32 && profile) s += " profile";
  if (kind != DecodeKind::fp32 && cm_rescale != "skip") s += " rescale=" + cm_rescale;
  // The producer-warp 16-row tile: its key tiles, and the KV formats that take it.
  if (kind != DecodeKind::fp32 && cm_producer.rows)
    s += " warps=producer:CM16xN" + std::to_string(cm_producer.keys) + "xP" +
         std::to_string(cm_producer.producer_bufs) + (producer_fp8 ? ":bf16,fp8" : ":bf16");
  return s;
}

Status create_pipelines(VkDevice device, const VkPhysicalDeviceLimits& limits, DecodeKind kind, Pipelines* out) {
  out->kind = kind;
  MLA_RETURN_IF_ERROR(fetch_from_env(&out->fetch_suffix));
  // The clock profile adds its binding (the last one) to the one layout.
  const uint32_t binding_count = MLA_VK_NUM_BINDINGS + (out->profile ? 1 : 0);
  static_assert(MLA_VK_BIND_PROFILE == MLA_VK_NUM_BINDINGS, "the profile binding follows the others");
  VkDescriptorSetLayoutBinding bindings[MLA_VK_NUM_BINDINGS + 1];
  for (uint32_t i = 0; i < binding_count; ++i) {
    bindings[i] = VkDescriptorSetLayoutBinding{};
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  auto si = vk_struct<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  si.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  si.bindingCount = binding_count;
  si.pBindings = bindings;
  MLA_VK_CHECK(vkCreateDescriptorSetLayout(device, &si, nullptr, &out->set_layout));

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(PushConstants)};
  auto li = vk_struct<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  li.setLayoutCount = 1;
  li.pSetLayouts = &out->set_layout;
  li.pushConstantRangeCount = 1;
  li.pPushConstantRanges = &range;
  MLA_VK_CHECK(vkCreatePipelineLayout(device, &li, nullptr, &out->layout));

  for (auto pass : {std::make_pair("pages", &out->pages), std::make_pair("plan", &out->plan),
                    std::make_pair("combine", &out->combine), std::make_pair("copy", &out->copy)}) {
    const spirv::Module* m = find_module(pass.first);
    if (!m) return Status(StatusCode::internal, std::string("embedded shader ") + pass.first + " is missing");
    MLA_RETURN_IF_ERROR(make_pipeline(device, out, m, pass.second));
  }

  if (kind != DecodeKind::fp32) return create_coopmat_pipelines(device, limits, out);

  // Tuning knobs (the defaults are what the bench found best; tests use them
  // to reach every code path): key tile cap, Q.K rows per thread, Q.K batch,
  // largest row group.
  const int key_cap = std::max(4, env_int("MLA_VULKAN_KEY_TILE", 16));
  // Two rows per thread measured fastest on an H200 (G16 N16: 1.29 ms against
  // 1.40 ms with one row, B = 128, kv_len = 4096, H = 16); built for G = 16.
  const int qk_rows = env_int("MLA_VULKAN_QK_ROWS", 2) == 1 ? 1 : 2;
  const int qk_batch = env_int("MLA_VULKAN_QK_BATCH", 0);
  out->max_rows = std::max(4, std::min(16, env_int("MLA_VULKAN_MAX_ROWS", 16)));
  for (int i = 0; i < 3; ++i) {
    const int g = kRows[i];
    const uint32_t threads = MLA_VK_DECODE_THREADS(g);
    if (threads > limits.maxComputeWorkGroupInvocations || threads > limits.maxComputeWorkGroupSize[0]) continue;
    for (int n : kKeys) {
      DecodeVariant v;
      const spirv::Module* m = n <= key_cap ? decode_module(g, n, qk_rows, qk_batch, out->fetch_suffix, &v) : nullptr;
      if (!m || uint32_t(MLA_VK_DECODE_SMEM_BYTES(g, n, v.qk_batch)) > limits.maxComputeSharedMemorySize) continue;
      v.rows = g;
      v.keys = n;
      MLA_RETURN_IF_ERROR(make_pipeline(device, out, m, &v.pipeline));
      out->decode[i] = v;
      break;
    }
  }
  if (out->decode[0].rows == 0)
    return Status(StatusCode::unsupported, "no decode tile fits this device (maxComputeSharedMemorySize = " +
                                               std::to_string(limits.maxComputeSharedMemorySize) + ")");
  return Status::Ok();
}

void destroy_pipelines(VkDevice device, Pipelines* p) {
  for (auto& v : p->decode)
    if (v.pipeline) vkDestroyPipeline(device, v.pipeline, nullptr);
  for (auto& v : p->cm)
    if (v.pipeline) vkDestroyPipeline(device, v.pipeline, nullptr);
  if (p->cm_producer.pipeline) vkDestroyPipeline(device, p->cm_producer.pipeline, nullptr);
  for (VkPipeline* x : {&p->pages, &p->plan, &p->combine, &p->copy})
    if (*x) vkDestroyPipeline(device, *x, nullptr);
  if (p->layout) vkDestroyPipelineLayout(device, p->layout, nullptr);
  if (p->set_layout) vkDestroyDescriptorSetLayout(device, p->set_layout, nullptr);
  *p = Pipelines();
}

}  // namespace mla::vulkan_impl
