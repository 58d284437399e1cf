// tools/json.h - a small strict JSON parser (RFC 8259) for problem.json.
//
// Strict: no comments, no trailing commas, no NaN/Infinity, no duplicate
// object keys, nothing after the top-level value, nesting at most 32 deep.
// Numbers keep their literal text so that callers can insist on integers.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mla/status.h"

namespace mla::tools {

struct JsonValue {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string text;  // a string's value, or a number's literal ("16", "0.125", "1e-3")
  std::vector<JsonValue> items;                              // array
  std::vector<std::pair<std::string, JsonValue>> members;    // object, in file order

  const JsonValue* find(const std::string& key) const;  // object member or nullptr
  bool is_integer_literal() const;  // a number written without fraction or exponent
  std::string to_string() const;    // compact JSON text, for messages
};

const char* to_string(JsonValue::Type t);  // "null", "boolean", "number", ...

// Parses `text`; errors start with "<name>:<line>:<column>: ".
Status parse_json(const std::string& name, const std::string& text, JsonValue* out);

}  // namespace mla::tools
