// The problem directory of the `mla` file contract (tools/problem_io.h).
#include "problem_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "npy.h"
#include "problem_json.h"

namespace mla::tools {

namespace fs = std::filesystem;

namespace {

std::string in_dir(const std::string& dir, const char* file) { return (fs::path(dir) / file).string(); }

// One expected dimension: a fixed value (from problem.json or the contract),
// or value < 0 for a dimension that this file defines (its label names it).
struct Dim {
  std::string label;
  int64_t value;
};

std::string describe(const std::vector<Dim>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    if (dims[i].value < 0) s += dims[i].label;
    else if (dims[i].label.empty()) s += std::to_string(dims[i].value);
    else s += dims[i].label + " = " + std::to_string(dims[i].value);
  }
  return s + "]";
}

// Reads one file and checks its dtype and shape.
Status load(const std::string& dir, const char* file, DType dtype, const std::string& dtype_why,
            const std::vector<Dim>& dims, NpyArray* a) {
  const std::string path = in_dir(dir, file);
  MLA_RETURN_IF_ERROR(read_npy(path, a));
  if (a->dtype != dtype)
    return invalid_argument(path + ": dtype = " + dtype_name(a->dtype) + " ('" + dtype_descr(a->dtype) +
                            "') but expected " + dtype_name(dtype) + " ('" + dtype_descr(dtype) + "')" + dtype_why);
  bool ok = a->shape.size() == dims.size();
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = dims[i].value < 0 || a->shape[i] == dims[i].value;
  if (!ok) return invalid_argument(path + ": shape = " + a->shape_string() + " but expected " + describe(dims));
  for (size_t i = 0; i < dims.size(); ++i)
    if (a->shape[i] > INT32_MAX)
      return invalid_argument(path + ": shape[" + std::to_string(i) + "] = " + std::to_string(a->shape[i]) + " (" +
                              dims[i].label + ") exceeds " + std::to_string(INT32_MAX));
  return Status::Ok();
}

// The elements of a loaded array (none for one that was not loaded).
template <class T>
std::vector<T> typed(const NpyArray& a) {
  std::vector<T> v(a.bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

// A file that belongs to the fp8 format only must not be there for bf16: a
// stale file more likely means a mistake than something to ignore.
Status absent(const std::string& dir, const char* file, const char* field, RowFormat f) {
  if (fs::exists(in_dir(dir, file)))
    return invalid_argument(in_dir(dir, file) + " is present but " + field + " = \"" + to_string(f) + "\" (" + file +
                            " belongs to fp8_rope640 only; remove it)");
  return Status::Ok();
}

DType row_dtype(RowFormat f) { return f == RowFormat::bf16 ? DType::u2 : DType::u1; }
int64_t row_elems(RowFormat f) { return f == RowFormat::bf16 ? MLA_DIM_QK : MLA_ROW_BYTES_FP8; }
std::string row_why(const char* field, RowFormat f) {
  return f == RowFormat::bf16 ? std::string(" for ") + field + " = \"bf16\" (BF16 bit patterns)"
                              : std::string(" for ") + field + " = \"fp8_rope640\" (640-byte rows)";
}

Status make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status(StatusCode::io_error, "cannot create directory " + dir + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

Status load_problem(const std::string& dir, OwnedProblem* out) {
  if (!fs::is_directory(dir)) return Status(StatusCode::io_error, "inputs directory " + dir + " does not exist");
  const std::string json_path = in_dir(dir, "problem.json");
  std::ifstream jf(json_path, std::ios::binary);
  if (!jf) return Status(StatusCode::io_error, "cannot read " + json_path + ": " + std::strerror(errno));
  const std::string text((std::istreambuf_iterator<char>(jf)), std::istreambuf_iterator<char>());

  OwnedProblem p;
  ProblemDesc& d = p.desc;
  MLA_RETURN_IF_ERROR(desc_from_json(json_path, text, &d));
  const bool fp8_q = d.q_format == RowFormat::fp8_rope640, fp8_kv = d.kv_format == RowFormat::fp8_rope640;

  NpyArray kv_lens, q_offsets, page_table, q, q_scales, kv_pool, kv_scales;
  MLA_RETURN_IF_ERROR(load(dir, "kv_lens.npy", DType::i4, "", {{"B", -1}}, &kv_lens));
  const int64_t B = kv_lens.shape[0];
  MLA_RETURN_IF_ERROR(load(dir, "q_offsets.npy", DType::i4, "", {{"B + 1", B + 1}}, &q_offsets));
  MLA_RETURN_IF_ERROR(load(dir, "page_table.npy", DType::i4, "", {{"B", B}, {"max_pages", -1}}, &page_table));
  MLA_RETURN_IF_ERROR(load(dir, "q.npy", row_dtype(d.q_format), row_why("q_format", d.q_format),
                           {{"total_q", -1}, {"num_heads", d.num_heads}, {"", row_elems(d.q_format)}}, &q));
  const int64_t total_q = q.shape[0];
  if (fp8_q)
    MLA_RETURN_IF_ERROR(load(dir, "q_scales.npy", DType::f4, "", {{"total_q", total_q}}, &q_scales));
  else
    MLA_RETURN_IF_ERROR(absent(dir, "q_scales.npy", "q_format", d.q_format));
  MLA_RETURN_IF_ERROR(load(dir, "kv_pool.npy", row_dtype(d.kv_format), row_why("kv_format", d.kv_format),
                           {{"num_pages", -1}, {"page_size", d.page_size}, {"", row_elems(d.kv_format)}}, &kv_pool));
  const int64_t num_pages = kv_pool.shape[0];
  if (fp8_kv)
    MLA_RETURN_IF_ERROR(
        load(dir, "kv_scales.npy", DType::f4, "", {{"num_pages", num_pages}, {"page_size", d.page_size}}, &kv_scales));
  else
    MLA_RETURN_IF_ERROR(absent(dir, "kv_scales.npy", "kv_format", d.kv_format));

  d.batch = int32_t(B);
  d.total_q = int32_t(total_q);
  d.num_pages = int32_t(num_pages);
  d.max_pages = int32_t(page_table.shape[1]);
  p.q = std::move(q.bytes);
  p.kv_pool = std::move(kv_pool.bytes);
  p.q_scales = typed<float>(q_scales);
  p.kv_scales = typed<float>(kv_scales);
  p.page_table = typed<int32_t>(page_table);
  p.q_offsets = typed<int32_t>(q_offsets);
  p.kv_lens = typed<int32_t>(kv_lens);
  *out = std::move(p);
  return Status::Ok();
}

Status save_problem(const std::string& dir, const OwnedProblem& p) {
  MLA_RETURN_IF_ERROR(make_dir(dir));
  const ProblemDesc& d = p.desc;
  {
    std::ofstream f(in_dir(dir, "problem.json"), std::ios::binary | std::ios::trunc);
    f << desc_to_json(d);
    if (!f) return Status(StatusCode::io_error, "cannot write " + in_dir(dir, "problem.json"));
  }
  const int64_t T = d.total_q, H = d.num_heads, N = d.num_pages, P = d.page_size, B = d.batch;
  MLA_RETURN_IF_ERROR(
      write_npy(in_dir(dir, "q.npy"), row_dtype(d.q_format), {T, H, row_elems(d.q_format)}, p.q.data()));
  if (d.q_format == RowFormat::fp8_rope640)
    MLA_RETURN_IF_ERROR(write_npy(in_dir(dir, "q_scales.npy"), DType::f4, {T}, p.q_scales.data()));
  MLA_RETURN_IF_ERROR(
      write_npy(in_dir(dir, "kv_pool.npy"), row_dtype(d.kv_format), {N, P, row_elems(d.kv_format)}, p.kv_pool.data()));
  if (d.kv_format == RowFormat::fp8_rope640)
    MLA_RETURN_IF_ERROR(write_npy(in_dir(dir, "kv_scales.npy"), DType::f4, {N, P}, p.kv_scales.data()));
  MLA_RETURN_IF_ERROR(write_npy(in_dir(dir, "page_table.npy"), DType::i4, {B, d.max_pages}, p.page_table.data()));
  MLA_RETURN_IF_ERROR(write_npy(in_dir(dir, "q_offsets.npy"), DType::i4, {B + 1}, p.q_offsets.data()));
  return write_npy(in_dir(dir, "kv_lens.npy"), DType::i4, {B}, p.kv_lens.data());
}

Status write_result(const std::string& dir, const ProblemDesc& d, const float* out, const float* lse) {
  MLA_RETURN_IF_ERROR(make_dir(dir));
  const int64_t T = d.total_q, H = d.num_heads;
  MLA_RETURN_IF_ERROR(write_npy(in_dir(dir, "out.npy"), DType::f4, {T, H, MLA_DIM_V}, out));
  return write_npy(in_dir(dir, "lse.npy"), DType::f4, {T, H}, lse);
}

}  // namespace mla::tools
