// See xml.hpp.
#include "s3/xml.hpp"

#include <charconv>
#include <cstdint>

namespace yw::s3::xml {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// The decoded character of one entity's name (between '&' and ';'), false when it is not one we know.
bool decode_entity(std::string_view name, std::string& out) {
    if (name == "amp") return out += '&', true;
    if (name == "lt") return out += '<', true;
    if (name == "gt") return out += '>', true;
    if (name == "quot") return out += '"', true;
    if (name == "apos") return out += '\'', true;
    if (name.size() < 2 || name[0] != '#') return false;
    int base = 10;
    name.remove_prefix(1);
    if (name[0] == 'x' || name[0] == 'X') {
        base = 16;
        name.remove_prefix(1);
    }
    std::uint32_t cp = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), cp, base);
    if (ec != std::errc() || end != name.data() + name.size() || cp == 0 || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return false;
    }
    append_utf8(out, cp);
    return true;
}

}  // namespace

std::vector<std::string_view> elements(std::string_view doc, std::string_view tag) {
    std::vector<std::string_view> out;
    if (tag.empty()) return out;
    std::string open = "<" + std::string(tag);
    std::string close = "</" + std::string(tag);
    std::size_t pos = 0;
    while (pos < doc.size()) {
        std::size_t start = doc.find(open, pos);
        if (start == std::string_view::npos) break;
        std::size_t after = start + open.size();
        if (after >= doc.size()) break;
        char next = doc[after];
        if (next != '>' && next != '/' && !is_space(next)) {  // <KeyCount> is not <Key>
            pos = after;
            continue;
        }
        std::size_t gt = doc.find('>', after);
        if (gt == std::string_view::npos) break;
        if (doc[gt - 1] == '/') {  // <tag/> or <tag attr="…"/>
            out.emplace_back();
            pos = gt + 1;
            continue;
        }
        std::size_t content = gt + 1;
        std::size_t end = content;
        for (;;) {
            end = doc.find(close, end);
            if (end == std::string_view::npos) return out;
            std::size_t e = end + close.size();
            while (e < doc.size() && is_space(doc[e])) ++e;
            if (e < doc.size() && doc[e] == '>') {
                out.push_back(doc.substr(content, end - content));
                pos = e + 1;
                break;
            }
            end += close.size();
        }
    }
    return out;
}

std::optional<std::string> text(std::string_view doc, std::string_view tag) {
    auto found = elements(doc, tag);
    if (found.empty()) return std::nullopt;
    return unescape(found.front());
}

std::string unescape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == '&') {
            std::size_t semi = text.find(';', i + 1);
            if (semi != std::string_view::npos && semi - i <= 12 &&
                decode_entity(text.substr(i + 1, semi - i - 1), out)) {
                i = semi + 1;
                continue;
            }
        }
        out += c;
        ++i;
    }
    return out;
}

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

S3Error parse_error(std::string_view doc) {
    S3Error error;
    auto body = elements(doc, "Error");
    if (body.empty()) return error;
    error.code = text(body.front(), "Code").value_or("");
    error.message = text(body.front(), "Message").value_or("");
    return error;
}

ListPage parse_list_page(std::string_view doc) {
    ListPage page;
    for (std::string_view contents : elements(doc, "Contents")) {
        auto key = text(contents, "Key");
        if (!key) continue;
        ObjectInfo info;
        info.key = std::move(*key);
        std::string size = text(contents, "Size").value_or("");
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), n);
        if (ec == std::errc() && end == size.data() + size.size()) info.size = n;
        info.etag = strip_quotes(text(contents, "ETag").value_or(""));
        page.objects.push_back(std::move(info));
    }
    // The top-level flags, outside any <Contents> (a key could be named "IsTruncated", but not a tag).
    page.truncated = text(doc, "IsTruncated").value_or("") == "true";
    page.next_token = text(doc, "NextContinuationToken").value_or("");
    return page;
}

std::string strip_quotes(std::string_view etag) {
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    return std::string(etag);
}

}  // namespace yw::s3::xml
