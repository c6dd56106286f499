// fork/exec with a pipe, a deadline and an optional switch to another user (only when root).
#include "common/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace yw {

std::optional<std::string> find_program(const std::string& name) {
    std::vector<std::filesystem::path> dirs;
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            auto colon = rest.find(':');
            dirs.emplace_back(std::string(rest.substr(0, colon)));
            rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        }
    }
    if (const char* home = std::getenv("HOME"))
        dirs.push_back(std::filesystem::path(home) / ".pyenv" / "shims");
    dirs.emplace_back("/root/.pyenv/shims");
    for (const auto& d : dirs) {
        std::filesystem::path candidate = d / name;
        if (!d.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return std::nullopt;
}

bool running_as_root() { return geteuid() == 0; }

std::optional<UserIds> lookup_user(const std::string& name) {
    struct passwd* pw = getpwnam(name.c_str());
    if (!pw) return std::nullopt;
    return UserIds{pw->pw_uid, pw->pw_gid};
}

bool port_in_use(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return true;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool taken = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0;
    close(fd);
    return taken;
}

std::string render_command(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        bool plain = !a.empty() && a.find_first_not_of(
                                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_./=:,@%+") == std::string::npos;
        if (plain) {
            out += a;
            continue;
        }
        out += '\'';
        for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
        out += '\'';
    }
    return out;
}

Result<RunResult> run_process(const std::vector<std::string>& argv, const RunOptions& options) {
    if (argv.empty()) return make_error(ErrorCode::kInvalidArgument, "run_process: empty command");
    std::optional<UserIds> ids;
    if (!options.as_user.empty() && running_as_root()) {
        ids = lookup_user(options.as_user);
        if (!ids)
            return make_error(ErrorCode::kInternal,
                              fmt::format("system user '{}' does not exist", options.as_user));
    }
    int out_fd = -1;
    int pipefd[2] = {-1, -1};
    const bool capture = options.stdout_file.empty() && !options.inherit_output;
    if (capture) {
        if (pipe2(pipefd, O_CLOEXEC) != 0) return make_error(ErrorCode::kInternal, "pipe failed");
    } else if (!options.inherit_output) {
        out_fd = open(options.stdout_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (out_fd < 0) {
            return make_error(ErrorCode::kInternal,
                              fmt::format("cannot open {}: {}", options.stdout_file, std::strerror(errno)));
        }
        if (ids && fchown(out_fd, ids->uid, ids->gid) != 0) {
            // Not fatal: the child can still write through the inherited descriptor.
        }
    }
    // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
    if (ids) {
        struct passwd* pw = getpwuid(ids->uid);
        std::string home = pw && pw->pw_dir ? pw->pw_dir : "/";
        env_strings.push_back("HOME=" + home);
        env_strings.push_back("USER=" + options.as_user);
        env_strings.push_back("LOGNAME=" + options.as_user);
    }
    for (const auto& e : options.env) env_strings.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_t pid = fork();
    if (pid < 0) return make_error(ErrorCode::kInternal, "fork failed");
    if (pid == 0) {
        if (!options.inherit_output) {
            int target = capture ? pipefd[1] : out_fd;
            dup2(target, STDOUT_FILENO);
            dup2(target, STDERR_FILENO);
            int devnull = open("/dev/null", O_RDONLY);
            if (devnull >= 0) dup2(devnull, STDIN_FILENO);
            setpgid(0, 0);  // its own process group, so a timeout kills the whole tree
        }
        if (ids) {
            if (setgroups(0, nullptr) != 0 || setgid(ids->gid) != 0 || setuid(ids->uid) != 0) _exit(126);
        }
        execvpe(args[0], args.data(), envp.data());
        _exit(127);
    }
    RunResult result;
    int read_fd = -1;
    if (capture) {
        close(pipefd[1]);
        read_fd = pipefd[0];
        fcntl(read_fd, F_SETFL, O_NONBLOCK);
    } else if (out_fd >= 0) {
        close(out_fd);
    }
    // Wait for the child itself, not for EOF: a daemon it forks (pg_ctl, pgbouncer -d) may keep the pipe.
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    int status = 0;
    char buf[4096];
    auto drain = [&] {
        if (read_fd < 0) return;
        for (ssize_t n; (n = read(read_fd, buf, sizeof buf)) > 0;)
            result.output.append(buf, static_cast<size_t>(n));
    };
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) break;
        if (std::chrono::steady_clock::now() > deadline) {
            result.timed_out = true;
            kill(options.inherit_output ? pid : -pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        if (read_fd >= 0) {
            pollfd p{read_fd, POLLIN, 0};
            poll(&p, 1, 50);
            drain();
        } else {
            usleep(20000);
        }
    }
    drain();
    if (read_fd >= 0) close(read_fd);
    if (!result.timed_out && WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
        if (result.exit_code == 127) {
            return make_error(ErrorCode::kUnavailable, fmt::format("cannot run {}: not found", argv[0]));
        }
    }
    return result;
}

}  // namespace yw
