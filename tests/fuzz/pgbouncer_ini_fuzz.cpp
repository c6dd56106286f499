// Repointing pgbouncer.ini (src/cluster/pgbouncer_ini.*): any file → a file; lines that are not [databases]
// entries pointing at the old primary stay byte for byte, and repointing twice changes nothing more.
#include "fuzz.hpp"
#include "ops/pgbouncer_ini.hpp"

using namespace yw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string ini(fuzz::text(data, size));
    const std::vector<ops::Endpoint> from{{"127.0.0.1", 15432}};
    const ops::Endpoint to{"127.0.0.1", 15433};
    auto once = ops::repoint_databases(ini, from, to);
    auto twice = ops::repoint_databases(once.text, from, to);
    fuzz::require(twice.text == once.text, "repointing is idempotent");
    if (once.databases.empty())
        fuzz::require(once.text == ini, "nothing to repoint leaves the file unchanged");
    return 0;
}
