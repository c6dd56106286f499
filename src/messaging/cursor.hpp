// Opaque, tamper-evident pagination cursors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace yw::messaging {

// A cursor is base64url(payload) "." base64url(HMAC-SHA256(secret, payload)[:16]). The payload names the list
// it belongs to (tenant, kind, scope), so a cursor cannot be replayed on another list.
class CursorCodec {
  public:
    explicit CursorCodec(std::string secret);

    // Fields must not contain '|'. The list identity (e.g. {"m", tenant, conversation}) comes first.
    std::string encode(const std::vector<std::string>& fields) const;
    // The fields, when the signature holds and the first `scope.size()` fields equal `scope`; else 400.
    Result<std::vector<std::string>> decode(std::string_view cursor,
                                            const std::vector<std::string>& scope) const;

  private:
    std::string sign(std::string_view payload) const;
    std::string secret_;
};

std::string base64url_encode(std::string_view data);
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace yw::messaging
