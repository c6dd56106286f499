// Small file and polling helpers the operational code shares: whole-file reads and waiting for a condition.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace yw {

// The whole file as text; "" when it cannot be read.
std::string read_text(const std::filesystem::path& path);

// Calls `ready` every `every` until it returns true or `limit` has passed; then one last call decides.
bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& ready,
                std::chrono::milliseconds every = std::chrono::milliseconds(100));

}  // namespace yw
