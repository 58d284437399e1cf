// decode_cm_phases.glsl - the phases of the tile loop that both mains of
// decode_cm.comp run: the default main (end of decode_cm.comp) and the
// producer-warp main (decode_cm_pw.glsl, MLA_CM_PRODUCER). Included by
// decode_cm.comp after its helpers, before the mains.
//
// Each phase is a statement macro: it reads and declares locals of the main
// that expands it (named at each macro) and may contain barriers; a main
// expands it where every invocation reaches it (never inside a role
// branch). Macros rather than functions: a function changes the default
// build's SPIR-V (glslc inlines it into other ids and copies), while these
// expand to exactly the default main's former tokens, so its modules stay
// byte-identical. No // comments inside the macro bodies (a backslash would
// continue them).
//
// Where the producer build differs, the phases use these (nothing in the
// default build):
//   IF_CONSUMER    statement prefix: only the consumer subgroups run it;
//   CONSUMER_AND   condition prefix, the same;
//   KTILE(e)       uvec4 offset e into the consumers' key tile of sK (the
//                  double buffer: + cur);
//   KSIG(n)        index n into the consumers' sigma_k row of sKs (+ cks).
// The producer main declares `consumer`, `cur` and `cks`.
#ifdef MLA_CM_PRODUCER
#define IF_CONSUMER if (consumer)
#define CONSUMER_AND consumer &&
#define KTILE(e) (cur + e)
#define KSIG(n) (cks + n)
#else
#define IF_CONSUMER
#define CONSUMER_AND
#define KTILE(e) e
#define KSIG(n) n
#endif

// Declares tid, sg, lane, inv (the role of this invocation: tid on a
// 32-wide subgroup); sets g_lane.
#ifdef MLA_CM_EMULATE
#define CM_MAIN_IDS                                   \
  const uint tid = gl_LocalInvocationID.x;            \
  const uint sg = tid >> 5, lane = tid & 31u;         \
  g_lane = lane;                                      \
  const uint inv = sg * 32u + lane;
#else
#define CM_MAIN_IDS                                                 \
  const uint tid = gl_LocalInvocationID.x;                          \
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;    \
  g_lane = lane;                                                    \
  const uint inv = sg * 32u + lane;
#endif

// Declares it, H, row0, row_end, p_begin, p_end, fp8_kv; returns from main
// when the workgroup has no item (uniform).
#define CM_MAIN_ITEM                                           \
  DecodeItem it;                                               \
  if (!begin_item(G, it)) return;                              \
  const int H = pc.num_heads;                                  \
  const int row0 = it.row0, row_end = it.row_end;              \
  const uint p_begin = it.p_begin, p_end = it.p_end;           \
  const bool fp8_kv = pc.kv_format == MLA_FORMAT_FP8_ROPE640;

// Declares the consumer roles. Matrix roles: row group rg, quarter cq (of
// the dims in S, of the columns in P.V), rg_active (uniform in the
// subgroup). Softmax roles: row g of the workgroup (in group rg, since
// g >> 4 = sg >> 2), keys kg * KPT ..., rl its row in the group, row,
// row_active; q_scale = softmax_scale * log2(e) * sigma_q; vis, the keys
// row g sees.
#define CM_MAIN_ROLES                                                                                   \
  const uint rg = sg >> 2, cq = sg & 3u;                                                                \
  const bool rg_active = CONSUMER_AND row0 + int(rg * 16u) < row_end;                                   \
  const uint g = inv >> 3, kg = inv & 7u, rl = g & 15u;                                                 \
  const int row = row0 + int(g);                                                                        \
  const bool row_active = CONSUMER_AND row < row_end;                                                   \
  float q_scale = 0.0;                                                                                  \
  ivec2 vis = ivec2(0, 0);                                                                              \
  if (row_active) {                                                                                     \
    const int i = row / H;                                                                              \
    q_scale = pc.scale_log2 * (pc.q_format == MLA_FORMAT_FP8_ROPE640 ? q_scales[g_q_begin + i] : 1.0);  \
    vis = visible_keys(g_kv_len, g_q_len, i);                                                           \
  }

// Declares qf, the Q fragments of this subgroup: rows of group rg, dims
// [144 cq, 144 cq + 144), staged through sK rows 0..15 (barriers).
#define CM_MAIN_Q_FRAGMENTS                                                            \
  CmA qf[9];                                                                           \
  for (uint rg2 = 0u; rg2 < uint(RG); ++rg2) {                                         \
    stage_q(rg2, inv, row0, row_end);                                                  \
    if (CONSUMER_AND rg == rg2) {                                                      \
      UNROLL for (uint s = 0u; s < 9u; ++s) CM_LOAD_A(qf[s], sK, cq * 18u + 2u * s, KP); \
    }                                                                                  \
    WG_SYNC();                                                                         \
  }

// Declares o (the output accumulators), m_run (running max of row g, log2
// domain) and l_run (running sum of this invocation's keys of row g).
#define CM_MAIN_O_INIT                                      \
  CmC o[8];                                                 \
  UNROLL for (uint cb = 0u; cb < 8u; ++cb) CM_ZERO(o[cb]);  \
  float m_run = MLA_NEG_INF;                                \
  float l_run = 0.0;

// Content k-steps of quarter 3 (27 .. 31; its others, 32 .. 35, are rope).
// Quarters 0 .. 2 hold content only: each quarter's k-steps go to one
// accumulator by a compile-time index, so the driver sees straight-line
// load / multiply sequences (a run-time test per k-step made it emit both
// paths of every step and serialise them; vulkan/README.md, "SASS").
#define CM_Q3_CONTENT_STEPS (MLA_DIM_CONTENT / 16 - 27)

// S partials of quarter cq: Q' . K, i.e. the products times 2^eKc (content
// k-steps) or 2^eKr (rope k-steps 32..35, in quarter 3 only), into sS.
#define CM_TILE_S                                                                     \
  if (rg_active) {                                                                    \
    const float fc = pow2(eKc), fr = pow2(eKr);                                       \
    UNROLL for (uint kb = 0u; kb < KB; ++kb) {                                        \
      CmC acc, acc_rope;                                                              \
      CM_ZERO(acc);                                                                   \
      CM_ZERO(acc_rope);                                                              \
      if (cq < 3u) {                                                                  \
        UNROLL for (uint s = 0u; s < 9u; ++s) {                                       \
          CmB b;                                                                      \
          CM_LOAD_B_COLS(b, KTILE(kb * 16u * KP + cq * 18u + 2u * s), KP);            \
          CM_MULADD(qf[s], b, acc);                                                   \
        }                                                                             \
      } else {                                                                        \
        UNROLL for (uint s = 0u; s < 9u; ++s) {                                       \
          CmB b;                                                                      \
          CM_LOAD_B_COLS(b, KTILE(kb * 16u * KP + 3u * 18u + 2u * s), KP);           \
          if (s < CM_Q3_CONTENT_STEPS) CM_MULADD(qf[s], b, acc);                      \
          else CM_MULADD(qf[s], b, acc_rope);                                         \
        }                                                                             \
      }                                                                               \
      bool bad = false;                                                               \
      for (int i = 0; i < CM_LEN(acc); ++i) {                                         \
        CM_EL(acc, i) = CM_EL(acc, i) * fc + CM_EL(acc_rope, i) * fr;                 \
        bad = bad || nonfinite(CM_EL(acc, i));                                        \
      }                                                                               \
      if (bad) sWord[W_FLAG] = 1u;                                                    \
      CM_STORE_C(acc, sS, s_base(rg, cq) + 4u * kb, SP);                              \
    }                                                                                 \
  }

// The softmax of row g, keys n = kg * KPT + j, in four parts around the
// row max and the P arithmetic (which the mains write themselves).
// Declares bad_keys, s, seen, tile_max.
#define CM_SOFTMAX_DECLS                  \
  const uint bad_keys = sWord[W_BAD];     \
  float s[KPT];                           \
  bool seen[KPT];                         \
  float tile_max = MLA_NEG_INF;

// The logits s of this invocation's keys (the four partials summed in
// order) and their max tile_max.
#define CM_SOFTMAX_LOGITS                                                                                              \
  UNROLL for (uint j = 0u; j < KPT; ++j) {                                                                             \
    const uint n = kg * KPT + j;                                                                                       \
    float raw = 0.0;                                                                                                   \
    UNROLL for (uint c = 0u; c < 4u; ++c) raw += uintBitsToFloat(sS[s_base(rg, c) + rl * SP + (n >> 2)][n & 3u]);     \
    const int key = int(k0 + n);                                                                                       \
    seen[j] = n < nk && key >= vis.x && key < vis.y;                                                                   \
    s[j] = !seen[j] ? MLA_NEG_INF                                                                                      \
           : ((bad_keys >> n) & 1u) != 0u ? MLA_NAN                                                                    \
                                          : scale_pow2(raw, eQ) * q_scale * sKs[KSIG(n)];                              \
    tile_max = max(tile_max, s[j]);                                                                                    \
  }

// P of the products into pq (p * sigma_k * 2^-eP, 0 where the row does not
// see the key) and their sum; the running sum and max of the row (needs
// m_new, corr, p_scale, p_sum, pq).
#define CM_SOFTMAX_P                                                  \
  UNROLL for (uint j = 0u; j < KPT; ++j) {                            \
    const uint n = kg * KPT + j;                                      \
    const float p = s[j] == MLA_NEG_INF ? 0.0 : exp2(s[j] - m_new);   \
    p_sum += p;                                                       \
    pq[j] = seen[j] ? (sKs[KSIG(n)] * p_scale) * p : 0.0;             \
  }                                                                   \
  l_run = l_run * corr + p_sum;                                       \
  m_run = m_new;

// The O rescale (CM_TILE_PV). Without MLA_CM_RESCALE_ALWAYS: a subgroup multiplies its O
// accumulators by the rescale matrix only when some row of its group has a
// factor other than exactly 1.0 (CM_ROWS_ALL_ONE, the same decision in the
// whole subgroup). Skipping x * 1.0 is exact, so the results are those of
// the multiply (MLA_CM_RESCALE_ALWAYS, *_ra modules: always multiply, the
// build before; MLA_VULKAN_CM_RESCALE=always). A row outside [row0,
// row_end) writes 1.0 instead of its factor (0: it never sees a key): its
// O is never stored, and a padded group can skip too. CM_RESCALE_ROW: the
// value of the rescale row; CM_PV_RESCALE: the rescale before the P.V loop
// (declares cr where the loop multiplies by it); CM_PV_ADDEND(x, i): the
// old O term of the fma.
#ifdef MLA_CM_RESCALE_ALWAYS
#define CM_RESCALE_ROW corr
#define CM_PV_RESCALE  \
  CmC cr;              \
  CM_LOAD_C(cr, sS, s_base(rg, 1u), SP);
#define CM_PV_ADDEND(x, i) CM_EL(x, i) * CM_EL(cr, i)
#else
#define CM_RESCALE_ROW (row_active ? corr : 1.0)
#define CM_PV_RESCALE                                                                         \
  bool rescale_one;                                                                           \
  CM_ROWS_ALL_ONE(rescale_one, sS, s_base(rg, 1u), SP);                                       \
  if (!rescale_one) {                                                                         \
    CmC cr;                                                                                   \
    CM_LOAD_C(cr, sS, s_base(rg, 1u), SP);                                                    \
    UNROLL for (uint cb = 0u; cb < 8u; ++cb) {                                                \
      CmC x = o[cb];                                                                          \
      for (int i = 0; i < CM_LEN(x); ++i) CM_EL(x, i) = CM_EL(x, i) * CM_EL(cr, i);           \
      o[cb] = x;                                                                              \
    }                                                                                         \
  }
#define CM_PV_ADDEND(x, i) CM_EL(x, i)
#endif

// After every invocation of the row has read its partials: P row rl (FP16)
// over partial 0, the rescale row (16 x corr) over partial 1.
#define CM_SOFTMAX_STORE                                                                                   \
  UNROLL for (uint j = 0u; j < KPT; j += 2u) {                                                             \
    const uint n = kg * KPT + j;                                                                           \
    sS[s_base(rg, 0u) + rl * SP + (n >> 3)][(n & 7u) >> 1] = packHalf2x16(vec2(pq[j], pq[j + 1u]));        \
  }                                                                                                        \
  if (kg < 4u) sS[s_base(rg, 1u) + rl * SP + kg] = floatBitsToUint(vec4(CM_RESCALE_ROW));

// O = O * rescale + (P.V) * 2^(eP + eKc), columns [128 cq, 128 cq + 128)
// (the rescale: CM_PV_RESCALE above).
#define CM_TILE_PV                                                                                    \
  if (rg_active) {                                                                                    \
    CmA pa[KB];                                                                                       \
    UNROLL for (uint ks = 0u; ks < KB; ++ks) CM_LOAD_A(pa[ks], sS, s_base(rg, 0u) + 2u * ks, SP);     \
    CM_PV_RESCALE                                                                                     \
    const int eo = eP + eKc;                                                                          \
    const float f1 = pow2(clamp(eo, -126, 127)), f2 = pow2(eo - clamp(eo, -126, 127));                \
    UNROLL for (uint cb = 0u; cb < 8u; ++cb) {                                                        \
      CmC pv;                                                                                         \
      CM_ZERO(pv);                                                                                    \
      UNROLL for (uint ks = 0u; ks < KB; ++ks) {                                                      \
        CmB v;                                                                                        \
        CM_LOAD_B_ROWS(v, KTILE(ks * 16u * KP + cq * 16u + 2u * cb), KP);                             \
        CM_MULADD(pa[ks], v, pv);                                                                     \
      }                                                                                               \
      CmC x = o[cb];                                                                                  \
      for (int i = 0; i < CM_LEN(x); ++i) CM_EL(x, i) = fma(CM_EL(pv, i) * f1, f2, CM_PV_ADDEND(x, i)); \
      o[cb] = x;                                                                                      \
    }                                                                                                 \
  }

// Row sums (l of row g: the sum of its 8 invocations' sums, in order) into
// sRowL, then O / l out, each subgroup's 16 x 16 blocks through its own
// 1 KiB of sK, and the row's lse (barriers).
#define CM_MAIN_EPILOGUE                                                                                  \
  IF_CONSUMER ROWTMP_STORE(inv, l_run);                                                                   \
  WG_SYNC();                                                                                              \
  if (CONSUMER_AND kg == 0u) {                                                                            \
    float l = 0.0;                                                                                        \
    UNROLL for (uint k = 0u; k < 8u; ++k) l += ROWTMP_LOAD(g * 8u + k);                                   \
    sRowL[g] = l;                                                                                         \
  }                                                                                                       \
  WG_SYNC();                                                                                              \
  const uint scratch = sg * 64u;                                                                          \
  const uint er = lane >> 1, eh = lane & 1u;                                                              \
  const int orow = row0 + int(rg * 16u + er);                                                             \
  UNROLL for (uint cb = 0u; cb < 8u; ++cb) {                                                              \
    IF_CONSUMER CM_STORE_C(o[cb], sK, scratch, 4u);                                                       \
    group_sync();                                                                                         \
    if (CONSUMER_AND orow < row_end) {                                                                    \
      const float l = sRowL[rg * 16u + er];                                                               \
      const vec4 a = uintBitsToFloat(sK[scratch + er * 4u + 2u * eh]);                                    \
      const vec4 b = uintBitsToFloat(sK[scratch + er * 4u + 2u * eh + 1u]);                               \
      const uint grow = uint(g_q_begin * H + orow), quad = (cq * 128u + cb * 16u + eh * 8u) / 4u;         \
      store_out_quad(grow, quad, l == 0.0 ? vec4(0.0) : a / l, it.nsplit, it.split);                      \
      store_out_quad(grow, quad + 1u, l == 0.0 ? vec4(0.0) : b / l, it.nsplit, it.split);                 \
    }                                                                                                     \
    group_sync();                                                                                         \
  }                                                                                                       \
  if (CONSUMER_AND kg == 0u && row_active) store_lse(uint(g_q_begin * H + row), m_run, sRowL[g], it.nsplit, it.split);
