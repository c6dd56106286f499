// Rules on the code base's own text that the compiler does not enforce.
//
// No capturing lambda inside a co_await expression. GCC 12 (Debian 12's compiler) destroys such a lambda
// twice (GCC PR 100611, Asio issue 858): `co_await co_spawn(ex, [strand]() -> awaitable<…> {…},
// use_awaitable)` released a strand's reference it did not own, and ywmsgd under ASan died with a
// heap-use-after-free in ~shared_target_executor under concurrent GET /health/detailed. Name the lambda (or
// the std::function built from it) in a statement of its own, then co_await.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "common/files.hpp"

namespace yw {
namespace {

// The text with comments, string and character literals blanked out (newlines kept, so lines still count).
std::string code_only(const std::string& text) {
    std::string out = text;
    size_t i = 0;
    const size_t n = text.size();
    auto blank = [&](size_t from, size_t to) {
        for (size_t k = from; k < to && k < n; ++k)
            if (out[k] != '\n') out[k] = ' ';
    };
    while (i < n) {
        if (text.compare(i, 2, "//") == 0) {
            size_t end = text.find('\n', i);
            if (end == std::string::npos) end = n;
            blank(i, end);
            i = end;
        } else if (text.compare(i, 2, "/*") == 0) {
            size_t end = text.find("*/", i + 2);
            end = end == std::string::npos ? n : end + 2;
            blank(i, end);
            i = end;
        } else if (text[i] == 'R' && i + 1 < n && text[i + 1] == '"' &&
                   (i == 0 ||
                    !(std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_'))) {
            size_t open = text.find('(', i + 2);
            if (open == std::string::npos) return out;
            const std::string close = ")" + text.substr(i + 2, open - i - 2) + "\"";
            size_t end = text.find(close, open);
            end = end == std::string::npos ? n : end + close.size();
            blank(i, end);
            i = end;
        } else if (text[i] == '"' ||
                   (text[i] == '\'' && (i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]))))) {
            // A ' after a digit or letter is a digit separator (1'000), not a character literal.
            const char quote = text[i];
            size_t k = i + 1;
            while (k < n && text[k] != quote && text[k] != '\n') k += text[k] == '\\' ? 2 : 1;
            blank(i, k + 1);
            i = k + 1;
        } else {
            ++i;
        }
    }
    return out;
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Lines (1-based) where a co_await's full expression holds a lambda with a non-empty capture list.
std::vector<int> capturing_lambdas_in_co_await(const std::string& text) {
    const std::string code = code_only(text);
    std::vector<int> lines;
    const std::string keyword = "co_await";
    for (size_t at = code.find(keyword); at != std::string::npos; at = code.find(keyword, at + 1)) {
        if ((at > 0 && ident_char(code[at - 1])) ||
            (at + keyword.size() < code.size() && ident_char(code[at + keyword.size()])))
            continue;
        // The statement around it: back to the previous ; { } at depth 0, on to the ; that ends it.
        size_t begin = at;
        for (int depth = 0; begin > 0; --begin) {
            char c = code[begin - 1];
            if (c == ')' || c == ']') ++depth;
            if (c == '(' || c == '[') {
                if (depth == 0) break;  // inside a call's arguments: the call is the expression
                --depth;
            }
            if (depth == 0 && (c == ';' || c == '{' || c == '}')) break;
        }
        size_t end = at;
        for (int depth = 0; end < code.size(); ++end) {
            char c = code[end];
            if (c == '(' || c == '[' || c == '{') ++depth;
            if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) break;
                --depth;
            }
            if (depth == 0 && c == ';') break;
        }
        for (size_t k = begin; k < end; ++k) {
            if (code[k] != '[') continue;
            size_t prev = k;
            while (prev > 0 && std::isspace(static_cast<unsigned char>(code[prev - 1]))) --prev;
            if (prev > 0 && (ident_char(code[prev - 1]) || code[prev - 1] == ']' || code[prev - 1] == ')'))
                continue;  // a subscript, not a lambda
            size_t close = code.find(']', k);
            if (close == std::string::npos || close >= end) continue;
            std::string captures = code.substr(k + 1, close - k - 1);
            if (captures.find_first_not_of(" \t\n") == std::string::npos) continue;  // [] captures nothing
            size_t next = code.find_first_not_of(" \t\n", close + 1);
            if (next == std::string::npos) continue;
            if (code[next] == '(' || code[next] == '{' || code.compare(next, 2, "->") == 0 ||
                code.compare(next, 7, "mutable") == 0) {
                lines.push_back(static_cast<int>(std::count(code.begin(), code.begin() + at, '\n')) + 1);
                break;
            }
        }
    }
    return lines;
}

TEST(SourceRules, TheScannerFindsACapturingLambdaInACoAwait) {
    EXPECT_EQ(capturing_lambdas_in_co_await(
                  "auto r = co_await asio::co_spawn(\n  strand,\n  [this, strand]() -> awaitable<int> {\n"
                  "    co_return 1;\n  },\n  asio::use_awaitable);\n"),
              std::vector<int>{1});
    EXPECT_EQ(capturing_lambdas_in_co_await("x();\nco_await run(key, [&] { return load(); });\n"),
              std::vector<int>{2});
    EXPECT_EQ(capturing_lambdas_in_co_await("co_await f(g([v = std::move(v)]() mutable {}));"),
              std::vector<int>{1});
    EXPECT_EQ(capturing_lambdas_in_co_await("if (ok) x = co_await f([=] { return 1; });"),
              std::vector<int>{1});
}

TEST(SourceRules, TheScannerLeavesNamedLambdasSubscriptsAndCommentsAlone) {
    EXPECT_TRUE(capturing_lambdas_in_co_await("auto load = [this] { return run(); };\n"
                                              "auto r = co_await flight.run(key, load);\n")
                    .empty());
    EXPECT_TRUE(capturing_lambdas_in_co_await("co_await probe(*nodes[i], deadline);").empty());
    EXPECT_TRUE(capturing_lambdas_in_co_await("co_await f([]() -> awaitable<void> { co_return; });").empty());
    EXPECT_TRUE(capturing_lambdas_in_co_await("// co_await f([this] {});\nint a = 1'000;\n").empty());
    EXPECT_TRUE(capturing_lambdas_in_co_await("auto s = \"co_await f([this] {})\";").empty());
    EXPECT_TRUE(capturing_lambdas_in_co_await("auto s = R\"(co_await f([this] {}))\";").empty());
    // A lambda in the statement after the co_await is not in its expression.
    EXPECT_TRUE(capturing_lambdas_in_co_await("co_await f(); auto g = [this] { return 1; };").empty());
    // A coroutine lambda may co_await inside its own body; the capturing lambda around it is not a temporary
    // of that co_await.
    EXPECT_TRUE(
        capturing_lambdas_in_co_await("auto body = [this]() -> awaitable<void> { co_await f(); };").empty());
}

TEST(SourceRules, NoCapturingLambdaIsATemporaryOfACoAwait) {
    namespace fs = std::filesystem;
    size_t files = 0;
    for (const char* dir : {"src", "apps", "tests", "bench"}) {
        const fs::path root = fs::path(YW_SOURCE_DIR) / dir;
        if (!fs::exists(root)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(root)) {
            const auto ext = entry.path().extension();
            if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".hpp")) continue;
            if (entry.path().filename() == "source_rules_test.cpp") continue;  // its examples are the pattern
            ++files;
            for (int line : capturing_lambdas_in_co_await(read_text(entry.path().string())))
                ADD_FAILURE()
                    << fs::relative(entry.path(), YW_SOURCE_DIR).string() << ":" << line
                    << ": a capturing lambda inside a co_await expression (GCC 12 destroys it twice): "
                       "name it in a statement of its own";
        }
    }
    EXPECT_GT(files, 100u);
}

}  // namespace
}  // namespace yw
