// Small string helpers shared by the helper's modules.
#pragma once

#include <string>
#include <vector>

namespace strings {

// "a:b::c" split on ':' gives "a", "b", "", "c": empty parts are kept,
// because they mean something (an empty PATH entry is the cwd).
inline std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

}  // namespace strings
