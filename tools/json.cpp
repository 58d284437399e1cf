// The strict JSON parser of tools/json.h: recursive descent over the RFC 8259
// grammar, with positions in errors.
#include "json.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace mla::tools {

namespace {

constexpr int kMaxDepth = 32;

class Parser {
 public:
  Parser(const std::string& name, const std::string& s) : name_(name), s_(s) {}

  Status parse_document(JsonValue* out) {
    skip_ws();
    MLA_RETURN_IF_ERROR(parse_value(out, 0));
    skip_ws();
    if (pos_ != s_.size()) return error("unexpected text after the JSON value");
    return Status::Ok();
  }

 private:
  Status error(const std::string& what) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
      if (s_[i] == '\n') ++line, col = 1;
      else ++col;
    }
    return invalid_argument(name_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + what);
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }

  Status parse_value(JsonValue* v, int depth) {
    if (depth > kMaxDepth) return error("nesting deeper than 32 levels");
    *v = JsonValue();
    const char c = peek();
    if (c == '{') return parse_object(v, depth);
    if (c == '[') return parse_array(v, depth);
    if (c == '"') {
      v->type = JsonValue::Type::string;
      return parse_string(&v->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(v);
    if (literal("true")) return v->type = JsonValue::Type::boolean, v->boolean = true, Status::Ok();
    if (literal("false")) return v->type = JsonValue::Type::boolean, v->boolean = false, Status::Ok();
    if (literal("null")) return v->type = JsonValue::Type::null, Status::Ok();
    if (at_end()) return error("unexpected end of input, expected a value");
    return error(std::string("unexpected character '") + c + "', expected a value");
  }

  Status parse_object(JsonValue* v, int depth) {
    v->type = JsonValue::Type::object;
    ++pos_;  // '{'
    skip_ws();
    if (peek() == '}') return ++pos_, Status::Ok();
    std::set<std::string> keys;  // duplicate detection in O(log n): hostile files may hold many keys
    for (;;) {
      skip_ws();
      if (peek() != '"') return error("expected a quoted key");
      std::string key;
      MLA_RETURN_IF_ERROR(parse_string(&key));
      if (!keys.insert(key).second) return error("duplicate key \"" + key + "\"");
      skip_ws();
      if (peek() != ':') return error("expected ':' after key \"" + key + "\"");
      ++pos_;
      skip_ws();
      JsonValue member;
      MLA_RETURN_IF_ERROR(parse_value(&member, depth + 1));
      v->members.emplace_back(std::move(key), std::move(member));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') return ++pos_, Status::Ok();
      return error("expected ',' or '}' in object");
    }
  }

  Status parse_array(JsonValue* v, int depth) {
    v->type = JsonValue::Type::array;
    ++pos_;  // '['
    skip_ws();
    if (peek() == ']') return ++pos_, Status::Ok();
    for (;;) {
      skip_ws();
      JsonValue item;
      MLA_RETURN_IF_ERROR(parse_value(&item, depth + 1));
      v->items.push_back(std::move(item));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') return ++pos_, Status::Ok();
      return error("expected ',' or ']' in array");
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Status parse_number(JsonValue* v) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t d = pos_;
      while (peek() >= '0' && peek() <= '9') ++pos_;
      return pos_ - d;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') return error("numbers must not have leading zeros");
    } else if (digits() == 0) {
      return error("expected digits in number");
    }
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) return error("expected digits after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) return error("expected digits in exponent");
    }
    v->type = JsonValue::Type::number;
    v->text = s_.substr(start, pos_ - start);
    v->number = std::strtod(v->text.c_str(), nullptr);  // overflow gives +-inf, caught by callers
    return Status::Ok();
  }

  static void append_utf8(std::string* out, unsigned cp) {
    if (cp < 0x80) {
      out->push_back(char(cp));
    } else if (cp < 0x800) {
      out->push_back(char(0xC0 | (cp >> 6)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(char(0xE0 | (cp >> 12)));
      out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(char(0xF0 | (cp >> 18)));
      out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    }
  }

  Status hex4(unsigned* out) {
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      unsigned d;
      if (c >= '0' && c <= '9') d = unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
      else return error("expected 4 hex digits after \\u");
      *out = *out * 16 + d;
      ++pos_;
    }
    return Status::Ok();
  }

  Status parse_string(std::string* out) {
    out->clear();
    ++pos_;  // opening quote
    for (;;) {
      if (at_end()) return error("unterminated string");
      const char c = s_[pos_];
      if (c == '"') return ++pos_, Status::Ok();
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in string (escape it)");
      if (c != '\\') {
        out->push_back(c);
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          unsigned cp;
          MLA_RETURN_IF_ERROR(hex4(&cp));
          if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate needs its low half
            unsigned lo;
            if (!literal("\\u")) return error("unpaired surrogate in \\u escape");
            MLA_RETURN_IF_ERROR(hex4(&lo));
            if (lo < 0xDC00 || lo >= 0xE000) return error("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return error("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          return error("invalid escape in string");
      }
    }
  }

  const std::string& name_;
  const std::string& s_;
  size_t pos_ = 0;
};

void write_string(std::ostringstream& o, const std::string& s) {
  o << '"';
  for (char c : s) {
    if (c == '"' || c == '\\') o << '\\' << c;
    else if (static_cast<unsigned char>(c) < 0x20) o << "\\u00" << "0123456789abcdef"[(c >> 4) & 15] << "0123456789abcdef"[c & 15];
    else o << c;
  }
  o << '"';
}

void write_value(std::ostringstream& o, const JsonValue& v) {
  switch (v.type) {
    case JsonValue::Type::null: o << "null"; break;
    case JsonValue::Type::boolean: o << (v.boolean ? "true" : "false"); break;
    case JsonValue::Type::number: o << v.text; break;
    case JsonValue::Type::string: write_string(o, v.text); break;
    case JsonValue::Type::array:
      o << '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) o << ',';
        write_value(o, v.items[i]);
      }
      o << ']';
      break;
    case JsonValue::Type::object:
      o << '{';
      for (size_t i = 0; i < v.members.size(); ++i) {
        if (i) o << ',';
        write_string(o, v.members[i].first);
        o << ':';
        write_value(o, v.members[i].second);
      }
      o << '}';
      break;
  }
}

}  // namespace

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

bool JsonValue::is_integer_literal() const {
  return type == Type::number && text.find_first_of(".eE") == std::string::npos;
}

std::string JsonValue::to_string() const {
  std::ostringstream o;
  write_value(o, *this);
  return o.str();
}

const char* to_string(JsonValue::Type t) {
  switch (t) {
    case JsonValue::Type::null: return "null";
    case JsonValue::Type::boolean: return "boolean";
    case JsonValue::Type::number: return "number";
    case JsonValue::Type::string: return "string";
    case JsonValue::Type::array: return "array";
    case JsonValue::Type::object: return "object";
  }
  return "?";
}

Status parse_json(const std::string& name, const std::string& text, JsonValue* out) {
  return Parser(name, text).parse_document(out);
}

}  // namespace mla::tools
