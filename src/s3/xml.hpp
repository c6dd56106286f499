// The little XML S3 and IAM answer with, read by a tolerant extractor (no XML library): element text by tag.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/client.hpp"

namespace yw::s3::xml {

// The raw content of every <tag …>…</tag> (or <tag/>, empty) in document order, not nested in each other. An
// element whose end tag is missing ends the search. Namespace prefixes are not understood.
std::vector<std::string_view> elements(std::string_view doc, std::string_view tag);

// The text of the first such element, entities decoded; nullopt when there is none.
std::optional<std::string> text(std::string_view doc, std::string_view tag);

// &amp; &lt; &gt; &quot; &apos; and numeric references decoded; anything unknown is kept as is.
std::string unescape(std::string_view text);
// & < > " ' as entities, for the documents we send.
std::string escape(std::string_view text);

// <Error><Code>…</Code><Message>…</Message></Error>; empty fields when the body is not such a document.
struct S3Error {
    std::string code;
    std::string message;
};
S3Error parse_error(std::string_view doc);

// One ListObjectsV2 page: its objects (key, size, etag without quotes), and where the next page starts.
struct ListPage {
    std::vector<ObjectInfo> objects;
    bool truncated = false;
    std::string next_token;
};
ListPage parse_list_page(std::string_view doc);

// An ETag without its surrounding double quotes (S3 sends them quoted).
std::string strip_quotes(std::string_view etag);

}  // namespace yw::s3::xml
