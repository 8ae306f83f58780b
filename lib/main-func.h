/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Every cowvm program's main(), in the manner of systemd's main-func.h: set up
 * logging once, call run(), turn its result into an exit status. run() logs
 * its own errors and returns a negative errno; nothing is logged here.
 */

#include <stdlib.h>

#include "log.h"

/* run() returns 0 on success, a negative errno on failure. */
#define DEFINE_MAIN_FUNCTION(program, log_target, impl)                                                               \
        int main(int argc, char *argv[]) {                                                                            \
                log_setup((program), (log_target));                                                                   \
                return impl(argc, argv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;                                            \
        }

/* run() may also return a positive exit status of its own (ch-launch passes
 * the hypervisor's on). */
#define DEFINE_MAIN_FUNCTION_WITH_POSITIVE_FAILURE(program, log_target, impl)                                         \
        int main(int argc, char *argv[]) {                                                                            \
                int _r;                                                                                               \
                log_setup((program), (log_target));                                                                   \
                _r = impl(argc, argv);                                                                                \
                return _r < 0 ? EXIT_FAILURE : _r;                                                                    \
        }
