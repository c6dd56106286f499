// Shared by the fuzz targets (tests/fuzz/*_fuzz.cpp). Each target defines LLVMFuzzerTestOneInput and is built
// twice: with libFuzzer (`make fuzz`, clang) and, in every build, with replay_main.cpp as a unit test that
// runs its corpus plus deterministic mutations of it (so CI and `make sanitize` exercise it too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace yw::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// A property the target checks beyond "does not crash": a violation aborts, which both drivers report.
inline void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz property violated: %s\n", what);
        std::abort();
    }
}

}  // namespace yw::fuzz
