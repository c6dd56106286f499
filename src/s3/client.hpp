// A small S3 client over libcurl (SigV4): objects, multipart uploads, streaming reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace yw::s3 {

// Where and as whom. The same settings name AWS S3 in production and the local topology's S3 server in
// development (S3_ENDPOINT, S3_BUCKET, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
struct Config {
    std::string endpoint;  // http(s)://host[:port], no path; path-style addressing (endpoint/bucket/key)
    std::string bucket;
    std::string region = "us-east-1";
    std::string access_key_id;
    std::string secret_access_key;  // never logged, never part of an error message
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds request_timeout{300000};  // one request, whole body included
    // A request that failed to connect, timed out, or got a 5xx/429 is retried this many times (with
    // backoff); 4xx answers are not retried.
    int retries = 3;
};

// One signed HTTP request against the endpoint (any AWS-style service: "s3", "iam", "sts").
struct Request {
    std::string service = "s3";
    std::string method = "GET";
    std::string path = "/";                                  // already percent-encoded, begins with '/'
    std::vector<std::pair<std::string, std::string>> query;  // raw names and values; encoded and sorted here
    std::map<std::string, std::string> headers;              // extra headers (lower-case names)
    std::string_view body;                                   // sent as is (must outlive the call)
    std::string content_type;                                // empty: none
};

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};

struct ObjectInfo {
    std::string key;
    std::uint64_t size = 0;
    std::string etag;                             // without quotes
    std::string server_side_encryption;           // "AES256", "aws:kms" or empty
    std::map<std::string, std::string> metadata;  // x-amz-meta-* without the prefix
};

struct PutOptions {
    std::string content_type = "application/octet-stream";
    bool encrypt = true;  // x-amz-server-side-encryption: AES256
    std::map<std::string, std::string> metadata;
};

class Client {
  public:
    explicit Client(Config config);
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;

    const Config& config() const;

    // The raw signed call (the others are built on it). Transport failures are kUnavailable/kTimeout;
    // HTTP answers, whatever their status, are returned as a Response.
    Result<Response> request(const Request& request);

    // Errors: kNotFound (no such key or bucket), kUnauthenticated (403 / signature / key not known),
    // kUnavailable (cannot connect, 5xx after retries), kTimeout, kInternal (unexpected answer). The message
    // carries S3's own code and message when it sent one (e.g. "SignatureDoesNotMatch: …").
    Result<ObjectInfo> head(const std::string& key);
    Status put(const std::string& key, std::string_view body, const PutOptions& options = {});
    // Streams the object to `sink` chunk by chunk (memory bounded by curl's buffer). A sink error stops the
    // transfer and is returned as is.
    Status get(const std::string& key, const std::function<Status(std::string_view)>& sink);
    Result<std::string> get_text(const std::string& key, std::size_t max_bytes = 16u << 20);
    Status remove(const std::string& key);  // missing is fine (S3 answers 204 either way)
    // ListObjectsV2, all pages of up to `page_size` keys (0: the server's default, 1000 on S3).
    Result<std::vector<ObjectInfo>> list(const std::string& prefix, int page_size = 1000);
    Status create_bucket();  // the configured bucket; already owned is fine

    // Multipart uploads (parts ≥ 5 MiB but the last).
    Result<std::string> start_multipart(const std::string& key, const PutOptions& options);  // upload id
    Result<std::string> upload_part(const std::string& key, const std::string& upload_id, int part_number,
                                    std::string_view data);  // ETag
    Status complete_multipart(const std::string& key, const std::string& upload_id,
                              const std::vector<std::string>& etags);  // etags[i] is part i+1
    Status abort_multipart(const std::string& key, const std::string& upload_id);
    // The ids of multipart uploads of `key` begun and never completed nor aborted (a writer killed mid-way):
    // S3 keeps, and bills, their parts until they are aborted. The first 1000 uploads of the bucket.
    Result<std::vector<std::string>> unfinished_uploads(const std::string& key);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Writes one object from a stream of bytes in bounded memory: buffers up to `part_size`, then uploads it as a
// part; an object smaller than one part is a single PUT. finish() completes the upload; destroying an
// unfinished writer (or abort()) aborts it, so no half-written object or orphaned upload is left behind.
class ObjectWriter {
  public:
    ObjectWriter(Client& client, std::string key, PutOptions options, std::size_t part_size = 8u << 20);
    ~ObjectWriter();
    ObjectWriter(const ObjectWriter&) = delete;
    ObjectWriter& operator=(const ObjectWriter&) = delete;

    Status write(std::string_view data);
    Status finish();
    void abort();
    std::uint64_t bytes_written() const { return written_; }

  private:
    Status flush_part();

    Client& client_;
    std::string key_;
    PutOptions options_;
    std::size_t part_size_;
    std::string buffer_;
    std::string upload_id_;
    std::vector<std::string> etags_;
    std::uint64_t written_ = 0;
    bool done_ = false;
};

}  // namespace yw::s3
