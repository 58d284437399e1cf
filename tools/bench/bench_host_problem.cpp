// Host-memory random problems (bench_host_problem.h).
#include "bench_host_problem.h"

#include <cstring>
#include <random>

#include "bench_problem.h"
#include "mla/numeric.h"

namespace mla::tools::bench {
namespace {

// Uniform BF16 values in [-1, 1] (never exactly 0: the draw is offset by half a step).
void random_bf16(std::mt19937_64& rng, uint8_t* p, size_t count) {
  for (size_t i = 0; i < count; i += 4) {
    const uint64_t h = rng();
    for (size_t k = 0; k < 4 && i + k < count; ++k) {
      const float u = (float((h >> (16 * k)) & 0xffffu) + 0.5f) / 65536.0f;
      const uint16_t v = float_to_bf16(2.0f * u - 1.0f);
      std::memcpy(p + (i + k) * 2, &v, 2);
    }
  }
}

// fp8_rope640 rows: E4M3 codes with exponent field 4..11 (never NaN), then 64 BF16.
void random_fp8_rows(std::mt19937_64& rng, uint8_t* p, size_t rows) {
  for (size_t r = 0; r < rows; ++r, p += MLA_ROW_BYTES_FP8) {
    for (size_t i = 0; i < MLA_DIM_CONTENT; i += 8) {
      const uint64_t h = rng();
      for (size_t k = 0; k < 8; ++k) {
        const uint32_t b = uint32_t(h >> (8 * k)) & 0xffu;
        p[i + k] = uint8_t((b & 0x80u) | ((4u + ((b >> 3) & 7u)) << 3) | (b & 7u));
      }
    }
    random_bf16(rng, p + MLA_FP8_ROPE_BYTE_OFFSET, MLA_DIM_ROPE);
  }
}

void random_rows(std::mt19937_64& rng, RowFormat f, std::vector<uint8_t>* buf) {
  if (f == RowFormat::bf16)
    random_bf16(rng, buf->data(), buf->size() / 2);
  else
    random_fp8_rows(rng, buf->data(), buf->size() / MLA_ROW_BYTES_FP8);
}

void random_scales(std::mt19937_64& rng, std::vector<float>* v) {
  std::uniform_real_distribution<float> u(1.0f / 64, 1.0f / 16);
  for (float& x : *v) x = u(rng);
}

}  // namespace

OwnedProblem make_host_problem(const BenchConfig& c, uint64_t seed) {
  OwnedProblem p;
  p.desc = describe(c, 1);
  const ProblemDesc& d = p.desc;
  SetMetadata m = std::move(make_metadata(c, d, 1, seed)[0]);
  p.page_table = std::move(m.page_table);
  p.q_offsets = std::move(m.q_offsets);
  p.kv_lens = std::move(m.kv_lens);
  std::mt19937_64 rng(seed * 7 + 1);
  p.q.resize(size_t(q_elems_bytes(d)));
  p.kv_pool.resize(size_t(kv_pool_bytes(d)));
  random_rows(rng, d.q_format, &p.q);
  random_rows(rng, d.kv_format, &p.kv_pool);
  p.q_scales.resize(size_t(q_scales_count(d)));
  p.kv_scales.resize(size_t(kv_scales_count(d)));
  random_scales(rng, &p.q_scales);
  random_scales(rng, &p.kv_scales);
  return p;
}

}  // namespace mla::tools::bench
