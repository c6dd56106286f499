// See encoding.hpp.
#include "s3/encoding.hpp"

#include <algorithm>

namespace yw::s3 {

namespace {

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (unreserved(c) || (keep_slash && c == '/')) {
            out += ch;
        } else {
            out += '%';
            out += kDigits[c >> 4];
            out += kDigits[c & 0x0f];
        }
    }
    return out;
}

std::string encode_query(const std::vector<std::pair<std::string, std::string>>& query) {
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(query.size());
    for (const auto& [name, value] : query) encoded.emplace_back(uri_encode(name), uri_encode(value));
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [name, value] : encoded) {
        if (!out.empty()) out += '&';
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

std::string object_path(std::string_view bucket, std::string_view key) {
    std::string out = "/";
    out += uri_encode(bucket);
    out += '/';
    out += uri_encode(key, true);
    return out;
}

ErrorCode error_code_for(int http_status, std::string_view s3_code) {
    if (s3_code == "NoSuchKey" || s3_code == "NoSuchBucket" || s3_code == "NoSuchUpload") {
        return ErrorCode::kNotFound;
    }
    if (s3_code == "SignatureDoesNotMatch" || s3_code == "InvalidAccessKeyId" || s3_code == "AccessDenied") {
        return ErrorCode::kUnauthenticated;
    }
    if (http_status == 404) return ErrorCode::kNotFound;
    if (http_status == 401 || http_status == 403) return ErrorCode::kUnauthenticated;
    if (retryable_status(http_status)) return ErrorCode::kUnavailable;
    return ErrorCode::kInternal;
}

bool retryable_status(int http_status) {
    return http_status == 429 || (http_status >= 500 && http_status <= 599);
}

}  // namespace yw::s3
