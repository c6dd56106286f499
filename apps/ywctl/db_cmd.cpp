// ywctl db migrate|status, partitions ensure|list, demo seed: commands on the application database.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <iostream>

#include "cluster/seed.hpp"
#include "commands.hpp"
#include "common/logging.hpp"
#include "ops/partition_health.hpp"
#include "output.hpp"
#include "partitions/catalog.hpp"
#include "pg/migrator.hpp"
#include "pg/ops_queries.hpp"
#include "pg/sync_connection.hpp"
#include "report.hpp"

namespace ywctl {

yw::Result<yw::Config> load_ctl_config(const Globals& g) {
    std::string file = g.config_file;
    const char* from_env = std::getenv("YW_CONFIG_FILE");
    const char* url = std::getenv("DATABASE_URL");
    const char* local = "var/cluster/cluster.env";
    if (file.empty() && !from_env && !url && std::filesystem::exists(local)) {
        if (!g.json) std::cerr << "ywctl: using the local topology's settings in " << local << "\n";
        file = local;
    }
    return yw::load_config(file);
}

yw::Result<std::string> admin_url(const yw::Config& config, const std::string& name) {
    if (config.admin_urls.empty()) {
        return yw::make_error(yw::ErrorCode::kUnavailable,
                              "DATABASE_ADMIN_URLS is not set (superuser DSNs of the nodes, by name)");
    }
    std::string names;
    for (const auto& node : config.admin_urls) {
        if (node.name == name) return node.url;
        names += (names.empty() ? "" : ", ") + node.name;
    }
    return yw::make_error(yw::ErrorCode::kInvalidArgument,
                          fmt::format("no node named '{}'; the nodes are: {}", name, names));
}

namespace {

// Opens the application database; prints the problem and sets `exit` when it cannot.
std::optional<yw::pg::SyncConnection> connect(const Globals& g, const yw::Config& config, int& exit) {
    auto conn = yw::pg::SyncConnection::open(config.database_url);
    if (!conn) {
        print_error(g.json, "cannot connect to DATABASE_URL: " + conn.error().message);
        exit = kCritical;
        return std::nullopt;
    }
    return std::move(conn.value());
}

// Runs `body` with the configuration and a connection, mapping setup failures to exit codes.
int with_database(const Globals& g,
                  const std::function<int(const yw::Config&, yw::pg::SyncConnection&)>& body) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    int exit = kOk;
    auto conn = connect(g, *config, exit);
    if (!conn) return exit;
    return body(*config, *conn);
}

int migrate(const Globals& g) {
    auto config = load_ctl_config(g);
    if (!config) {
        print_error(g.json, config.error().message);
        return kConfig;
    }
    auto report = yw::pg::migrate(config->database_url, config->migrations_dir);
    if (!report) {
        print_error(g.json, "migration failed: " + report.error().message);
        return kCritical;
    }
    if (g.json) {
        boost::json::array applied;
        for (const auto& m : report->applied)
            applied.push_back(boost::json::object{{"version", m.version}, {"name", m.name}});
        print_json(boost::json::object{{"applied", applied}, {"current_version", report->current_version}});
    } else {
        for (const auto& m : report->applied)
            std::cout << "✓ applied " << fmt::format("{:04d}_{}", m.version, m.name) << "\n";
        std::cout << "schema is at version " << report->current_version
                  << (report->applied.empty() ? " (nothing to apply)" : "") << "\n";
    }
    return kOk;
}

int db_status(const Globals& g) {
    return with_database(g, [&](const yw::Config& config, yw::pg::SyncConnection& conn) {
        auto files = yw::pg::list_migrations(config.migrations_dir);
        if (!files) {
            print_error(g.json, files.error().message);
            return int(kUnknown);
        }
        auto applied = conn.query(yw::pg::queries::kMigrationList);
        std::set<int> done;
        if (applied) {
            for (size_t i = 0; i < applied->size(); ++i) done.insert(std::stoi(applied->text(i, "version")));
        }
        Table table{{"", "version", "name", "state"}, {}};
        boost::json::array out;
        int pending = 0;
        for (const auto& m : *files) {
            bool is_done = done.contains(m.version);
            pending += !is_done;
            table.rows.push_back(
                {mark(is_done), fmt::format("{:04d}", m.version), m.name, is_done ? "applied" : "pending"});
            out.push_back({{"version", m.version}, {"name", m.name}, {"applied", is_done}});
        }
        if (g.json) {
            print_json(boost::json::object{{"migrations", out}, {"pending", pending}});
        } else {
            std::cout << render(table);
        }
        return pending == 0 ? int(kOk) : int(kWarning);
    });
}

int partitions_ensure(const Globals& g, int ahead) {
    return with_database(g, [&](const yw::Config&, yw::pg::SyncConnection& conn) {
        auto created = yw::partitions::ensure(conn, ahead);
        if (!created) {
            print_error(g.json, created.error().message);
            return created.error().code == yw::ErrorCode::kInvalidArgument ? int(kUsage) : int(kCritical);
        }
        yw::log::info("partitions ensured", {{"ahead", ahead}, {"created", created->size()}});
        if (g.json) {
            boost::json::array names;
            for (const auto& n : *created) names.push_back(boost::json::string(n));
            print_json(boost::json::object{{"created", names}});
        } else {
            for (const auto& n : *created) std::cout << "✓ created " << n << "\n";
            if (created->empty())
                std::cout << "✓ the current month and the next " << ahead << " have partitions\n";
        }
        return int(kOk);
    });
}

int partitions_list(const Globals& g) {
    return with_database(g, [&](const yw::Config&, yw::pg::SyncConnection& conn) {
        auto parts = yw::partitions::list(conn);
        if (!parts) {
            print_error(g.json, parts.error().message);
            return int(kCritical);
        }
        Table table{{"partition", "range", "bytes"}, {}};
        boost::json::array out;
        for (const auto& p : *parts) {
            table.rows.push_back({p.name, p.bound, std::to_string(p.bytes)});
            out.push_back({{"name", p.name}, {"bound", p.bound}, {"bytes", p.bytes}});
        }
        if (g.json) {
            print_json(boost::json::object{{"partitions", out}});
        } else {
            std::cout << render(table);
        }
        return int(kOk);
    });
}

// RB-17: sizes, missing months, months ahead, balance and the maintainer, judged; Nagios exit codes.
int partitions_health(const Globals& g, int ahead_option) {
    return with_database(g, [&](const yw::Config& config, yw::pg::SyncConnection& conn) {
        yw::ops::PartitionThresholds t;
        t.months_ahead = ahead_option > 0 ? ahead_option : config.partitions_ahead;
        if (config.partition_maintenance_interval.count() > 0)
            t.interval = config.partition_maintenance_interval;
        return print_report(yw::ops::assess_partitions(yw::ops::collect_partitions(conn), t), g.json);
    });
}

int demo_seed(const Globals& g, const std::string& name, const std::string& tier) {
    return with_database(g, [&](const yw::Config&, yw::pg::SyncConnection& conn) {
        auto seeded = yw::cluster::seed_demo_tenant(conn, name, tier);
        if (!seeded) {
            print_error(g.json, seeded.error().message);
            return int(kCritical);
        }
        if (g.json) {
            print_json(boost::json::object{{"tenant_id", seeded->tenant_id},
                                           {"tenant_name", seeded->tenant_name},
                                           {"api_key", seeded->api_key},
                                           {"api_key_prefix", seeded->api_key_prefix},
                                           {"tier", seeded->tier}});
        } else {
            std::cout << "tenant   " << seeded->tenant_id << " (" << seeded->tenant_name << ")\n"
                      << "api key  " << seeded->api_key << "  (tier " << seeded->tier
                      << "; shown once, stored only as its SHA-256)\n";
        }
        return int(kOk);
    });
}

}  // namespace

void add_db_commands(CLI::App& app, const Globals& g, Action& action) {
    auto* db = app.add_subcommand("db", "Schema migrations of the application database (DATABASE_URL)");
    db->require_subcommand(1);
    db->add_subcommand("migrate", "Apply pending sql/migrations in order, each in a transaction")
        ->callback([&g, &action] { action = [&g] { return migrate(g); }; });
    db->add_subcommand("status", "Applied and pending migrations (exit 1 when some are pending)")
        ->callback([&g, &action] { action = [&g] { return db_status(g); }; });

    auto* parts = app.add_subcommand("partitions", "Monthly partitions of conversation_message");
    parts->require_subcommand(1);
    auto ahead = std::make_shared<int>(2);
    auto* ensure =
        parts->add_subcommand("ensure", "Create missing partitions for this month and the months ahead");
    ensure->add_option("--ahead", *ahead, "Months ahead of the current one")
        ->check(CLI::Range(0, 120))
        ->capture_default_str();
    ensure->callback([&g, &action, ahead] { action = [&g, ahead] { return partitions_ensure(g, *ahead); }; });
    parts->add_subcommand("list", "Every partition with its range and size")->callback([&g, &action] {
        action = [&g] { return partitions_list(g); };
    });
    auto health_ahead = std::make_shared<int>(0);
    auto* health = parts->add_subcommand(
        "health", "RB-17: sizes, missing months, months ahead, balance, maintainer (exit 0/1/2/3)");
    health->add_option("--ahead", *health_ahead, "Months ahead required (default: YW_PARTITIONS_AHEAD)")
        ->check(CLI::Range(1, 120));
    health->callback([&g, &action, health_ahead] {
        action = [&g, health_ahead] { return partitions_health(g, *health_ahead); };
    });
    add_archive_commands(*parts, g, action);

    auto* demo = app.add_subcommand("demo", "Demo data for the local topology");
    demo->require_subcommand(1);
    auto name = std::make_shared<std::string>("Demo Church");
    auto tier = std::make_shared<std::string>("standard");
    auto* seed = demo->add_subcommand("seed", "Create a tenant and an API key; prints the key once");
    seed->add_option("--name", *name, "Tenant name")->capture_default_str();
    seed->add_option("--tier", *tier, "API key tier")
        ->check(CLI::IsMember({"free", "standard", "professional", "enterprise"}))
        ->capture_default_str();
    seed->callback(
        [&g, &action, name, tier] { action = [&g, name, tier] { return demo_seed(g, *name, *tier); }; });
}

}  // namespace ywctl
