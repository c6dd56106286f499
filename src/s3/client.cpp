// The S3 client over libcurl: signed requests, retries, error mapping, objects, multipart, ObjectWriter.
#include "s3/client.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <mutex>
#include <span>
#include <thread>

#include "common/hex.hpp"
#include "common/logging.hpp"
#include "common/sha256.hpp"
#include "s3/encoding.hpp"
#include "s3/xml.hpp"

namespace yw::s3 {

namespace {

using Sink = std::function<Status(std::string_view)>;

std::string sha256_hex(std::string_view data) { return Sha256::hex_of(data); }

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// What one transfer sees: the body going out, the answer coming in, and where a 2xx body streams to.
struct Transfer {
    CURL* curl = nullptr;
    std::string_view upload;
    std::size_t upload_pos = 0;
    Response response;
    const Sink* sink = nullptr;
    bool sink_used = false;  // bytes went to the sink: the request cannot be retried
    std::optional<Error> sink_error;
};

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = std::min(size * count, t->upload.size() - t->upload_pos);
    std::memcpy(buffer, t->upload.data() + t->upload_pos, n);
    t->upload_pos += n;
    return n;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->sink != nullptr && status >= 200 && status < 300) {
        t->sink_used = true;
        Status s = (*t->sink)(std::string_view(data, n));
        if (!s.ok()) {
            t->sink_error = s.error();
            return 0;  // CURLE_WRITE_ERROR
        }
        return n;
    }
    if (t->response.body.size() < (1u << 20)) t->response.body.append(data, n);  // an error document, bounded
    return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {  // a new answer (after 100 Continue): forget the previous one's headers
        t->response.headers.clear();
        return line.size();
    }
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        t->response.headers[lower(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
    }
    return line.size();
}

Error s3_error(const std::string& what, const Response& r) {
    xml::S3Error parsed = xml::parse_error(r.body);
    if (parsed.code.empty() && r.status == 404) parsed.code = "NotFound";  // HEAD answers have no body
    std::string message = fmt::format("S3 {}: HTTP {}", what, r.status);
    if (!parsed.code.empty()) message += ": " + parsed.code;
    if (!parsed.message.empty()) message += ": " + parsed.message;
    return make_error(error_code_for(r.status, parsed.code), std::move(message));
}

Status check(const std::string& what, const Result<Response>& r) {
    if (!r.ok()) return r.error();
    if (r->status < 200 || r->status >= 300) return s3_error(what, *r);
    return {};
}

void add_options_headers(std::map<std::string, std::string>& headers, const PutOptions& options) {
    if (options.encrypt) headers["x-amz-server-side-encryption"] = "AES256";
    for (const auto& [name, value] : options.metadata) headers["x-amz-meta-" + lower(name)] = value;
}

std::once_flag curl_initialized;

}  // namespace

struct Client::Impl {
    Config config;
    CURL* curl = nullptr;

    explicit Impl(Config c) : config(std::move(c)) {
        std::call_once(curl_initialized, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
        curl = curl_easy_init();
    }
    ~Impl() {
        if (curl != nullptr) curl_easy_cleanup(curl);
    }

    // One attempt. Transport failures come back as an Error (kTimeout or kUnavailable) with the curl code.
    Result<Response> attempt(const Request& req, const std::string& url, curl_slist* headers,
                             const Sink* sink, Transfer& t, CURLcode& code) {
        curl_easy_reset(curl);  // keeps the connection alive
        char errbuf[CURL_ERROR_SIZE] = {0};
        t = Transfer{};
        t.curl = curl;
        t.upload = req.body;
        t.sink = sink;
        std::string sigv4 = fmt::format("aws:amz:{}:{}", config.region, req.service);
        std::string userpwd = config.access_key_id + ":" + config.secret_access_key;
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
        curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.connect_timeout.count()));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config.request_timeout.count()));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
        if (req.method == "GET") {
            curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        } else if (req.method == "HEAD") {
            curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        } else if (req.method == "PUT") {
            curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(curl, CURLOPT_READDATA, &t);
            curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
        } else {  // POST, DELETE, …: the body (possibly empty) as "post fields", not copied
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
            if (req.method != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
            if (req.method == "DELETE" && req.body.empty()) {
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
                curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
            }
        }
        code = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        t.response.status = static_cast<int>(status);
        if (code == CURLE_OK) return std::move(t.response);
        if (t.sink_error) return *t.sink_error;
        std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
        std::string message = fmt::format("S3 {} {}: {}", req.method, req.path, detail);
        if (code == CURLE_OPERATION_TIMEDOUT) return make_error(ErrorCode::kTimeout, std::move(message));
        return make_error(ErrorCode::kUnavailable, std::move(message));
    }

    Result<Response> perform(const Request& req, const Sink* sink) {
        if (curl == nullptr) return make_error(ErrorCode::kInternal, "S3: curl_easy_init failed");
        std::string url = config.endpoint + req.path;
        std::string query = encode_query(req.query);
        if (!query.empty()) url += "?" + query;

        curl_slist* headers = nullptr;
        bool has_sha = false;
        for (const auto& [name, value] : req.headers) {
            has_sha = has_sha || lower(name) == "x-amz-content-sha256";
            headers = curl_slist_append(headers, (name + ": " + value).c_str());
        }
        if (!has_sha) {
            headers = curl_slist_append(headers, ("x-amz-content-sha256: " + sha256_hex(req.body)).c_str());
        }
        if (!req.content_type.empty()) {
            headers = curl_slist_append(headers, ("Content-Type: " + req.content_type).c_str());
        }

        Result<Response> result = make_error(ErrorCode::kInternal, "S3: no attempt");
        for (int i = 0;; ++i) {
            Transfer t;
            CURLcode code = CURLE_OK;
            result = attempt(req, url, headers, sink, t, code);
            bool retry = false;
            if (result.ok()) {
                retry = retryable_status(result->status) && !t.sink_used;
            } else if (!t.sink_error && !t.sink_used) {
                retry = code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
                        code == CURLE_OPERATION_TIMEDOUT;
            }
            if (!retry || i >= config.retries) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200) * (1 << std::min(i, 5)));
        }
        curl_slist_free_all(headers);
        return result;
    }
};

Client::Client(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Config& Client::config() const { return impl_->config; }

Result<Response> Client::request(const Request& request) { return impl_->perform(request, nullptr); }

Result<ObjectInfo> Client::head(const std::string& key) {
    Request req;
    req.method = "HEAD";
    req.path = object_path(impl_->config.bucket, key);
    auto r = request(req);
    if (Status s = check("HEAD " + key, r); !s.ok()) return s.error();
    ObjectInfo info;
    info.key = key;
    for (const auto& [name, value] : r->headers) {
        if (name == "content-length") {
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), info.size);
            if (ec != std::errc())
                return make_error(ErrorCode::kInternal, "S3 HEAD " + key + ": bad content-length");
        } else if (name == "etag") {
            info.etag = xml::strip_quotes(value);
        } else if (name == "x-amz-server-side-encryption") {
            info.server_side_encryption = value;
        } else if (name.starts_with("x-amz-meta-")) {
            info.metadata[name.substr(std::strlen("x-amz-meta-"))] = value;
        }
    }
    return info;
}

Status Client::put(const std::string& key, std::string_view body, const PutOptions& options) {
    Request req;
    req.method = "PUT";
    req.path = object_path(impl_->config.bucket, key);
    req.body = body;
    req.content_type = options.content_type;
    add_options_headers(req.headers, options);
    return check("PUT " + key, request(req));
}

Status Client::get(const std::string& key, const std::function<Status(std::string_view)>& sink) {
    Request req;
    req.method = "GET";
    req.path = object_path(impl_->config.bucket, key);
    return check("GET " + key, impl_->perform(req, &sink));
}

Result<std::string> Client::get_text(const std::string& key, std::size_t max_bytes) {
    std::string text;
    Status s = get(key, [&](std::string_view chunk) -> Status {
        if (text.size() + chunk.size() > max_bytes) {
            return make_error(ErrorCode::kInternal,
                              fmt::format("S3 GET {}: larger than {} bytes", key, max_bytes));
        }
        text.append(chunk);
        return {};
    });
    if (!s.ok()) return s.error();
    return text;
}

Status Client::remove(const std::string& key) {
    Request req;
    req.method = "DELETE";
    req.path = object_path(impl_->config.bucket, key);
    return check("DELETE " + key, request(req));
}

Result<std::vector<ObjectInfo>> Client::list(const std::string& prefix, int page_size) {
    std::vector<ObjectInfo> all;
    std::string token;
    for (;;) {
        Request req;
        req.method = "GET";
        req.path = "/" + uri_encode(impl_->config.bucket);
        req.query = {{"list-type", "2"}, {"prefix", prefix}};
        if (page_size > 0) req.query.emplace_back("max-keys", std::to_string(page_size));
        if (!token.empty()) req.query.emplace_back("continuation-token", token);
        auto r = request(req);
        if (Status s = check("LIST " + prefix, r); !s.ok()) return s.error();
        xml::ListPage page = xml::parse_list_page(r->body);
        for (auto& info : page.objects) all.push_back(std::move(info));
        if (!page.truncated) break;
        if (page.next_token.empty() || page.next_token == token) {
            return make_error(ErrorCode::kInternal,
                              "S3 LIST " + prefix + ": truncated page without a new token");
        }
        token = std::move(page.next_token);
    }
    return all;
}

Status Client::create_bucket() {
    const Config& c = impl_->config;
    std::string body;
    if (c.region != "us-east-1") {
        body = fmt::format(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            xml::escape(c.region));
    }
    Request req;
    req.method = "PUT";
    req.path = "/" + uri_encode(c.bucket);
    req.body = body;
    if (!body.empty()) req.content_type = "application/xml";
    auto r = request(req);
    if (r.ok() && r->status == 409 && xml::parse_error(r->body).code == "BucketAlreadyOwnedByYou") return {};
    return check("CREATE BUCKET " + c.bucket, r);
}

Result<std::string> Client::start_multipart(const std::string& key, const PutOptions& options) {
    Request req;
    req.method = "POST";
    req.path = object_path(impl_->config.bucket, key);
    req.query = {{"uploads", ""}};
    req.content_type = options.content_type;
    add_options_headers(req.headers, options);
    auto r = request(req);
    if (Status s = check("START MULTIPART " + key, r); !s.ok()) return s.error();
    auto id = xml::text(r->body, "UploadId");
    if (!id || id->empty())
        return make_error(ErrorCode::kInternal, "S3 START MULTIPART " + key + ": no UploadId");
    return *id;
}

Result<std::string> Client::upload_part(const std::string& key, const std::string& upload_id, int part_number,
                                        std::string_view data) {
    Request req;
    req.method = "PUT";
    req.path = object_path(impl_->config.bucket, key);
    req.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
    req.body = data;
    auto r = request(req);
    std::string what = fmt::format("UPLOAD PART {} of {}", part_number, key);
    if (Status s = check(what, r); !s.ok()) return s.error();
    auto etag = r->headers.find("etag");
    if (etag == r->headers.end() || etag->second.empty()) {
        return make_error(ErrorCode::kInternal, "S3 " + what + ": no ETag");
    }
    return xml::strip_quotes(etag->second);
}

Status Client::complete_multipart(const std::string& key, const std::string& upload_id,
                                  const std::vector<std::string>& etags) {
    std::string body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (std::size_t i = 0; i < etags.size(); ++i) {
        body += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                            xml::escape("\"" + etags[i] + "\""));
    }
    body += "</CompleteMultipartUpload>";
    Request req;
    req.method = "POST";
    req.path = object_path(impl_->config.bucket, key);
    req.query = {{"uploadId", upload_id}};
    req.body = body;
    req.content_type = "application/xml";
    auto r = request(req);
    if (Status s = check("COMPLETE MULTIPART " + key, r); !s.ok()) return s;
    // S3 may answer 200 and still fail: the error is then the body.
    xml::S3Error error = xml::parse_error(r->body);
    if (!error.code.empty()) {
        return make_error(ErrorCode::kUnavailable,
                          fmt::format("S3 COMPLETE MULTIPART {}: {}: {}", key, error.code, error.message));
    }
    return {};
}

Status Client::abort_multipart(const std::string& key, const std::string& upload_id) {
    Request req;
    req.method = "DELETE";
    req.path = object_path(impl_->config.bucket, key);
    req.query = {{"uploadId", upload_id}};
    return check("ABORT MULTIPART " + key, request(req));
}

Result<std::vector<std::string>> Client::unfinished_uploads(const std::string& key) {
    // ListMultipartUploads of the whole bucket, filtered here: a prefix with '/' is mis-signed by moto 5.2.1.
    Request req;
    req.path = "/" + impl_->config.bucket;
    req.query = {{"uploads", ""}};
    auto r = request(req);
    if (Status s = check("LIST MULTIPART UPLOADS", r); !s.ok()) return s.error();
    std::vector<std::string> ids;
    for (auto upload : xml::elements(r->body, "Upload"))
        if (xml::text(upload, "Key") == key) ids.push_back(xml::text(upload, "UploadId").value_or(""));
    return ids;
}

// ObjectWriter

ObjectWriter::ObjectWriter(Client& client, std::string key, PutOptions options, std::size_t part_size)
    : client_(client), key_(std::move(key)), options_(std::move(options)), part_size_(part_size) {}

ObjectWriter::~ObjectWriter() { abort(); }

Status ObjectWriter::write(std::string_view data) {
    if (done_) return make_error(ErrorCode::kInternal, "S3 writer of " + key_ + ": already finished");
    buffer_.append(data);
    written_ += data.size();
    while (buffer_.size() >= part_size_) {
        if (Status s = flush_part(); !s.ok()) return s;
    }
    return {};
}

Status ObjectWriter::flush_part() {
    if (upload_id_.empty()) {
        auto id = client_.start_multipart(key_, options_);
        if (!id.ok()) {
            abort();
            return id.error();
        }
        upload_id_ = std::move(*id);
    }
    std::size_t n = std::min(part_size_, buffer_.size());
    auto etag = client_.upload_part(key_, upload_id_, static_cast<int>(etags_.size()) + 1,
                                    std::string_view(buffer_).substr(0, n));
    if (!etag.ok()) {
        abort();
        return etag.error();
    }
    etags_.push_back(std::move(*etag));
    buffer_.erase(0, n);
    return {};
}

Status ObjectWriter::finish() {
    if (done_) return make_error(ErrorCode::kInternal, "S3 writer of " + key_ + ": already finished");
    if (upload_id_.empty()) {
        Status s = client_.put(key_, buffer_, options_);
        done_ = true;
        buffer_.clear();
        return s;
    }
    if (!buffer_.empty()) {
        if (Status s = flush_part(); !s.ok()) return s;
    }
    Status s = client_.complete_multipart(key_, upload_id_, etags_);
    if (!s.ok()) {
        abort();
        return s;
    }
    done_ = true;
    buffer_.clear();
    return {};
}

void ObjectWriter::abort() {
    if (done_) return;
    done_ = true;
    buffer_.clear();
    buffer_.shrink_to_fit();
    if (upload_id_.empty()) return;
    if (Status s = client_.abort_multipart(key_, upload_id_); !s.ok()) {
        log::warn("S3 multipart upload left behind", {{"key", key_}, {"error", s.error().message}});
    }
}

}  // namespace yw::s3
