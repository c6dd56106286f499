// pgBackRest, the backup engine: its commands and `info --output=json` (see pgbackrest.hpp).
#include "backup/pgbackrest.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <regex>

#include "node/control.hpp"

namespace yw::backup {

namespace json = boost::json;

namespace {

Error bad(std::string message) {
    return make_error(ErrorCode::kUnavailable, "pgbackrest info: " + std::move(message));
}

const json::object* object_at(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

std::string string_at(const json::object* o, std::string_view key) {
    if (!o) return {};
    auto it = o->find(key);
    return it != o->end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

long long number_at(const json::object* o, std::string_view key) {
    if (!o) return 0;
    auto it = o->find(key);
    if (it == o->end() || !it->value().is_number()) return 0;
    boost::system::error_code ec;
    auto v = it->value().to_number<long long>(ec);
    return ec ? 0 : v;
}

}  // namespace

Result<RepoInfo> parse_info(std::string_view text, std::string_view stanza) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec || !doc.is_array()) return bad("the answer is not a JSON array");
    for (const auto& entry : doc.as_array()) {
        if (!entry.is_object() || string_at(&entry.as_object(), "name") != stanza) continue;
        const auto& o = entry.as_object();
        RepoInfo info;
        const json::object* status = object_at(o, "status");
        if (!status || !status->contains("code") || !status->at("code").is_number())
            return bad("the stanza has no status code");
        info.status_code = static_cast<int>(number_at(status, "code"));
        info.status_message = string_at(status, "message");
        if (const auto* lock = object_at(*status, "lock"))
            if (const auto* b = object_at(*lock, "backup"))
                if (auto it = b->find("held"); it != b->end() && it->value().is_bool())
                    info.backup_running = it->value().as_bool();
        info.cipher = string_at(&o, "cipher");
        if (auto it = o.find("archive"); it != o.end() && it->value().is_array()) {
            for (const auto& a : it->value().as_array()) {
                if (!a.is_object()) continue;
                std::string min = string_at(&a.as_object(), "min"), max = string_at(&a.as_object(), "max");
                if (!min.empty() && (info.archive_min.empty() || min < info.archive_min))
                    info.archive_min = min;
                if (max > info.archive_max) info.archive_max = max;
            }
        }
        if (auto it = o.find("backup"); it != o.end()) {
            if (!it->value().is_array()) return bad("'backup' is not an array");
            for (const auto& b : it->value().as_array()) {
                if (!b.is_object()) return bad("a backup is not an object");
                const auto& bo = b.as_object();
                BackupSet s;
                s.label = string_at(&bo, "label");
                s.type = string_at(&bo, "type");
                if (s.label.empty() || (s.type != "full" && s.type != "diff" && s.type != "incr"))
                    return bad("a backup has no label or an unknown type");
                s.prior = string_at(&bo, "prior");
                const auto* ts = object_at(bo, "timestamp");
                s.start = number_at(ts, "start");
                s.stop = number_at(ts, "stop");
                const auto* in = object_at(bo, "info");
                s.size = number_at(in, "size");
                s.delta = number_at(in, "delta");
                const auto* repo = in ? object_at(*in, "repository") : nullptr;
                s.repo_size = number_at(repo, "size");
                s.repo_delta = number_at(repo, "delta");
                const auto* lsn = object_at(bo, "lsn");
                s.lsn_start = string_at(lsn, "start");
                s.lsn_stop = string_at(lsn, "stop");
                const auto* wal = object_at(bo, "archive");
                s.wal_start = string_at(wal, "start");
                s.wal_stop = string_at(wal, "stop");
                if (auto e = bo.find("error"); e != bo.end() && e->value().is_bool())
                    s.error = e->value().as_bool();
                info.backups.push_back(std::move(s));
            }
        }
        std::stable_sort(info.backups.begin(), info.backups.end(),
                         [](const BackupSet& a, const BackupSet& b) { return a.stop < b.stop; });
        return info;
    }
    return bad(fmt::format("no stanza '{}' in the answer", stanza));
}

std::string error_summary(std::string_view output) {
    std::string text(output);
    auto at = text.find("ERROR: [");
    if (at == std::string::npos) {
        // The last non-empty line.
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        auto nl = text.rfind('\n');
        std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
        return last.empty() ? "pgbackrest failed without a message" : last;
    }
    // The error line, and the indented lines that continue it up to the first HTTP dump.
    std::string out;
    size_t pos = at;
    bool first = true;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (!first && (line.empty() || line[0] != ' ')) break;
        std::string trimmed = line.substr(std::min(line.find_first_not_of(' '), line.size()));
        if (trimmed.rfind("***", 0) == 0) break;
        if (!out.empty()) out += ' ';
        out += trimmed;
        first = false;
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return out;
}

Settings settings_from(const Config& config) {
    Settings s;
    s.config_file = config.backup.config_file;
    s.stanza = config.backup.stanza;
    return s;
}

std::vector<std::string> PgBackRest::command_line(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"pgbackrest", "--config=" + settings_.config_file,
                                     "--stanza=" + settings_.stanza};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

Result<RunResult> PgBackRest::run(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                                  bool inherit_output) const {
    if (settings_.config_file.empty())
        return make_error(ErrorCode::kUnavailable,
                          "no backups configured: PGBACKREST_CONFIG names pgBackRest's configuration file");
    RunOptions options;
    if (running_as_root()) options.as_user = node::kServiceUser;
    options.env = {"PGHOST=" + settings_.pg_host};
    options.timeout = timeout;
    options.inherit_output = inherit_output;
    auto r = run_process(command_line(args), options);
    if (!r) {
        return make_error(ErrorCode::kUnavailable,
                          "cannot run pgbackrest (install Debian's pgbackrest): " + r.error().message);
    }
    return r;
}

Status PgBackRest::run_checked(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                               bool inherit_output) const {
    auto r = run(args, timeout, inherit_output);
    if (!r) return r.error();
    if (r->timed_out)
        return make_error(ErrorCode::kTimeout,
                          fmt::format("pgbackrest {} did not finish within {} s",
                                      args.empty() ? "" : args.back(), timeout.count() / 1000));
    if (r->exit_code != 0) {
        return make_error(
            ErrorCode::kUnavailable,
            fmt::format("pgbackrest {} failed (exit {}): {}", args.empty() ? "" : args.back(), r->exit_code,
                        inherit_output ? "see its output above" : error_summary(r->output)));
    }
    return {};
}

Result<RepoInfo> PgBackRest::info() const {
    auto r = run({"--output=json", "info"}, std::chrono::seconds(60));
    if (!r) return r.error();
    if (r->exit_code != 0)
        return make_error(ErrorCode::kUnavailable, "pgbackrest info failed: " + error_summary(r->output));
    // Warnings (e.g. about the environment) go to stderr, interleaved: the JSON is the line that starts '['.
    std::string_view out = r->output;
    auto at = out.find("\n[");
    if (!out.starts_with("[") && at != std::string_view::npos) out = out.substr(at + 1);
    auto end = out.find("\n");
    if (end != std::string_view::npos) out = out.substr(0, end);
    return parse_info(out, settings_.stanza);
}

bool valid_label(std::string_view label) {
    static const std::regex re(R"(^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$)");
    return label.size() <= 40 && std::regex_match(label.begin(), label.end(), re);
}

}  // namespace yw::backup
