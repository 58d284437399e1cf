// tools/bench/bench_json.h - one JSON object on one line, built key by key
// (the bench's output format: JSON lines, one object per result).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace mla::tools::bench {

class JsonLine {
 public:
  JsonLine& str(const char* key, const std::string& v) { return raw(key, quote(v)); }
  JsonLine& num(const char* key, double v) {  // NaN / inf (no value) become null
    if (!std::isfinite(v)) return raw(key, "null");
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return raw(key, buf);
  }
  JsonLine& integer(const char* key, int64_t v) { return raw(key, std::to_string(v)); }
  JsonLine& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  JsonLine& ints(const char* key, const std::vector<int32_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return raw(key, s + "]");
  }
  JsonLine& null(const char* key) { return raw(key, "null"); }
  // A value already in JSON form.
  JsonLine& raw(const char* key, const std::string& json) {
    text_ += (text_.empty() ? "{" : ",") + quote(key) + ":" + json;
    return *this;
  }
  std::string line() const { return (text_.empty() ? "{" : text_) + "}\n"; }

  static std::string quote(const std::string& s) {
    std::string q = "\"";
    for (unsigned char ch : s) {
      if (ch == '"' || ch == '\\') {
        q += '\\';
        q += char(ch);
      } else if (ch < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", ch);
        q += buf;
      } else {
        q += char(ch);
      }
    }
    return q + "\"";
  }

 private:
  std::string text_;
};

}  // namespace mla::tools::bench
