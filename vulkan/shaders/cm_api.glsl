// cm_api.glsl - the 16x16x16 matrix operations of decode_cm.comp and the
// subgroup helpers around them, in two builds of the same shader:
//
//  * native (default): GL_NV_cooperative_matrix, FP16 A / B and fp32
//    accumulators (fcoopmatNV<16|32, gl_ScopeSubgroup, 16, 16>), subgroups
//    of exactly 32 invocations (required at pipeline creation);
//  * MLA_CM_EMULATE: the same algorithm with the matrix operations written
//    as scalar code over groups of 32 invocations (no extension, any
//    subgroup size), so lavapipe runs every line of decode_cm.comp except
//    the cooperative-matrix instructions themselves. Test builds only.
//
// Matrices: CmA (16 rows x 16 k, FP16, row-major source), CmB (16 k x 16
// columns, FP16, read from the key tile sK), CmC (16 x 16 fp32). All
// element offsets and strides are in uvec4 units (16 bytes) of the shared
// arrays they name. Include after declaring `shared uvec4 sK[]` and
// `shared uint sWord[]`, and set g_lane before any matrix operation.
#ifndef MLA_VK_CM_API_GLSL
#define MLA_VK_CM_API_GLSL

uint g_lane;  // invocation index within its group of 32

#ifndef MLA_CM_EMULATE

#define CmA fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define CmB fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define CmC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define CM_ZERO(c) c = CmC(0.0)
// A[r][k] = halfs of arr at 8 e + 8 s r + k.
#define CM_LOAD_A(m, arr, e, s) coopMatLoadNV(m, arr, e, s, false)
// B[k][n] = halfs of sK at 8 e + 8 s n + k (B = K^T: column n is key n's row).
#define CM_LOAD_B_COLS(m, e, s) coopMatLoadNV(m, sK, e, s, true)
// B[k][n] = halfs of sK at 8 e + 8 s k + n (B = V: row k is key k's row).
#define CM_LOAD_B_ROWS(m, e, s) coopMatLoadNV(m, sK, e, s, false)
// C[r][n] = floats of arr at 4 e + 4 s r + n.
#define CM_LOAD_C(m, arr, e, s) coopMatLoadNV(m, arr, e, s, false)
#define CM_STORE_C(m, arr, e, s) coopMatStoreNV(m, arr, e, s, false)
#define CM_MULADD(a, b, c) c = coopMatMulAddNV(a, b, c)
// Component-wise access: every CmC has the same (implementation-defined)
// distribution of elements over the invocations, so element i of two CmC
// values is the same (row, column).
#define CM_LEN(c) c.length()
#define CM_EL(c, i) c[i]

// ok = whether the floats arr[e + s r].x of the 16 rows r are all exactly
// 1.0 (the O rescale factors of a row group: no row's max moved), the same
// in every invocation of the group of 32: one load a lane, a subgroup AND.
#define CM_ROWS_ALL_ONE(ok, arr, e, s) \
  ok = subgroupAnd(uintBitsToFloat(arr[uint(e) + (g_lane & 15u) * uint(s)].x) == 1.0)

// Max over the 8 consecutive invocations of a softmax row (same subgroup).
float row8_max(float v, uint slot) {
  v = max(v, subgroupShuffleXor(v, 1u));
  v = max(v, subgroupShuffleXor(v, 2u));
  v = max(v, subgroupShuffleXor(v, 4u));
  return v;
}
// Orders this subgroup's earlier shared-memory accesses before its later ones.
void group_sync() {
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}
// sWord[w] = max(sWord[w], v over the workgroup).
void publish_max(uint v, uint w) {
  v = subgroupMax(v);
  if (subgroupElect()) atomicMax(sWord[w], v);
}

#else  // MLA_CM_EMULATE

// Invocation l of a group of 32 holds row l >> 1 of every matrix: all 16
// columns of an A, columns 8 (l & 1) .. + 7 of a C. A B is read from sK when
// it is used (the tile does not change between the load and the use).
struct CmA { float v[16]; };
struct CmB { uint e; uint s; bool cols; };
struct CmC { float v[8]; };

vec2 cm_halves(uint w) { return unpackHalf2x16(w); }

#define CM_ZERO(c) { UNROLL for (uint i_ = 0u; i_ < 8u; ++i_) c.v[i_] = 0.0; }
#define CM_LOAD_A(m, arr, e, s)                                    \
  {                                                                \
    const uint b_ = uint(e) + (g_lane >> 1) * uint(s);             \
    UNROLL for (uint j_ = 0u; j_ < 2u; ++j_) {                     \
      const uvec4 u_ = arr[b_ + j_];                               \
      const vec2 h0_ = cm_halves(u_.x), h1_ = cm_halves(u_.y);     \
      const vec2 h2_ = cm_halves(u_.z), h3_ = cm_halves(u_.w);     \
      m.v[8u * j_ + 0u] = h0_.x; m.v[8u * j_ + 1u] = h0_.y;        \
      m.v[8u * j_ + 2u] = h1_.x; m.v[8u * j_ + 3u] = h1_.y;        \
      m.v[8u * j_ + 4u] = h2_.x; m.v[8u * j_ + 5u] = h2_.y;        \
      m.v[8u * j_ + 6u] = h3_.x; m.v[8u * j_ + 7u] = h3_.y;        \
    }                                                              \
  }
#define CM_LOAD_B_COLS(m, e, s) m = CmB(uint(e), uint(s), true)
#define CM_LOAD_B_ROWS(m, e, s) m = CmB(uint(e), uint(s), false)
#define CM_LOAD_C(m, arr, e, s)                                                 \
  {                                                                             \
    const uint b_ = uint(e) + (g_lane >> 1) * uint(s) + 2u * (g_lane & 1u);     \
    const vec4 c0_ = uintBitsToFloat(arr[b_]), c1_ = uintBitsToFloat(arr[b_ + 1u]); \
    m.v[0] = c0_.x; m.v[1] = c0_.y; m.v[2] = c0_.z; m.v[3] = c0_.w;             \
    m.v[4] = c1_.x; m.v[5] = c1_.y; m.v[6] = c1_.z; m.v[7] = c1_.w;             \
  }
#define CM_STORE_C(m, arr, e, s)                                                \
  {                                                                             \
    const uint b_ = uint(e) + (g_lane >> 1) * uint(s) + 2u * (g_lane & 1u);     \
    arr[b_] = floatBitsToUint(vec4(m.v[0], m.v[1], m.v[2], m.v[3]));            \
    arr[b_ + 1u] = floatBitsToUint(vec4(m.v[4], m.v[5], m.v[6], m.v[7]));       \
  }

// B[k][n] of a lazily loaded B.
float cm_b_at(CmB b, uint k, uint n) {
  const uint idx = b.cols ? b.e + n * b.s + (k >> 3) : b.e + k * b.s + (n >> 3);
  const uint h = (b.cols ? k : n) & 7u;
  const vec2 pair = cm_halves(sK[idx][h >> 1]);
  return (h & 1u) == 0u ? pair.x : pair.y;
}
void cm_muladd(CmA a, CmB b, inout CmC c) {
  for (uint i = 0u; i < 8u; ++i) {
    const uint n = 8u * (g_lane & 1u) + i;
    float acc = c.v[i];
    for (uint k = 0u; k < 16u; ++k) acc = fma(a.v[k], cm_b_at(b, k, n), acc);
    c.v[i] = acc;
  }
}
#define CM_MULADD(a, b, c) cm_muladd(a, b, c)
#define CM_LEN(c) 8
#define CM_EL(c, i) c.v[i]

// CM_ROWS_ALL_ONE as in the native build, without subgroup operations:
// every invocation reads all 16 rows (the same words, the same result).
#define CM_ROWS_ALL_ONE(ok, arr, e, s)                                                       \
  {                                                                                          \
    ok = true;                                                                               \
    UNROLL for (uint r_ = 0u; r_ < 16u; ++r_) ok = ok && uintBitsToFloat(arr[uint(e) + r_ * uint(s)].x) == 1.0; \
  }

// Through shared memory and a workgroup barrier (every invocation calls it).
float row8_max(float v, uint slot) {
  sRowTmp[slot] = v;
  WG_SYNC();
  const uint b = slot & ~7u;
  float m = sRowTmp[b];
  for (uint k = 1u; k < 8u; ++k) m = max(m, sRowTmp[b + k]);
  return m;
}
void group_sync() {
  WG_SYNC();
}
void publish_max(uint v, uint w) { atomicMax(sWord[w], v); }

#endif  // MLA_CM_EMULATE

#endif  // MLA_VK_CM_API_GLSL
