// The shared-memory tile layouts of the sm_90a kernels (cuda/src/sm90/
// sm90_config.cuh, sm90_fp8_config.cuh), checked on the host (no GPU):
// every (row, 16-byte chunk) of a tile has its own place inside the tile;
// the 128-byte swizzle rule holds (a row on line row % 8 of its 1024-byte
// atom, chunk c at c ^ (row % 8)); an 8-row group of a KV tile is one
// contiguous span, where one TMA box of whole groups lands it (the box
// model: {16-byte chunks of a block, 8 rows, blocks, groups}, innermost
// first, then the swizzle); and the places are those the wgmma descriptors
// of the kernels assume (8-row groups kKvGroupStride apart, column blocks
// kKvBlockStride apart, a 32-byte k-step inside a block). A .cu file: the
// fp8 config header holds device code too.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "sm90/sm90_config.cuh"
#include "sm90/sm90_fp8_config.cuh"

namespace {

using namespace mla::cuda_impl::sm90;

// Offsets of one tile layout: rows x chunks, blocks of 8 chunks.
struct Layout {
  const char* name;
  uint32_t rows, chunks, tile_bytes, group_stride, block_stride;
  uint32_t (*offset)(uint32_t, uint32_t);
};

uint32_t kv(uint32_t r, uint32_t c) { return kv_chunk_offset(r, c); }
uint32_t fp8_kv(uint32_t r, uint32_t c) { return fp8_kv_chunk_offset(r, c); }
uint32_t q(uint32_t r, uint32_t c) { return swizzled_chunk_offset(r, c); }

const Layout kLayouts[] = {
    {"bf16 KV", 64, kChunksPerRow, kTileBytes, kKvGroupStride, kKvBlockStride, kv},
    {"fp8 KV", 64, kFp8ChunksPerRow, kFp8TileBytes, kFp8KvGroupStride, kFp8KvBlockStride, fp8_kv},
    {"Q (column blocks)", 64, kChunksPerRow, kTileBytes, 1024u, kColBlockBytes, q},
};

}  // namespace

TEST_CASE("sm90 layouts: one place a chunk, the 128-byte swizzle, the wgmma strides") {
  for (const Layout& l : kLayouts) {
    INFO(l.name);
    std::vector<int> used(l.tile_bytes / 16, 0);
    for (uint32_t r = 0; r < l.rows; ++r)
      for (uint32_t c = 0; c < l.chunks; ++c) {
        const uint32_t o = l.offset(r, c);
        REQUIRE(o % 16 == 0);
        REQUIRE(o < l.tile_bytes);
        ++used[o / 16];
        // The swizzle: line r % 8 of a 1024-byte atom, chunk c ^ (r % 8).
        CHECK((o % 1024) / 128 == r % 8);
        CHECK((o % 128) / 16 == ((c % 8) ^ (r % 8)));
        // What the descriptors assume: atom (group r / 8, block c / 8).
        CHECK(o - o % 1024 == (r / 8) * l.group_stride + (c / 8) * l.block_stride);
      }
    for (size_t i = 0; i < used.size(); ++i) REQUIRE_MESSAGE(used[i] == 1, "chunk slot " << i);
  }
  // The column-block formula the Q tiles (and the A/B builds) use.
  for (uint32_t r = 0; r < 64; ++r)
    for (uint32_t c = 0; c < kChunksPerRow; ++c)
      CHECK(swizzled_chunk_offset(r, c) == (c >> 3) * kColBlockBytes + r * 128u + (((c & 7u) ^ (r & 7u)) << 4));
}

TEST_CASE("sm90 layouts: a TMA box of whole 8-row groups lands the KV tile's layout") {
  // The row-group tensor maps (sm90_tma_map.cu, row_groups): a box of
  // {one 128-byte block, 8 rows, all blocks, n groups}, innermost first,
  // written densely in that order from the run's first byte, each 128-byte
  // line's chunks swizzled by its line index % 8.
  struct Kv {
    const Layout& l;
    bool row_groups;
  };
  const Kv kvs[] = {{kLayouts[0], kKvRowGroups}, {kLayouts[1], kFp8KvRowGroups}};
  for (const Kv& k : kvs) {
    INFO(k.l.name);
    if (!k.row_groups) {
      MESSAGE("built with the column-block layout: nothing to check");
      continue;
    }
    const uint32_t blocks = k.l.chunks / 8;
    CHECK(k.l.group_stride == blocks * 1024);
    CHECK(k.l.block_stride == 1024);
    for (uint32_t g = 0; g < 8; ++g)
      for (uint32_t b = 0; b < blocks; ++b)
        for (uint32_t i = 0; i < 8; ++i)
          for (uint32_t c = 0; c < 8; ++c) {
            const uint32_t line = (g * blocks + b) * 8 + i;  // dense box order
            const uint32_t landed = line * 128 + ((c ^ (line % 8)) * 16);
            CHECK(landed == k.l.offset(8 * g + i, 8 * b + c));
          }
  }
}
