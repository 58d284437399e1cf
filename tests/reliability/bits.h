// tests/reliability/bits.h - bitwise equality of float arrays (NaN payloads
// and signed zeros included). memcmp takes no null pointer, even for zero
// bytes, and an empty vector's data() may be null.
#pragma once

#include <cstddef>
#include <cstring>
#include <vector>

namespace rel {

inline bool same_bits(const float* a, const float* b, size_t n) { return n == 0 || std::memcmp(a, b, n * 4) == 0; }

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && same_bits(a.data(), b.data(), a.size());
}

}  // namespace rel
