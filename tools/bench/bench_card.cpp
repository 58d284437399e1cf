// Card facts (bench_card.h). NVML is opened with dlopen rather than linked:
// it belongs to the driver, not the toolkit, so a build machine without a
// driver still links `mla`, and a run without NVML still benchmarks.
#include "bench_card.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <type_traits>

#include "bench_cuda_check.h"

namespace mla::tools::bench {
namespace {

// The few NVML entry points used, declared here with NVML's C ABI (return
// code 0 = success; an opaque device handle; clock type 1 = SM, 2 = memory;
// temperature sensor 0 = GPU core).
struct Nvml {
  using Device = void*;
  int (*init)() = nullptr;
  int (*driver_version)(char*, unsigned) = nullptr;
  int (*by_pci)(const char*, Device*) = nullptr;
  int (*clock)(Device, int, unsigned*) = nullptr;
  int (*temperature)(Device, int, unsigned*) = nullptr;
  int (*power_mw)(Device, unsigned*) = nullptr;
  bool ok = false;
};

const Nvml& nvml() {
  static const Nvml n = [] {
    Nvml x;
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return x;
    auto sym = [&](auto* fn, const char* name) { *fn = reinterpret_cast<std::decay_t<decltype(*fn)>>(dlsym(lib, name)); };
    sym(&x.init, "nvmlInit_v2");
    sym(&x.driver_version, "nvmlSystemGetDriverVersion");
    sym(&x.by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    sym(&x.clock, "nvmlDeviceGetClockInfo");
    sym(&x.temperature, "nvmlDeviceGetTemperature");
    sym(&x.power_mw, "nvmlDeviceGetPowerUsage");
    x.ok = x.init && x.driver_version && x.by_pci && x.clock && x.init() == 0;
    return x;  // the library stays loaded for the life of the process
  }();
  return n;
}

Nvml::Device nvml_device(const CardInfo& card) {
  Nvml::Device d = nullptr;
  if (!nvml().ok || card.pci_bus_id.empty() || nvml().by_pci(card.pci_bus_id.c_str(), &d) != 0) return nullptr;
  return d;
}

}  // namespace

Status query_card(int device, CardInfo* out) {
  CardInfo c;
  c.device = device;
  cudaDeviceProp p;
  BENCH_CUDA(cudaGetDeviceProperties(&p, device));
  c.name = p.name;
  c.cc_major = p.major;
  c.cc_minor = p.minor;
  c.sm_count = p.multiProcessorCount;
  c.l2_bytes = p.l2CacheSize;
  c.memory_bytes = int64_t(p.totalGlobalMem);
  c.memory_bus_bits = p.memoryBusWidth;
  int khz = 0;
  BENCH_CUDA(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  c.sm_clock_max_mhz = khz / 1000;
  BENCH_CUDA(cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, device));
  c.mem_clock_max_mhz = khz / 1000;
  BENCH_CUDA(cudaDriverGetVersion(&c.cuda_driver));
  BENCH_CUDA(cudaRuntimeGetVersion(&c.cuda_runtime));
  char bus[32] = {0};
  BENCH_CUDA(cudaDeviceGetPCIBusId(bus, sizeof bus, device));
  c.pci_bus_id = bus;
  char version[96] = {0};
  if (nvml().ok && nvml().driver_version(version, sizeof version) == 0) c.driver = version;
  *out = c;
  return Status::Ok();
}

CardState card_state(const CardInfo& card) {
  CardState s;
  Nvml::Device d = nvml_device(card);
  if (!d) return s;
  unsigned v = 0;
  if (nvml().clock(d, 1, &v) == 0) s.sm_clock_mhz = int(v);
  if (nvml().clock(d, 2, &v) == 0) s.mem_clock_mhz = int(v);
  if (nvml().temperature && nvml().temperature(d, 0, &v) == 0) s.temperature_c = int(v);
  if (nvml().power_mw && nvml().power_mw(d, &v) == 0) s.power_w = v / 1000.0;
  return s;
}

}  // namespace mla::tools::bench
