// problem.json <-> the JSON fields of a ProblemDesc (tools/problem_json.h).
#include "problem_json.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "json.h"

namespace mla::tools {

namespace {

const char* const kKnownKeys[] = {"num_heads", "q_format", "kv_format",  "mask",      "window",
                                  "chunk",     "softmax_scale", "page_size", "num_splits", "batch_invariant"};

std::string known_keys() {
  std::string s;
  for (const char* k : kKnownKeys) s += std::string(s.empty() ? "" : ", ") + k;
  return s;
}

// Reads the members of one JSON object, with errors prefixed by the file name.
class Fields {
 public:
  Fields(const std::string& name, const JsonValue& obj) : name_(name), obj_(obj) {}

  Status fail(const std::string& what) const { return invalid_argument(name_ + ": " + what); }

  Status require(const char* key, const JsonValue** v) const {
    *v = obj_.find(key);
    if (!*v) return fail(std::string("missing key \"") + key + "\"");
    return Status::Ok();
  }

  Status get_int(const char* key, int32_t* out) const {
    const JsonValue* v;
    MLA_RETURN_IF_ERROR(require(key, &v));
    return to_int(key, *v, out);
  }

  Status to_int(const char* key, const JsonValue& v, int32_t* out) const {
    if (!v.is_integer_literal())
      return fail(std::string(key) + " = " + v.to_string() + " must be an integer (a JSON number without '.' or exponent)");
    errno = 0;
    const long long x = std::strtoll(v.text.c_str(), nullptr, 10);
    if (errno == ERANGE || x < INT32_MIN || x > INT32_MAX)
      return fail(std::string(key) + " = " + v.text + " does not fit in int32 [" + std::to_string(INT32_MIN) + ", " +
                  std::to_string(INT32_MAX) + "]");
    *out = int32_t(x);
    return Status::Ok();
  }

  Status get_string(const char* key, std::string* out) const {
    const JsonValue* v;
    MLA_RETURN_IF_ERROR(require(key, &v));
    if (v->type != JsonValue::Type::string) return fail(std::string(key) + " = " + v->to_string() + " must be a string");
    *out = v->text;
    return Status::Ok();
  }

 private:
  const std::string& name_;
  const JsonValue& obj_;
};

}  // namespace

Status desc_from_json(const std::string& name, const std::string& text, ProblemDesc* d) {
  JsonValue root;
  MLA_RETURN_IF_ERROR(parse_json(name, text, &root));
  Fields f(name, root);
  if (root.type != JsonValue::Type::object)
    return f.fail(std::string("the top-level value is ") + (root.type == JsonValue::Type::array ? "an " : "a ") +
                  to_string(root.type) + ", expected an object");
  for (const auto& m : root.members) {
    bool known = false;
    for (const char* k : kKnownKeys) known |= m.first == k;
    if (!known) return f.fail("unknown key \"" + m.first + "\" (known keys: " + known_keys() + ")");
  }

  MLA_RETURN_IF_ERROR(f.get_int("num_heads", &d->num_heads));
  std::string s;
  MLA_RETURN_IF_ERROR(f.get_string("q_format", &s));
  if (!parse_row_format(s.c_str(), &d->q_format))
    return f.fail("q_format = \"" + s + "\" is not a row format (\"bf16\", \"fp8_rope640\")");
  MLA_RETURN_IF_ERROR(f.get_string("kv_format", &s));
  if (!parse_row_format(s.c_str(), &d->kv_format))
    return f.fail("kv_format = \"" + s + "\" is not a row format (\"bf16\", \"fp8_rope640\")");
  MLA_RETURN_IF_ERROR(f.get_string("mask", &s));
  if (!parse_mask_kind(s.c_str(), &d->mask))
    return f.fail("mask = \"" + s + "\" is not a mask (\"none\", \"causal\", \"sliding_window\", \"chunked\")");

  // window / chunk belong to their mask only: present with it, absent otherwise.
  struct Param { const char* key; MaskKind mask; int32_t* field; };
  for (const Param& p : {Param{"window", MaskKind::sliding_window, &d->window}, Param{"chunk", MaskKind::chunked, &d->chunk}}) {
    *p.field = 0;
    const JsonValue* v = root.find(p.key);
    if (d->mask == p.mask) {
      if (!v) return f.fail(std::string("missing key \"") + p.key + "\" (required by mask \"" + to_string(p.mask) + "\")");
      MLA_RETURN_IF_ERROR(f.to_int(p.key, *v, p.field));
    } else if (v) {
      return f.fail(std::string(p.key) + " = " + v->to_string() + " is given but mask = \"" + to_string(d->mask) +
                    "\" (" + p.key + " belongs to mask \"" + to_string(p.mask) + "\" only)");
    }
  }

  const JsonValue* sc;
  MLA_RETURN_IF_ERROR(f.require("softmax_scale", &sc));
  if (sc->type != JsonValue::Type::number) return f.fail("softmax_scale = " + sc->to_string() + " must be a number");
  // Finite once rounded to float32: below the midpoint between FLT_MAX and
  // 2^128 (desc_to_json writes FLT_MAX as 3.40282347e+38, a little above it).
  const double float_limit = std::ldexp(2.0 - std::ldexp(1.0, -24), 127);
  if (!(std::fabs(sc->number) < float_limit))
    return f.fail("softmax_scale = " + sc->text +
                  " is not a finite float32 (it must round to at most FLT_MAX = 3.40282347e+38)");
  d->softmax_scale = float(sc->number);

  MLA_RETURN_IF_ERROR(f.get_int("page_size", &d->page_size));

  d->num_splits = 0;
  if (const JsonValue* v = root.find("num_splits")) MLA_RETURN_IF_ERROR(f.to_int("num_splits", *v, &d->num_splits));
  d->batch_invariant = false;
  if (const JsonValue* v = root.find("batch_invariant")) {
    if (v->type != JsonValue::Type::boolean)
      return f.fail("batch_invariant = " + v->to_string() + " must be true or false");
    d->batch_invariant = v->boolean;
  }
  return Status::Ok();
}

std::string desc_to_json(const ProblemDesc& d) {
  std::ostringstream o;
  o.precision(9);  // 9 significant digits read back to the same float
  o << "{\"num_heads\": " << d.num_heads << ", \"q_format\": \"" << to_string(d.q_format) << "\", \"kv_format\": \""
    << to_string(d.kv_format) << "\", \"mask\": \"" << to_string(d.mask) << "\"";
  if (d.mask == MaskKind::sliding_window) o << ", \"window\": " << d.window;
  if (d.mask == MaskKind::chunked) o << ", \"chunk\": " << d.chunk;
  o << ", \"softmax_scale\": " << d.softmax_scale << ", \"page_size\": " << d.page_size
    << ", \"num_splits\": " << d.num_splits << ", \"batch_invariant\": " << (d.batch_invariant ? "true" : "false")
    << "}\n";
  return o.str();
}

}  // namespace mla::tools
