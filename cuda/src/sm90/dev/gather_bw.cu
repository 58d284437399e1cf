// gather_bw.cu - achievable read bandwidth of gathering KV rows (1152 bytes,
// one BF16 MLA row) through a page table, for page sizes 1..64, the way
// `mla bench` lays out the pool (tools/bench/bench_problem.cpp): one random
// permutation (std::shuffle, mt19937_64) of all pages of `sets` rotation sets,
// set s takes the next B x ceil(kv / page) ids of it; runs rotate over the sets
// (2 sets of 604 MB each: 1.2 GB, > 4x the H200's L2). Standalone, no project
// headers. Question it answers: is page 1's slower decode (docs/perf_notes.md,
// "Helper, third session: page-1 gather ceiling and planner rounds") a DRAM
// ceiling of randomly placed 1152-byte rows, or the kernel's way of loading?
//
// Build (sm_90a; the cp.async.bulk style needs it):
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o gather_bw cuda/src/sm90/dev/gather_bw.cu
// Run: ./gather_bw [--splits N] [--runs N] [--batch B] [--kv N] [--sets N] [--random 1]
// (--random 1: the pool holds pseudo-random bytes instead of the constant 0x3c,
// as the decode's inputs do: whether the data pattern moves the bandwidth,
// docs/flashmla_reading.md)
//
// Every CTA handles one request's rows (or 1/splits of them: splits CTAs per
// request), in 64-row tiles in key order, like the decode kernel (B=128 ->
// 128 CTAs, one per SM). Styles:
//   ldg       : 256 threads, a tile's 4608 16-byte chunks (18 per thread) loaded
//               together into registers (__ldg, LDG.E.128), XORed into a
//               checksum; the next tile's page ids are loaded meanwhile.
//               (__launch_bounds__(256, 1) is needed: without the 1, ptxas
//               aimed at 3 CTAs / SM and kept only 2 loads a thread in flight,
//               consuming each right after the next was issued.)
//   cpasyncS  : the decode producer's path (sm90_producer.cuh, pages < 8):
//               128 threads, lane l looks up rows l and l+32, each warp copies
//               16 rows with 16-byte cp.async (72 chunks: 32+32+8 lanes), S
//               shared-memory stages of 72 KiB; the tile is touched (one 16-byte
//               read a thread) once it lands. S = 2 is the kernel's.
//   cpasync2pf: cpasync2 plus the kernel's optional L2 prefetch of tile t+2
//               (cp.async.bulk.prefetch.L2 per row; the kernel ships with it off).
//   bulk3     : cp.async.bulk (1-D bulk copy, mbarrier complete_tx) of each
//               run of contiguous rows (min(page, 64) rows: 1152 B at page 1,
//               73728 B at page 64), 3 stages; run at every page size (page 1:
//               64 bulk copies of one row a tile; the TMA path of the kernel at
//               page >= 8 moves the same bytes in 9 2-D boxes a run).
//   ldg-seq   : ldg over an identity page table (page 64): the pool read in order.
// Output: one line per (style, page): median GB/s over >= 20 timed runs (CUDA
// events, 3 warm-up runs), ratio to the same style at page 64, and the same
// process's device-to-device copy (cudaMemcpyAsync, counted as read + write,
// as mla bench does) for scale.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#define CK(x)                                                                                   \
  do {                                                                                          \
    cudaError_t e_ = (x);                                                                       \
    if (e_ != cudaSuccess) {                                                                    \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

namespace {

constexpr int kRowBytes = 1152;
constexpr int kChunks = kRowBytes / 16;  // 72
constexpr int kTileRows = 64;
constexpr int kTileBytes = kTileRows * kRowBytes;  // 73728
constexpr int kTileChunks = kTileRows * kChunks;   // 4608

struct Args {
  const uint8_t* pool;
  const int32_t* pt;  // [batch][max_pages]
  int32_t max_pages;
  int32_t page_shift;
  int32_t kv;
  int32_t splits;
  uint32_t* sink;
};

__device__ __forceinline__ int64_t phys_row(const Args& a, const int32_t* pages, int32_t key) {
  const int32_t page = __ldg(pages + (key >> a.page_shift));
  return (int64_t(page) << a.page_shift) + (key & ((1 << a.page_shift) - 1));
}

__device__ __forceinline__ uint4 ldg_na(const void* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }

__device__ __forceinline__ void cta_range(const Args& a, int32_t* b, int32_t* k0, int32_t* k1) {
  *b = int32_t(blockIdx.x) / a.splits;
  const int32_t s = int32_t(blockIdx.x) % a.splits;
  const int32_t per = (a.kv / kTileRows + a.splits - 1) / a.splits * kTileRows;
  *k0 = min(a.kv, s * per);
  *k1 = min(a.kv, *k0 + per);
}

// ---- (a) plain 16-byte loads ----
constexpr int kLdgThreads = 256;
constexpr int kLdgPer = kTileChunks / kLdgThreads;  // 18

__global__ void __launch_bounds__(kLdgThreads, 1) ldg_kernel(Args a) {
  __shared__ int64_t rows[2][kTileRows];
  int32_t b, k0, k1;
  cta_range(a, &b, &k0, &k1);
  const int32_t* pages = a.pt + int64_t(b) * a.max_pages;
  const int tid = int(threadIdx.x);
  if (tid < kTileRows && k0 < k1) rows[0][tid] = phys_row(a, pages, k0 + tid);
  __syncthreads();
  uint32_t acc = 0;
  int buf = 0;
  for (int32_t k = k0; k < k1; k += kTileRows, buf ^= 1) {
    int64_t next = 0;
    if (tid < kTileRows && k + kTileRows < k1) next = phys_row(a, pages, k + kTileRows + tid);
    // Addresses first, then the 18 loads back to back.
    const uint8_t* src[kLdgPer];
#pragma unroll
    for (int i = 0; i < kLdgPer; ++i) {
      const int c = tid + i * kLdgThreads;
      const int r = c / kChunks, col = c % kChunks;
      src[i] = a.pool + rows[buf][r] * kRowBytes + col * 16;
    }
    uint4 v[kLdgPer];
#pragma unroll
    for (int i = 0; i < kLdgPer; ++i) v[i] = ldg_na(src[i]);
#pragma unroll
    for (int i = 0; i < kLdgPer; ++i) acc ^= v[i].x ^ v[i].y ^ v[i].z ^ v[i].w;
    if (tid < kTileRows) rows[buf ^ 1][tid] = next;
    __syncthreads();
  }
  a.sink[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

// ---- shared helpers for the shared-memory styles ----
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
__device__ __forceinline__ void l2_prefetch(const void* src, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(reinterpret_cast<uint64_t>(src)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ uint32_t touch(const uint8_t* tile) {
  const uint4 v = *reinterpret_cast<const uint4*>(tile + threadIdx.x * 16);
  return v.x ^ v.y ^ v.z ^ v.w;
}

// ---- (b) cp.async 16 B, as the decode producer at pages < 8 ----
constexpr int kCpThreads = 128;

// Issues tile k..k+63 into `tile` (the producer's load_kv_tile without TMA).
__device__ __forceinline__ void cp_tile(const Args& a, const int32_t* pages, int32_t k, int32_t k1,
                                        uint32_t tile, bool prefetch_ahead) {
  const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5);
  const int64_t lo = k + lane < k1 ? phys_row(a, pages, k + lane) : -1;
  const int64_t hi = k + lane + 32 < k1 ? phys_row(a, pages, k + lane + 32) : -1;
  for (int r = warp * 16; r < warp * 16 + 16; ++r) {
    const int64_t row = __shfl_sync(0xffffffffu, r < 32 ? lo : hi, r & 31);
    if (row < 0) continue;
    const uint8_t* src = a.pool + row * kRowBytes;
    const uint32_t dst = tile + uint32_t(r) * kRowBytes;
    cp_async_16(dst + lane * 16, src + lane * 16);
    cp_async_16(dst + (lane + 32) * 16, src + (lane + 32) * 16);
    if (lane < kChunks - 64) cp_async_16(dst + (lane + 64) * 16, src + (lane + 64) * 16);
  }
  if (prefetch_ahead) {  // tile k + 128 towards L2 (the kernel's prefetch_tiles = 2)
    const int32_t kp = k + 2 * kTileRows + warp * 16 + (lane & 15);
    if (lane < 16 && kp < k1) l2_prefetch(a.pool + phys_row(a, pages, kp) * kRowBytes, kRowBytes);
  }
}

template <int kS, bool kPrefetch>
__global__ void __launch_bounds__(kCpThreads) cp_kernel(Args a) {
  extern __shared__ __align__(128) uint8_t smem[];
  int32_t b, k0, k1;
  cta_range(a, &b, &k0, &k1);
  const int32_t* pages = a.pt + int64_t(b) * a.max_pages;
  const uint32_t base = smem_u32(smem);
  const int32_t n = (k1 - k0) / kTileRows;
#pragma unroll
  for (int s = 0; s < kS - 1; ++s) {
    if (s < n) cp_tile(a, pages, k0 + s * kTileRows, k1, base + s * kTileBytes, kPrefetch);
    cp_async_commit();
  }
  uint32_t acc = 0;
  for (int32_t t = 0; t < n; ++t) {
    const int32_t tn = t + kS - 1;
    if (tn < n) cp_tile(a, pages, k0 + tn * kTileRows, k1, base + (tn % kS) * kTileBytes, kPrefetch);
    cp_async_commit();
    cp_async_wait<kS - 1>();
    __syncthreads();
    acc ^= touch(smem + (t % kS) * kTileBytes);
    __syncthreads();  // stage t % kS free before tile t + kS is issued into it
  }
  cp_async_wait<0>();
  a.sink[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

// ---- (c) cp.async.bulk (1-D) per contiguous run ----
constexpr int kBulkStages = 3;

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t n) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(n) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) {
  uint32_t ok;
  asm volatile(
      "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
      : "=r"(ok)
      : "r"(bar), "r"(parity)
      : "memory");
  return ok != 0;
}
__device__ __forceinline__ void bulk_g2s(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}

// Warp 0 issues tile k..k+63: lane l issues runs l, l+32 (run = min(page, 64) rows).
__device__ __forceinline__ void bulk_tile(const Args& a, const int32_t* pages, int32_t k, int32_t k1, uint32_t tile,
                                          uint32_t bar) {
  const int lane = int(threadIdx.x & 31);
  const int run = min(1 << a.page_shift, kTileRows);
  const int runs = kTileRows / run;
  const int rows = min(kTileRows, k1 - k);  // tiles are whole here (kv % 64 == 0)
  if (lane == 0) mbar_expect_tx(bar, uint32_t(rows) * kRowBytes);
  __syncwarp();
  for (int j = lane; j < runs; j += 32) {
    const int64_t row = phys_row(a, pages, k + j * run);
    bulk_g2s(tile + uint32_t(j * run) * kRowBytes, a.pool + row * kRowBytes, uint32_t(run) * kRowBytes, bar);
  }
}

__global__ void __launch_bounds__(kCpThreads) bulk_kernel(Args a) {
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ __align__(8) uint64_t bars[kBulkStages];
  int32_t b, k0, k1;
  cta_range(a, &b, &k0, &k1);
  const int32_t* pages = a.pt + int64_t(b) * a.max_pages;
  const uint32_t base = smem_u32(smem);
  const int32_t n = (k1 - k0) / kTileRows;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kBulkStages; ++s) mbar_init(smem_u32(&bars[s]), 1);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (threadIdx.x < 32)
    for (int s = 0; s < kBulkStages - 1 && s < n; ++s)
      bulk_tile(a, pages, k0 + s * kTileRows, k1, base + s * kTileBytes, smem_u32(&bars[s]));
  uint32_t acc = 0;
  for (int32_t t = 0; t < n; ++t) {
    const int32_t tn = t + kBulkStages - 1;
    if (threadIdx.x < 32 && tn < n)
      bulk_tile(a, pages, k0 + tn * kTileRows, k1, base + (tn % kBulkStages) * kTileBytes,
                smem_u32(&bars[tn % kBulkStages]));
    while (!mbar_try_wait(smem_u32(&bars[t % kBulkStages]), uint32_t(t / kBulkStages) & 1u)) {
    }
    acc ^= touch(smem + (t % kBulkStages) * kTileBytes);
    __syncthreads();  // stage t % S free before tile t + S is issued into it
  }
  a.sink[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median time in ms of `runs` launches of fn(set), after 3 warm-ups, sets in turn.
template <class F>
double time_ms(int runs, int sets, F fn) {
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int i = 0; i < 3; ++i) fn(i % sets);
  CK(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    CK(cudaEventRecord(e0));
    fn(i % sets);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms);
  }
  CK(cudaGetLastError());
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  return median(t);
}

// Pseudo-random bytes (a 64-bit mix of the word index and the seed).
__global__ void fill_random(uint64_t* p, int64_t words, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < words; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t x = uint64_t(i) * 0x9E3779B97F4A7C15ull + seed;
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    p[i] = x ^ (x >> 31);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int batch = 128, kv = 4096, sets = 2, splits = 1, runs = 25;
  uint64_t seed = 1;
  bool random_data = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const long v = std::strtol(argv[i + 1], nullptr, 10);
    if (k == "--batch") batch = int(v);
    else if (k == "--kv") kv = int(v);
    else if (k == "--sets") sets = int(v);
    else if (k == "--splits") splits = int(v);
    else if (k == "--runs") runs = std::max(20, int(v));
    else if (k == "--seed") seed = uint64_t(v);
    else if (k == "--random") random_data = v != 0;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (kv % kTileRows != 0) {
    std::fprintf(stderr, "kv must be a multiple of 64\n");
    return 2;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const int64_t rows_per_set = int64_t(batch) * kv;
  const int64_t set_bytes = rows_per_set * kRowBytes;
  const int64_t pool_rows = rows_per_set * sets;
  std::printf("# %s, %d SMs, L2 %.0f MB; B=%d kv=%d rows of %d B, %d sets: pool %.0f MB (%.1fx L2), %lld MB a run; "
              "%d CTA(s) a request (%d CTAs); median of %d runs; pool data %s\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6, batch, kv, kRowBytes, sets,
              pool_rows * kRowBytes / 1e6, double(pool_rows * kRowBytes) / prop.l2CacheSize,
              (long long)(set_bytes / 1000000), splits, batch * splits, runs, random_data ? "random" : "0x3c");

  uint8_t* pool = nullptr;
  uint8_t* dst = nullptr;
  uint32_t* sink = nullptr;
  CK(cudaMalloc(&pool, size_t(pool_rows) * kRowBytes));
  CK(cudaMalloc(&dst, size_t(set_bytes)));
  CK(cudaMalloc(&sink, size_t(batch) * splits * kLdgThreads * 4));
  if (random_data) {
    fill_random<<<1024, 256>>>(reinterpret_cast<uint64_t*>(pool), pool_rows * kRowBytes / 8, seed);
    CK(cudaGetLastError());
  } else {
    CK(cudaMemset(pool, 0x3c, size_t(pool_rows) * kRowBytes));
  }
  CK(cudaMemset(dst, 0, size_t(set_bytes)));
  CK(cudaFuncSetAttribute(cp_kernel<2, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, 2 * kTileBytes));
  CK(cudaFuncSetAttribute(cp_kernel<2, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, 2 * kTileBytes));
  CK(cudaFuncSetAttribute(cp_kernel<3, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, 3 * kTileBytes));
  CK(cudaFuncSetAttribute(bulk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBulkStages * kTileBytes));

  const double copy_ms = time_ms(runs, 1, [&](int) {
    CK(cudaMemcpyAsync(dst, pool + set_bytes * (sets > 1 ? 1 : 0), size_t(set_bytes), cudaMemcpyDeviceToDevice));
  });
  const double copy_gbps = 2.0 * double(set_bytes) / (copy_ms * 1e-3) / 1e9;
  std::printf("copy (d2d, read+write, as mla bench counts it) %.0f GB/s, %.1f us for %lld MB\n", copy_gbps,
              copy_ms * 1e3, (long long)(set_bytes / 1000000));

  struct Style {
    const char* name;
    void (*launch)(const Args&, int grid, cudaStream_t);
  };
  const Style styles[] = {
      {"ldg", [](const Args& a, int g, cudaStream_t s) { ldg_kernel<<<g, kLdgThreads, 0, s>>>(a); }},
      {"cpasync2", [](const Args& a, int g, cudaStream_t s) {
         cp_kernel<2, false><<<g, kCpThreads, 2 * kTileBytes, s>>>(a);
       }},
      {"cpasync3", [](const Args& a, int g, cudaStream_t s) {
         cp_kernel<3, false><<<g, kCpThreads, 3 * kTileBytes, s>>>(a);
       }},
      {"cpasync2pf", [](const Args& a, int g, cudaStream_t s) {
         cp_kernel<2, true><<<g, kCpThreads, 2 * kTileBytes, s>>>(a);
       }},
      {"bulk3", [](const Args& a, int g, cudaStream_t s) {
         bulk_kernel<<<g, kCpThreads, kBulkStages * kTileBytes, s>>>(a);
       }},
  };
  const int page_sizes[] = {64, 32, 16, 8, 4, 2, 1};  // 64 first: the ratios' reference
  const int grid = batch * splits;

  // Page tables of every page size, as mla bench builds them.
  auto make_tables = [&](int page, bool shuffled) {
    const int32_t max_pages = kv / page;
    std::vector<int32_t> perm(size_t(pool_rows / page));
    std::iota(perm.begin(), perm.end(), 0);
    if (shuffled) {
      std::mt19937_64 rng(seed);
      std::shuffle(perm.begin(), perm.end(), rng);
    }
    std::vector<int32_t> pt(size_t(sets) * batch * max_pages);
    std::copy(perm.begin(), perm.begin() + pt.size(), pt.begin());  // set s, request b: the next max_pages ids
    int32_t* d = nullptr;
    CK(cudaMalloc(&d, pt.size() * 4));
    CK(cudaMemcpy(d, pt.data(), pt.size() * 4, cudaMemcpyHostToDevice));
    return d;
  };

  for (const Style& st : styles) {
    double ref = 0;
    for (int page : page_sizes) {
      int32_t* pt = make_tables(page, true);
      Args a{pool, pt, kv / page, __builtin_ctz(unsigned(page)), kv, splits, sink};
      const double ms = time_ms(runs, sets, [&](int s) {
        Args as = a;
        as.pt = a.pt + int64_t(s) * batch * a.max_pages;
        st.launch(as, grid, 0);
      });
      const double gbps = double(set_bytes) / (ms * 1e-3) / 1e9;
      if (page == 64) ref = gbps;
      std::printf("%-10s page %2d  %7.1f us  %6.0f GB/s  %5.1f%% of copy  time ratio to page 64 %.3f\n", st.name,
                  page, ms * 1e3, gbps, 100.0 * gbps / copy_gbps, ref / gbps);
      CK(cudaFree(pt));
    }
  }
  {
    int32_t* pt = make_tables(64, false);
    Args a{pool, pt, kv / 64, 6, kv, splits, sink};
    const double ms = time_ms(runs, sets, [&](int s) {
      Args as = a;
      as.pt = a.pt + int64_t(s) * batch * a.max_pages;
      ldg_kernel<<<grid, kLdgThreads>>>(as);
    });
    const double gbps = double(set_bytes) / (ms * 1e-3) / 1e9;
    std::printf("%-10s page %2d  %7.1f us  %6.0f GB/s  %5.1f%% of copy  (identity page table)\n", "ldg-seq", 64,
                ms * 1e3, gbps, 100.0 * gbps / copy_gbps);
    CK(cudaFree(pt));
  }
  std::vector<uint32_t> h(size_t(grid) * kLdgThreads);
  CK(cudaMemcpy(h.data(), sink, h.size() * 4, cudaMemcpyDeviceToHost));
  uint32_t x = 0;
  for (uint32_t v : h) x ^= v;
  std::printf("checksum %08x\n", x);
  CK(cudaFree(pool));
  CK(cudaFree(dst));
  CK(cudaFree(sink));
  return 0;
}
