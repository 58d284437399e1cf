// mla/cuda.h - the CUDA backend's C++ API.
//
// A decode step runs as two stream-ordered stages:
//   1. run_planner(): from q_offsets / kv_lens / page_table ON THE DEVICE it
//      writes the schedule (per-request facts, split-K work items, the parts
//      of the decode grid) into the caller's workspace, and checks the
//      metadata (see "Device status" below).
//   2. decode(): the decode kernel, then the combine kernel (split-K merge,
//      flagged rows).
// Neither synchronises with the host or allocates, so both can be captured in
// a CUDA graph and the graph replayed after new lengths were written to the
// device buffers. make_plan() sizes the grid and the workspace from what the
// host knows (B, H, total_q, max_pages * page_size, the device's SM count);
// a plan stays valid for every call with the same ProblemDesc.
// One run_planner() may serve many decode() calls: the schedule depends only
// on q_offsets / kv_lens / page_table, and decode() reads it without changing
// it. A model whose layers share the step's metadata runs run_planner() once
// per decode step and decode() once per layer, each layer with its own q,
// kv_pool, out and lse, stream-ordered on the same workspace (tested in
// tests/cuda/test_layers.cpp; `mla bench --mode layer` times it).
//
// Device status. The planner checks every request's metadata on the device.
// A request with kv_len outside [0, max_pages * page_size], a page id (of its
// pages 0 .. ceil(kv_len / page_size) - 1) outside [0, num_pages), q_offsets
// that do not start at 0 / decrease / give q_len > 16 / run past total_q, or
// q_len > kv_len under a causal-family mask is flagged with MLA_STATUS_* bits
// (mla/constants.h) in its own status and in the batch's status word; it reads
// no memory through the bad metadata, its output rows are written as 0 and
// its LSE rows as NaN, and the other requests are unaffected. Rows that no
// request owns (only possible with bad q_offsets) are left untouched. Read the
// word with read_status() (synchronises) or device_status_word() (a device
// pointer, e.g. for a graph-captured check). The word is rewritten by every
// run_planner().
//
// All pointers in ProblemData, out and lse are device pointers; q, kv_pool
// and out must be 16-byte aligned, lse 4-byte aligned.
#pragma once

#include <cstdint>
#include <string>

#include "mla/status.h"
#include "mla/types.h"

struct CUstream_st;

namespace mla::cuda {

using Stream = CUstream_st*;  // cudaStream_t; nullptr is the legacy default stream

// "" when a usable CUDA device is the current device; otherwise why not.
std::string unavailable_reason();

// Which decode kernel runs. automatic: the Hopper kernel on compute
// capability 9.0 where it handles the format pair, else the portable kernel
// in the largest shared-memory configuration the device allows. The
// environment variable MLA_CUDA_KERNEL (auto, portable, portable_big,
// portable_small, sm90) overrides `automatic`.
enum class Kernel : int32_t { automatic = 0, portable = 1, portable_big = 2, portable_small = 3, sm90 = 4 };

struct PlanOptions {
  int device = -1;     // -1: the current device
  int32_t num_parts = 0;  // CTA columns of the decode grid; 0: from the SM count
  Kernel kernel = Kernel::automatic;
  // The largest q_len of any request the plan will serve, 1..16; 0: 16 (the
  // contract's bound). The decode grid has one row of CTAs per 64 query rows
  // of the longest request, and q_len lives on the device, so without this
  // hint a decode batch of q_len 1 launches 16x the CTA rows it needs (they
  // exit at once: on an H200 at B=128 the time did not change). A request
  // whose q_len exceeds it at decode time is flagged MLA_STATUS_BAD_Q_OFFSETS
  // (output 0, LSE NaN), like a q_len above 16.
  int32_t max_q_len = 0;
};

// Host-side facts of a problem shape on a device. Cheap to copy.
struct DecodePlan {
  ProblemDesc desc;
  int device = -1;
  int sm_count = 0;
  Kernel kernel = Kernel::automatic;  // resolved: never `portable` (big or small chosen)
  int32_t num_parts = 0;
  int32_t max_q_len = 16;     // PlanOptions::max_q_len resolved (1..16)
  int32_t max_m_tiles = 0;    // grid.y: ceil(min(max_q_len, total_q) * H / 64)
  int64_t max_items = 0;      // work-item capacity
  int64_t partial_rows = 0;   // split-K workspace rows
  int64_t workspace_bytes = 0;
  // Byte offsets of the workspace sections (internal).
  struct Offsets {
    int64_t status = 0, combine_count = 0, requests = 0, items = 0, part_begin = 0, combine_list = 0,
            cost_begin = 0, partial_lse = 0, partial_out = 0;
  } offsets;
};

// Validates `desc` (mla::validate_desc), reads the device and sizes the plan.
Status make_plan(const ProblemDesc& desc, DecodePlan* plan, const PlanOptions& options = PlanOptions());

// Stage 1 on `stream`. `workspace`: device memory of at least
// plan.workspace_bytes, 256-byte aligned (cudaMalloc's are), owned by the
// caller and not shared by concurrent calls.
Status run_planner(const DecodePlan& plan, const ProblemData& data, void* workspace, int64_t workspace_bytes,
                   Stream stream);

// Stage 2 on `stream` (after run_planner on the same workspace). out:
// [total_q, H, 512] BF16, lse: [total_q, H] float (natural log).
Status decode(const DecodePlan& plan, const ProblemData& data, void* workspace, int64_t workspace_bytes,
              uint16_t* out, float* lse, Stream stream);

// Both stages.
Status plan_and_decode(const DecodePlan& plan, const ProblemData& data, void* workspace, int64_t workspace_bytes,
                       uint16_t* out, float* lse, Stream stream);

// The batch status word in the workspace (device pointer): OR of MLA_STATUS_* bits.
const uint32_t* device_status_word(const DecodePlan& plan, const void* workspace);

// Waits for `stream`, then copies the status word and, when request_status is
// not null, each request's bits ([batch] values).
Status read_status(const DecodePlan& plan, const void* workspace, uint32_t* status_word, uint32_t* request_status,
                   Stream stream);

// Host-memory convenience: validates (desc and buffers; the metadata is
// checked on the device, see "Device status"), copies to the current device,
// plans, decodes, copies back. out: total_q * H * 512 BF16, lse: total_q * H.
// kernel_ms: device time of planner + decode + combine.
Status decode_host(const ProblemDesc& desc, const ProblemData& host, uint16_t* out_bf16, float* lse,
                   uint32_t* status_word = nullptr, double* kernel_ms = nullptr,
                   const PlanOptions& options = PlanOptions());

const char* to_string(Kernel k);

}  // namespace mla::cuda
