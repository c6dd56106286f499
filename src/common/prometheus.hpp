// The Prometheus text exposition format 0.0.4.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/histogram.hpp"

namespace yw::prometheus {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends name="value" (escaped) to a rendered label list, with a comma when it is not the first.
void append_label(std::string& labels, std::string_view name, std::string_view value);
// One label, rendered.
std::string label(std::string_view name, std::string_view value);

// Each module writes its own numbers: a module offers `dump_metrics(prometheus::Writer&, const ItsStats&)`
// and GET /metrics concatenates them.
class Writer {
  public:
    // # HELP and # TYPE of a family; its samples follow. type: counter, gauge, histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);

    // name{labels} value. `labels` is a rendered label list without braces; may be empty. bool writes 0 or 1.
    template <typename T>
    requires std::is_integral_v<T>
    void sample(std::string_view name, std::string_view labels, T value) {
        if constexpr (std::is_signed_v<T>) {
            write_sample(name, labels, static_cast<std::int64_t>(value));
        } else {
            write_sample(name, labels, static_cast<std::uint64_t>(value));
        }
    }

    // A measured quantity in its base unit (seconds, bytes, ratios), written in the shortest exact form.
    void sample_real(std::string_view name, std::string_view labels, double value);

    // name_bucket{labels,le=…} cumulative counts (seconds), name_sum and name_count.
    void histogram(std::string_view name, std::string_view labels, const LatencyBuckets& latency);

    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

  private:
    void write_sample(std::string_view name, std::string_view labels, std::int64_t value);
    void write_sample(std::string_view name, std::string_view labels, std::uint64_t value);
    std::string out_;
};

}  // namespace yw::prometheus
