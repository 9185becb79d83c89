// What every C++ test program shares: counted checks that report and go on, expected
// errors, reading a file, and the summary line and exit status.
#ifndef WXREFUND_TEST_UTIL_HPP
#define WXREFUND_TEST_UTIL_HPP

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "wxrefund.hpp"

namespace test_util {

inline std::atomic<int> checks{0};
inline std::atomic<int> failures{0};

/// Whether `needle` occurs in `haystack`.
inline bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

/// The whole file at `path`; throws when it cannot be read.
inline std::string read_file(const char* path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error(std::string("cannot read ") + path);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

/// Runs `call`, which must throw a wxrefund::Error of status `want` (named alike in
/// `status_name()`, the JSON and `what()`) whose JSON contains `needle`.
template <class Call>
void expect_error(const char* file, int line, wxrefund_status want, const std::string& needle,
                  Call&& call) {
    checks++;
    try {
        call();
        failures++;
        std::cerr << file << ":" << line << ": no exception, want " << wxrefund_status_name(want) << "\n";
    } catch (const wxrefund::Error& e) {
        const std::string name = wxrefund_status_name(want);
        bool ok = e.status() == want && e.status_name() == name &&
                  contains(e.json(), "\"status\":\"" + name + "\"") && contains(e.json(), needle) &&
                  std::string(e.what()).rfind(name + ": {", 0) == 0;
        if (!ok) {
            failures++;
            std::cerr << file << ":" << line << ": want " << name << " with " << needle << ", got "
                      << e.what() << "\n";
        }
    } catch (const std::exception& e) {
        failures++;
        std::cerr << file << ":" << line << ": not a wxrefund::Error: " << e.what() << "\n";
    }
}

/// Prints "N passed, M failed" and returns the program's exit status.
inline int finish() {
    std::cout << checks - failures << " passed, " << failures << " failed" << std::endl;
    return failures == 0 ? 0 : 1;
}

}  // namespace test_util

/// Counts a check; a failed one is reported with its place and the run goes on.
#define CHECK(cond)                                                                    \
    do {                                                                               \
        test_util::checks++;                                                           \
        if (!(cond)) {                                                                 \
            test_util::failures++;                                                     \
            std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond "\n"; \
        }                                                                              \
    } while (0)

/// The statements must throw a wxrefund::Error of status `want` whose JSON holds `needle`.
#define EXPECT_ERROR(want, needle, ...) \
    test_util::expect_error(__FILE__, __LINE__, want, needle, [&] { __VA_ARGS__; })

#endif
