// Bytes and FLOPs of a config (bench_metrics.h). The metadata (page table,
// lengths) is left out: it is a few KB against hundreds of MB.
#include "bench_metrics.h"

#include "mla/mask.h"

namespace mla::tools::bench {

Workload workload(const BenchConfig& c) {
  Workload w;
  const double kv_row = double(row_bytes(c.kv_format)) + (c.kv_format == RowFormat::fp8_rope640 ? 4 : 0);
  const double q_row = double(row_bytes(c.q_format));
  const double q_scale = c.q_format == RowFormat::fp8_rope640 ? 4 : 0;  // sigma_q, one per token
  for (int32_t kv : c.kv_lens) {
    // Keys any query sees are read once however many queries see them; the
    // FLOPs count each (query, key) pair (causal: later tokens see more).
    const KeyRange all = request_keys(c.mask, c.window, c.chunk, kv, c.q_len);
    w.kv_bytes += double(all.end - all.begin) * kv_row;
    for (int32_t i = 0; i < c.q_len; ++i) {
      const KeyRange r = visible_keys(c.mask, c.window, c.chunk, kv, c.q_len, i);
      w.visible_pairs += double(r.end - r.begin);
    }
    w.q_bytes += double(c.q_len) * (double(c.num_heads) * q_row + q_scale);
    w.out_bytes += double(c.q_len) * double(c.num_heads) * (MLA_DIM_V * 2 + 4);
  }
  w.bytes = w.kv_bytes + w.q_bytes + w.out_bytes;
  w.flops = 2.0 * double(c.num_heads) * w.visible_pairs * double(MLA_DIM_QK + MLA_DIM_V);
  return w;
}

}  // namespace mla::tools::bench
