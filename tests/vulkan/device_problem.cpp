// Caller-owned buffers, a caller-recorded command buffer, record_decode.
#include "device_problem.h"

#include <doctest/doctest.h>

#include <cstring>

namespace vk_test {

DeviceProblem::DeviceProblem(mla::vulkan::Context& ctx, const mla::test::HostProblem& p)
    : ctx_(ctx), desc_(p.desc), submitter_(ctx) {
  const mla::ProblemDesc& d = p.desc;
  buffers_.q = make(p.q.size(), p.q.data());
  buffers_.q_scales = make(p.q_scales.size() * 4, p.q_scales.data());
  buffers_.kv_pool = make(p.kv_pool.size(), p.kv_pool.data());
  buffers_.kv_scales = make(p.kv_scales.size() * 4, p.kv_scales.data());
  buffers_.page_table = make(p.page_table.size() * 4, p.page_table.data(), &page_table_);
  buffers_.q_offsets = make(p.q_offsets.size() * 4, p.q_offsets.data(), &q_offsets_);
  buffers_.kv_lens = make(p.kv_lens.size() * 4, p.kv_lens.data(), &kv_lens_);
  buffers_.out = make(mla::out_count(d) * 2, nullptr, &out_);
  buffers_.lse = make(mla::lse_count(d) * 4, nullptr, &lse_);
  buffers_.status = make((d.batch + 1) * 4, nullptr, &status_);
  VkDeviceSize ws = 0;
  const mla::Status st = ctx.workspace_bytes(d, &ws);
  REQUIRE_MESSAGE(st.ok(), st.to_string());
  buffers_.workspace = make(ws, nullptr);
}

DeviceProblem::~DeviceProblem() {
  for (TestBuffer* b : {&page_table_, &q_offsets_, &kv_lens_, &out_, &lse_, &status_}) free_buffer(ctx_, *b);
  for (TestBuffer& b : inputs_) free_buffer(ctx_, b);
}

mla::vulkan::BufferRange DeviceProblem::make(VkDeviceSize bytes, const void* data, TestBuffer* keep) {
  if (bytes == 0) return mla::vulkan::BufferRange{};
  const TestBuffer b = alloc_buffer(ctx_, bytes,
                                    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                                        VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT,
                                    true);
  if (data) std::memcpy(b.mapped, data, bytes);
  if (keep) {
    *keep = b;
  } else {
    inputs_.push_back(b);
  }
  return mla::vulkan::BufferRange{b.buffer, 0, bytes};
}

mla::Status DeviceProblem::run() {
  for (TestBuffer* b : {&out_, &lse_})  // poison: kPoisonBf16 / kPoisonF32Bits
    if (b->mapped) std::memset(b->mapped, 0xFF, b->size);
  std::memset(status_.mapped, 0xAB, status_.size);
  VkCommandBuffer cmd = submitter_.begin();
  const mla::Status st = ctx_.record_decode(cmd, desc_, buffers_);
  if (!st.ok()) {
    submitter_.discard(cmd);
    return st;
  }
  // The caller's side of the contract: make the results visible to the host.
  memory_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                 VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                 VK_ACCESS_HOST_READ_BIT);
  submitter_.submit_and_wait(cmd);
  return st;
}

std::vector<uint16_t> DeviceProblem::out() const {
  std::vector<uint16_t> v(mla::out_count(desc_));
  if (!v.empty()) std::memcpy(v.data(), out_.mapped, v.size() * 2);
  return v;
}

std::vector<float> DeviceProblem::lse() const {
  std::vector<float> v(mla::lse_count(desc_));
  if (!v.empty()) std::memcpy(v.data(), lse_.mapped, v.size() * 4);
  return v;
}

std::vector<uint32_t> DeviceProblem::status() const {
  std::vector<uint32_t> v(desc_.batch + 1);
  std::memcpy(v.data(), status_.mapped, v.size() * 4);
  return v;
}

}  // namespace vk_test
