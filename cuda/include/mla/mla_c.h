/*
 * mla/mla_c.h - the CUDA backend's plain C API, for ctypes, Rust or any FFI.
 *
 * No exceptions cross it; every function returns an mla_status (0 = OK) and
 * on failure leaves a message for mla_last_error() (per thread). The values
 * of the fields are those of the contract (mla/constants.h): formats
 * MLA_FORMAT_*, masks MLA_MASK_*, device status bits MLA_STATUS_*.
 * Semantics are those of the C++ API in mla/cuda.h (planner, decode, device
 * status word, workspace).
 */
#ifndef MLA_MLA_C_H
#define MLA_MLA_C_H

#include <stddef.h>
#include <stdint.h>

#include "mla/constants.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes (the values of mla::StatusCode). */
typedef enum mla_status {
  MLA_OK = 0,
  MLA_ERROR_INVALID_ARGUMENT = 1,
  MLA_ERROR_UNSUPPORTED = 2,
  MLA_ERROR_OUT_OF_MEMORY = 3,
  MLA_ERROR_DEVICE = 4,
  MLA_ERROR_NOT_AVAILABLE = 5,
  MLA_ERROR_IO = 6,
  MLA_ERROR_INTERNAL = 7
} mla_status;

/* The shape of a decode call (mla::ProblemDesc). */
typedef struct mla_problem {
  int32_t batch, num_heads, total_q;
  int32_t q_format, kv_format;  /* MLA_FORMAT_* */
  int32_t mask, window, chunk;  /* MLA_MASK_*; window / chunk only with their mask */
  float softmax_scale;
  int32_t page_size, num_pages, max_pages;
  int32_t num_splits;      /* 0: automatic, 1..64: at most that many per request */
  int32_t batch_invariant; /* nonzero: splits depend on each request's kv_len only */
} mla_problem;

/* The inputs (mla::ProblemData): device pointers for the device calls, host
 * pointers for mla_cuda_decode_host. */
typedef struct mla_inputs {
  const void* q;
  const float* q_scales;
  const void* kv_pool;
  const float* kv_scales;
  const int32_t* page_table;
  const int32_t* q_offsets;
  const int32_t* kv_lens;
} mla_inputs;

typedef struct mla_cuda_plan mla_cuda_plan;  /* opaque */
typedef struct CUstream_st* mla_cuda_stream; /* cudaStream_t; NULL: the default stream */

/* The message of the last failed call on this thread ("" if none). */
const char* mla_last_error(void);
/* A name for a code ("ok", "invalid_argument", ...). */
const char* mla_status_name(mla_status s);

/* MLA_OK when a usable CUDA device is current; otherwise MLA_ERROR_NOT_AVAILABLE
 * and mla_last_error() says why. */
mla_status mla_cuda_available(void);

/* device: -1 for the current one; num_parts: 0 for automatic. */
mla_status mla_cuda_plan_create(const mla_problem* problem, int device, int32_t num_parts, mla_cuda_plan** plan);
void mla_cuda_plan_destroy(mla_cuda_plan* plan);
/* Bytes of device workspace the plan's calls need (0 for a null plan). */
size_t mla_cuda_plan_workspace_size(const mla_cuda_plan* plan);

mla_status mla_cuda_run_planner(const mla_cuda_plan* plan, const mla_inputs* inputs, void* workspace,
                                size_t workspace_bytes, mla_cuda_stream stream);
mla_status mla_cuda_decode(const mla_cuda_plan* plan, const mla_inputs* inputs, void* workspace,
                           size_t workspace_bytes, uint16_t* out, float* lse, mla_cuda_stream stream);
/* The batch status word inside the workspace (device pointer). */
const uint32_t* mla_cuda_status_word(const mla_cuda_plan* plan, const void* workspace);
/* Synchronises `stream`, then copies the status word and, if request_status is
 * not NULL, the batch's per-request bits. */
mla_status mla_cuda_read_status(const mla_cuda_plan* plan, const void* workspace, uint32_t* status_word,
                                uint32_t* request_status, mla_cuda_stream stream);

/* Host memory in and out (mla::cuda::decode_host); status_word and kernel_ms may be NULL. */
mla_status mla_cuda_decode_host(const mla_problem* problem, const mla_inputs* host, uint16_t* out, float* lse,
                                uint32_t* status_word, double* kernel_ms);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_C_H */
