// Streaming gzip (zlib) and CSV record counting for archived months, in bounded memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace yw::archive {

using Sink = std::function<Status(std::string_view)>;

// Compresses what it is given into the gzip format (RFC 1952, what `gzip` and `gunzip` read), handing the
// compressed bytes to `out` as they come.
class GzipWriter {
  public:
    explicit GzipWriter(Sink out, int level = 6);
    ~GzipWriter();
    GzipWriter(const GzipWriter&) = delete;
    GzipWriter& operator=(const GzipWriter&) = delete;

    Status write(std::string_view data);
    Status finish();  // flushes the last block and the trailer (CRC-32, size)

  private:
    Status pump(int flush);
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Sink out_;
};

// Decompresses a gzip stream (several members, as `cat a.gz b.gz` makes, included); finish() fails on a
// truncated stream, and write() on corrupt data or bytes after the end.
class GzipReader {
  public:
    explicit GzipReader(Sink out);
    ~GzipReader();
    GzipReader(const GzipReader&) = delete;
    GzipReader& operator=(const GzipReader&) = delete;

    Status write(std::string_view compressed);
    Status finish();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Sink out_;
};

// Counts the records of CSV text as PostgreSQL's COPY … (FORMAT csv) writes it: a newline inside double
// quotes belongs to the field, not the record.
class CsvRecordCounter {
  public:
    void update(std::string_view data);
    std::int64_t records() const { return records_ + (partial_ ? 1 : 0); }  // a last line without \n counts
    bool ends_cleanly() const { return !quoted_ && !partial_; }             // whole records, quotes closed

  private:
    std::int64_t records_ = 0;
    bool quoted_ = false;
    bool partial_ = false;
};

}  // namespace yw::archive
