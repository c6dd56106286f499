// The fuzz targets without libFuzzer: every file of the corpus directories given on the command line, then
// YW_FUZZ_ITERATIONS (default 200000) inputs made from them by deterministic mutations (bit flips, bytes the
// parsers care about, insertions, deletions, duplications, splices, truncations). A crash, a sanitizer
// report or a violated property fails the run; the input is printed as hex first.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "fuzz.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

struct Rng {  // xorshift64*: deterministic, so a failure reproduces
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 2685821657736338717ULL;
    }
    std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

constexpr std::uint8_t kInteresting[] = {0,   0xff, 0x7f, 0x80, '%',  '&',  '=',  '"',  '\\', '{', '}',
                                         '[', ']',  ':',  ',',  '.',  '|',  '/',  '?',  '\n', '#', ' ',
                                         '0', '9',  '-',  'e',  0xc3, 0xa9, 0xf0, 0xed, 0xa0, 0x80};

void mutate(Bytes& b, const std::vector<Bytes>& corpus, Rng& rng) {
    int rounds = 1 + static_cast<int>(rng.below(4));
    for (int r = 0; r < rounds; ++r) {
        switch (rng.below(7)) {
            case 0:
                if (!b.empty()) b[rng.below(b.size())] ^= static_cast<std::uint8_t>(1u << rng.below(8));
                break;
            case 1:
                if (!b.empty()) b[rng.below(b.size())] = kInteresting[rng.below(sizeof kInteresting)];
                break;
            case 2:
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)),
                         kInteresting[rng.below(sizeof kInteresting)]);
                break;
            case 3:
                if (!b.empty()) {
                    std::size_t at = rng.below(b.size());
                    std::size_t n = 1 + rng.below(std::min<std::size_t>(8, b.size() - at));
                    b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                            b.begin() + static_cast<std::ptrdiff_t>(at + n));
                }
                break;
            case 4:
                if (!b.empty() && b.size() < 4096) {
                    std::size_t at = rng.below(b.size());
                    std::size_t n = 1 + rng.below(std::min<std::size_t>(16, b.size() - at));
                    Bytes piece(b.begin() + static_cast<std::ptrdiff_t>(at),
                                b.begin() + static_cast<std::ptrdiff_t>(at + n));
                    b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)), piece.begin(),
                             piece.end());
                }
                break;
            case 5: {
                const Bytes& other = corpus[rng.below(corpus.size())];
                std::size_t cut = rng.below(b.size() + 1), from = rng.below(other.size() + 1);
                b.resize(cut);
                b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
                break;
            }
            default:
                b.resize(rng.below(b.size() + 1));
                break;
        }
    }
}

const Bytes* current = nullptr;

// On a crash or an abort (sanitizers abort too): the input, as hex, so it can be added to the corpus.
void dump_input(int sig) {
    static const char kHex[] = "0123456789abcdef";
    const char head[] = "\nfuzz input that failed (hex): ";
    (void)!write(2, head, sizeof head - 1);
    if (current) {
        for (std::uint8_t c : *current) {
            char pair[2] = {kHex[c >> 4], kHex[c & 15]};
            (void)!write(2, pair, 2);
        }
    }
    (void)!write(2, "\n", 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

void run(const Bytes& input) {
    current = &input;
    // A copy in a buffer of its exact size, so ASan catches a read past the end.
    std::unique_ptr<std::uint8_t[]> exact(new std::uint8_t[input.size() ? input.size() : 1]);
    std::copy(input.begin(), input.end(), exact.get());
    LLVMFuzzerTestOneInput(exact.get(), input.size());
}

}  // namespace

int main(int argc, char** argv) {
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, dump_input);
    std::vector<Bytes> corpus;
    for (int i = 1; i < argc; ++i) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(argv[i], ec)) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        if (ec) std::fprintf(stderr, "cannot read corpus %s: %s\n", argv[i], ec.message().c_str());
    }
    if (corpus.empty()) corpus.emplace_back();
    std::sort(corpus.begin(), corpus.end());  // directory order varies; the run must not
    const char* n_env = std::getenv("YW_FUZZ_ITERATIONS");
    long iterations = n_env ? std::atol(n_env) : 200000;
    for (const auto& input : corpus) run(input);
    Rng rng{0x9e3779b97f4a7c15ULL};
    for (long i = 0; i < iterations; ++i) {
        Bytes input = corpus[rng.below(corpus.size())];
        mutate(input, corpus, rng);
        run(input);
    }
    std::printf("%zu corpus inputs and %ld mutations: no crash, no violated property\n", corpus.size(),
                iterations);
    return 0;
}
