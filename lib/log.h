/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging for cowvm's binaries. Messages go to stderr; when stderr is
 * connected to the journal (systemd sets $JOURNAL_STREAM) each line carries a
 * "<N>" priority prefix so the journal records the right level. The generator
 * logs to /dev/kmsg, as systemd.generator(7) asks, unless told otherwise.
 *
 * Every log_*_errno() returns -abs(error) so that callers can write
 *         return log_error_errno(r, "Failed to open '%s': %m", path);
 * with %m expanding to strerror(error).
 */

#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_CONSOLE, /* stderr, with <N> prefixes when it is a journal stream */
        LOG_TARGET_KMSG,    /* /dev/kmsg, falling back to stderr */
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* Reads $COWVM_LOG_LEVEL (err, warning, info, debug) and $COWVM_LOG_TARGET
 * (console, kmsg); `default_target` applies when the latter is unset. */
void log_setup(const char *program, LogTarget default_target);
void log_set_max_level(int level);
int log_get_max_level(void);

/* The messages logged between these two become one record of the kernel
 * log (which rate-limits records), after `summary` (NULL: only if any were
 * logged); elsewhere they are written as they come, and `summary` is one
 * more line at `level` (none when NULL). */
void log_group_begin(void);
void log_group_end(int level, const char *summary);

int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);
/* "FILE:LINE: message", the form used for every complaint about a config file. */
int log_syntax_internal(const char *file, unsigned line, int level, int error, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_full(level, ...) (void) log_internal((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)

#define log_syntax(file, line, level, error, ...) log_syntax_internal((file), (line), (level), (error), __VA_ARGS__)

/* Log once at the edge: "Out of memory." and -ENOMEM. */
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
