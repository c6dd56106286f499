// Structured logs: one JSON object per line on stderr (ywmsgd), or plain text for humans (ywctl).
#pragma once

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace yw::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kJson, kText };

// One key and its value; anything boost::json::value_from accepts (strings, numbers, bools, containers).
struct Field {
    template <typename T>
    Field(std::string_view k, T&& v) : key(k), value(boost::json::value_from(std::forward<T>(v))) {}
    std::string_view key;
    boost::json::value value;
};
using Fields = std::initializer_list<Field>;

// Parses "debug" | "info" | "warn" | "error"; false when the text is none of them.
bool parse_level(std::string_view text, Level& out);

// Configures the process-wide logger; safe to call again (tests do).
void init(Level level, Format format);

bool enabled(Level level);
void write(Level level, std::string_view message, Fields fields);

inline void debug(std::string_view m, Fields f = {}) { write(Level::kDebug, m, f); }
inline void info(std::string_view m, Fields f = {}) { write(Level::kInfo, m, f); }
inline void warn(std::string_view m, Fields f = {}) { write(Level::kWarn, m, f); }
inline void error(std::string_view m, Fields f = {}) { write(Level::kError, m, f); }

// Renders one log line without writing it; exposed for tests.
std::string render(Level level, Format format, std::string_view message, Fields fields);

}  // namespace yw::log
