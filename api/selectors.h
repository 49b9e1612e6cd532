// Label and field selectors, as the API server parses and applies them.
//
// Label selectors come as query text (`app=web,tier in (a,b),!legacy`; the
// REST layer URL-decodes the query first, so '+' is already a space) or as a
// metav1.LabelSelector object ({matchLabels, matchExpressions}) inside specs.
// Both give a LabelSelector whose String() is the canonical form Kubernetes
// prints (requirements sorted by key, `key in (a,b)` with sorted values).
// Field selectors (`metadata.name=x,status.phase!=Failed`) are checked against
// the fields a kind supports (Kind::selectable_fields plus metadata.name and
// metadata.namespace) and matched against an object.
//
// Selector text must be UTF-8 (other bytes are InvalidArgument before any
// parsing). Field selector terms are kept sorted by their canonical text, so
// String() of a parsed selector parses back to the same String().
//
// Errors use Kubernetes' wording ("unable to parse requirement: ...",
// "field label not supported: X").
//
// Thread safety: immutable values after construction.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::api {

struct Kind;

enum class SelectorOp {
  kEquals,        // =
  kDoubleEquals,  // ==
  kNotEquals,     // !=
  kIn,            // in
  kNotIn,         // notin
  kExists,        // key
  kDoesNotExist,  // !key
  kGreaterThan,   // >
  kLessThan,      // <
};

struct LabelRequirement {
  std::string key;
  SelectorOp op = SelectorOp::kEquals;
  std::vector<std::string> values;  // sorted, unique

  bool Matches(const std::map<std::string, std::string>& labels) const;
  std::string String() const;
};

class LabelSelector {
 public:
  // Matches everything (the empty selector).
  LabelSelector() = default;
  static LabelSelector Everything() { return LabelSelector(); }
  // Matches nothing (what a null metav1.LabelSelector means).
  static LabelSelector Nothing();

  // Parses the query-string grammar. Empty text gives Everything().
  static StatusOr<LabelSelector> Parse(std::string_view text);
  // From a metav1.LabelSelector JSON object. null gives Nothing(); {} gives
  // Everything(). Invalid keys, values or operators are errors.
  static StatusOr<LabelSelector> FromJson(const nlohmann::json& selector);

  bool Matches(const std::map<std::string, std::string>& labels) const;
  // `labels` is a JSON object of strings (metadata.labels) or null.
  bool MatchesJson(const nlohmann::json* labels) const;
  // Convenience: matches metadata.labels of `obj`.
  bool MatchesObject(const nlohmann::json& obj) const;

  bool Empty() const { return !nothing_ && requirements_.empty(); }
  bool IsNothing() const { return nothing_; }
  // Canonical text; "" for Everything() and Nothing().
  std::string String() const;
  const std::vector<LabelRequirement>& requirements() const {
    return requirements_;
  }

 private:
  std::vector<LabelRequirement> requirements_;  // sorted by key
  bool nothing_ = false;
};

// metav1.FormatLabelSelector: the selector's String(), "<none>" when empty,
// "<error>" when it does not convert.
std::string FormatLabelSelector(const nlohmann::json* selector);
// labels.FormatLabels: "a=b,c=d" sorted, "<none>" when empty.
std::string FormatLabels(const nlohmann::json* labels);

struct FieldRequirement {
  std::string field;
  bool equals = true;  // false for !=
  std::string value;
};

class FieldSelector {
 public:
  FieldSelector() = default;  // matches everything
  // Parses `a=b,c==d,e!=f` (values may escape ',' '=' '\' with '\').
  static StatusOr<FieldSelector> Parse(std::string_view text);

  // InvalidArgument "field label not supported: X" for a field `kind` does
  // not support.
  Status Validate(const Kind& kind) const;
  // True when every requirement holds for `obj` (missing fields read as "").
  bool Matches(const Kind& kind, const nlohmann::json& obj) const;

  // The value required by a `field=value` term, if any (lets REST narrow a
  // list to one name or namespace).
  std::optional<std::string> RequiresExactMatch(std::string_view field) const;
  bool Empty() const { return requirements_.empty(); }
  std::string String() const;
  const std::vector<FieldRequirement>& requirements() const {
    return requirements_;
  }

 private:
  std::vector<FieldRequirement> requirements_;  // sorted by term text
};

// The value of a field-selector field of `obj` for `kind`, as the API server
// derives it ("" when absent; booleans "true"/"false"; numbers in decimal).
// nullopt when `kind` does not support the field.
std::optional<std::string> SelectableFieldValue(const Kind& kind,
                                                const nlohmann::json& obj,
                                                std::string_view field);

}  // namespace kite::api
