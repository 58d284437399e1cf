// Shader modules, layouts and pipelines from the embedded SPIR-V.
#include "pipelines.h"

#include <cstdlib>
#include <cstring>

#include "mla_spirv.h"
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

Status make_pipeline(VkDevice device, VkPipelineLayout layout, const std::string& name, VkPipeline* out) {
  const spirv::Module* m = find_module(name);
  if (!m) return Status(StatusCode::internal, "embedded shader " + name + " is missing from the build");
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
  pi.layout = layout;
  const VkResult r = vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &pi, nullptr, out);
  vkDestroyShaderModule(device, module, nullptr);
  if (r != VK_SUCCESS) return vk_error(r, ("vkCreateComputePipelines(" + name + ")").c_str());
  return Status::Ok();
}

// Rows per thread in Q.K (1 or 2); MLA_VULKAN_QK_ROWS selects (tuning), default 2.
int qk_rows() {
  const char* v = std::getenv("MLA_VULKAN_QK_ROWS");
  return v && std::atoi(v) == 1 ? 1 : 2;
}

int key_tile_cap() {
  const char* v = std::getenv("MLA_VULKAN_KEY_TILE");
  const int n = v ? std::atoi(v) : 0;
  return n >= 4 ? n : 16;
}

}  // namespace

const DecodeVariant& Pipelines::for_heads(int num_heads) const {
  const int want = num_heads < 16 ? num_heads : 16;
  for (const auto& v : decode)
    if (v.rows >= want) return v;
  for (int i = 2; i > 0; --i)
    if (decode[i].rows) return decode[i];
  return decode[0];
}

std::string Pipelines::describe() const {
  std::string s;
  for (const auto& v : decode)
    if (v.rows)
      s += (s.empty() ? "G" : " G") + std::to_string(v.rows) + "xN" + std::to_string(v.keys) + "xR" +
           std::to_string(v.qk_rows);
  return s;
}

Status create_pipelines(VkDevice device, const VkPhysicalDeviceLimits& limits, Pipelines* out) {
  VkDescriptorSetLayoutBinding bindings[MLA_VK_NUM_BINDINGS];
  for (uint32_t i = 0; i < MLA_VK_NUM_BINDINGS; ++i) {
    bindings[i] = VkDescriptorSetLayoutBinding{};
    bindings[i].binding = i;
    bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[i].descriptorCount = 1;
    bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  auto si = vk_struct<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
  si.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
  si.bindingCount = MLA_VK_NUM_BINDINGS;
  si.pBindings = bindings;
  MLA_VK_CHECK(vkCreateDescriptorSetLayout(device, &si, nullptr, &out->set_layout));

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(PushConstants)};
  auto li = vk_struct<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  li.setLayoutCount = 1;
  li.pSetLayouts = &out->set_layout;
  li.pushConstantRangeCount = 1;
  li.pPushConstantRanges = &range;
  MLA_VK_CHECK(vkCreatePipelineLayout(device, &li, nullptr, &out->layout));

  MLA_RETURN_IF_ERROR(make_pipeline(device, out->layout, "pages", &out->pages));
  MLA_RETURN_IF_ERROR(make_pipeline(device, out->layout, "plan", &out->plan));
  MLA_RETURN_IF_ERROR(make_pipeline(device, out->layout, "combine", &out->combine));

  const int cap = key_tile_cap();
  const int qk = qk_rows();
  for (int i = 0; i < 3; ++i) {
    const int g = kRows[i];
    const uint32_t threads = MLA_VK_DECODE_THREADS(g);
    if (threads > limits.maxComputeWorkGroupInvocations || threads > limits.maxComputeWorkGroupSize[0]) continue;
    for (int n : kKeys) {
      if (n > cap || uint32_t(MLA_VK_DECODE_SMEM_BYTES(g, n)) > limits.maxComputeSharedMemorySize) continue;
      out->decode[i].rows = g;
      out->decode[i].keys = n;
      out->decode[i].qk_rows = qk;
      MLA_RETURN_IF_ERROR(make_pipeline(device, out->layout,
                                        "decode_g" + std::to_string(g) + "_n" + std::to_string(n) + "_r" + std::to_string(qk),
                                        &out->decode[i].pipeline));
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
  for (VkPipeline* x : {&p->pages, &p->plan, &p->combine})
    if (*x) vkDestroyPipeline(device, *x, nullptr);
  if (p->layout) vkDestroyPipelineLayout(device, p->layout, nullptr);
  if (p->set_layout) vkDestroyDescriptorSetLayout(device, p->set_layout, nullptr);
  *p = Pipelines();
}

}  // namespace mla::vulkan_impl
