// decode_cm_pw.glsl - main() of the producer-warp build of decode_cm.comp
// (MLA_CM_PRODUCER; MLA_VULKAN_CM_WARPS=producer, *_pw1 / *_pw2 modules;
// vulkan/README.md "Producer warps (plan step 2)"). Included by
// decode_cm.comp in place of its main(); everything above that main (the
// helpers, the shared arrays sized for this build, the phases both mains
// run: decode_cm_phases.glsl) is shared.
//
// Roles by subgroup: subgroups 0 .. 4 RG - 1 are the consumers, with exactly
// the roles and the arithmetic of the default build (S = Q.K over a quarter
// of the dims, softmax on 8 invocations a row, P.V over a quarter of the
// columns); subgroups 4 RG .. 4 RG + 3 are the producers (PT = 128
// invocations, producer index g_ptid): they fetch the key tiles into
// registers (fetch_tile, run fetch), find the tile's exponents (the fast
// scan's fields, published with atomicMax into an exponent slot) and stage
// the tile as scaled FP16 into sK. Same words, same exponents, same
// conversion, and the consumers compute in the same order: the results are
// bit-identical to the default build of the same RG and N.
//
// Barriers: every WG_SYNC is reached by all invocations (consumer and
// producer work sit in branches between them). Per tile t (consumers on
// tile t; "seg" = the code between two barriers):
//   BUFS = 2 (two key tiles, sK[t & 1]):
//     seg S   consumers S(t); producers stage tile t + 1 (fetched and scanned
//             during tile t - 1) into sK[(t + 1) & 1], clear slot (t + 2) % 3
//     B_S     (+ the rare non-finite sanitize and its barrier)
//     seg SM  consumers softmax(t); producers issue the loads of tile t + 2
//     B_SM
//     seg PV  consumers P.V(t); producers scan tile t + 2 into slot (t + 2) % 3
//     B_END   hands sK[(t + 1) & 1] to the consumers: 3 barriers a tile
//   BUFS = 1 (one key tile; where two do not fit the device):
//     seg S   consumers S(t); producers clear slot (t + 1) % 3, issue the
//             loads of tile t + 1
//     B_S
//     seg SM  consumers softmax(t); producers scan tile t + 1 into its slot
//     B_SM
//     seg PV  consumers P.V(t); producers convert BF16 tile t + 1 to scaled
//             FP16 in their registers
//     B_END
//     seg ST  producers store tile t + 1 into sK (FP8: convert and store)
//     B_READY 4 barriers a tile
// Exponent slot s (three, so a slot is cleared only after every reader of
// its previous tile is past a barrier): sWord[5 + 3 s + {0 content, 1 rope,
// 2 sigma_k}].
#ifndef MLA_CM_SCAN_FAST
#error "the producer build uses the fast scan's fields (compile with -DMLA_CM_SCAN_FAST)"
#endif
#ifndef MLA_FETCH_RUN
#error "the producer build is built with the run fetch"
#endif

uint pw_slot(uint s) { return 5u + 3u * s; }

// Clock profile (MLA_CM_PROFILE; decode_cm.comp "Clock profile"): a mark at
// the end of each segment and after each barrier, in every subgroup; the
// slot names what the subgroup's role did in the segment. Consumers: S,
// softmax, P.V as in the default main. Producers, two key tiles: stage fp16
// (seg S), fetch issue (seg SM), exp scan (seg PV); one key tile: fetch
// issue (seg S), exp scan (seg SM), stage fp16 (seg PV: BF16 -> scaled FP16
// in registers, the first use of the loaded registers), and the slot "fetch
// wait" holds seg ST (the stores into sK; FP8: the whole staging). The
// barriers: B_S in "barrier 2", B_SM in "barrier 3", B_END in "barrier 4",
// B_READY in "barrier 1". Table: CmProfile::table().
#if BUFS == 2
#define PW_PROF_SEG_S MLA_VK_PROF_STAGE
#define PW_PROF_SEG_SM MLA_VK_PROF_FETCH
#define PW_PROF_SEG_PV MLA_VK_PROF_SCAN
#else
#define PW_PROF_SEG_S MLA_VK_PROF_FETCH
#define PW_PROF_SEG_SM MLA_VK_PROF_SCAN
#define PW_PROF_SEG_PV MLA_VK_PROF_STAGE
#endif

// Producers: the exponents of the tile in g_regs (keys [0, nk)) into slot word w.
void pw_publish_exponents(uint nk, uint w) { publish_exponents(g_ptid, PT, nk, w); }

// The scales of a tile from its slot word w (as the default build's loop top).
void pw_exponents(uint w, bool fp8, out int eKc, out int eKr, out int eP) {
  eKc = fp8 ? 0 : exp_for(sWord[w]);
  eKr = exp_for(sWord[w + 1u]);
  eP = fp8 ? exp_for(sWord[w + 2u]) : -14;
}

void pw_clear_slot(uint w) {
  if (g_ptid == 0u) {
    sWord[w] = 0u;
    sWord[w + 1u] = 0u;
    sWord[w + 2u] = 0u;
  }
}

// Producers: g_regs -> key tile at sK[buf ...] as FP16, sigma_k -> sKs[ks ...].
void pw_stage(uint buf, uint ks, int eKc, int eKr) { stage_tile_f16_at(g_ptid, PT, buf, ks, eKc, eKr); }

#if BUFS == 1
// BF16 tiles, one buffer: the conversion in registers while the consumers
// still read sK, the stores after they are done.
void pw_convert_bf16(int eKc, int eKr) {
  const uint tid = g_ptid;
  const float sc = pow2(-eKc), sr = pow2(-eKr);
#if CM_WHOLE_CHUNKS
  TileChunk c = chunk_first(tid);  // no guard, no division a chunk
  UNROLL for (uint j = 0u; j < LD; ++j) {
    g_regs[j] = bf16x8_to_f16(g_regs[j], c.col < MLA_DIM_CONTENT / 8 ? sc : sr);
    chunk_next(c, PT);
  }
#else
  UNROLL for (uint j = 0u; j < LD; ++j) {
    const uint idx = tid + j * PT;
    if (idx < N * MLA_VK_BF16_ROW_UVEC4)
      g_regs[j] = bf16x8_to_f16(g_regs[j], idx % MLA_VK_BF16_ROW_UVEC4 < MLA_DIM_CONTENT / 8 ? sc : sr);
  }
#endif
}
void pw_store_converted() {
  const uint tid = g_ptid;
#if CM_WHOLE_CHUNKS
  TileChunk c = chunk_first(tid);
  UNROLL for (uint j = 0u; j < LD; ++j) {
    sK[c.row * KP + c.col] = g_regs[j];
    chunk_next(c, PT);
  }
#else
  UNROLL for (uint j = 0u; j < LD; ++j) {
    const uint idx = tid + j * PT;
    if (idx < N * MLA_VK_BF16_ROW_UVEC4)
      sK[(idx / MLA_VK_BF16_ROW_UVEC4) * KP + idx % MLA_VK_BF16_ROW_UVEC4] = g_regs[j];
  }
#endif
  if (tid < N) sKs[tid] = g_reg_sk;
}
#endif

// row8_max for every invocation (the emulated one has a workgroup barrier;
// producers pass through): the consumers' result is the default build's.
float pw_row8_max(float v, uint inv, bool consumer) {
#ifdef MLA_CM_EMULATE
  if (consumer) sRowTmp[inv] = v;
  WG_SYNC();
  if (!consumer) return v;
  const uint b = inv & ~7u;
  float m = sRowTmp[b];
  for (uint k = 1u; k < 8u; ++k) m = max(m, sRowTmp[b + k]);
  return m;
#else
  return row8_max(v, inv);
#endif
}

void main() {
  CM_MAIN_IDS
  const bool consumer = inv < uint(CT);  // uniform in a subgroup
  const bool producer = !consumer;
  g_ptid = consumer ? 0u : inv - uint(CT);
#ifdef MLA_CM_PROFILE
  prof_begin(sg);
#endif
  CM_MAIN_ITEM

  load_fp8_table();
  for (uint i = inv; i < 16u; i += T) sWord[i] = 0u;
  for (uint i = inv; i < uint(G); i += T) sQe[i] = 0u;
#ifdef MLA_CM_PROFILE
  prof_clear(inv);
#endif
  WG_SYNC();

  // Consumer roles (the default build's; inactive in producer subgroups).
  CM_MAIN_ROLES

  if (producer && p_begin < p_end) fetch_tile(p_begin, min(uint(N), p_end - p_begin));

  // Q fragments (consumers), through sK rows 0..15 of buffer 0; stage_q
  // works on invocations 0..127, the consumers.
  CM_MAIN_Q_FRAGMENTS
  const int eQ = consumer ? exp_for(sQe[g]) : 0;

  // Tile 0 into buffer 0 (and, with two buffers, tile 1 fetched and scanned).
  if (producer && p_begin < p_end) pw_publish_exponents(min(uint(N), p_end - p_begin), pw_slot(0u));
  WG_SYNC();
  if (producer && p_begin < p_end) {
    int a, b, c;
    pw_exponents(pw_slot(0u), fp8_kv, a, b, c);
    pw_stage(0u, 0u, a, b);
#if BUFS == 2
    if (p_begin + uint(N) < p_end) {
      fetch_tile(p_begin + uint(N), min(uint(N), p_end - p_begin - uint(N)));
      pw_publish_exponents(min(uint(N), p_end - p_begin - uint(N)), pw_slot(1u));
    }
#endif
  }
  WG_SYNC();

  CM_MAIN_O_INIT
  PROF_MARK(MLA_VK_PROF_PROLOGUE);

  uint t = 0u;
  for (uint k0 = p_begin; k0 < p_end; k0 += N, ++t) {
    const uint nk = min(uint(N), p_end - k0);
    const bool has1 = k0 + uint(N) < p_end;       // tile t + 1 exists
    const uint s1 = (t + 1u) % 3u;                // its exponent slot
    // cur, cks: the consumers' key tile in sK and its sigma_k in sKs (KTILE, KSIG).
#if BUFS == 2
    const uint cur = (t & 1u) * uint(N * KP), cks = (t & 1u) * uint(N);
    const uint nxt = uint(N * KP) - cur, nks = uint(N) - cks;
    const bool has2 = k0 + uint(2 * N) < p_end;   // tile t + 2 exists
    const uint s2 = (t + 2u) % 3u;
#else
    const uint cur = 0u, cks = 0u;
#endif
    int eKc, eKr, eP;
    pw_exponents(pw_slot(t % 3u), fp8_kv, eKc, eKr, eP);

    // ---- seg S ----
    CM_TILE_S
    if (producer) {
#if BUFS == 2
      if (has1) {
        int a, b, c;
        pw_exponents(pw_slot(s1), fp8_kv, a, b, c);
        pw_stage(nxt, nks, a, b);
      }
      pw_clear_slot(pw_slot(s2));
#else
      pw_clear_slot(pw_slot(s1));
      if (has1) fetch_tile(k0 + uint(N), min(uint(N), p_end - k0 - uint(N)));
#endif
    }
    PROF_MARK(consumer ? MLA_VK_PROF_S : PW_PROF_SEG_S);
    WG_SYNC();  // B_S
    if (sWord[W_FLAG] != 0u) {
      sanitize_v_at(inv, cur);
      WG_SYNC();
    }
    PROF_MARK(MLA_VK_PROF_BAR2);

    // ---- seg SM ----
    if (producer) {
#if BUFS == 2
      if (has2) fetch_tile(k0 + uint(2 * N), min(uint(N), p_end - k0 - uint(2 * N)));
#else
      if (has1) pw_publish_exponents(min(uint(N), p_end - k0 - uint(N)), pw_slot(s1));
#endif
    }
    {
      CM_SOFTMAX_DECLS
      if (consumer) {
        CM_SOFTMAX_LOGITS
      }
      const float row_max = pw_row8_max(tile_max, inv, consumer);
      float pq[KPT];
      float corr = 0.0;
      if (consumer) {
        const float m_new = max(m_run, row_max);
        corr = m_run == MLA_NEG_INF ? 0.0 : exp2(m_run - m_new);
        const float p_scale = pow2(-eP);
        float p_sum = 0.0;
        CM_SOFTMAX_P
      }
      group_sync();  // every invocation of the row has read its partials
      if (consumer) {
        CM_SOFTMAX_STORE
      }
    }
    PROF_MARK(consumer ? MLA_VK_PROF_SOFTMAX : PW_PROF_SEG_SM);
    WG_SYNC();  // B_SM
    PROF_MARK(MLA_VK_PROF_BAR3);

    // ---- seg PV ----
    CM_TILE_PV
    if (inv == 0u) {  // W_FLAG was read after B_S, W_BAD in the softmax: free for tile t + 1
      sWord[W_FLAG] = 0u;
      sWord[W_BAD] = 0u;
    }
    if (producer) {
#if BUFS == 2
      if (has2) pw_publish_exponents(min(uint(N), p_end - k0 - uint(2 * N)), pw_slot(s2));
#else
      if (has1 && !fp8_kv) {
        int a, b, c;
        pw_exponents(pw_slot(s1), fp8_kv, a, b, c);
        pw_convert_bf16(a, b);
      }
#endif
    }
    PROF_MARK(consumer ? MLA_VK_PROF_PV : PW_PROF_SEG_PV);
    WG_SYNC();  // B_END
    PROF_MARK(MLA_VK_PROF_BAR4);
#if BUFS == 1
    // ---- seg ST ----
    if (producer && has1) {
      if (fp8_kv) {
        int a, b, c;
        pw_exponents(pw_slot(s1), fp8_kv, a, b, c);
        pw_stage(0u, 0u, a, b);
      } else {
        pw_store_converted();
      }
    }
    PROF_MARK(MLA_VK_PROF_WAIT);
    WG_SYNC();  // B_READY
    PROF_MARK(MLA_VK_PROF_BAR1);
#endif
  }
#ifdef MLA_CM_PROFILE
  prof_flush(lane);
  WG_SYNC();  // the epilogue may reuse the slots' words
#endif

  // Row sums and O / l: the default build's epilogue, consumers only (every
  // invocation reaches the barriers).
  CM_MAIN_EPILOGUE
#ifdef MLA_CM_PROFILE
  prof_finish(lane, inv, (p_end - p_begin + uint(N) - 1u) / uint(N), uint(row_end - row0), uint(BUFS));
#endif
}
