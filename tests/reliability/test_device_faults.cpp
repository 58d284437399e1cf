// Device-side faults: metadata already in device memory that host
// validation never saw. Each fault of the table is put into one request of a
// five-request batch (first, middle, last), through the backend's device API
// (CUDA: run_planner / decode / read_status; Vulkan: record_decode on the
// caller's VkBuffers). The run must match the host model of the device checks
// (device_model.h): the request flagged in its status and in the status word,
// its own rows 0 with LSE NaN, rows no request owns untouched, every other
// request equal to its float64 reference. Rows "just inside" a bound must not
// be flagged. On lavapipe the validation layer watches every access; the
// CUDA binary runs under compute-sanitizer memcheck on the GPU machine.
#include <doctest/doctest.h>

#include <climits>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "device_model.h"
#include "seed.h"
#include "tally.h"

using mla::RowFormat;
using mla::test::HostProblem;

namespace {

// q_offsets {0, 2, 18, 21, 22, 26}; pages {3, 3, 7, 2, 4} of 16 tokens;
// max_pages 8 (cap 128 keys), num_pages 19 + 3 spare.
HostProblem fault_base(std::mt19937_64& rng, int variant) {
  const std::pair<RowFormat, RowFormat> pairs[] = {{RowFormat::bf16, RowFormat::bf16},
                                                   {RowFormat::bf16, RowFormat::fp8_rope640},
                                                   {RowFormat::fp8_rope640, RowFormat::fp8_rope640}};
  mla::test::ProblemSpec s;
  s.seed = rng();
  s.num_heads = 8;
  s.q_format = pairs[variant % 3].first;
  s.kv_format = pairs[variant % 3].second;
  s.mask = mla::MaskKind::causal;
  s.page_size = 16;
  s.q_lens = {2, 16, 3, 1, 4};
  s.kv_lens = {40, 33, 100, 17, 64};
  s.num_splits = variant % 2 ? 3 : 0;
  return mla::test::make_problem(s);
}

struct Ctx {
  const HostProblem& p;
  rel::Metadata& m;
  int32_t b;
  int32_t pages() const { return (p.kv_lens[size_t(b)] + p.desc.page_size - 1) / p.desc.page_size; }
  int32_t& pt(int32_t j) { return m.page_table[size_t(b * p.desc.max_pages + j)]; }
  int32_t cap() const { return p.desc.max_pages * p.desc.page_size; }
  int32_t q_len() const { return p.q_offsets[size_t(b) + 1] - p.q_offsets[size_t(b)]; }
};

struct Fault {
  const char* name;
  uint32_t bits;  // what request b must carry; 0: just inside the bounds, nothing flagged
  std::vector<int32_t> at;  // requests to put it in
  std::function<void(Ctx&)> apply;
};

std::vector<Fault> faults() {
  const uint32_t PAGE = MLA_STATUS_BAD_PAGE_ID, KV = MLA_STATUS_BAD_KV_LEN, QO = MLA_STATUS_BAD_Q_OFFSETS,
                 CAUSAL = MLA_STATUS_BAD_Q_LEN_CAUSAL;
  const std::vector<int32_t> ends = {0, 2, 4};
  return {
      {"page id -1 (first page)", PAGE, ends, [](Ctx& c) { c.pt(0) = -1; }},
      {"page id num_pages (last page)", PAGE, ends, [](Ctx& c) { c.pt(c.pages() - 1) = c.p.desc.num_pages; }},
      {"page id INT32_MIN", PAGE, ends, [](Ctx& c) { c.pt(c.pages() / 2) = INT32_MIN; }},
      {"page id INT32_MAX", PAGE, ends, [](Ctx& c) { c.pt(c.pages() - 1) = INT32_MAX; }},
      {"page id num_pages - 1 (inside)", 0, ends, [](Ctx& c) { c.pt(0) = c.p.desc.num_pages - 1; }},
      {"page id -1 past the request's pages (never read)", 0, ends, [](Ctx& c) { c.pt(c.pages()) = -1; }},
      {"kv_len -1", KV, ends, [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = -1; }},
      {"kv_len max_pages * page_size + 1", KV, ends, [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = c.cap() + 1; }},
      {"kv_len INT32_MAX", KV, ends, [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = INT32_MAX; }},
      {"kv_len INT32_MIN", KV, ends, [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = INT32_MIN; }},
      {"kv_len beyond the request's pages (garbage page ids)", PAGE, ends,
       [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = c.pages() * c.p.desc.page_size + 1; }},
      {"kv_len = max_pages * page_size, every page valid (inside)", 0, ends,
       [](Ctx& c) {
         for (int32_t j = c.pages(); j < c.p.desc.max_pages; ++j) c.pt(j) = (j * 7) % c.p.desc.num_pages;
         c.m.kv_lens[size_t(c.b)] = c.cap();
       }},
      {"q_len > kv_len under a causal mask", CAUSAL, {0, 1, 4},
       [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = c.q_len() - 1; }},
      {"q_len == kv_len under a causal mask (inside)", 0, {0, 1, 4}, [](Ctx& c) { c.m.kv_lens[size_t(c.b)] = c.q_len(); }},
      {"q_offsets[0] = 1", QO, {0}, [](Ctx& c) { c.m.q_offsets[0] = 1; }},
      {"q_offsets decreasing", QO, {0, 2, 3},
       [](Ctx& c) { c.m.q_offsets[size_t(c.b) + 1] = c.m.q_offsets[size_t(c.b)] - 1; }},
      {"q_len 17", QO, {0, 1}, [](Ctx& c) { c.m.q_offsets[size_t(c.b) + 1] = c.m.q_offsets[size_t(c.b)] + 17; }},
      {"q_offsets[B] = total_q - 1", QO, {4}, [](Ctx& c) { c.m.q_offsets.back() -= 1; }},
      {"q_offsets[B] past total_q", QO, {4}, [](Ctx& c) { c.m.q_offsets.back() += 3; }},
      {"q_offsets[b] negative", QO, {1, 3}, [](Ctx& c) { c.m.q_offsets[size_t(c.b)] = -5; }},
      {"q_offsets[b] INT32_MAX", QO, {1, 3}, [](Ctx& c) { c.m.q_offsets[size_t(c.b)] = INT32_MAX; }},
      {"q_offsets[b] INT32_MIN", QO, {1, 3}, [](Ctx& c) { c.m.q_offsets[size_t(c.b)] = INT32_MIN; }},
      {"q_offsets moved, still consistent (inside)", 0, {3}, [](Ctx& c) { c.m.q_offsets[size_t(c.b) + 1] += 1; }},
      {"three faults at once (page id, kv_len, causal)", PAGE, {0},
       [](Ctx& c) {
         c.pt(0) = -7;
         c.m.kv_lens[2] = -3;
         c.m.kv_lens[4] = 1;
       }},
  };
}

}  // namespace

TEST_CASE("device faults: bad metadata on the device flags its request and nothing else") {
  rel::Backend& be = rel::backend();
  if (!be.has_device_metadata()) {
    MESSAGE(be.name() << " checks all metadata on the host (see the validation table); no device-side API");
    return;
  }
  std::mt19937_64 rng(rel::run_seed() ^ 0xFA);
  // MLA_REL_FAULT=<substring of a name> runs only the matching faults (slow
  // instrumented runs: GPU-assisted validation, compute-sanitizer).
  const char* only = std::getenv("MLA_REL_FAULT");
  int variant = 0;
  for (const Fault& fault : faults())
    for (int32_t b : fault.at) {
      if (only && *only && std::string(fault.name).find(only) == std::string::npos) continue;
      const HostProblem p = fault_base(rng, variant++);
      rel::Metadata m = rel::metadata_of(p);
      Ctx c{p, m, b};
      fault.apply(c);
      HostProblem seen = p;  // the problem as the device sees it
      seen.q_offsets = m.q_offsets, seen.kv_lens = m.kv_lens, seen.page_table = m.page_table;
      INFO(be.name() << ": " << std::string(fault.name) << " in request " << b << "; " << p.describe());

      const auto model = rel::device_model(seen.desc, m.q_offsets.data(), m.kv_lens.data(), m.page_table.data());
      if (fault.bits) {
        CHECK_MESSAGE((model[size_t(b)].bits & fault.bits) != 0, "the table and the model disagree");
      } else {
        for (const auto& o : model) CHECK_MESSAGE(o.bits == 0u, "a case inside the bounds is flagged by the model");
      }

      rel::Run r = rel::poisoned_run(p);
      r.request_status.assign(size_t(p.desc.batch), 0xDEADBEEFu);
      const mla::Status st = be.decode_device_metadata(p, m, &r);
      REQUIRE_MESSAGE(st.ok(), st.to_string());
      const rel::ModelCheck mc = rel::check_against_model(seen, r, true);
      CHECK_MESSAGE(mc.ok, mc.failure);
      rel::count("device fault", fault.bits ? "faults flagged, other requests correct"
                                            : "metadata just inside the bounds, nothing flagged");
    }
}
