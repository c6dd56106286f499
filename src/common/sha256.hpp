// SHA-256, incremental (streams of any size in bounded memory) and one-shot.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace yw {

using Sha256Digest = std::array<std::uint8_t, 32>;

class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(std::string_view data);
    // The digest of everything so far; the object starts over afterwards.
    Sha256Digest finish();
    std::string finish_hex();

    static Sha256Digest of(std::string_view data);
    static std::string hex_of(std::string_view data);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace yw
