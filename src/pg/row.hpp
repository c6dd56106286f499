// One row of a ResultSet read by column name, and PostgreSQL's text form of simple arrays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pg/result_set.hpp"

namespace yw::pg {

// The index of a result column by name (asserted to exist in debug builds), and an integer cell.
int column_index(const ResultSet& rs, std::string_view column);
std::int64_t int64_at(const ResultSet& rs, int row, int col);

// A row of a ResultSet, read by column name. A registry query lacking a column its reader asks for is a
// programming error (asserted in debug builds).
class Row {
  public:
    Row(const ResultSet& rs, int row) : rs_(rs), row_(row) {}
    std::string text(std::string_view column) const;
    // The text without a copy: valid while the ResultSet lives.
    std::string_view view(std::string_view column) const;
    bool is_null(std::string_view column) const;
    std::int64_t int64(std::string_view column) const;
    bool boolean(std::string_view column) const { return view(column) == "t"; }

  private:
    int col(std::string_view column) const;
    const ResultSet& rs_;
    int row_;
};

// PostgreSQL's text form of a simple array ({a,b,"c d"}) → its elements; enough for inet[] and text[] of
// values without embedded quotes.
std::vector<std::string> parse_text_array(std::string_view text);
// The other way, quoting every element; with `empty_as_null`, "" becomes SQL NULL.
std::string text_array(const std::vector<std::string>& items, bool empty_as_null = false);

}  // namespace yw::pg
