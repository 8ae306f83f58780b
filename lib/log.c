/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "log.h"

static const char *log_program = "cowvm";
static LogTarget log_target = LOG_TARGET_CONSOLE;
static int log_max_level = LOG_INFO;
static bool log_prefix_priority = false;
static int kmsg_fd = -EBADF;

static const char *const log_level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
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
        }
}

static void log_write(int level, const char *file, unsigned line, const char *msg) {
        char location[4096] = "";

        if (file && line > 0)
                (void) snprintf(location, sizeof location, "%s:%u: ", file, line);
        else if (file)
                (void) snprintf(location, sizeof location, "%s: ", file);

        if (log_target == LOG_TARGET_KMSG && kmsg_fd >= 0) {
                /* One write() per record: /dev/kmsg takes each write as one message. */
                (void) dprintf(kmsg_fd, "<%d>%s[%d]: %s%s\n", level, log_program, (int) getpid(),
                               location, msg);
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

        if (error < 0)
                error = -error;
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
