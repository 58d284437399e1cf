// Context::cm_profile and its table: the clock profile of the coopmat decode
// (MLA_VULKAN_CM_PROFILE=1, decode_cm.comp MLA_CM_PROFILE; diagnostic).
#include <cstdio>
#include <cstring>
#include <string>

#include "context_impl.h"
#include "shader_interface.h"

namespace mla::vulkan {

namespace {

// Names of the MLA_VK_PROF_* phases, in their order.
const char* const kPhaseNames[MLA_VK_PROF_PHASES] = {
    "prologue", "stage fp16", "fetch issue", "barrier 1", "S = Q.K", "barrier 2", "softmax",
    "barrier 3", "O scale+P.V", "fetch wait", "exp scan", "barrier 4", "epilogue"};

bool is_tile_phase(size_t p) { return p != MLA_VK_PROF_PROLOGUE && p != MLA_VK_PROF_EPILOGUE; }

}  // namespace

Status Context::cm_profile(CmProfile* out) const {
  *out = CmProfile();
  const Impl& c = *impl_;
  if (!c.pipelines.profile)
    return Status(StatusCode::invalid_argument,
                  "no clock profile: the context was not created with MLA_VULKAN_CM_PROFILE=1 (and a coopmat decode)");
  uint32_t w[MLA_VK_PROF_WORDS];
  std::memcpy(w, c.profile.mapped(), sizeof(w));  // host-coherent; record_passes ends with a barrier to the host
  if (w[MLA_VK_PROF_W_MAGIC] != MLA_VK_PROF_MAGIC)
    return Status(StatusCode::not_available,
                  "no clock profile: workgroup 0 of the last decode wrote none (no decode yet, or request 0 faulty)");
  if (w[MLA_VK_PROF_W_WARPS] == 0 || w[MLA_VK_PROF_W_WARPS] > MLA_VK_PROF_MAX_WARPS)
    return Status(StatusCode::internal, "clock profile: " + std::to_string(w[MLA_VK_PROF_W_WARPS]) + " warps");
  out->warps = w[MLA_VK_PROF_W_WARPS];
  out->tiles = w[MLA_VK_PROF_W_TILES];
  out->keys_per_tile = w[MLA_VK_PROF_W_KEYS];
  out->rows = w[MLA_VK_PROF_W_ROWS];
  out->producer_bufs = w[MLA_VK_PROF_W_PRODUCER];
  if (out->producer_bufs > 2)
    return Status(StatusCode::internal, "clock profile: " + std::to_string(out->producer_bufs) + " producer key tiles");
  out->phases.assign(kPhaseNames, kPhaseNames + MLA_VK_PROF_PHASES);
  out->cycles.assign(out->warps, std::vector<uint32_t>(MLA_VK_PROF_PHASES, 0));
  for (uint32_t k = 0; k < out->warps; ++k)
    for (uint32_t p = 0; p < MLA_VK_PROF_PHASES; ++p)
      out->cycles[k][p] = w[MLA_VK_PROF_HEADER + k * MLA_VK_PROF_PHASES + p];
  return Status::Ok();
}

std::string CmProfile::table() const {
  std::string s;
  char line[512];
  std::snprintf(line, sizeof(line),
                "coopmat clock profile, workgroup 0: %u warps, %u tiles of %u keys, %u rows; cycles per tile "
                "(prologue, epilogue: once), subgroup clock\n",
                warps, tiles, keys_per_tile, rows);
  s += line;
  const double per = tiles ? 1.0 / tiles : 0.0;
  auto row = [&](const char* name, const std::vector<double>& v, double mean, double share) {
    std::snprintf(line, sizeof(line), "  %-12s", name);
    s += line;
    for (double x : v) {
      std::snprintf(line, sizeof(line), " %8.0f", x);
      s += line;
    }
    std::snprintf(line, sizeof(line), " %8.0f", mean);
    s += line;
    if (share >= 0) {
      std::snprintf(line, sizeof(line), " %5.1f%%", share);
      s += line;
    }
    s += "\n";
  };
  std::snprintf(line, sizeof(line), "  %-12s", "phase");
  s += line;
  for (uint32_t k = 0; k < warps; ++k) {
    std::snprintf(line, sizeof(line), " %8s", ("warp" + std::to_string(k)).c_str());
    s += line;
  }
  s += "     mean  share\n";
  // The tile phases' sum per warp (the loop's time per tile).
  std::vector<double> sum(warps, 0.0);
  for (size_t p = 0; p < phases.size(); ++p)
    if (is_tile_phase(p))
      for (uint32_t k = 0; k < warps; ++k) sum[k] += cycles[k][p] * per;
  double sum_mean = 0;
  for (double x : sum) sum_mean += x / (warps ? warps : 1);
  for (size_t p = 0; p < phases.size(); ++p) {
    std::vector<double> v(warps);
    double mean = 0;
    for (uint32_t k = 0; k < warps; ++k) {
      v[k] = is_tile_phase(p) ? cycles[k][p] * per : cycles[k][p];
      mean += v[k] / warps;
    }
    row(phases[p].c_str(), v, mean, is_tile_phase(p) && sum_mean > 0 ? 100.0 * mean / sum_mean : -1);
  }
  row("tile sum", sum, sum_mean, -1);
  if (producer_bufs == 2)
    s += "  producer build, two key tiles: warps 0-3 consume (S, softmax, P.V), warps 4-7 produce: stage fp16 in\n"
         "  the S segment, fetch issue in the softmax one, exp scan in the P.V one; barriers 2, 3, 4 end those\n"
         "  segments (decode_cm_pw.glsl)\n";
  else if (producer_bufs == 1)
    s += "  producer build, one key tile: warps 0-3 consume (S, softmax, P.V), warps 4-7 produce: fetch issue in\n"
         "  the S segment, exp scan in the softmax one, stage fp16 (convert in registers) in the P.V one, and\n"
         "  \"fetch wait\" is the store segment after barrier 4 (barrier 1 ends it; decode_cm_pw.glsl)\n";
  return s;
}

}  // namespace mla::vulkan
