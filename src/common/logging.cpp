// The logger behind yw::log.
#include "common/logging.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

#include "common/json.hpp"

namespace yw::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kJson};

// The logger is spdlog's thread-safe stderr sink, fed lines that we render ourselves so that every field is
// valid JSON (spdlog's pattern cannot escape user text).
std::shared_ptr<spdlog::logger> logger() {
    static std::shared_ptr<spdlog::logger> instance = [] {
        auto l = spdlog::stderr_logger_mt("yw");
        l->set_pattern("%v");
        l->set_level(spdlog::level::trace);
        l->flush_on(spdlog::level::trace);
        return l;
    }();
    return instance;
}

std::string_view level_name(Level level) {
    switch (level) {
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarn:
            return "warn";
        case Level::kError:
            return "error";
    }
    return "info";
}

std::string timestamp() {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)),
                       static_cast<int>(ms));
}

}  // namespace

bool parse_level(std::string_view text, Level& out) {
    for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
        if (text == level_name(l)) {
            out = l;
            return true;
        }
    }
    return false;
}

void init(Level level, Format format) {
    g_level = level;
    g_format = format;
    logger();
}

bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

std::string render(Level level, Format format, std::string_view message, Fields fields) {
    if (format == Format::kText) {
        std::string line = fmt::format("{} {:5} {}", timestamp(), level_name(level), message);
        for (const auto& [key, value] : fields) {
            line += fmt::format(" {}={}", key,
                                value.is_string() ? std::string(value.get_string()) : to_json(value));
        }
        return line;
    }
    boost::json::object o;
    o["ts"] = timestamp();
    o["level"] = level_name(level);
    o["msg"] = message;
    for (const auto& [key, value] : fields) o[key] = value;
    return to_json(o);
}

void write(Level level, std::string_view message, Fields fields) {
    if (!enabled(level)) return;
    logger()->info(render(level, g_format.load(std::memory_order_relaxed), message, fields));
}

}  // namespace yw::log
