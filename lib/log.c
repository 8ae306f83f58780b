/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

static const char *log_program = "cowvm";
static LogTarget log_target = LOG_TARGET_CONSOLE;
static int log_max_level = LOG_INFO;
static bool log_prefix_priority = false;
static int kmsg_fd = -EBADF;

/* /dev/kmsg takes one record per write(2), of at most 1024 bytes including
 * the "<N>" prefix, and rate-limits each open: a burst of 10 records, then
 * nothing for 5 s (printk_devkmsg=ratelimit, the default). So the kmsg
 * target writes every record with one write(), gathers the messages of a
 * group (log_group_begin/end: one definition file) into one record, and
 * keeps the last record of the burst for a count of what it left out. */
#define KMSG_RECORD_MAX 1024
#define KMSG_BURST 10
static unsigned kmsg_records;
static unsigned kmsg_suppressed;
static bool log_grouping;
static int group_level;
static char group_buf[KMSG_RECORD_MAX];
static size_t group_len;

static void kmsg_report_suppressed(void);

static const char *const log_level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected us to; only
 * when it is our stderr do "<N>" prefixes reach a reader that understands them. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_setup(const char *program, LogTarget default_target) {
        const char *e;

        log_program = program;
        log_target = default_target;
        log_prefix_priority = stderr_is_journal();

        e = getenv("COWVM_LOG_TARGET");
        if (e) {
                if (streq(e, "console"))
                        log_target = LOG_TARGET_CONSOLE;
                else if (streq(e, "kmsg"))
                        log_target = LOG_TARGET_KMSG;
        }

        e = getenv("COWVM_LOG_LEVEL");
        if (e)
                for (size_t i = 0; i < ELEMENTSOF(log_level_names); i++)
                        if (streq(e, log_level_names[i]))
                                log_max_level = (int) i;

        if (log_target == LOG_TARGET_KMSG) {
                kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (kmsg_fd < 0)
                        log_target = LOG_TARGET_CONSOLE;
                else
                        (void) atexit(kmsg_report_suppressed);
        }
}

/* Appends `s` to the record `buf` of `size` bytes, cutting what does not fit. */
static void append(char *buf, size_t size, size_t *len, const char *s) {
        size_t n = MIN(strlen(s), size - 1 - *len);

        memcpy(buf + *len, s, n);
        *len += n;
        buf[*len] = '\0';
}

/* One record, cut to what the kernel takes ("..." marks the cut). glibc's
 * dprintf() cannot be used: it seeks first, and /dev/kmsg answers that with
 * EINVAL. `level` -1: the closing count, written past the burst's end. */
static void kmsg_write(int level, const char *location, const char *msg) {
        char rec[KMSG_RECORD_MAX], head[64];
        size_t len = 0;

        if (kmsg_records >= KMSG_BURST - 1 && level != -1) {
                kmsg_suppressed++;
                return;
        }
        (void) snprintf(head, sizeof head, "<%d>", level < 0 ? LOG_WARNING : level);
        append(rec, sizeof rec - 4, &len, head);
        append(rec, sizeof rec - 4, &len, log_program);
        (void) snprintf(head, sizeof head, "[%d]: ", (int) getpid());
        append(rec, sizeof rec - 4, &len, head);
        append(rec, sizeof rec - 4, &len, location);
        append(rec, sizeof rec - 4, &len, msg);
        append(rec, sizeof rec, &len, len == sizeof rec - 5 ? "...\n" : "\n");
        if (write(kmsg_fd, rec, len) == (ssize_t) len)
                kmsg_records++;
}

static void kmsg_report_suppressed(void) {
        char msg[256];

        if (kmsg_fd < 0 || kmsg_suppressed == 0)
                return;
        (void) snprintf(msg, sizeof msg,
                        "%u more message%s not logged here (the kernel log takes %d records at a time); "
                        "'systemctl start vm@NAME' shows why a definition was rejected.",
                        kmsg_suppressed, kmsg_suppressed == 1 ? "" : "s", KMSG_BURST);
        kmsg_write(-1, "", msg);
        kmsg_suppressed = 0;
}

static void group_append(int level, const char *location, const char *msg) {
        group_level = MIN(group_level, level);
        if (group_len > 0)
                append(group_buf, sizeof group_buf, &group_len, " | ");
        append(group_buf, sizeof group_buf, &group_len, location);
        append(group_buf, sizeof group_buf, &group_len, msg);
}

void log_group_begin(void) {
        log_grouping = log_target == LOG_TARGET_KMSG && kmsg_fd >= 0;
        group_level = LOG_DEBUG;
        group_len = 0;
        group_buf[0] = '\0';
}

void log_group_end(int level, const char *summary) {
        bool grouped = log_grouping;
        char msg[KMSG_RECORD_MAX];
        size_t len = 0;

        log_grouping = false;
        if (!grouped) {
                if (summary)
                        log_full(level, "%s", summary);
                return;
        }
        if (!summary && group_len == 0)
                return;
        msg[0] = '\0';
        if (summary) {
                append(msg, sizeof msg, &len, summary);
                if (group_len > 0)
                        append(msg, sizeof msg, &len, " ");
        }
        append(msg, sizeof msg, &len, group_buf);
        kmsg_write(summary ? MIN(level, group_level) : group_level, "", msg);
}

static void log_write(int level, const char *file, unsigned line, const char *msg) {
        char location[4096] = "";

        if (file && line > 0)
                (void) snprintf(location, sizeof location, "%s:%u: ", file, line);
        else if (file)
                (void) snprintf(location, sizeof location, "%s: ", file);

        if (log_target == LOG_TARGET_KMSG && kmsg_fd >= 0) {
                if (log_grouping)
                        group_append(level, location, msg);
                else
                        kmsg_write(level, location, msg);
                return;
        }

        if (log_prefix_priority)
                (void) fprintf(stderr, "<%d>%s%s\n", level, location, msg);
        else
                (void) fprintf(stderr, "%s: %s%s\n", log_program, location, msg);
}

_printf_(5, 0) static int log_dispatch(const char *file, unsigned line, int level, int error, const char *fmt,
                                       va_list ap) {
        char msg[8192];

        error = ERRNO_VALUE(error);
        if (level > log_max_level)
                return -error;

        /* %m in fmt refers to `error`, not to whatever errno happens to be. */
        errno = error;
        (void) vsnprintf(msg, sizeof msg, fmt, ap);
        log_write(level, file, line, msg);
        return -error;
}

int log_internal(int level, int error, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_dispatch(NULL, 0, level, error, fmt, ap);
        va_end(ap);
        return r;
}

int log_syntax_internal(const char *file, unsigned line, int level, int error, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_dispatch(file, line, level, error, fmt, ap);
        va_end(ap);
        return r;
}
