/* Shared by the C test programs: a file reader and a counting CHECK. */
#ifndef WXREFUND_TEST_UTIL_H
#define WXREFUND_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static int failures = 0;
static int checks = 0;

/* Counts a check; reports a failed one with its place and text. */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* Prints the closing "N passed, N failed" line; the exit status for main. */
static int report(void) {
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}

/* Reads a whole file into a NUL-terminated buffer the caller frees; NULL on error. */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (text) text[size] = '\0';
    fclose(f);
    return text;
}

#endif
