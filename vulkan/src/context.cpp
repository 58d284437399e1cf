// Context creation and teardown, accessors, unavailable_reason().
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "context_impl.h"
#include "mla/numeric.h"
#include "pipeline_stats.h"
#include "shader_interface.h"
#include "spirv_caps.h"
#include "vk_check.h"
#include "vk_struct.h"

namespace mla::vulkan {

using vulkan_impl::vk_struct;

Context::Impl::~Impl() {
  if (device) {
    vkDeviceWaitIdle(device);  // nothing of ours may still run; the result does not change what we free
    dummy.reset();
    fp8_table.reset();
    profile.reset();
    if (timestamps) vkDestroyQueryPool(device, timestamps, nullptr);
    if (fence) vkDestroyFence(device, fence, nullptr);
    if (command_pool) vkDestroyCommandPool(device, command_pool, nullptr);
    vulkan_impl::destroy_pipelines(device, &pipelines);
    vulkan_impl::destroy_pipeline_cache(device, &pipeline_cache);
    vkDestroyDevice(device, nullptr);
  }
  vulkan_impl::destroy_instance(&instance);
}

namespace {

// The decode kind Options / MLA_VULKAN_COOPMAT ask for on this device.
// Unset means auto: the cooperative-matrix decode where the device runs it
// (H200, B=128 kv=4096 H=16 BF16: 0.82 ms vs 1.10 ms FP32), else the FP32
// one. Default since the fifth session, when the whole Vulkan suite passed
// natively with it on the H200 (32/32) and Context::create was timed (a
// cold creation ~3 s of driver compiles, ~0.15 s warm or with a pipeline
// cache file; vulkan/README.md).
Status choose_decode(const Options& o, const Context::Impl& c, vulkan_impl::DecodeKind* kind) {
  using vulkan_impl::DecodeKind;
  Options::CoopMat mode = o.coopmat;
  if (mode == Options::CoopMat::from_env) {
    const char* v = std::getenv("MLA_VULKAN_COOPMAT");
    const std::string e = v ? v : "";
    if (e == "0" || e == "off") mode = Options::CoopMat::off;
    else if (e == "1" || e == "on" || e == "required") mode = Options::CoopMat::required;
    else if (e.empty() || e == "auto") mode = Options::CoopMat::when_supported;
    else if (e == "emulate") mode = Options::CoopMat::emulate;
    else return invalid_argument("MLA_VULKAN_COOPMAT = '" + e + "': expected 0, 1, auto or emulate");
  }
  switch (mode) {
    case Options::CoopMat::required:
      if (!c.coopmat_missing.empty())
        return Status(StatusCode::not_available,
                      "the cooperative-matrix decode was required (MLA_VULKAN_COOPMAT=1 or Options::coopmat) but "
                      "device \"" + std::string(c.phys.props.deviceName) + "\" cannot run it: " + c.coopmat_missing);
      *kind = DecodeKind::coopmat;
      break;
    case Options::CoopMat::when_supported:
      *kind = c.coopmat_missing.empty() ? DecodeKind::coopmat : DecodeKind::fp32;
      break;
    case Options::CoopMat::emulate: *kind = DecodeKind::coopmat_emulated; break;
    default: *kind = DecodeKind::fp32; break;
  }
  return Status::Ok();
}

// Options::robust_buffer_access or MLA_VULKAN_ROBUST=1 (0 / unset: off).
Status choose_robustness(const Options& options, Context::Impl* c) {
  bool want = options.robust_buffer_access;
  if (const char* v = std::getenv("MLA_VULKAN_ROBUST"); v && *v) {
    const std::string e = v;
    if (e == "1" || e == "on") want = true;
    else if (e != "0" && e != "off") return invalid_argument("MLA_VULKAN_ROBUST = '" + e + "': expected 0 or 1");
  }
  if (!want) return Status::Ok();
  VkPhysicalDeviceFeatures have{};
  vkGetPhysicalDeviceFeatures(c->phys.handle, &have);
  if (!have.robustBufferAccess)
    return Status(StatusCode::not_available, "robust buffer access was requested (Options::robust_buffer_access or "
                                             "MLA_VULKAN_ROBUST=1) but device \"" +
                                                 std::string(c->phys.props.deviceName) +
                                                 "\" lacks the feature robustBufferAccess");
  c->robust_buffer_access = true;
  return Status::Ok();
}

// Whether the pipelines drop the driver's own bounds checks on storage and
// uniform buffers (VK_EXT_pipeline_robustness, DISABLED): where the device
// has the extension and its feature pipelineRobustness, unless the caller
// asked for robust buffer access (then the device feature decides, as
// before) or MLA_VULKAN_DRIVER_CHECKS=1 keeps the driver's default (A/B).
// The NVIDIA driver checks every storage-buffer load against its
// descriptor's range even with robustBufferAccess off; every access of the
// shaders is in range by construction (validated ranges, checked page-table
// entries, guarded tails), so the checks only cost (H200, B128 kv4096 H16
// test bench: 0.593 -> 0.579 ms; vulkan/README.md "The driver's bounds checks").
Status choose_buffer_checks(Context::Impl* c) {
  bool keep = c->robust_buffer_access;
  if (const char* v = std::getenv("MLA_VULKAN_DRIVER_CHECKS"); v && *v) {
    const std::string e = v;
    if (e == "1" || e == "on") keep = true;
    else if (e != "0" && e != "off")
      return invalid_argument("MLA_VULKAN_DRIVER_CHECKS = '" + e + "': expected 0 or 1");
  }
  if (keep || !c->phys.has_extension(VK_EXT_PIPELINE_ROBUSTNESS_EXTENSION_NAME)) return Status::Ok();
  auto f2 = vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  auto pr = vk_struct<VkPhysicalDevicePipelineRobustnessFeaturesEXT>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_ROBUSTNESS_FEATURES_EXT);
  f2.pNext = &pr;
  vkGetPhysicalDeviceFeatures2(c->phys.handle, &f2);
  c->pipelines.no_buffer_checks = pr.pipelineRobustness == VK_TRUE;
  return Status::Ok();
}

// MLA_VULKAN_CM_PROFILE: 1 / on = the coopmat decode's clock-profile build
// (diagnostic); unset / 0 / off = none. Checks what it needs up front.
Status choose_profile(Context::Impl* c, vulkan_impl::DecodeKind kind) {
  const char* v = std::getenv("MLA_VULKAN_CM_PROFILE");
  const std::string e = v ? v : "";
  if (e.empty() || e == "0" || e == "off") return Status::Ok();
  if (e != "1" && e != "on") return invalid_argument("MLA_VULKAN_CM_PROFILE = '" + e + "': expected 0 or 1");
  const std::string device = "device \"" + std::string(c->phys.props.deviceName) + "\"";
  if (kind == vulkan_impl::DecodeKind::fp32)
    return invalid_argument("MLA_VULKAN_CM_PROFILE=1 profiles the cooperative-matrix decode, but this context "
                            "runs the FP32 one: set MLA_VULKAN_COOPMAT=1 (or emulate)");
  if (!c->phys.has_extension(VK_KHR_SHADER_CLOCK_EXTENSION_NAME))
    return Status(StatusCode::not_available, "MLA_VULKAN_CM_PROFILE=1 needs device extension " +
                                                 std::string(VK_KHR_SHADER_CLOCK_EXTENSION_NAME) + ", which " +
                                                 device + " lacks");
  auto f2 = vk_struct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  auto clk = vk_struct<VkPhysicalDeviceShaderClockFeaturesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR);
  f2.pNext = &clk;
  vkGetPhysicalDeviceFeatures2(c->phys.handle, &f2);
  if (!clk.shaderSubgroupClock)
    return Status(StatusCode::not_available, "MLA_VULKAN_CM_PROFILE=1 needs feature shaderSubgroupClock of " +
                                                 std::string(VK_KHR_SHADER_CLOCK_EXTENSION_NAME) + ", which " +
                                                 device + " does not support");
  if (c->phys.max_push_descriptors < MLA_VK_NUM_BINDINGS + 1)
    return Status(StatusCode::not_available, "MLA_VULKAN_CM_PROFILE=1 needs " + std::to_string(MLA_VK_NUM_BINDINGS + 1) +
                                                 " push descriptors, " + device + " has maxPushDescriptors = " +
                                                 std::to_string(c->phys.max_push_descriptors));
  c->pipelines.profile = true;
  return Status::Ok();
}

Status create_device(Context::Impl* c, vulkan_impl::DecodeKind kind) {
  const float priority = 1.f;
  auto qi = vk_struct<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  qi.queueFamilyIndex = c->phys.queue_family;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  std::vector<const char*> extensions = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
  // A portability implementation (MoltenVK) must have its subset extension enabled.
  if (c->phys.has_extension("VK_KHR_portability_subset")) extensions.push_back("VK_KHR_portability_subset");
  VkPhysicalDeviceFeatures features = vulkan_impl::spirv_required_features();
  if (c->robust_buffer_access) features.robustBufferAccess = VK_TRUE;
  auto di = vk_struct<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  // The cooperative-matrix decode: its extensions and exactly the features its SPIR-V declares.
  auto f_cm = vk_struct<VkPhysicalDeviceCooperativeMatrixFeaturesNV>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV);
  auto f_mm = vk_struct<VkPhysicalDeviceVulkanMemoryModelFeaturesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR);
  auto f_16 = vk_struct<VkPhysicalDeviceShaderFloat16Int8FeaturesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR);
  auto f_sg = vk_struct<VkPhysicalDeviceSubgroupSizeControlFeaturesEXT>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT);
  if (kind == vulkan_impl::DecodeKind::coopmat) {
    for (const char* e : {VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME, VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME,
                          VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME})
      extensions.push_back(e);
    f_cm.cooperativeMatrix = VK_TRUE;
    f_mm.vulkanMemoryModel = VK_TRUE;
    f_mm.vulkanMemoryModelDeviceScope = VK_TRUE;  // physical.h: needed by the other shaders' atomics
    f_16.shaderFloat16 = VK_TRUE;
    f_sg.subgroupSizeControl = VK_TRUE;
    f_sg.computeFullSubgroups = VK_TRUE;
    f_cm.pNext = &f_mm;
    f_mm.pNext = &f_16;
    f_16.pNext = &f_sg;
    di.pNext = &f_cm;
  }
  // The clock profile: VK_KHR_shader_clock, shaderSubgroupClock (choose_profile checked them).
  auto f_clk = vk_struct<VkPhysicalDeviceShaderClockFeaturesKHR>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CLOCK_FEATURES_KHR);
  if (c->pipelines.profile) {
    extensions.push_back(VK_KHR_SHADER_CLOCK_EXTENSION_NAME);
    f_clk.shaderSubgroupClock = VK_TRUE;
    f_clk.pNext = const_cast<void*>(di.pNext);
    di.pNext = &f_clk;
  }
  // MLA_VULKAN_PIPELINE_STATS: the driver's statistics of every pipeline
  // (pipeline_stats.h), where the device has the extension.
  auto f_pe = vk_struct<VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR);
  if (vulkan_impl::pipeline_stats_requested() &&
      c->phys.has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    f_pe.pipelineExecutableInfo = VK_TRUE;
    f_pe.pNext = const_cast<void*>(di.pNext);
    di.pNext = &f_pe;
    c->pipelines.capture_statistics = true;
  }
  // No driver bounds checks (choose_buffer_checks): the extension and its feature.
  auto f_pr = vk_struct<VkPhysicalDevicePipelineRobustnessFeaturesEXT>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_ROBUSTNESS_FEATURES_EXT);
  if (c->pipelines.no_buffer_checks) {
    extensions.push_back(VK_EXT_PIPELINE_ROBUSTNESS_EXTENSION_NAME);
    f_pr.pipelineRobustness = VK_TRUE;
    f_pr.pNext = const_cast<void*>(di.pNext);
    di.pNext = &f_pr;
  }
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  di.enabledExtensionCount = uint32_t(extensions.size());
  di.ppEnabledExtensionNames = extensions.data();
  di.pEnabledFeatures = &features;
  MLA_VK_CHECK(vkCreateDevice(c->phys.handle, &di, nullptr, &c->device));
  vkGetDeviceQueue(c->device, c->phys.queue_family, 0, &c->queue);
  c->push_descriptor_set =
      reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(c->device, "vkCmdPushDescriptorSetKHR"));
  if (!c->push_descriptor_set)
    return Status(StatusCode::not_available, "vkCmdPushDescriptorSetKHR is missing although VK_KHR_push_descriptor is enabled");
  return Status::Ok();
}

Status create_submission_objects(Context::Impl* c) {
  auto pi = vk_struct<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pi.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pi.queueFamilyIndex = c->phys.queue_family;
  MLA_VK_CHECK(vkCreateCommandPool(c->device, &pi, nullptr, &c->command_pool));
  auto fi = vk_struct<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  MLA_VK_CHECK(vkCreateFence(c->device, &fi, nullptr, &c->fence));
  if (c->phys.timestamp_bits > 0 && c->phys.props.limits.timestampPeriod > 0) {
    auto qi = vk_struct<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = 2;
    MLA_VK_CHECK(vkCreateQueryPool(c->device, &qi, nullptr, &c->timestamps));
  }
  MLA_RETURN_IF_ERROR(vulkan_impl::Buffer::create(c->device, c->memory_props, 16, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                                                  false, &c->dummy));
  // The e4m3 table the shaders decode with: the host's exact table, so host
  // and device share one definition. Host-visible: it is read once per workgroup.
  MLA_RETURN_IF_ERROR(vulkan_impl::Buffer::create(c->device, c->memory_props, 256 * sizeof(float),
                                                  VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, true, &c->fp8_table));
  std::memcpy(c->fp8_table.mapped(), fp8_e4m3_table(), 256 * sizeof(float));
  if (c->pipelines.profile) {
    MLA_RETURN_IF_ERROR(vulkan_impl::Buffer::create(c->device, c->memory_props, MLA_VK_PROF_WORDS * 4,
                                                    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                                                    true, &c->profile));
    std::memset(c->profile.mapped(), 0, MLA_VK_PROF_WORDS * 4);
  }
  return Status::Ok();
}

// The phases of Context::create (DeviceInfo::create_ms): lap() books the
// time since the previous lap under a name, skip() starts the next lap
// without booking (phases timed elsewhere are add()ed), finish() books the
// unnamed rest as "other" and the whole as "total".
class PhaseClock {
 public:
  using Phases = std::vector<std::pair<std::string, double>>;
  void lap(const char* name) { add(name, since(last_)); }
  void skip() { last_ = std::chrono::steady_clock::now(); }
  void add(const std::string& name, double ms) {
    phases_.emplace_back(name, ms);
    booked_ += ms;
    skip();
  }
  Phases finish() {
    const double total = since(start_);
    phases_.emplace_back("other", total - booked_);
    phases_.emplace_back("total", total);
    return std::move(phases_);
  }

 private:
  static double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  }
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
  Phases phases_;
  double booked_ = 0;
};

// MLA_VULKAN_TIMING set (and not "0"): Context::create prints its phases.
bool timing_requested() {
  const char* v = std::getenv("MLA_VULKAN_TIMING");
  return v && *v && std::strcmp(v, "0") != 0;
}

void print_create_timing(const Context::Impl& c) {
  const auto& pc = c.pipeline_cache;
  const std::string cache = pc.file.empty()       ? "no file"
                            : pc.loaded_bytes > 0 ? std::to_string(pc.loaded_bytes) + " B loaded from " + pc.file
                                                  : "nothing loaded from " + pc.file;
  std::fprintf(stderr, "mla vulkan create: %.3f ms on \"%s\", decode %s, pipeline cache: %s\n",
               c.create_ms.back().second, c.phys.props.deviceName, vulkan_impl::decode_kind_name(c.pipelines.kind),
               cache.c_str());
  for (const auto& p : c.create_ms)
    if (&p != &c.create_ms.back()) std::fprintf(stderr, "mla vulkan create:   %-32s %10.3f ms\n", p.first.c_str(), p.second);
}

}  // namespace

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

Status Context::create(std::unique_ptr<Context>* out) { return create(Options(), out); }

Status Context::create(const Options& options, std::unique_ptr<Context>* out) {
  PhaseClock clock;
  auto impl = std::make_unique<Impl>();
  const bool validation = options.validation || vulkan_impl::validation_requested_by_env();
  MLA_RETURN_IF_ERROR(vulkan_impl::create_instance(validation, &impl->validation_messages, &impl->instance));
  clock.lap("instance");
  MLA_RETURN_IF_ERROR(vulkan_impl::select_physical_device(impl->instance.instance, options, &impl->phys));
  vkGetPhysicalDeviceMemoryProperties(impl->phys.handle, &impl->memory_props);
  impl->coopmat_missing = vulkan_impl::coopmat_missing(impl->phys);
  vulkan_impl::DecodeKind kind = vulkan_impl::DecodeKind::fp32;
  MLA_RETURN_IF_ERROR(choose_decode(options, *impl, &kind));
  MLA_RETURN_IF_ERROR(choose_robustness(options, impl.get()));
  MLA_RETURN_IF_ERROR(choose_buffer_checks(impl.get()));
  MLA_RETURN_IF_ERROR(choose_profile(impl.get(), kind));
  clock.lap("physical device");
  MLA_RETURN_IF_ERROR(create_device(impl.get(), kind));
  clock.lap("device");
  MLA_RETURN_IF_ERROR(vulkan_impl::create_pipeline_cache(impl->device, impl->phys.props,
                                                         vulkan_impl::pipeline_cache_file(options.pipeline_cache_file),
                                                         &impl->pipeline_cache));
  impl->pipelines.cache = impl->pipeline_cache.cache;
  clock.lap("pipeline cache");
  MLA_RETURN_IF_ERROR(vulkan_impl::create_pipelines(impl->device, impl->phys.props.limits, kind, &impl->pipelines));
  for (const auto& p : impl->pipelines.create_ms) clock.add("pipeline " + p.first, p.second);
  clock.skip();  // the rest of create_pipelines (layouts, module lookups) counts as "other"
  MLA_RETURN_IF_ERROR(create_submission_objects(impl.get()));
  clock.lap("submission objects");
  vulkan_impl::save_pipeline_cache(impl->device, &impl->pipeline_cache);
  clock.lap("pipeline cache save");
  impl->create_ms = clock.finish();
  if (timing_requested()) print_create_timing(*impl);
  out->reset(new Context(std::move(impl)));
  return Status::Ok();
}

std::string Context::device_name() const { return impl_->phys.props.deviceName; }

DeviceInfo Context::device_info() const {
  const auto& p = impl_->phys;
  DeviceInfo i;
  i.name = p.props.deviceName;
  i.type = vulkan_impl::device_type_name(p.props.deviceType);
  i.driver = p.driver;
  i.vendor_id = p.props.vendorID;
  i.api_version = p.props.apiVersion;
  i.compute_units = p.compute_units;
  i.shared_memory_bytes = p.props.limits.maxComputeSharedMemorySize;
  i.subgroup_size = p.subgroup_size;
  i.timestamps = impl_->timestamps != VK_NULL_HANDLE;
  i.tiles = impl_->pipelines.describe();
  i.decode = vulkan_impl::decode_kind_name(impl_->pipelines.kind);
  i.coopmat_missing = impl_->coopmat_missing;
  i.robust_buffer_access = impl_->robust_buffer_access;
  i.driver_buffer_checks = !impl_->pipelines.no_buffer_checks;
  i.pipeline_cache_file = impl_->pipeline_cache.file;
  i.pipeline_cache_loaded_bytes = impl_->pipeline_cache.loaded_bytes;
  i.create_ms = impl_->create_ms;
  return i;
}

uint64_t Context::validation_messages() const { return impl_->validation_messages.load(); }
VkInstance Context::instance() const { return impl_->instance.instance; }
VkPhysicalDevice Context::physical_device() const { return impl_->phys.handle; }
VkDevice Context::device() const { return impl_->device; }
VkQueue Context::queue() const { return impl_->queue; }
uint32_t Context::queue_family() const { return impl_->phys.queue_family; }

std::string unavailable_reason() {
  // Device selection and the requirement check only: no pipelines are built.
  std::atomic<uint64_t> unused{0};
  vulkan_impl::Instance inst;
  Status st = vulkan_impl::create_instance(false, &unused, &inst);
  if (!st.ok()) return st.message();
  vulkan_impl::PhysicalDevice phys;
  st = vulkan_impl::select_physical_device(inst.instance, Options(), &phys);
  vulkan_impl::destroy_instance(&inst);
  return st.ok() ? "" : st.message();
}

}  // namespace mla::vulkan
