/*
 * mla/constants.h - the numbers of the MLA decode contract.
 *
 * This header is included from C, C++, CUDA and GLSL (glslc with
 * GL_GOOGLE_include_directive), so it holds only preprocessor definitions:
 * no types, no namespaces, no includes.
 */
#ifndef MLA_CONSTANTS_H
#define MLA_CONSTANTS_H

/* Q.K runs over 576 values per head: 512 latent ("content") + 64 rope. */
#define MLA_DIM_CONTENT 512
#define MLA_DIM_ROPE 64
#define MLA_DIM_QK 576
/* V of a cached token is the first 512 values of its K row. */
#define MLA_DIM_V 512

/* Row sizes in bytes. */
#define MLA_ROW_BYTES_BF16 1152      /* 576 x BF16 */
#define MLA_ROW_BYTES_FP8 640        /* 512 x e4m3 + 64 x BF16 */
#define MLA_FP8_ROPE_BYTE_OFFSET 512 /* rope of an fp8_rope640 row starts here */

/* Row formats (values of mla::RowFormat and of the C API's mla_row_format). */
#define MLA_FORMAT_BF16 0
#define MLA_FORMAT_FP8_ROPE640 1

/* Masks (values of mla::MaskKind and of the C API's mla_mask). */
#define MLA_MASK_NONE 0
#define MLA_MASK_CAUSAL 1
#define MLA_MASK_SLIDING_WINDOW 2
#define MLA_MASK_CHUNKED 3

/* Problem bounds. */
#define MLA_MAX_BATCH 1048576
#define MLA_MAX_HEADS 128
#define MLA_MAX_Q_LEN 16
#define MLA_MIN_PAGE_SIZE 1
#define MLA_MAX_PAGE_SIZE 512
/* Explicit split counts are 1..MLA_MAX_SPLITS (0 asks for the automatic choice). */
#define MLA_MAX_SPLITS 64
/* In batch-invariant mode a request of kv_len keys is split into
 * ceil(kv_len / MLA_INVARIANT_SPLIT_KEYS) partitions, a function of its own
 * kv_len only, and every partition starts at a multiple of this many keys. */
#define MLA_INVARIANT_SPLIT_KEYS 2048

/* Device status word bits (CUDA and Vulkan): set for a request whose
 * metadata, checked on the device, is unusable. Such a request's output rows
 * are written as 0 and its LSE as NaN (see README, "Device-side faults"). */
#define MLA_STATUS_OK 0u
#define MLA_STATUS_BAD_PAGE_ID 1u       /* page id < 0 or >= num_pages */
#define MLA_STATUS_BAD_KV_LEN 2u        /* kv_len < 0 or > max_pages * page_size */
#define MLA_STATUS_BAD_Q_OFFSETS 4u     /* q_offsets decreasing, q_len > 16 or past total_q */
#define MLA_STATUS_BAD_Q_LEN_CAUSAL 8u  /* q_len > kv_len under a causal-family mask */

#endif /* MLA_CONSTANTS_H */
