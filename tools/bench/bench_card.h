// tools/bench/bench_card.h - what the results were measured on: the card,
// its clocks and the driver, from the CUDA runtime and (when the driver's
// libnvidia-ml.so.1 loads) NVML for the driver version and current clocks.
#pragma once

#include <cstdint>
#include <string>

#include "mla/status.h"

namespace mla::tools::bench {

struct CardInfo {
  int device = 0;
  std::string name;        // "NVIDIA H100 80GB HBM3"
  std::string pci_bus_id;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int64_t l2_bytes = 0;
  int64_t memory_bytes = 0;
  int memory_bus_bits = 0;
  int sm_clock_max_mhz = 0;   // the runtime's peak clocks
  int mem_clock_max_mhz = 0;
  int cuda_driver = 0;        // cudaDriverGetVersion, e.g. 13000
  int cuda_runtime = 0;       // cudaRuntimeGetVersion
  std::string driver;         // NVML's driver version ("580.159.04"); "" without NVML
};

// Clocks and state right now (NVML); -1 where NVML or the value is absent.
struct CardState {
  int sm_clock_mhz = -1;
  int mem_clock_mhz = -1;
  int temperature_c = -1;
  double power_w = -1;
};

Status query_card(int device, CardInfo* out);
CardState card_state(const CardInfo& card);

}  // namespace mla::tools::bench
