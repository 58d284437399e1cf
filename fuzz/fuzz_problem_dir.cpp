// libFuzzer target: a whole `mla run` problem directory. The input packs the
// files: records of [1 byte file index][4 bytes little-endian length][bytes]
// (a record cut short takes what is left; index % 8 picks one of the eight
// names below; a file given twice keeps the last). The files are written to
// a private directory, then treated as `mla run --backend reference` does:
// load_problem, validate_host_problem, and for an accepted problem of modest
// size the float64 reference into poisoned outputs.
// Properties beyond "no crash, no leak, no UB": errors name a file or field;
// an accepted problem's buffers have the sizes its description implies; the
// reference writes every output element.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mla/reference.h"
#include "mla/validate.h"
#include "problem_io.h"

namespace fs = std::filesystem;

namespace {

const char* const kFiles[8] = {"problem.json", "q.npy",          "q_scales.npy",  "kv_pool.npy",
                               "kv_scales.npy", "page_table.npy", "q_offsets.npy", "kv_lens.npy"};

// Work of the reference: rows x visible keys x 576, bounded so that one input
// stays well under libFuzzer's timeout.
constexpr int64_t kMaxWork = int64_t(1) << 26;

const fs::path& dir() {
  static const fs::path d = [] {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path p = base / ("mla_fuzz_dir_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

void unpack(const uint8_t* data, size_t size) {
  for (const char* f : kFiles) fs::remove(dir() / f);
  size_t at = 0;
  while (at < size) {
    const int index = data[at++] % 8;
    uint32_t len = 0;
    for (int i = 0; i < 4 && at < size; ++i) len |= uint32_t(data[at++]) << (8 * i);
    const size_t n = len < size - at ? len : size - at;
    std::ofstream(dir() / kFiles[index], std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data + at), std::streamsize(n));
    at += n;
  }
}

bool sizes_match(const mla::tools::OwnedProblem& p) {
  const mla::ProblemDesc& d = p.desc;
  return int64_t(p.q.size()) == mla::q_elems_bytes(d) && int64_t(p.kv_pool.size()) == mla::kv_pool_bytes(d) &&
         int64_t(p.q_scales.size()) == mla::q_scales_count(d) && int64_t(p.kv_scales.size()) == mla::kv_scales_count(d) &&
         int64_t(p.page_table.size()) == mla::page_table_count(d) && int64_t(p.q_offsets.size()) == d.batch + 1 &&
         int64_t(p.kv_lens.size()) == d.batch;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  unpack(data, size);
  mla::tools::OwnedProblem p;
  mla::Status st = mla::tools::load_problem(dir().string(), &p);
  if (!st.ok()) {
    if (st.message().find(".npy") == std::string::npos && st.message().find("problem.json") == std::string::npos)
      std::abort();  // every loader error names the file
    return 0;
  }
  if (!sizes_match(p)) std::abort();
  float sentinel = 0;  // `mla run` vouches only for the outputs' presence here
  st = mla::validate_host_problem(p.desc, p.data(), &sentinel, &sentinel);
  if (!st.ok()) {
    if (st.code() != mla::StatusCode::invalid_argument || st.message().find(" = ") == std::string::npos) std::abort();
    return 0;
  }
  int64_t work = 0;
  for (int32_t b = 0; b < p.desc.batch; ++b)
    work += int64_t(p.q_offsets[size_t(b) + 1] - p.q_offsets[size_t(b)]) * p.desc.num_heads * p.kv_lens[size_t(b)];
  if (work * MLA_DIM_QK > kMaxWork) return 0;

  // Two runs into outputs poisoned differently: an element left unwritten
  // keeps its poison and differs between them (the input may itself hold
  // any NaN payload, so no single poison value can tell).
  std::vector<float> out[2], lse[2];
  for (int run = 0; run < 2; ++run) {
    const uint32_t bits = run ? 0x7FBADBADu : 0xFFFFFFFFu;
    float poison;
    std::memcpy(&poison, &bits, 4);
    out[run].assign(size_t(mla::out_count(p.desc)), poison);
    lse[run].assign(size_t(mla::lse_count(p.desc)), poison);
    st = mla::reference_decode(p.desc, p.data(), out[run].data(), lse[run].data());
    if (!st.ok()) std::abort();  // it validated above
  }
  if (out[0].empty()) return 0;  // memcmp takes no null pointers, even for 0 bytes
  if (std::memcmp(out[0].data(), out[1].data(), out[0].size() * 4) != 0 ||
      std::memcmp(lse[0].data(), lse[1].data(), lse[0].size() * 4) != 0)
    std::abort();  // unwritten elements (or a run that is not deterministic)
  return 0;
}
