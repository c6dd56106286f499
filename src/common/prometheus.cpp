// See prometheus.hpp.
#include "common/prometheus.hpp"

#include <fmt/format.h>

#include <iterator>

namespace yw::prometheus {
namespace {

// Prometheus measures time in seconds; "{}" gives the shortest text that reads back exactly (0.001, 2.5, 1).
std::string seconds(std::uint64_t us) { return fmt::format("{}", static_cast<double>(us) / 1e6); }

template <typename T>
void sample_line(std::string& out, std::string_view name, std::string_view labels, T value) {
    if (labels.empty()) {
        fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
    } else {
        fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
    }
}

}  // namespace

void append_label(std::string& out, std::string_view name, std::string_view value) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    for (char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    out += '"';
}

std::string label(std::string_view name, std::string_view value) {
    std::string out;
    append_label(out, name, value);
    return out;
}

void Writer::family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Writer::sample_real(std::string_view name, std::string_view labels, double value) {
    sample_line(out_, name, labels, value);
}

void Writer::write_sample(std::string_view name, std::string_view labels, std::int64_t value) {
    sample_line(out_, name, labels, value);
}

void Writer::write_sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample_line(out_, name, labels, value);
}

void Writer::histogram(std::string_view name, std::string_view labels, const LatencyBuckets& latency) {
    // Exposed buckets are cumulative: le="0.005" counts everything at or below 5 ms.
    std::string_view comma = labels.empty() ? "" : ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyBuckets::kBoundsUs.size(); ++i) {
        cumulative += latency.counts[i];
        fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, comma,
                       seconds(LatencyBuckets::kBoundsUs[i]), cumulative);
    }
    cumulative += latency.counts.back();
    fmt::format_to(std::back_inserter(out_), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, comma,
                   cumulative);
    sample_line(out_, std::string(name) + "_sum", labels, seconds(latency.sum_us));
    sample_line(out_, std::string(name) + "_count", labels, cumulative);
}

}  // namespace yw::prometheus
