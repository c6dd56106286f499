// Small parsers of identifiers: UUIDs, WAL positions, API keys, cache entries and keys, PgBouncer entries.
// Each either refuses or round-trips.
#include "cache/keys.hpp"
#include "common/uuid7.hpp"
#include "fuzz.hpp"
#include "messaging/api_key.hpp"
#include "ops/pgbouncer_ini.hpp"
#include "pg/topology.hpp"

using namespace yw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto input = fuzz::text(data, size);
    Uuid id;
    if (parse_uuid(input, id)) {
        Uuid again;
        fuzz::require(parse_uuid(to_string(id), again) && again == id, "a parsed UUID prints back");
    }
    if (auto lsn = pg::parse_lsn(input)) {
        fuzz::require(pg::parse_lsn(pg::format_lsn(*lsn)) == lsn, "a parsed LSN prints back");
    }
    if (messaging::looks_like_api_key(input)) {
        fuzz::require(input.starts_with(messaging::key_prefix(input)), "a key starts with its prefix");
    }
    if (auto message = cache::not_found_message(input)) {
        fuzz::require(cache::not_found_message(cache::not_found_entry(*message)) == message,
                      "a not-found entry round-trips");
    }
    (void)cache::namespace_of(input);
    auto endpoint = ops::entry_endpoint(std::string(input));
    fuzz::require(endpoint.port == -1 || (endpoint.port >= 1 && endpoint.port <= 65535),
                  "a port is a port number, or -1 for none");
    return 0;
}
