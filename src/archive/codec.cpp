// gzip streams over zlib, and the CSV record counter (see codec.hpp).
#include "archive/codec.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>

namespace yw::archive {

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr int kGzipWindow = 15 + 16;  // 32 KiB window, gzip header and trailer
constexpr int kAutoWindow = 15 + 32;  // inflate: zlib or gzip, detected

Error zlib_error(const char* what, int rc, const z_stream& z) {
    return make_error(ErrorCode::kUnprocessable,
                      fmt::format("{}: {} (zlib {})", what, z.msg ? z.msg : "corrupt data", rc));
}

// Hands what zlib produced (if anything) to the sink.
Status emit(const Sink& out, const unsigned char* data, std::size_t size) {
    if (size == 0) return {};
    return out(std::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace

struct GzipWriter::Impl {
    z_stream z{};
    bool ready = false;
    std::array<unsigned char, kChunk> buffer{};
};

GzipWriter::GzipWriter(Sink out, int level) : impl_(std::make_unique<Impl>()), out_(std::move(out)) {
    impl_->ready = deflateInit2(&impl_->z, level, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipWriter::~GzipWriter() {
    if (impl_->ready) deflateEnd(&impl_->z);
}

Status GzipWriter::pump(int flush) {
    z_stream& z = impl_->z;
    int rc = Z_OK;
    do {
        z.next_out = impl_->buffer.data();
        z.avail_out = static_cast<uInt>(impl_->buffer.size());
        rc = deflate(&z, flush);
        if (rc == Z_STREAM_ERROR) return zlib_error("gzip", rc, z);
        std::size_t produced = impl_->buffer.size() - z.avail_out;
        if (auto s = emit(out_, impl_->buffer.data(), produced); !s) return s;
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return {};
}

Status GzipWriter::write(std::string_view data) {
    if (!impl_->ready) return make_error(ErrorCode::kInternal, "gzip: the compressor did not start");
    impl_->z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    impl_->z.avail_in = static_cast<uInt>(data.size());
    return pump(Z_NO_FLUSH);
}

Status GzipWriter::finish() {
    if (!impl_->ready) return make_error(ErrorCode::kInternal, "gzip: the compressor did not start");
    impl_->z.next_in = nullptr;
    impl_->z.avail_in = 0;
    return pump(Z_FINISH);
}

struct GzipReader::Impl {
    z_stream z{};
    bool ready = false;
    bool ended = false;  // the last member's trailer was read
    bool any = false;    // some input arrived
    std::array<unsigned char, kChunk> buffer{};
};

GzipReader::GzipReader(Sink out) : impl_(std::make_unique<Impl>()), out_(std::move(out)) {
    impl_->ready = inflateInit2(&impl_->z, kAutoWindow) == Z_OK;
}

GzipReader::~GzipReader() {
    if (impl_->ready) inflateEnd(&impl_->z);
}

Status GzipReader::write(std::string_view compressed) {
    if (!impl_->ready) return make_error(ErrorCode::kInternal, "gunzip: the decompressor did not start");
    z_stream& z = impl_->z;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    z.avail_in = static_cast<uInt>(compressed.size());
    if (!compressed.empty()) impl_->any = true;
    while (z.avail_in > 0) {
        if (impl_->ended) {
            // Another gzip member follows (concatenated files), or garbage.
            if (inflateReset(&z) != Z_OK) return zlib_error("gunzip", Z_STREAM_ERROR, z);
            impl_->ended = false;
        }
        z.next_out = impl_->buffer.data();
        z.avail_out = static_cast<uInt>(impl_->buffer.size());
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return zlib_error("gunzip", rc, z);
        std::size_t produced = impl_->buffer.size() - z.avail_out;
        if (auto s = emit(out_, impl_->buffer.data(), produced); !s) return s;
        if (rc == Z_STREAM_END) impl_->ended = true;
        if (rc == Z_BUF_ERROR && produced == 0) break;  // needs more input
    }
    return {};
}

Status GzipReader::finish() {
    if (!impl_->ready) return make_error(ErrorCode::kInternal, "gunzip: the decompressor did not start");
    if (!impl_->any) return make_error(ErrorCode::kUnprocessable, "gunzip: the stream is empty");
    if (!impl_->ended) return make_error(ErrorCode::kUnprocessable, "gunzip: the stream is truncated");
    return {};
}

void CsvRecordCounter::update(std::string_view data) {
    for (char c : data) {
        if (c == '"') {
            quoted_ = !quoted_;  // "" inside quotes toggles twice: still quoted
            partial_ = true;
        } else if (c == '\n' && !quoted_) {
            ++records_;
            partial_ = false;
        } else {
            partial_ = true;
        }
    }
}

}  // namespace yw::archive
