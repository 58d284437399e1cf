// The .npy reader and writer of tools/npy.h.
//
// Layout of a .npy file: the magic "\x93NUMPY", one byte major and one byte
// minor version, the header length (2 bytes little-endian in version 1, 4
// bytes in versions 2 and 3), then the header: a Python dict literal with the
// keys 'descr', 'fortran_order' and 'shape', padded with spaces and ended by
// '\n'; the data follows. Version 3 only allows UTF-8 in the header, which
// changes nothing for the keys and values accepted here.
#include "npy.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace mla::tools {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr int kMaxDims = 16;

Status bad(const std::string& name, const std::string& what) {
  return invalid_argument(name + ": " + what);
}

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

// A cursor over the header text, parsing the few Python literals .npy uses.
class HeaderParser {
 public:
  HeaderParser(const std::string& name, const std::string& text) : name_(name), s_(text) {}

  Status parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_ws();
    if (!eat('{')) return error("expected '{'");
    for (;;) {
      skip_ws();
      if (eat('}')) break;
      std::string key;
      MLA_RETURN_IF_ERROR(parse_string(&key));
      skip_ws();
      if (!eat(':')) return error("expected ':' after key '" + key + "'");
      skip_ws();
      if (key == "descr") {
        if (have_descr) return error("key 'descr' appears twice");
        MLA_RETURN_IF_ERROR(parse_string(descr));
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) return error("key 'fortran_order' appears twice");
        MLA_RETURN_IF_ERROR(parse_bool(fortran));
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) return error("key 'shape' appears twice");
        MLA_RETURN_IF_ERROR(parse_shape(shape));
        have_shape = true;
      } else {
        return error("unknown key '" + key + "' (a .npy header has 'descr', 'fortran_order', 'shape')");
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return error("expected ',' or '}'");
    }
    skip_ws();
    if (pos_ != s_.size()) return error("unexpected text after the header dict");
    if (!have_descr) return error("key 'descr' is missing");
    if (!have_fortran) return error("key 'fortran_order' is missing");
    if (!have_shape) return error("key 'shape' is missing");
    return Status::Ok();
  }

 private:
  Status error(const std::string& what) const {
    return bad(name_, "malformed header at byte " + std::to_string(pos_) + " of the header: " + what);
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) return ++pos_, true;
    return false;
  }
  Status parse_string(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return error("expected a quoted string");
    const char q = s_[pos_++];
    const size_t end = s_.find(q, pos_);
    if (end == std::string::npos) return error("unterminated string");
    *out = s_.substr(pos_, end - pos_);
    if (out->find('\\') != std::string::npos) return error("escapes in strings are not supported");
    pos_ = end + 1;
    return Status::Ok();
  }
  Status parse_bool(bool* out) {
    if (s_.compare(pos_, 4, "True") == 0) return pos_ += 4, *out = true, Status::Ok();
    if (s_.compare(pos_, 5, "False") == 0) return pos_ += 5, *out = false, Status::Ok();
    return error("fortran_order must be True or False");
  }
  // "(3, 4)", "(5,)", "()": non-negative integers, a trailing comma allowed.
  Status parse_shape(std::vector<int64_t>* shape) {
    shape->clear();
    if (!eat('(')) return error("shape must be a tuple like (3, 4)");
    for (;;) {
      skip_ws();
      if (eat(')')) return Status::Ok();
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9')
        return error("shape entries must be non-negative integers");
      int64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        if (v > (INT64_MAX - 9) / 10) return error("a shape entry does not fit in 64 bits");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (int(shape->size()) == kMaxDims) return error("more than 16 dimensions");
      shape->push_back(v);
      skip_ws();
      if (eat(')')) return Status::Ok();
      if (!eat(',')) return error("expected ',' or ')' in shape");
    }
  }

  const std::string& name_;
  const std::string& s_;
  size_t pos_ = 0;
};

Status dtype_from_descr(const std::string& name, const std::string& descr, DType* out) {
  if (descr == "|u1" || descr == "<u1") return *out = DType::u1, Status::Ok();
  if (descr == "<u2") return *out = DType::u2, Status::Ok();
  if (descr == "<i4") return *out = DType::i4, Status::Ok();
  if (descr == "<f4") return *out = DType::f4, Status::Ok();
  std::string why = "is not supported";
  if (!descr.empty() && descr[0] == '>') why = "is big-endian; only little-endian data is supported";
  return bad(name, "descr = '" + descr + "' " + why + " (accepted: '|u1' uint8, '<u2' uint16, '<i4' int32, '<f4' float32)");
}

}  // namespace

const char* dtype_descr(DType t) {
  switch (t) {
    case DType::u1: return "|u1";
    case DType::u2: return "<u2";
    case DType::i4: return "<i4";
    case DType::f4: return "<f4";
  }
  return "?";
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::u1: return "uint8";
    case DType::u2: return "uint16";
    case DType::i4: return "int32";
    case DType::f4: return "float32";
  }
  return "?";
}

int dtype_size(DType t) { return t == DType::u1 ? 1 : t == DType::u2 ? 2 : 4; }

int64_t NpyArray::count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string NpyArray::shape_string() const {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

Status parse_npy(const std::string& name, const uint8_t* data, size_t size, NpyArray* out) {
  if (!host_is_little_endian()) return Status(StatusCode::unsupported, name + ": this host is big-endian");
  if (size < kMagicLen + 4 || std::memcmp(data, kMagic, kMagicLen) != 0)
    return bad(name, "not a .npy file (it does not start with the magic string \\x93NUMPY)");
  const int major = data[6], minor = data[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return bad(name, "format version = " + std::to_string(major) + "." + std::to_string(minor) +
                         " is not supported (1.0, 2.0, 3.0)");
  size_t header_len, header_at;
  if (major == 1) {
    header_len = size_t(data[8]) | size_t(data[9]) << 8;
    header_at = 10;
  } else {
    if (size < 12) return bad(name, "file is truncated inside the header length");
    header_len = size_t(data[8]) | size_t(data[9]) << 8 | size_t(data[10]) << 16 | size_t(data[11]) << 24;
    header_at = 12;
  }
  if (header_len > size - header_at)
    return bad(name, "header length = " + std::to_string(header_len) + " bytes runs past the end of the file (" +
                         std::to_string(size) + " bytes)");
  const std::string header(reinterpret_cast<const char*>(data + header_at), header_len);
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  MLA_RETURN_IF_ERROR(HeaderParser(name, header).parse(&descr, &fortran, &shape));
  DType dt = DType::u1;
  MLA_RETURN_IF_ERROR(dtype_from_descr(name, descr, &dt));
  if (fortran) return bad(name, "fortran_order = True is not supported (write C-order arrays)");

  // The data must be exactly count * itemsize bytes (no overflow on the way).
  const size_t have = size - header_at - header_len;
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d != 0 && count > INT64_MAX / d / dtype_size(dt)) {
      count = -1;
      break;
    }
    count *= d;
  }
  NpyArray a;
  a.dtype = dt;
  a.shape = shape;
  if (count < 0 || uint64_t(count) * uint64_t(dtype_size(dt)) != have)
    return bad(name, "data is " + std::to_string(have) + " bytes but shape = " + a.shape_string() + " of " +
                         dtype_name(dt) + " needs " +
                         (count < 0 ? std::string("more than 2^63") : std::to_string(count * dtype_size(dt))) +
                         " (truncated or trailing bytes)");
  a.bytes.assign(data + header_at + header_len, data + size);
  *out = std::move(a);
  return Status::Ok();
}

Status read_npy(const std::string& path, NpyArray* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(StatusCode::io_error, "cannot read " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Status(StatusCode::io_error, "error while reading " + path);
  return parse_npy(path, bytes.data(), bytes.size(), out);
}

Status write_npy(const std::string& path, DType dtype, const std::vector<int64_t>& shape, const void* data) {
  if (!host_is_little_endian()) return Status(StatusCode::unsupported, path + ": this host is big-endian");
  NpyArray meta;
  meta.shape = shape;
  std::string header = std::string("{'descr': '") + dtype_descr(dtype) + "', 'fortran_order': False, 'shape': " +
                       meta.shape_string() + ", }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes, then '\n'.
  const bool v2 = header.size() + 1 + 10 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string head(kMagic, kMagicLen);
  head.push_back(char(v2 ? 2 : 1));
  head.push_back(0);
  const size_t n = header.size();
  for (int i = 0; i < (v2 ? 4 : 2); ++i) head.push_back(char((n >> (8 * i)) & 0xFF));
  head += header;

  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status(StatusCode::io_error, "cannot write " + path + ": " + std::strerror(errno));
  f.write(head.data(), std::streamsize(head.size()));
  f.write(static_cast<const char*>(data), std::streamsize(meta.count() * dtype_size(dtype)));
  f.close();
  if (!f) return Status(StatusCode::io_error, "error while writing " + path);
  return Status::Ok();
}

}  // namespace mla::tools
