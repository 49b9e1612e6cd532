#include "api/selectors.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "api/field_error.h"
#include "api/kinds.h"
#include "api/object.h"

namespace kite::api {
namespace {

using Json = nlohmann::json;

bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// Validates one requirement the way labels.NewRequirement does; returns the
// aggregate message ("" when valid).
std::string CheckRequirement(const LabelRequirement& r) {
  FieldErrors errs;
  AppendInvalid(&errs, "key", r.key, IsQualifiedName(r.key));
  Json values = r.values;
  switch (r.op) {
    case SelectorOp::kIn:
    case SelectorOp::kNotIn:
      if (r.values.empty()) {
        errs.push_back(
            Invalid("values", values,
                    "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case SelectorOp::kEquals:
    case SelectorOp::kDoubleEquals:
    case SelectorOp::kNotEquals:
      if (r.values.size() != 1) {
        errs.push_back(
            Invalid("values", values,
                    "exact-match compatibility requires one single value"));
      }
      break;
    case SelectorOp::kExists:
    case SelectorOp::kDoesNotExist:
      if (!r.values.empty()) {
        errs.push_back(
            Invalid("values", values,
                    "values set must be empty for exists and does not exist"));
      }
      break;
    case SelectorOp::kGreaterThan:
    case SelectorOp::kLessThan:
      if (r.values.size() != 1) {
        errs.push_back(
            Invalid("values", values,
                    "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < r.values.size(); ++i) {
        int64_t unused;
        if (!ParseInt64(r.values[i], &unused)) {
          errs.push_back(Invalid(
              "values[" + std::to_string(i) + "]", r.values[i],
              "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < r.values.size(); ++i) {
    AppendInvalid(&errs, "values[" + std::to_string(i) + "][" + r.key + "]",
                  r.values[i], IsValidLabelValue(r.values[i]));
  }
  return AggregateMessage(errs);
}

void Normalize(LabelRequirement* r) {
  std::sort(r->values.begin(), r->values.end());
  r->values.erase(std::unique(r->values.begin(), r->values.end()),
                  r->values.end());
}

// ---- the query-string lexer and parser (labels/selector.go's grammar) ----

enum class Tok {
  kError,
  kEnd,
  kIdentifier,
  kClosedPar,
  kComma,
  kDoesNotExist,  // !
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Token {
  Tok tok;
  std::string lit;
};

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' ||
         c == '<';
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsWhitespace(s[i])) ++i;
    if (i >= s.size()) {
      out.push_back({Tok::kEnd, ""});
      return out;
    }
    char c = s[i];
    if (IsSpecial(c)) {
      size_t j = i;
      while (j < s.size() && IsSpecial(s[j])) ++j;
      // Longest known operator prefix of the run.
      std::string_view run = s.substr(i, j - i);
      static const struct {
        const char* text;
        Tok tok;
      } kOps[] = {{"!=", Tok::kNotEquals},   {"==", Tok::kDoubleEquals},
                  {"!", Tok::kDoesNotExist}, {"(", Tok::kOpenPar},
                  {")", Tok::kClosedPar},    {",", Tok::kComma},
                  {"=", Tok::kEquals},       {">", Tok::kGreaterThan},
                  {"<", Tok::kLessThan}};
      bool found = false;
      for (const auto& op : kOps) {
        std::string_view t(op.text);
        if (run.substr(0, t.size()) == t) {
          out.push_back({op.tok, std::string(t)});
          i += t.size();
          found = true;
          break;
        }
      }
      if (!found) {
        out.push_back({Tok::kError, std::string(run)});
        return out;
      }
      continue;
    }
    size_t j = i;
    while (j < s.size() && !IsWhitespace(s[j]) && !IsSpecial(s[j])) ++j;
    out.push_back({Tok::kIdentifier, std::string(s.substr(i, j - i))});
    i = j;
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  StatusOr<std::vector<LabelRequirement>> Parse() {
    std::vector<LabelRequirement> reqs;
    while (true) {
      Token t = Lookahead(false);
      if (t.tok == Tok::kIdentifier || t.tok == Tok::kDoesNotExist) {
        auto r = ParseRequirement();
        if (!r.ok())
          return InvalidArgumentError("unable to parse requirement: " +
                                      r.status().message());
        reqs.push_back(std::move(*r));
        Token n = Consume(false);
        if (n.tok == Tok::kEnd) return reqs;
        if (n.tok == Tok::kComma) {
          Token n2 = Lookahead(false);
          if (n2.tok != Tok::kIdentifier && n2.tok != Tok::kDoesNotExist) {
            return InvalidArgumentError("found '" + n2.lit +
                                        "', expected: identifier after ','");
          }
          continue;
        }
        return InvalidArgumentError("found '" + n.lit +
                                    "', expected: ',' or 'end of string'");
      }
      if (t.tok == Tok::kEnd) return reqs;
      return InvalidArgumentError(
          "found '" + t.lit + "', expected: !, identifier, or 'end of string'");
    }
  }

 private:
  // In "key and operator" context the identifiers "in" and "notin" are the
  // set operators; in value context they are plain identifiers.
  Token Map(Token t, bool operator_context) const {
    if (operator_context && t.tok == Tok::kIdentifier) {
      if (t.lit == "in") t.tok = Tok::kIn;
      if (t.lit == "notin") t.tok = Tok::kNotIn;
    }
    return t;
  }
  Token Lookahead(bool op_ctx) const {
    return Map(toks_[std::min(pos_, toks_.size() - 1)], op_ctx);
  }
  Token Consume(bool op_ctx) {
    Token t = Lookahead(op_ctx);
    if (pos_ < toks_.size() - 1) ++pos_;
    return t;
  }

  StatusOr<LabelRequirement> ParseRequirement() {
    LabelRequirement r;
    bool not_exist = false;
    Token t = Consume(false);
    if (t.tok == Tok::kDoesNotExist) {
      not_exist = true;
      t = Consume(false);
    }
    if (t.tok != Tok::kIdentifier)
      return InvalidArgumentError("found '" + t.lit +
                                  "', expected: identifier");
    r.key = t.lit;
    {
      FieldErrors errs;
      AppendInvalid(&errs, "key", r.key, IsQualifiedName(r.key));
      if (!errs.empty()) return InvalidArgumentError(AggregateMessage(errs));
    }
    Token n = Lookahead(false);
    if (n.tok == Tok::kEnd || n.tok == Tok::kComma || not_exist) {
      if (not_exist) {
        r.op = SelectorOp::kDoesNotExist;
      } else {
        r.op = SelectorOp::kExists;
      }
      std::string err = CheckRequirement(r);
      if (!err.empty()) return InvalidArgumentError(err);
      return r;
    }
    Token op = Consume(true);
    switch (op.tok) {
      case Tok::kIn:
        r.op = SelectorOp::kIn;
        break;
      case Tok::kNotIn:
        r.op = SelectorOp::kNotIn;
        break;
      case Tok::kEquals:
        r.op = SelectorOp::kEquals;
        break;
      case Tok::kDoubleEquals:
        r.op = SelectorOp::kDoubleEquals;
        break;
      case Tok::kNotEquals:
        r.op = SelectorOp::kNotEquals;
        break;
      case Tok::kGreaterThan:
        r.op = SelectorOp::kGreaterThan;
        break;
      case Tok::kLessThan:
        r.op = SelectorOp::kLessThan;
        break;
      default:
        return InvalidArgumentError(
            "found '" + op.lit + "', expected: in, notin, =, ==, !=, gt, lt");
    }
    if (r.op == SelectorOp::kIn || r.op == SelectorOp::kNotIn) {
      KITE_RETURN_IF_ERROR(ParseValues(&r.values));
    } else {
      KITE_RETURN_IF_ERROR(ParseExactValue(&r.values));
    }
    Normalize(&r);
    std::string err = CheckRequirement(r);
    if (!err.empty()) return InvalidArgumentError(err);
    return r;
  }

  Status ParseValues(std::vector<std::string>* out) {
    Token t = Consume(false);
    if (t.tok != Tok::kOpenPar)
      return InvalidArgumentError("found '" + t.lit + "' expected: '('");
    Token n = Lookahead(false);
    if (n.tok == Tok::kIdentifier || n.tok == Tok::kComma) {
      KITE_RETURN_IF_ERROR(ParseIdentifiersList(out));
      Token c = Consume(false);
      if (c.tok != Tok::kClosedPar)
        return InvalidArgumentError("found '" + n.lit + "', expected: ')'");
      return Status::Ok();
    }
    if (n.tok == Tok::kClosedPar) {
      Consume(false);
      out->push_back("");
      return Status::Ok();
    }
    return InvalidArgumentError("found '" + n.lit +
                                "', expected: ',', ')' or identifier");
  }

  Status ParseIdentifiersList(std::vector<std::string>* out) {
    std::set<std::string> s;
    while (true) {
      Token t = Consume(false);
      if (t.tok == Tok::kIdentifier) {
        s.insert(t.lit);
        Token n = Lookahead(false);
        if (n.tok == Tok::kComma) continue;
        if (n.tok == Tok::kClosedPar) break;
        return InvalidArgumentError("found '" + n.lit +
                                    "', expected: ',' or ')'");
      }
      if (t.tok == Tok::kComma) {
        if (s.empty()) s.insert("");
        Token n = Lookahead(false);
        if (n.tok == Tok::kClosedPar) {
          s.insert("");
          break;
        }
        if (n.tok == Tok::kComma) {
          Consume(false);
          s.insert("");
        }
        continue;
      }
      return InvalidArgumentError("found '" + t.lit +
                                  "', expected: ',', or identifier");
    }
    out->assign(s.begin(), s.end());
    return Status::Ok();
  }

  Status ParseExactValue(std::vector<std::string>* out) {
    Token n = Lookahead(false);
    if (n.tok == Tok::kEnd || n.tok == Tok::kComma) {
      out->push_back("");
      return Status::Ok();
    }
    Token t = Consume(false);
    if (t.tok == Tok::kIdentifier) {
      out->push_back(t.lit);
      return Status::Ok();
    }
    return InvalidArgumentError("found '" + t.lit + "', expected: identifier");
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
};

void SortByKey(std::vector<LabelRequirement>* reqs) {
  std::stable_sort(reqs->begin(), reqs->end(),
                   [](const LabelRequirement& a, const LabelRequirement& b) {
                     return a.key < b.key;
                   });
}

}  // namespace

bool LabelRequirement::Matches(
    const std::map<std::string, std::string>& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  auto in_values = [&] {
    return has && std::binary_search(values.begin(), values.end(), it->second);
  };
  switch (op) {
    case SelectorOp::kEquals:
    case SelectorOp::kDoubleEquals:
    case SelectorOp::kIn:
      return in_values();
    case SelectorOp::kNotEquals:
    case SelectorOp::kNotIn:
      return !in_values();
    case SelectorOp::kExists:
      return has;
    case SelectorOp::kDoesNotExist:
      return !has;
    case SelectorOp::kGreaterThan:
    case SelectorOp::kLessThan: {
      if (!has || values.size() != 1) return false;
      int64_t lv, rv;
      if (!ParseInt64(it->second, &lv) || !ParseInt64(values[0], &rv))
        return false;
      return op == SelectorOp::kGreaterThan ? lv > rv : lv < rv;
    }
  }
  return false;
}

std::string LabelRequirement::String() const {
  std::string s;
  if (op == SelectorOp::kDoesNotExist) s += "!";
  s += key;
  switch (op) {
    case SelectorOp::kEquals:
      s += "=";
      break;
    case SelectorOp::kDoubleEquals:
      s += "==";
      break;
    case SelectorOp::kNotEquals:
      s += "!=";
      break;
    case SelectorOp::kIn:
      s += " in ";
      break;
    case SelectorOp::kNotIn:
      s += " notin ";
      break;
    case SelectorOp::kGreaterThan:
      s += ">";
      break;
    case SelectorOp::kLessThan:
      s += "<";
      break;
    case SelectorOp::kExists:
    case SelectorOp::kDoesNotExist:
      return s;
  }
  bool set = op == SelectorOp::kIn || op == SelectorOp::kNotIn;
  if (set) s += "(";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ",";
    s += values[i];
  }
  if (set) s += ")";
  return s;
}

LabelSelector LabelSelector::Nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  if (!IsValidUtf8(text)) {
    return InvalidArgumentError(
        "unable to parse requirement: the text is not valid UTF-8");
  }
  Parser p(Lex(text));
  KITE_ASSIGN_OR_RETURN(std::vector<LabelRequirement> reqs, p.Parse());
  SortByKey(&reqs);
  LabelSelector s;
  s.requirements_ = std::move(reqs);
  return s;
}

StatusOr<LabelSelector> LabelSelector::FromJson(const Json& sel) {
  if (sel.is_null()) return Nothing();
  if (!sel.is_object())
    return InvalidArgumentError("a label selector must be an object");
  std::vector<LabelRequirement> reqs;
  if (const Json* ml = Field(sel, "matchLabels");
      ml != nullptr && !ml->is_null()) {
    if (!ml->is_object())
      return InvalidArgumentError("matchLabels must be a map of strings");
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      if (!it.value().is_string())
        return InvalidArgumentError("matchLabels values must be strings");
      LabelRequirement r{
          it.key(), SelectorOp::kEquals, {it.value().get<std::string>()}};
      std::string err = CheckRequirement(r);
      if (!err.empty()) return InvalidArgumentError(err);
      reqs.push_back(std::move(r));
    }
  }
  if (const Json* me = Field(sel, "matchExpressions");
      me != nullptr && !me->is_null()) {
    if (!me->is_array())
      return InvalidArgumentError("matchExpressions must be a list");
    for (const Json& e : *me) {
      LabelRequirement r;
      r.key = GetString(e, {"key"});
      std::string op = GetString(e, {"operator"});
      if (op == "In") {
        r.op = SelectorOp::kIn;
      } else if (op == "NotIn") {
        r.op = SelectorOp::kNotIn;
      } else if (op == "Exists") {
        r.op = SelectorOp::kExists;
      } else if (op == "DoesNotExist") {
        r.op = SelectorOp::kDoesNotExist;
      } else {
        return InvalidArgumentError(GoQuote(op) +
                                    " is not a valid label selector operator");
      }
      if (const Json* vals = Field(e, "values");
          vals != nullptr && vals->is_array()) {
        for (const Json& v : *vals) {
          if (v.is_string()) r.values.push_back(v.get<std::string>());
        }
      }
      Normalize(&r);
      std::string err = CheckRequirement(r);
      if (!err.empty()) return InvalidArgumentError(err);
      reqs.push_back(std::move(r));
    }
  }
  SortByKey(&reqs);
  LabelSelector s;
  s.requirements_ = std::move(reqs);
  return s;
}

bool LabelSelector::Matches(
    const std::map<std::string, std::string>& labels) const {
  if (nothing_) return false;
  for (const LabelRequirement& r : requirements_) {
    if (!r.Matches(labels)) return false;
  }
  return true;
}

bool LabelSelector::MatchesJson(const Json* labels) const {
  if (nothing_) return false;
  if (requirements_.empty()) return true;
  return Matches(StringMap(labels));
}

bool LabelSelector::MatchesObject(const Json& obj) const {
  return MatchesJson(FieldPath(obj, {"metadata", "labels"}));
}

std::string LabelSelector::String() const {
  std::string s;
  for (size_t i = 0; i < requirements_.size(); ++i) {
    if (i) s += ",";
    s += requirements_[i].String();
  }
  return s;
}

std::string FormatLabelSelector(const Json* selector) {
  auto sel = LabelSelector::FromJson(selector == nullptr ? Json() : *selector);
  if (!sel.ok()) return "<error>";
  std::string s = sel->String();
  return s.empty() ? "<none>" : s;
}

std::string FormatLabels(const Json* labels) {
  std::string s;
  for (const auto& [k, v] : StringMap(labels)) {
    if (!s.empty()) s += ",";
    s += k + "=" + v;
  }
  return s.empty() ? "<none>" : s;
}

// ---- field selectors ----

namespace {

std::vector<std::string> SplitTerms(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::string cur;
  bool escaped = false;
  for (char c : s) {
    if (escaped) {
      cur.push_back(c);
      escaped = false;
    } else if (c == '\\') {
      cur.push_back(c);
      escaped = true;
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(std::move(cur));
  return out;
}

StatusOr<std::string> UnescapeValue(std::string_view s) {
  std::string out;
  bool escaped = false;
  for (char c : s) {
    if (escaped) {
      if (c != '\\' && c != ',' && c != '=') {
        return InvalidArgumentError(
            std::string("invalid field selector: invalid escape sequence: \\") +
            c);
      }
      out.push_back(c);
      escaped = false;
      continue;
    }
    if (c == '\\') {
      escaped = true;
      continue;
    }
    if (c == ',' || c == '=') {
      return InvalidArgumentError(
          std::string(
              "invalid field selector: unescaped character in value: ") +
          c);
    }
    out.push_back(c);
  }
  if (escaped)
    return InvalidArgumentError(
        "invalid field selector: invalid escape sequence: \\");
  return out;
}

std::string EscapeValue(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == ',' || c == '=') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string TermText(const FieldRequirement& r) {
  return r.field + (r.equals ? "=" : "!=") + EscapeValue(r.value);
}

}  // namespace

StatusOr<FieldSelector> FieldSelector::Parse(std::string_view text) {
  if (!IsValidUtf8(text)) {
    return InvalidArgumentError(
        "invalid field selector: the text is not valid UTF-8");
  }
  std::vector<std::string> parts = SplitTerms(text);
  FieldSelector sel;
  for (const std::string& part : parts) {
    if (part.empty()) continue;
    size_t i = 0;
    std::string op;
    for (; i < part.size(); ++i) {
      std::string_view rest = std::string_view(part).substr(i);
      if (rest.substr(0, 2) == "!=" || rest.substr(0, 2) == "==") {
        op = std::string(rest.substr(0, 2));
        break;
      }
      if (rest[0] == '=') {
        op = "=";
        break;
      }
    }
    if (op.empty()) {
      return InvalidArgumentError("invalid selector: '" + std::string(text) +
                                  "'; can't understand '" + part + "'");
    }
    FieldRequirement r;
    r.field = part.substr(0, i);
    r.equals = op != "!=";
    KITE_ASSIGN_OR_RETURN(
        r.value, UnescapeValue(std::string_view(part).substr(i + op.size())));
    sel.requirements_.push_back(std::move(r));
  }
  // Sorted by the canonical term, not the text as given: `a==b` and `a=b`
  // are one term, and String() must print what Parse() reads back in the
  // same order (selectors_fuzz found `e a==b,e a=F` flip on a reparse).
  std::stable_sort(sel.requirements_.begin(), sel.requirements_.end(),
                   [](const FieldRequirement& a, const FieldRequirement& b) {
                     return TermText(a) < TermText(b);
                   });
  return sel;
}

Status FieldSelector::Validate(const Kind& kind) const {
  for (const FieldRequirement& r : requirements_) {
    if (!kind.SupportsField(r.field))
      return InvalidArgumentError("field label not supported: " + r.field);
  }
  return Status::Ok();
}

bool FieldSelector::Matches(const Kind& kind, const Json& obj) const {
  for (const FieldRequirement& r : requirements_) {
    std::optional<std::string> v = SelectableFieldValue(kind, obj, r.field);
    std::string value = v.value_or("");
    if ((value == r.value) != r.equals) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::RequiresExactMatch(
    std::string_view field) const {
  for (const FieldRequirement& r : requirements_) {
    if (r.field == field && r.equals) return r.value;
  }
  return std::nullopt;
}

std::string FieldSelector::String() const {
  std::string s;
  for (const FieldRequirement& r : requirements_) {
    if (!s.empty()) s += ",";
    s += TermText(r);
  }
  return s;
}

namespace {

std::string ScalarText(const Json* v) {
  if (v == nullptr || v->is_null()) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
  if (v->is_number_float()) return v->dump();
  return "";
}

// Follows a dotted path ("status.podIP") through objects.
const Json* DottedPath(const Json& obj, std::string_view path) {
  const Json* cur = &obj;
  size_t start = 0;
  while (cur != nullptr) {
    size_t dot = path.find('.', start);
    std::string_view key = path.substr(start, dot == std::string_view::npos
                                                  ? std::string_view::npos
                                                  : dot - start);
    cur = Field(*cur, key);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return cur;
}

}  // namespace

std::optional<std::string> SelectableFieldValue(const Kind& kind,
                                                const Json& obj,
                                                std::string_view field) {
  if (field == "metadata.name") return Name(obj);
  if (field == "metadata.namespace") return Namespace(obj);
  for (const SelectableField& f : kind.selectable_fields) {
    if (f.label != field) continue;
    for (const std::string& path : f.paths) {
      std::string v = ScalarText(DottedPath(obj, path));
      if (!v.empty()) return v;
    }
    if (!f.default_value.empty()) return f.default_value;
    return std::string();
  }
  return std::nullopt;
}

}  // namespace kite::api
