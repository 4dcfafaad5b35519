// Reading a query route's parameters and answering with a Result (internal to processors/query).
#pragma once

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "common/http.h"
#include "common/status.h"

namespace kledger::processors::query {

// Answers the value as JSON (200), or the error.
template <typename T>
void Reply(const Result<T>& result, httplib::Response& res) {
  if (!result.ok()) return http::ReplyStatus(res, result.status());
  http::ReplyJson(res, 200, *result);
}

// Parses a whole-number query parameter within [min, max]; `fallback` when absent.
inline Result<int64_t> IntParam(const httplib::Request& req, const char* name, int64_t fallback,
                                int64_t min, int64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return Status::InvalidArgument(std::string(name) + " must be a whole number from " +
                                   std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                                   text + "'");
  }
  return value;
}

// An enum query parameter by its value name, in any case ("asset", "ASSET"); nullopt when
// absent. InvalidArgument naming the accepted values for anything else.
template <typename Enum>
Result<std::optional<Enum>> EnumParam(const httplib::Request& req, const char* name,
                                      bool (*parse)(const std::string&, Enum*),
                                      std::initializer_list<const char*> accepted) {
  if (!req.has_param(name)) return std::optional<Enum>();
  std::string text = req.get_param_value(name);
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  Enum value{};
  if (std::find_if(accepted.begin(), accepted.end(), [&](const char* a) { return text == a; }) ==
          accepted.end() ||
      !parse(text, &value)) {
    std::string names;
    for (const char* a : accepted) names += (names.empty() ? "" : ", ") + std::string(a);
    return Status::InvalidArgument(std::string(name) + " must be one of " + names +
                                   " (any case), not '" + req.get_param_value(name) + "'");
  }
  return std::optional<Enum>(value);
}

}  // namespace kledger::processors::query
