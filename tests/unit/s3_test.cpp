// The S3 client's pure parts: key and query encoding for SigV4, the XML extractor, error-status mapping.
#include <gtest/gtest.h>

#include <random>

#include "s3/encoding.hpp"
#include "s3/xml.hpp"

namespace yw::s3 {
namespace {

TEST(S3Encoding, UnreservedKeptEverythingElsePercentEncodedUppercase) {
    EXPECT_EQ(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
    EXPECT_EQ(uri_encode("a b+c=d&e/f"), "a%20b%2Bc%3Dd%26e%2Ff");
    EXPECT_EQ(uri_encode("a/b c", true), "a/b%20c");
    EXPECT_EQ(uri_encode("é"), "%C3%A9");
    EXPECT_EQ(uri_encode(std::string("\0\xff", 2)), "%00%FF");
    EXPECT_EQ(uri_encode(""), "");
}

TEST(S3Encoding, ObjectPathEncodesEachSegmentAndKeepsSlashes) {
    EXPECT_EQ(object_path("bucket", "plain"), "/bucket/plain");
    EXPECT_EQ(object_path("bucket", "dir/sub dir/file name.txt"), "/bucket/dir/sub%20dir/file%20name.txt");
    EXPECT_EQ(object_path("bucket", "日本/ü%"), "/bucket/%E6%97%A5%E6%9C%AC/%C3%BC%25");
    EXPECT_EQ(object_path("bucket", "a?b#c"), "/bucket/a%3Fb%23c");  // never a query or a fragment
}

TEST(S3Encoding, QuerySortedByEncodedNameThenValueWithEmptyValues) {
    EXPECT_EQ(encode_query({}), "");
    EXPECT_EQ(encode_query({{"uploads", ""}}), "uploads=");
    EXPECT_EQ(encode_query({{"uploadId", "x/y+z"}, {"partNumber", "2"}}), "partNumber=2&uploadId=x%2Fy%2Bz");
    // Uppercase sorts before lowercase (byte order), as SigV4's canonical query wants.
    EXPECT_EQ(
        encode_query({{"prefix", "a b"}, {"list-type", "2"}, {"Z", "1"}, {"continuation-token", "t=="}}),
        "Z=1&continuation-token=t%3D%3D&list-type=2&prefix=a%20b");
    EXPECT_EQ(encode_query({{"a", "2"}, {"a", "1"}}), "a=1&a=2");
}

TEST(S3Encoding, ErrorStatusMapping) {
    EXPECT_EQ(error_code_for(404, ""), ErrorCode::kNotFound);
    EXPECT_EQ(error_code_for(404, "NoSuchBucket"), ErrorCode::kNotFound);
    EXPECT_EQ(error_code_for(400, "NoSuchUpload"), ErrorCode::kNotFound);
    EXPECT_EQ(error_code_for(403, "SignatureDoesNotMatch"), ErrorCode::kUnauthenticated);
    EXPECT_EQ(error_code_for(403, "InvalidAccessKeyId"), ErrorCode::kUnauthenticated);
    EXPECT_EQ(error_code_for(403, ""), ErrorCode::kUnauthenticated);
    EXPECT_EQ(error_code_for(401, ""), ErrorCode::kUnauthenticated);
    EXPECT_EQ(error_code_for(400, "SignatureDoesNotMatch"), ErrorCode::kUnauthenticated);
    EXPECT_EQ(error_code_for(500, "InternalError"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for(503, "SlowDown"), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for(429, ""), ErrorCode::kUnavailable);
    EXPECT_EQ(error_code_for(400, "EntityTooSmall"), ErrorCode::kInternal);
    EXPECT_EQ(error_code_for(301, ""), ErrorCode::kInternal);

    EXPECT_TRUE(retryable_status(500));
    EXPECT_TRUE(retryable_status(503));
    EXPECT_TRUE(retryable_status(429));
    EXPECT_FALSE(retryable_status(400));
    EXPECT_FALSE(retryable_status(403));
    EXPECT_FALSE(retryable_status(404));
    EXPECT_FALSE(retryable_status(200));
}

TEST(S3Xml, ErrorDocument) {
    auto e = xml::parse_error(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match &amp; so on</Message>"
        "<RequestId>1</RequestId></Error>");
    EXPECT_EQ(e.code, "SignatureDoesNotMatch");
    EXPECT_EQ(e.message, "The request signature we calculated does not match & so on");

    // IAM wraps it: <ErrorResponse><Error>…</Error></ErrorResponse>.
    e = xml::parse_error(
        "<ErrorResponse xmlns=\"x\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>"
        "<Message>no</Message></Error></ErrorResponse>");
    EXPECT_EQ(e.code, "NoSuchEntity");
    EXPECT_EQ(e.message, "no");

    e = xml::parse_error("<html>502 Bad Gateway</html>");
    EXPECT_EQ(e.code, "");
    EXPECT_EQ(e.message, "");
}

TEST(S3Xml, UploadIdAndTextOfTheFirstElement) {
    std::string doc =
        "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Bucket>b</Bucket><Key>k</Key><UploadId>abc-123_DEF</UploadId></InitiateMultipartUploadResult>";
    EXPECT_EQ(xml::text(doc, "UploadId"), "abc-123_DEF");
    EXPECT_EQ(xml::text(doc, "Bucket"), "b");
    EXPECT_EQ(xml::text(doc, "Missing"), std::nullopt);
    EXPECT_EQ(xml::text("<A/>", "A"), "");
    EXPECT_EQ(xml::text("<A x=\"1\" />", "A"), "");
    EXPECT_EQ(xml::text("<A  x=\"1\">v</A >", "A"), "v");
    EXPECT_EQ(xml::text("<AB>no</AB><A>yes</A>", "A"), "yes");  // a longer tag with the same start is not it
    EXPECT_EQ(xml::text("<A>&lt;&gt;&quot;&apos;&#65;&#x42;&#xe9;&bogus;&</A>", "A"),
              "<>\"'AB\xc3\xa9&bogus;&");
}

TEST(S3Xml, ListPageWithTruncation) {
    std::string doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<ListBucketResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p/</Prefix>"
        "<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/a b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
        "<ETag>&quot;0123abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents>\n  <Key>p/&lt;x&gt; &amp; y</Key>\n  <ETag>\"9f-2\"</ETag>\n  "
        "<Size>18446744073709551615</Size>\n"
        "</Contents>"
        "<NextContinuationToken>tok/en==</NextContinuationToken></ListBucketResult>";
    auto page = xml::parse_list_page(doc);
    ASSERT_EQ(page.objects.size(), 2u);
    EXPECT_EQ(page.objects[0].key, "p/a b");
    EXPECT_EQ(page.objects[0].size, 42u);
    EXPECT_EQ(page.objects[0].etag, "0123abc");
    EXPECT_EQ(page.objects[1].key, "p/<x> & y");
    EXPECT_EQ(page.objects[1].size, 18446744073709551615u);
    EXPECT_EQ(page.objects[1].etag, "9f-2");
    EXPECT_TRUE(page.truncated);
    EXPECT_EQ(page.next_token, "tok/en==");

    auto last = xml::parse_list_page(
        "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>x</Size></Contents>"
        "</ListBucketResult>");
    ASSERT_EQ(last.objects.size(), 1u);
    EXPECT_EQ(last.objects[0].size, 0u);  // garbled size: 0, not a crash
    EXPECT_FALSE(last.truncated);
    EXPECT_EQ(last.next_token, "");

    auto empty = xml::parse_list_page("<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>");
    EXPECT_TRUE(empty.objects.empty());
    EXPECT_FALSE(empty.truncated);
}

TEST(S3Xml, HostileAndGarbledDocumentsNeverCrash) {
    for (const char* doc : {"",
                            "<",
                            ">",
                            "<<<>>>",
                            "</",
                            "<Error",
                            "<Error>",
                            "<Error><Code>x",
                            "<Code>",
                            "<Contents><Key>a</Key",
                            "<Contents><Key",
                            "&",
                            "&#;",
                            "&#x110000;",
                            "&#xd800;",
                            "&#99999999999999999999;",
                            "<A></A",
                            "<Contents/><Contents >",
                            "<IsTruncated>true</IsTruncated>",
                            "<Error/>",
                            "<Key>k</Key></Contents>"}) {
        auto e = xml::parse_error(doc);
        auto page = xml::parse_list_page(doc);
        auto id = xml::text(doc, "UploadId");
        (void)id;
        (void)e;
        EXPECT_LE(page.objects.size(), 1u) << doc;
    }
    // A truncated page without a token is reported as such (the client then stops with an error).
    auto page = xml::parse_list_page("<IsTruncated>true</IsTruncated>");
    EXPECT_TRUE(page.truncated);
    EXPECT_EQ(page.next_token, "");

    // Random bytes made of XML's own characters.
    std::mt19937 rng(7);
    const std::string alphabet = "<>/&;#xKeyContentsSizeETag\"= Error Code";
    for (int i = 0; i < 20000; ++i) {
        std::string doc(rng() % 64, ' ');
        for (char& c : doc) c = alphabet[rng() % alphabet.size()];
        (void)xml::parse_error(doc);
        (void)xml::parse_list_page(doc);
        (void)xml::unescape(doc);
    }
}

TEST(S3Xml, EscapeRoundTrips) {
    std::string s = "<a href=\"x\">'&'</a>";
    EXPECT_EQ(xml::escape(s), "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
    EXPECT_EQ(xml::unescape(xml::escape(s)), s);
    EXPECT_EQ(xml::strip_quotes("\"abc\""), "abc");
    EXPECT_EQ(xml::strip_quotes("abc"), "abc");
    EXPECT_EQ(xml::strip_quotes("\""), "\"");
}

}  // namespace
}  // namespace yw::s3
