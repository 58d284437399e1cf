// The file layer of the `mla` command: .npy reading and writing, the strict
// JSON parser, problem.json and the problem directory round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "json.h"
#include "mla_test.h"
#include "npy.h"
#include "problem_io.h"
#include "problem_json.h"

using namespace mla;
using namespace mla::tools;

int main(int argc, char** argv) { return mla::test::run_suite(argc, argv, nullptr); }

namespace {

// A .npy file built by hand: magic, version, header length, header text, data.
std::vector<uint8_t> npy_bytes(int major, const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  const size_t n = header.size();
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) b.push_back(uint8_t(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(uint8_t(i * 7));
  return b;
}

std::string parse_error(const std::vector<uint8_t>& b) {
  NpyArray a;
  const Status st = parse_npy("t.npy", b.data(), b.size(), &a);
  return st.ok() ? "" : st.message();
}

bool same_desc(const ProblemDesc& a, const ProblemDesc& b) {
  return a.batch == b.batch && a.num_heads == b.num_heads && a.total_q == b.total_q && a.q_format == b.q_format &&
         a.kv_format == b.kv_format && a.mask == b.mask && a.window == b.window && a.chunk == b.chunk &&
         a.softmax_scale == b.softmax_scale && a.page_size == b.page_size && a.num_pages == b.num_pages &&
         a.max_pages == b.max_pages && a.num_splits == b.num_splits && a.batch_invariant == b.batch_invariant;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), 4 * a.size()) == 0);
}

std::string temp_dir(const char* leaf) {
  const auto d = std::filesystem::temp_directory_path() / ("mla_test_tools_" + std::to_string(::getpid()) + leaf);
  std::filesystem::remove_all(d);
  return d.string();
}

}  // namespace

TEST_CASE("npy: write then read every dtype and shape, data at a 64-byte boundary") {
  const std::string dir = temp_dir("npy");
  std::filesystem::create_directories(dir);
  std::mt19937 rng(1);
  for (DType t : {DType::u1, DType::u2, DType::i4, DType::f4})
    for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{}, {5}, {0}, {3, 4}, {2, 0, 3}, {2, 3, 5}}) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<uint8_t> data(size_t(n * dtype_size(t)));
      for (auto& v : data) v = uint8_t(rng());
      const std::string path = dir + "/a.npy";
      REQUIRE(write_npy(path, t, shape, data.data()).ok());
      NpyArray a;
      const Status st = read_npy(path, &a);
      REQUIRE_MESSAGE(st.ok(), st.to_string());
      CHECK(a.dtype == t);
      CHECK(a.shape == shape);
      CHECK(a.bytes == data);
      CHECK((std::filesystem::file_size(path) - data.size()) % 64 == 0);
    }
  std::filesystem::remove_all(dir);
}

TEST_CASE("npy: versions 2.0 and 3.0, key order and spacing as numpy may write them") {
  for (int v : {1, 2, 3}) {
    const auto b = npy_bytes(v, "{\"shape\": (2,3) , 'fortran_order':False,'descr':'<f4'}    \n", 24);
    NpyArray a;
    const Status st = parse_npy("t.npy", b.data(), b.size(), &a);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    CHECK(a.shape == std::vector<int64_t>{2, 3});
    CHECK(a.dtype == DType::f4);
  }
}

TEST_CASE("npy: malformed files are errors naming the file, the field and the value") {
  const std::string ok = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n";
  CHECK(parse_error(npy_bytes(1, ok, 8)).empty());
  struct Bad {
    std::vector<uint8_t> bytes;
    std::vector<std::string> needles;
  };
  std::vector<uint8_t> short_file = {0x93, 'N', 'U'};
  std::vector<uint8_t> long_header = npy_bytes(1, ok, 8);
  long_header[8] = 0xFF;  // header length past the end
  const std::vector<Bad> bad = {
      {short_file, {"t.npy", "not a .npy file"}},
      {npy_bytes(4, ok, 8), {"t.npy", "format version = 4.0"}},
      {long_header, {"t.npy", "header length = ", "past the end"}},
      {npy_bytes(1, ok, 7), {"t.npy", "data is 7 bytes", "needs 8"}},
      {npy_bytes(1, ok, 9), {"t.npy", "data is 9 bytes", "needs 8"}},
      {npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n", 8), {"t.npy", "descr = '<f8'"}},
      {npy_bytes(1, "{'descr': '>u2', 'fortran_order': False, 'shape': (1,), }\n", 2), {"descr = '>u2'", "big-endian"}},
      {npy_bytes(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2,), }\n", 8), {"fortran_order = True"}},
      {npy_bytes(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (-2,), }\n", 8), {"non-negative"}},
      {npy_bytes(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", 8), {"unknown key 'x'"}},
      {npy_bytes(1, "{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (2,)}\n", 8), {"'descr' appears twice"}},
      {npy_bytes(1, "{'descr': '<i4', 'shape': (2,)}\n", 8), {"'fortran_order' is missing"}},
      {npy_bytes(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)} x\n", 8), {"unexpected text"}},
      {npy_bytes(1, "{'descr': '<i4', 'fortran_order': Maybe, 'shape': (2,)}\n", 8), {"True or False"}},
      // Huge shapes are refused from the header, before any allocation.
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", 8),
       {"needs more than 2^63"}},
      {npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 8),
       {"does not fit in 64 bits"}},
  };
  for (const Bad& b : bad) {
    const std::string msg = parse_error(b.bytes);
    INFO("message: " << msg);
    CHECK_FALSE(msg.empty());
    for (const std::string& n : b.needles) CHECK_MESSAGE(msg.find(n) != std::string::npos, "missing '" << n << "'");
  }
  NpyArray a;
  const Status missing = read_npy("/nonexistent/dir/x.npy", &a);
  CHECK(missing.code() == StatusCode::io_error);
  CHECK(missing.message().find("/nonexistent/dir/x.npy") != std::string::npos);
}

TEST_CASE("json: the grammar, strictly") {
  JsonValue v;
  REQUIRE(parse_json("j", " {\"a\": [1, -2.5e3, true, false, null, \"x\\n\\u00e9\\ud83d\\ude00\"], \"b\": {}} ", &v).ok());
  REQUIRE(v.type == JsonValue::Type::object);
  const JsonValue* a = v.find("a");
  REQUIRE(a);
  REQUIRE(a->items.size() == 6);
  CHECK(a->items[0].is_integer_literal());
  CHECK_FALSE(a->items[1].is_integer_literal());
  CHECK(a->items[1].number == -2500.0);
  CHECK(a->items[5].text == "x\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(v.to_string() == "{\"a\":[1,-2.5e3,true,false,null,\"x\\u000a\xc3\xa9\xf0\x9f\x98\x80\"],\"b\":{}}");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{\"a\": 1,}", "j:1:9: expected a quoted key"},
      {"[1, 2,]", "expected a value"},
      {"{\"a\": 01}", "leading zeros"},
      {"{\"a\": 1.}", "digits after '.'"},
      {"{\"a\": NaN}", "unexpected character 'N'"},
      {"{\"a\": 1, \"a\": 2}", "duplicate key \"a\""},
      {"{\"a\": 1} x", "unexpected text after"},
      {"{\"a\": \"\x01\"}", "control character"},
      {"{\"a\": \"\\x\"}", "invalid escape"},
      {"{\"a\": \"\\ud800\"}", "unpaired surrogate"},
      {"{\"a\": \"abc", "unterminated string"},
      {"{\n\"a\" 1}", "j:2:5: expected ':'"},
      {"", "unexpected end of input"},
      {"// c\n{}", "unexpected character '/'"},
      {std::string(40, '[') + std::string(40, ']'), "nesting deeper than 32"},
  };
  for (const auto& b : bad) {
    const Status st = parse_json("j", b.first, &v);
    INFO("input: " << b.first << " message: " << st.message());
    CHECK_FALSE(st.ok());
    CHECK(st.message().find(b.second) != std::string::npos);
  }
}

TEST_CASE("problem.json: desc_to_json reads back exactly") {
  std::mt19937_64 rng(3);
  for (const mla::test::ProblemSpec& s : mla::test::config_matrix(5, 24, 100)) {
    ProblemDesc d = mla::test::make_problem(s).desc;
    d.softmax_scale = std::ldexp(std::uniform_real_distribution<float>(1, 2)(rng), int(rng() % 60) - 30);
    ProblemDesc back = d;
    back.num_heads = back.page_size = back.window = back.chunk = back.num_splits = -9;
    const Status st = desc_from_json("p", desc_to_json(d), &back);
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    CHECK(back.num_heads == d.num_heads);
    CHECK(back.q_format == d.q_format);
    CHECK(back.kv_format == d.kv_format);
    CHECK(back.mask == d.mask);
    CHECK(back.window == d.window);
    CHECK(back.chunk == d.chunk);
    CHECK(back.softmax_scale == d.softmax_scale);
    CHECK(back.page_size == d.page_size);
    CHECK(back.num_splits == d.num_splits);
    CHECK(back.batch_invariant == d.batch_invariant);
  }
}

TEST_CASE("problem directory: save_problem then load_problem gives the same problem") {
  const std::string dir = temp_dir("dir");
  for (const mla::test::ProblemSpec& s : mla::test::config_matrix(9, 12, 200)) {
    const mla::test::HostProblem hp = mla::test::make_problem(s);
    OwnedProblem p;
    p.desc = hp.desc;
    p.q = hp.q;
    p.kv_pool = hp.kv_pool;
    p.q_scales = hp.q_scales;
    p.kv_scales = hp.kv_scales;
    p.page_table = hp.page_table;
    p.q_offsets = hp.q_offsets;
    p.kv_lens = hp.kv_lens;
    std::filesystem::remove_all(dir);
    REQUIRE(save_problem(dir, p).ok());
    OwnedProblem back;
    const Status st = load_problem(dir, &back);
    INFO(hp.describe());
    REQUIRE_MESSAGE(st.ok(), st.to_string());
    CHECK(same_desc(back.desc, p.desc));
    CHECK(back.q == p.q);
    CHECK(back.kv_pool == p.kv_pool);
    CHECK(back.page_table == p.page_table);
    CHECK(back.q_offsets == p.q_offsets);
    CHECK(back.kv_lens == p.kv_lens);
    // Scales compared bitwise (free slots hold NaN).
    CHECK(same_bits(back.q_scales, p.q_scales));
    CHECK(same_bits(back.kv_scales, p.kv_scales));
  }
  std::filesystem::remove_all(dir);
}
