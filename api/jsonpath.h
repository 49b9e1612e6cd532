// The JSONPath subset that CRD printer columns use.
//
// additionalPrinterColumns name a value with a "simple" JSONPath such as
// `.spec.replicas`, `.status.conditions[0].type`, `.spec.items[*].name`,
// `.metadata.labels['app\.kubernetes\.io/name']` or
// `.status.conditions[?(@.type=="Ready")].status`. This parses those and
// finds the values they select in an object.
//
// Thread safety: immutable after Parse.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kite::api {

class JsonPath {
 public:
  // Accepts an optional surrounding "{...}". InvalidArgument when the text is
  // not in the supported subset.
  static StatusOr<JsonPath> Parse(std::string_view text);

  // The values selected in `doc` (pointers into it), in document order.
  std::vector<const nlohmann::json*> Find(const nlohmann::json& doc) const;

 private:
  struct Step {
    enum Type { kField, kIndex, kWildcard, kFilter } type;
    std::string name;  // kField
    long index = 0;    // kIndex (negative counts from the end)
    std::vector<std::string> filter_path;  // kFilter: @.a.b
    bool filter_equals = true;
    nlohmann::json filter_value;  // string or number
  };
  std::vector<Step> steps_;
};

}  // namespace kite::api
