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

// (y, m, d) → days since 1970-01-01, the inverse of civil_from_days.
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

long long ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
        .count();
}

std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
    auto digits = [&](size_t at, size_t n, int& out) {
        if (at + n > t.size()) return false;
        out = 0;
        for (size_t i = at; i < at + n; ++i) {
            if (t[i] < '0' || t[i] > '9') return false;
            out = out * 10 + (t[i] - '0');
        }
        return true;
    };
    int y, mo, d, h, mi, s;
    if (!digits(0, 4, y) || t.size() < 19 || t[4] != '-' || !digits(5, 2, mo) || t[7] != '-' ||
        !digits(8, 2, d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !digits(11, 2, h) ||
        t[13] != ':' || !digits(14, 2, mi) || t[16] != ':' || !digits(17, 2, s))
        return std::nullopt;
    static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
        mi > 59 || s > 59)
        return std::nullopt;
    size_t at = 19;
    std::int64_t micros = 0;
    if (at < t.size() && t[at] == '.') {
        size_t n = 0;
        for (++at; at < t.size() && t[at] >= '0' && t[at] <= '9'; ++at, ++n)
            if (n < 6) micros = micros * 10 + (t[at] - '0');
        if (n == 0) return std::nullopt;
        for (; n < 6; ++n) micros *= 10;
    }
    if (at >= t.size()) return std::nullopt;  // no offset
    std::int64_t offset_s = 0;
    if (t[at] == 'Z' || t[at] == 'z') {
        ++at;
    } else if (t[at] == '+' || t[at] == '-') {
        int oh, om = 0;
        int sign = t[at] == '-' ? -1 : 1;
        if (!digits(at + 1, 2, oh)) return std::nullopt;
        at += 3;
        if (at < t.size()) {
            if (t[at] == ':') ++at;
            if (!digits(at, 2, om)) return std::nullopt;
            at += 2;
        }
        if (oh > 23 || om > 59) return std::nullopt;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return std::nullopt;
    }
    if (at != t.size()) return std::nullopt;
    std::int64_t secs = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                        h * 3600 + mi * 60 + s - offset_s;
    return secs * 1000000 + micros;
}

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
