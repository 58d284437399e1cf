// sm90_decode_fp8.cu - the sm_90a kernel for an fp8_rope640 KV cache, with Q
// fp8_rope640 (content Q.K on the FP8 tensor cores) or bf16, behind a switch:
// the environment variable MLA_SM90_FP8 (1: use it, 0: leave these pairs to
// the portable kernel; unset: kFp8RouteDefault).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sm90_decode.h"
#include "sm90_fp8_kernel.cuh"
#include "sm90_fp8s_config.cuh"
#include "sm90_fp8v3_kernel.cuh"
#include "sm90_fp8v_kernel.cuh"
#if MLA_SM90_FP8_SMALLH_BUILD
#include "sm90_fp8s_kernel.cuh"
#endif

namespace mla::cuda_impl {

namespace {

// On since 2026-11-27 (fourth session): on the H200 the route passed the cuda
// suite (26/26, worst error 0.52-0.62 of the tolerance), the reliability
// tables (NaN / Inf, FP8 stress, device faults), racecheck and synccheck of
// the sanitizer subset (0 hazards / 0 errors, commit 28823fc), and it is
// 2.6x (H16 q1), 3.8x (H128 q2) and 2.1x (B1 kv131072) faster than the
// portable kernel it replaces for these pairs (docs/perf_notes.md).
// MLA_SM90_FP8=0 gives the pairs back to the portable kernel.
constexpr bool kFp8RouteDefault = true;

bool fp8_route_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("MLA_SM90_FP8");
    if (e == nullptr || *e == '\0') return kFp8RouteDefault;
    return std::strcmp(e, "0") != 0;
  }();
  return enabled;
}

// The register-V M = 64 kernel for (fp8_rope640, fp8_rope640)
// (sm90_fp8v_config.cuh): on by default; MLA_SM90_FP8V=0 gives the pair back
// to the FP16-copy kernel (sm90_fp8_kernel.cuh), which bf16 Q keeps.
constexpr bool kFp8vDefault = true;
bool fp8v_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("MLA_SM90_FP8V");
    if (e == nullptr || *e == '\0') return kFp8vDefault;
    return std::strcmp(e, "0") != 0;
  }();
  return enabled;
}

// The three-consumer form of the register-V kernel (sm90_fp8v3_config.cuh):
// on by default for the (fp8, fp8) pair's M = 64 tiles since the twelfth
// session (H200, graph, B128 kv4096, lazy R in both: H128 q2 628-633 vs
// 649-654 us for the two-consumer kernel, H128 q1 313-316 vs 332-335, H64 q1
// 165-168 vs 176-177; cuda suite and reliability tables pass with each).
// MLA_SM90_FP8V3=0 gives those tiles back to the two-consumer kernel.
constexpr bool kFp8v3Default = true;
bool fp8v3_env_set() {
  static const bool set = [] {
    const char* e = std::getenv("MLA_SM90_FP8V3");
    return e != nullptr && *e != '\0';
  }();
  return set;
}
bool fp8v3_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("MLA_SM90_FP8V3");
    if (e == nullptr || *e == '\0') return kFp8v3Default;
    return std::strcmp(e, "0") != 0;
  }();
  return enabled;
}

#if MLA_SM90_FP8_SMALLH_BUILD
// The transposed small-H kernel (docs/fp8_small_h_design.md; sm90_fp8r_* in
// its register-A form): on by default for launches whose M tiles all have
// <= 16 rows by the caller's plan (key 1 of fp8s_applies: plan.max_q_len x H
// <= 16, which a batch's composition cannot move). MLA_SM90_FP8_SMALLH = 0
// turns it off, 2 keys it on the batch (wider test coverage, not
// batch-invariant), 1 or unset / empty: the default.
constexpr int kFp8SmallHDefault = 1;
bool fp8_smallh_env_set() {
  static const bool set = [] {
    const char* e = std::getenv("MLA_SM90_FP8_SMALLH");
    return e != nullptr && *e != '\0';
  }();
  return set;
}
int fp8_smallh_mode() {
  static const int mode = [] {
    const char* e = std::getenv("MLA_SM90_FP8_SMALLH");
    if (e == nullptr || *e == '\0') return kFp8SmallHDefault;
    if (std::strcmp(e, "1") == 0) return 1;
    if (std::strcmp(e, "2") == 0) return 2;
    return 0;
  }();
  return mode;
}
#endif

}  // namespace

bool sm90_decode_launch_fp8kv(const DecodeParams& p, cudaStream_t stream) {
  if (!fp8_route_enabled()) return false;
#if MLA_SM90_FP8_SMALLH_BUILD
  if (const int mode = fp8_smallh_mode(); mode != 0 && sm90::launch_fp8s(p, mode, stream)) {
    // One line per process when the variable is set, so that a GPU check can
    // tell that the small-H kernel ran at all (a passing suite alone does not
    // show it: every problem outside the key takes the M = 64 kernel).
    static std::atomic<bool> told{false};
    if (fp8_smallh_env_set() && !told.exchange(true))
      std::fprintf(stderr, "mla: MLA_SM90_FP8_SMALLH=%d: first small-H fp8-KV kernel launch (H %d, max_q_len %d)\n", mode,
                   p.num_heads, p.plan_max_q_len);
    return true;
  }
#endif
  if (fp8v3_enabled() && sm90::launch_fp8v3(p, stream)) {
    // One line per process, so that a GPU check can tell that the kernel ran
    // at all (a passing suite alone does not show it).
    static std::atomic<bool> told{false};
    if (fp8v3_env_set() && !told.exchange(true))
      std::fprintf(stderr, "mla: MLA_SM90_FP8V3 set: first three-consumer fp8-KV kernel launch (H %d, max_q_len %d)\n",
                   p.num_heads, p.plan_max_q_len);
    return true;
  }
  if (fp8v_enabled() && sm90::launch_fp8v(p, stream)) return true;
  return sm90::launch_fp8kv(p, stream);
}

}  // namespace mla::cuda_impl
