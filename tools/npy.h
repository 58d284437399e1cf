// tools/npy.h - reading and writing standard NumPy .npy files.
//
// Accepted: format versions 1.0, 2.0 and 3.0, C order, little-endian, and the
// four dtypes the `mla` file contract uses: uint8 ('|u1'), uint16 ('<u2'),
// int32 ('<i4'), float32 ('<f4'). Anything else (another dtype, big-endian,
// Fortran order, a malformed header, a data size that does not match the
// shape) is an error whose message names the file, the field and the value.
// Written files are version 1.0 (2.0 only if the header would not fit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mla/status.h"

namespace mla::tools {

enum class DType { u1, u2, i4, f4 };
const char* dtype_descr(DType t);  // "|u1", "<u2", "<i4", "<f4"
const char* dtype_name(DType t);   // "uint8", "uint16", "int32", "float32"
int dtype_size(DType t);

struct NpyArray {
  DType dtype = DType::u1;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // little-endian elements in C order
  int64_t count() const;       // product of shape (1 for a 0-d array)
  std::string shape_string() const;  // "(3, 4)", "(5,)", "()"
};

// Parses the bytes of a .npy file; `name` (the file name) starts every error.
Status parse_npy(const std::string& name, const uint8_t* data, size_t size, NpyArray* out);

// Reads a file (io_error when it cannot be read; invalid_argument when its
// content is not an accepted .npy).
Status read_npy(const std::string& path, NpyArray* out);

// Writes `data` (count(shape) elements of dtype, host order = little-endian).
Status write_npy(const std::string& path, DType dtype, const std::vector<int64_t>& shape, const void* data);

}  // namespace mla::tools
