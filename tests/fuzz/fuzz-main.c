/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Without libFuzzer: replay the given files through the fuzz target, so the
 * corpus (and every crash once found) runs as a plain regression test. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++) {
                FILE *f = fopen(argv[i], "re");
                char *buf;
                long n;

                if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                        fprintf(stderr, "Failed to read %s\n", argv[i]);
                        return EXIT_FAILURE;
                }
                buf = malloc((size_t) n + 1);
                if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n) {
                        fprintf(stderr, "Failed to read %s\n", argv[i]);
                        return EXIT_FAILURE;
                }
                LLVMFuzzerTestOneInput((const uint8_t *) buf, (size_t) n);
                free(buf);
                fclose(f);
        }
        printf("replayed %d inputs\n", argc - 1);
        return EXIT_SUCCESS;
}
