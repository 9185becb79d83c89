// What every C++ test program shares: counted checks that report and go on, and the
// summary line and exit status.
#ifndef WXREFUND_TEST_UTIL_HPP
#define WXREFUND_TEST_UTIL_HPP

#include <atomic>
#include <iostream>
#include <string_view>

namespace test_util {

inline std::atomic<int> checks{0};
inline std::atomic<int> failures{0};

/// Whether `needle` occurs in `haystack`.
inline bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
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

#endif
