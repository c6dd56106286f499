// RFC 3339 rendering with the civil-from-days algorithm (no time zone database, no locale).
#include "common/time.hpp"

#include <fmt/format.h>

#include <charconv>

namespace yw {
namespace {

// Howard Hinnant's days → (y, m, d), valid for the proleptic Gregorian calendar.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

}  // namespace

std::string rfc3339_from_us(std::int64_t unix_us) {
    std::int64_t secs = unix_us >= 0 ? unix_us / 1000000 : (unix_us - 999999) / 1000000;
    auto micros = static_cast<int>(unix_us - secs * 1000000);
    std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    auto sod = static_cast<int>(secs - days * 86400);
    int y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    if (y < 0 || y > 9999) {
        return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z", y, m, d, sod / 3600,
                           sod % 3600 / 60, sod % 60, micros);
    }
    // Every timestamp of every API answer comes through here: digits by hand, one allocation at most.
    std::string out = "0000-00-00T00:00:00.000000Z";
    auto put = [&out](size_t end, unsigned value, int width) {
        for (int i = 1; i <= width; ++i, value /= 10)
            out[end - static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    };
    put(4, static_cast<unsigned>(y), 4);
    put(7, m, 2);
    put(10, d, 2);
    put(13, static_cast<unsigned>(sod / 3600), 2);
    put(16, static_cast<unsigned>(sod % 3600 / 60), 2);
    put(19, static_cast<unsigned>(sod % 60), 2);
    put(26, static_cast<unsigned>(micros), 6);
    return out;
}

std::int64_t unix_us_now() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool parse_int64(std::string_view text, std::int64_t& out) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && ptr == text.data() + text.size();
}

}  // namespace yw
