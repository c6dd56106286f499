// ywmsgd: the messaging API server. Reads the configuration, migrates when asked, serves until
// SIGTERM/SIGINT.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <string>
#include <string_view>

#include "common/config.hpp"
#include "common/logging.hpp"
#include "health/checker.hpp"
#include "health/routes.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "pg/migrator.hpp"

namespace {

// sysexits.h: command line usage error, configuration error.
constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

constexpr std::string_view kUsage =
    "usage: ywmsgd [--config FILE]\n"
    "\n"
    "Serves the ywmessaging API. Configuration comes from the environment, over the KEY=VALUE file given\n"
    "by --config or YW_CONFIG_FILE (names in docs/configuration.md).\n"
    "\n"
    "  --config FILE  read configuration from FILE; the environment still wins\n"
    "  --help         print this help\n";

struct Args {
    std::string config_file;
    bool help = false;
};

// Returns false, after saying why on stderr, for anything but --help and --config FILE|--config=FILE.
bool parse_args(int argc, char** argv, Args& args) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            args.help = true;
        } else if (arg == "--config" && i + 1 < argc) {
            args.config_file = argv[++i];
        } else if (arg.starts_with("--config=") && arg.size() > 9) {
            args.config_file = arg.substr(9);
        } else {
            std::cerr << "ywmsgd: "
                      << (arg == "--config" ? "--config needs a FILE"
                                            : "unknown argument " + std::string(arg))
                      << "\n\n";
            return false;
        }
    }
    return true;
}

std::string url_of(const std::string& host, std::uint16_t port) {
    if (host.find(':') != std::string::npos) return fmt::format("http://[{}]:{}", host, port);  // IPv6
    return fmt::format("http://{}:{}", host, port);
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    if (!parse_args(argc, argv, args)) {
        std::cerr << kUsage;
        return kExitUsage;
    }
    if (args.help) {
        std::cout << kUsage;
        return 0;
    }
    auto loaded = yw::load_config(args.config_file);
    if (!loaded) {
        std::cerr << "ywmsgd: " << loaded.error().message << '\n';
        return kExitConfig;
    }
    const yw::Config& config = *loaded;
    yw::log::init(config.log_level, config.log_format);
    for (const auto& warning : config.warnings) yw::log::warn(warning);

    if (config.auto_migrate) {
        auto report = yw::pg::migrate(config.database_url, config.migrations_dir);
        if (!report) {
            yw::log::error("migration failed", {{"error", report.error().message.c_str()}});
            return 1;
        }
        yw::log::info("migrations applied",
                      {{"applied", report->applied.size()}, {"version", report->current_version}});
    }

    // Installed before the server starts so that a signal arriving during startup still drains.
    boost::asio::io_context signals_io;
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
    signals.async_wait([](const boost::system::error_code& ec, int signal) {
        if (!ec) yw::log::info("stopping", {{"signal", signal}});
    });

    yw::health::Checker checker(config.database_url, config.health_timeout);
    yw::http::Router router;
    yw::health::add_routes(router, checker);
    yw::http::Server server(yw::http::server_options(config), std::move(router));
    if (auto started = server.start(); !started) {
        yw::log::error("cannot start the HTTP server", {{"error", started.error().message.c_str()}});
        return 1;
    }
    yw::log::info("listening", {{"url", url_of(config.http_host, server.port()).c_str()}});

    signals_io.run();
    server.stop();
    yw::log::info("stopped");
    return 0;
}
