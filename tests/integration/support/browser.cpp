// See browser.hpp. One websocket to the page target; a single io_context runs only inside our calls: an
// async_read is always pending, and each call runs the io_context until its reply arrived or its deadline
// passed. A reply that comes after its deadline is dropped, so a timeout leaves the connection usable.
#include "support/browser.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "common/files.hpp"
#include "common/process.hpp"
#include "support/topology_fixture.hpp"

namespace yw::test {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto kStartupLimit = 20s;
// A full-page PNG of a long page, base64 in JSON, is tens of MB.
constexpr std::size_t kMaxMessage = 256u << 20;

std::string str(const json::value* v) { return v && v->is_string() ? std::string(v->as_string()) : ""; }

const json::object* obj(const json::value* v) { return v && v->is_object() ? &v->as_object() : nullptr; }

// The last lines of chromium's log, without the D-Bus complaints every run has (no bus in a container).
std::string log_tail(const std::string& log) {
    std::vector<std::string> kept;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.find("dbus") == std::string::npos && !line.empty()) kept.push_back(line);
    }
    std::string out;
    for (std::size_t i = kept.size() > 15 ? kept.size() - 15 : 0; i < kept.size(); ++i) out += kept[i] + "\n";
    return out.empty() ? "(chromium printed nothing of note)\n" : out;
}

// The keeper's wait status: chromium's exit status, 128 + N when signal N killed it.
std::string describe_status(int status) {
    if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
    if (!WIFEXITED(status)) return "ended";
    int code = WEXITSTATUS(status);
    if (code > 128) return fmt::format("was killed by signal {}", code - 128);
    return fmt::format("exited with status {}{}", code, code == 127 ? " (cannot execute it)" : "");
}

// A console argument (Runtime.RemoteObject) as console.error would print it.
std::string remote_object_text(const json::value& arg) {
    const auto* o = obj(&arg);
    if (!o) return json::serialize(arg);
    if (const auto* v = o->if_contains("value"))
        return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
    if (const auto* v = o->if_contains("unserializableValue")) return str(v);
    if (const auto* v = o->if_contains("description")) return str(v);
    return str(o->if_contains("type"));
}

// Runtime.ExceptionDetails as DevTools shows it: "Uncaught Error: boom\n    at …".
std::string exception_text(const json::value& details) {
    const auto* d = obj(&details);
    if (!d) return json::serialize(details);
    std::string text = str(d->if_contains("text"));
    std::string description;
    if (const auto* e = obj(d->if_contains("exception"))) {
        description = str(e->if_contains("description"));
        if (description.empty() && e->contains("value")) description = remote_object_text(*e);
    }
    if (description.empty()) return text;
    if (text.empty()) return description;
    // A rejection's text already holds the message: "Uncaught (in promise) Error: nope".
    std::string first_line = description.substr(0, description.find('\n'));
    if (text.size() >= first_line.size() && text.ends_with(first_line))
        return text + description.substr(first_line.size());
    return text + " " + description;
}

std::optional<std::string> base64_decode(const std::string& in) {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    std::size_t padding = 0;
    for (auto it = in.rbegin(); it != in.rend() && *it == '=' && padding < 2; ++it) ++padding;
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

}  // namespace

struct Browser::Impl {
    fs::path dir;  // the temp dir: profile/ and chromium.log
    // The keeper: our child, leader of the process group chromium runs in, and subreaper of all chromium's
    // processes. It exits once every one of them ended and was reaped — by it, not by a PID 1 that may not
    // reap at all in a container (chromium leaves its zygotes and renderers to be reaped by whoever adopts
    // them, even on a clean shutdown).
    pid_t pid = -1;
    bool reaped = false;
    int exit_status = 0;

    boost::asio::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer in;
    std::string out;  // the message being written (it must outlive async_write)
    std::optional<beast::error_code> written;
    std::optional<beast::error_code> step;  // the connect or the handshake, once it completed
    std::string dead;                       // why the connection is unusable; empty while it works
    bool closing = false;

    std::int64_t last_id = 0;
    std::int64_t awaited = 0;
    std::optional<json::object> reply;

    std::set<std::string> loaded;  // loaderIds whose document fired its load event
    std::vector<std::string> errors;
    std::vector<std::string> urls;

    ~Impl() {
        closing = true;
        beast::get_lowest_layer(ws).close();
        ioc.restart();
        ioc.run_for(2s);  // the aborted read completes: no handler outlives us
        stop_chromium();
        std::error_code ec;
        if (!dir.empty()) fs::remove_all(dir, ec);
    }

    fs::path log_path() const { return dir / "chromium.log"; }
    std::string log() const { return read_text(log_path()); }

    bool running() {
        if (pid <= 0 || reaped) return false;
        if (waitpid(pid, &exit_status, WNOHANG) == pid) reaped = true;
        return !reaped;
    }

    void stop_chromium() {
        if (pid <= 0) return;
        // SIGTERM to the group (the keeper ignores it), SIGKILL to what is left of it after 5 s; the keeper
        // ends once all of chromium is gone.
        if (running()) {
            ::kill(-pid, SIGTERM);
            yw::wait_until(
                5s, [&] { return !running(); }, 20ms);
        }
        if (!reaped) {
            ::kill(-pid, SIGKILL);
            waitpid(pid, &exit_status, 0);
            reaped = true;
        }
        pid = -1;
    }

    // Runs the io_context until `done` or the deadline; false on a timeout or once the connection died.
    bool pump(Clock::time_point deadline, const std::function<bool()>& done) {
        while (!done()) {
            if (!dead.empty() || Clock::now() >= deadline) return false;
            if (ioc.stopped()) ioc.restart();
            ioc.run_one_until(deadline);
        }
        return true;
    }

    void lost(const std::string& what) {
        if (!dead.empty() || closing) return;
        yw::wait_until(
            1s, [&] { return !running(); }, 20ms);  // a crash closes the socket before the exit
        std::string state = reaped ? "chromium " + describe_status(exit_status) : "chromium is still running";
        dead = fmt::format("{} ({}); its log:\n{}", what, state, log_tail(log()));
        beast::get_lowest_layer(ws).close();
    }

    void start_read() {
        ws.async_read(in, [this](beast::error_code ec, std::size_t) {
            if (ec) {
                lost("the DevTools connection to chromium ended: " + ec.message());
                return;
            }
            on_message(std::string_view(static_cast<const char*>(in.cdata().data()), in.size()));
            in.consume(in.size());
            start_read();
        });
    }

    void on_message(std::string_view text) {
        boost::system::error_code ec;
        json::value v = json::parse(text, ec);
        auto* m = ec ? nullptr : v.if_object();
        if (!m) return;
        if (const auto* id = m->if_contains("id")) {
            if (id->is_int64() && id->as_int64() == awaited) reply = std::move(*m);
            return;  // else the reply to a call that timed out
        }
        std::string method = str(m->if_contains("method"));
        const json::object* params = obj(m->if_contains("params"));
        if (!params) return;
        if (method == "Page.lifecycleEvent") {
            if (str(params->if_contains("name")) == "load")
                loaded.insert(str(params->if_contains("loaderId")));
        } else if (method == "Runtime.consoleAPICalled") {
            std::string type = str(params->if_contains("type"));
            if (type != "error" && type != "assert") return;
            std::string line;
            if (const auto* args = params->if_contains("args"); args && args->is_array()) {
                for (const auto& a : args->as_array())
                    line += (line.empty() ? "" : " ") + remote_object_text(a);
            }
            errors.push_back(type == "assert" && line.empty() ? "console.assert" : line);
        } else if (method == "Runtime.exceptionThrown") {
            if (const auto* d = params->if_contains("exceptionDetails")) errors.push_back(exception_text(*d));
        } else if (method == "Network.requestWillBeSent") {
            if (const auto* r = obj(params->if_contains("request")))
                urls.push_back(str(r->if_contains("url")));
        } else if (method == "Inspector.targetCrashed") {
            lost("the page crashed (Inspector.targetCrashed)");
        } else if (method == "Inspector.detached") {
            lost("DevTools detached from the page: " + str(params->if_contains("reason")));
        }
    }

    Result<json::object> call(const std::string& method, json::object params,
                              std::chrono::milliseconds timeout) {
        if (!dead.empty()) return make_error(ErrorCode::kUnavailable, method + ": " + dead);
        auto deadline = Clock::now() + timeout;
        std::int64_t id = ++last_id;
        out = json::serialize(json::object{{"id", id}, {"method", method}, {"params", std::move(params)}});
        written.reset();
        ws.async_write(boost::asio::buffer(out), [this](beast::error_code ec, std::size_t) { written = ec; });
        if (!pump(deadline, [&] { return written.has_value(); })) {
            // A write still pending cannot be followed by another: the connection is done for.
            lost(method + ": writing to chromium timed out");
            return make_error(ErrorCode::kUnavailable, method + ": " + dead);
        }
        if (*written) {
            lost("writing to chromium failed: " + written->message());
            return make_error(ErrorCode::kUnavailable, method + ": " + dead);
        }
        awaited = id;
        reply.reset();
        bool answered = pump(deadline, [&] { return reply.has_value(); });
        awaited = 0;
        if (!answered) {
            if (!dead.empty()) return make_error(ErrorCode::kUnavailable, method + ": " + dead);
            return make_error(ErrorCode::kTimeout, fmt::format("{}: no reply from chromium within {} ms",
                                                               method, timeout.count()));
        }
        json::object r = std::move(*reply);
        reply.reset();
        if (const auto* e = r.if_contains("error")) {
            const auto* eo = obj(e);
            std::string message = eo ? str(eo->if_contains("message")) : json::serialize(*e);
            if (eo && eo->contains("data")) message += ": " + str(eo->if_contains("data"));
            return make_error(ErrorCode::kInternal, method + " failed: " + message);
        }
        if (auto* result = obj(r.if_contains("result"))) return *result;
        return json::object{};
    }

    // Runs the io_context (events keep arriving) until `until`.
    void idle(Clock::time_point until) {
        pump(until, [] { return false; });
    }

    Status start(const std::string& program) {
        char templ[] = "/tmp/yw-browser-XXXXXX";
        if (!mkdtemp(templ))
            return make_error(ErrorCode::kInternal, std::string("mkdtemp: ") + std::strerror(errno));
        dir = templ;
        fs::path profile = dir / "profile";
        std::error_code fec;
        fs::create_directory(profile, fec);
        std::vector<std::string> argv{
            program,
            "--headless=new",
            "--no-sandbox",  // we run as root
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",  // it picks a free one and writes it to DevToolsActivePort
            "--user-data-dir=" + profile.string(),
            "--window-size=1280,1000",
            "--hide-scrollbars",
            "--mute-audio",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--disable-dev-shm-usage",  // a container's /dev/shm is often 64 MB: /tmp instead
            "--password-store=basic",
            "about:blank",
        };
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(a.data());
        cargv.push_back(nullptr);
        int log_fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log_fd < 0) return make_error(ErrorCode::kInternal, "cannot create " + log_path().string());
        pid_t parent = getpid();
        pid = fork();
        if (pid < 0) {
            close(log_fd);
            return make_error(ErrorCode::kInternal, "fork failed");
        }
        if (pid == 0) {
            // The keeper (async-signal-safe calls only: we may have threads). Neither it nor chromium
            // outlives a test binary that crashed: PDEATHSIG (it comes when the forking thread ends: launch
            // from the thread that runs the test).
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(1);
            prctl(PR_SET_CHILD_SUBREAPER, 1);
            struct sigaction ignore {};
            ignore.sa_handler = SIG_IGN;
            sigaction(SIGTERM, &ignore, nullptr);
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0) dup2(null, STDIN_FILENO);
            dup2(log_fd, STDOUT_FILENO);
            dup2(log_fd, STDERR_FILENO);
            pid_t keeper = getpid();
            pid_t chromium = fork();
            if (chromium == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != keeper) _exit(1);
                struct sigaction dfl {};
                dfl.sa_handler = SIG_DFL;
                sigaction(SIGTERM, &dfl, nullptr);  // an ignored signal stays ignored across exec
                execv(cargv[0], cargv.data());
                _exit(127);
            }
            int code = chromium < 0 ? 1 : 0;
            for (;;) {
                int status = 0;
                pid_t ended = waitpid(-1, &status, 0);
                if (ended < 0 && errno == EINTR) continue;
                if (ended < 0) break;  // ECHILD: nothing of chromium is left
                if (ended == chromium)
                    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            _exit(code);
        }
        setpgid(pid, pid);  // also here, so that the group exists even before the child ran
        close(log_fd);

        // DevToolsActivePort: "PORT\n/devtools/browser/ID", once the endpoint listens.
        auto deadline = Clock::now() + kStartupLimit;
        int port = 0;
        yw::wait_until(
            kStartupLimit,
            [&] {
                if (!running()) return true;
                std::istringstream file(read_text(profile / "DevToolsActivePort"));
                std::string first, second;
                if (std::getline(file, first) && std::getline(file, second) && !second.empty())
                    port = std::atoi(first.c_str());
                return port > 0;
            },
            50ms);
        if (reaped) {
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("{} {} before its DevTools endpoint came up; its log:\n{}", program,
                                          describe_status(exit_status), log_tail(log())));
        }
        if (port <= 0) {
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("{} did not open its DevTools endpoint within {} s; its log:\n{}",
                                          program, kStartupLimit.count(), log_tail(log())));
        }

        // The page target (not the "browser_ui" ones headless also lists); a new one if there is none.
        std::string ws_path;
        auto give_up_listing = Clock::now() + 3s;
        while (ws_path.empty()) {
            if (Clock::now() >= deadline || !running()) {
                return make_error(ErrorCode::kUnavailable,
                                  fmt::format("chromium offers no page target on port {}; its log:\n{}", port,
                                              log_tail(log())));
            }
            bool create = Clock::now() >= give_up_listing;
            auto listed = create ? http_request(port, "PUT", "/json/new?about:blank")
                                 : http_request(port, "GET", "/json/list");
            boost::system::error_code ec;
            json::value targets = json::parse(listed.body, ec);
            std::vector<const json::object*> candidates;
            if (!ec && targets.is_array()) {
                for (const auto& t : targets.as_array()) candidates.push_back(obj(&t));
            } else if (!ec && targets.is_object()) {
                candidates.push_back(&targets.as_object());
            }
            for (const auto* t : candidates) {
                if (!t || str(t->if_contains("type")) != "page") continue;
                std::string url =
                    str(t->if_contains("webSocketDebuggerUrl"));  // ws://127.0.0.1:PORT/devtools/…
                auto path = url.find("/devtools/");
                if (path != std::string::npos) {
                    ws_path = url.substr(path);
                    break;
                }
            }
            if (ws_path.empty()) std::this_thread::sleep_for(100ms);
        }

        // The websocket, every step under the deadline.
        // (Completion state in members: a handler still pending at a timeout runs in ~Impl.)
        step.reset();
        beast::get_lowest_layer(ws).async_connect(
            tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
            [this](beast::error_code ec) { step = ec; });
        if (!pump(deadline, [&] { return step.has_value(); }) || *step) {
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("cannot connect to chromium's DevTools on port {}: {}", port,
                                          step ? step->message() : "timed out"));
        }
        ws.read_message_max(kMaxMessage);
        ws.text(true);
        step.reset();
        ws.async_handshake(fmt::format("127.0.0.1:{}", port), ws_path,
                           [this](beast::error_code ec) { step = ec; });
        if (!pump(deadline, [&] { return step.has_value(); }) || *step) {
            return make_error(ErrorCode::kUnavailable,
                              fmt::format("websocket handshake with chromium ({}) failed: {}", ws_path,
                                          step ? step->message() : "timed out"));
        }
        start_read();
        for (const char* domain : {"Page.enable", "Runtime.enable", "Network.enable"}) {
            auto r = call(domain, {}, 10s);
            if (!r) return r.error();
        }
        auto r = call("Page.setLifecycleEventsEnabled", {{"enabled", true}}, 10s);
        if (!r) return r.error();
        return {};
    }
};

Browser::Browser(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Browser::~Browser() = default;

Result<std::unique_ptr<Browser>> Browser::launch() {
    std::string program;
    if (const char* env = std::getenv("YW_CHROMIUM"); env && *env) {
        program = env;
        if (::access(program.c_str(), X_OK) != 0)
            return make_error(ErrorCode::kUnavailable,
                              "YW_CHROMIUM=" + program + " is not an executable file");
    } else {
        program = find_program("chromium").value_or("");
        if (program.empty()) {
            return make_error(
                ErrorCode::kUnavailable,
                "chromium is not on PATH (Debian: apt-get install chromium; or set YW_CHROMIUM to "
                "the browser's path)");
        }
    }
    auto impl = std::make_unique<Impl>();
    auto started = impl->start(program);
    if (!started) return started.error();  // ~Impl stops chromium and removes the profile
    return std::unique_ptr<Browser>(new Browser(std::move(impl)));
}

Status Browser::navigate(const std::string& url, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    auto r = impl_->call("Page.navigate", {{"url", url}}, timeout);
    if (!r) return r.error();
    if (std::string failed = str(r->if_contains("errorText")); !failed.empty())
        return make_error(ErrorCode::kUnavailable, "navigating to " + url + " failed: " + failed);
    std::string loader = str(r->if_contains("loaderId"));
    if (loader.empty()) return {};  // same-document: no load event comes
    if (impl_->pump(deadline, [&] { return impl_->loaded.contains(loader); })) return {};
    if (!impl_->dead.empty())
        return make_error(ErrorCode::kUnavailable, "navigating to " + url + ": " + impl_->dead);
    return make_error(ErrorCode::kTimeout,
                      fmt::format("{} did not fire its load event within {} ms", url, timeout.count()));
}

Result<boost::json::value> Browser::evaluate(const std::string& expression,
                                             std::chrono::milliseconds timeout) {
    auto r =
        impl_->call("Runtime.evaluate",
                    {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}}, timeout);
    if (!r) return r.error();
    if (const auto* details = r->if_contains("exceptionDetails"))
        return make_error(ErrorCode::kInternal, "the page threw: " + exception_text(*details));
    const auto* result = obj(r->if_contains("result"));
    if (!result) return json::value(nullptr);
    if (const auto* v = result->if_contains("value")) return *v;
    if (const auto* v = result->if_contains("unserializableValue")) return *v;
    return json::value(nullptr);  // undefined, or a value JSON cannot carry (a function, a symbol)
}

bool Browser::wait_until(const std::string& predicate, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    // The newline: a predicate ending in a // comment does not swallow the closing parentheses.
    std::string expression = "(async () => !!(await (" + predicate + "\n)))()";
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto r = evaluate(expression, std::max(left, std::chrono::milliseconds(500)));
        if (r && r->is_bool() && r->as_bool()) return true;
        if (!impl_->dead.empty() || Clock::now() >= deadline) return false;
        impl_->idle(std::min(deadline, Clock::now() + 100ms));
    }
}

Status Browser::screenshot(const std::filesystem::path& png) {
    json::object params{{"format", "png"}, {"captureBeyondViewport", true}};
    // The page's full size: captureBeyondViewport alone still stops at the viewport.
    auto metrics = impl_->call("Page.getLayoutMetrics", {}, 10s);
    if (!metrics) return metrics.error();
    if (const auto* size = obj(metrics->if_contains("cssContentSize"))) {
        auto number = [&](const char* key) {
            const auto* v = size->if_contains(key);
            return v && v->is_number() ? std::ceil(v->to_number<double>()) : 0.0;
        };
        if (number("width") > 0 && number("height") > 0) {
            params["clip"] = json::object{
                {"x", 0}, {"y", 0}, {"width", number("width")}, {"height", number("height")}, {"scale", 1}};
        }
    }
    auto shot = impl_->call("Page.captureScreenshot", std::move(params), 60s);
    if (!shot) return shot.error();
    auto bytes = base64_decode(str(shot->if_contains("data")));
    if (!bytes || bytes->empty())
        return make_error(ErrorCode::kInternal, "Page.captureScreenshot returned no PNG data");
    std::ofstream file(png, std::ios::binary | std::ios::trunc);
    file.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    file.close();
    if (!file) return make_error(ErrorCode::kInternal, "cannot write " + png.string());
    return {};
}

Result<boost::json::object> Browser::call(const std::string& method, boost::json::object params,
                                          std::chrono::milliseconds timeout) {
    return impl_->call(method, std::move(params), timeout);
}

std::vector<std::string> Browser::errors() const { return impl_->errors; }

std::vector<std::string> Browser::requested_urls() const { return impl_->urls; }

std::string Browser::log() const { return impl_->log(); }

}  // namespace yw::test
