// mla/host_device.h - MLA_HD marks small inline functions that CUDA device
// code and host code share (mask rules, split bounds).
#pragma once
#if defined(__CUDACC__)
#define MLA_HD __host__ __device__ __forceinline__
#else
#define MLA_HD inline
#endif
