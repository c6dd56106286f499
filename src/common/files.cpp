// See files.hpp.
#include "common/files.hpp"

#include <fstream>
#include <sstream>
#include <thread>

namespace yw {

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& ready,
                std::chrono::milliseconds every) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (ready()) return true;
        std::this_thread::sleep_for(every);
    }
    return ready();
}

}  // namespace yw
