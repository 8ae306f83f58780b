/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "journal-forward.h"
#include "line-buffer.h"
#include "log.h"

static void congestion_update(JournalForward *f) {
        bool c = journal_writer_congested(&f->writer);

        if (c == f->congested)
                return;
        f->congested = c;
        if (f->on_congestion)
                f->on_congestion(c, f->userdata);
}

static int journal_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        JournalForward *f = userdata;
        int r;

        r = journal_writer_flush(&f->writer);
        if (r < 0) {
                log_warning_errno(r, "Cannot write to the journal: %m");
                f->ok = false;
        }
        if (!f->writer.head || r < 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        congestion_update(f);
        return 0;
}

int journal_forward_open(JournalForward *f, sd_event *e, const char *name,
                         void (*on_congestion)(bool congested, void *userdata), void *userdata) {
        int r;

        f->name = name;
        f->on_congestion = on_congestion;
        f->userdata = userdata;
        f->ok = journal_writer_open(&f->writer, NULL) >= 0;
        if (!f->ok) {
                log_debug("No journal socket; console lines go to stderr.");
                return 0;
        }
        r = sd_event_add_io(e, &f->source, f->writer.fd, EPOLLOUT, journal_writable, f);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the journal socket: %m");
        (void) sd_event_source_set_enabled(f->source, SD_EVENT_OFF);
        return 0;
}

void journal_forward_line(JournalForward *f, const char *source, int priority, const char *line, size_t len,
                          bool continued) {
        char prio[2] = { (char) ('0' + priority), 0 };
        char escaped[LINE_MAX_BYTES * 4 + 1];
        size_t elen;
        bool esc = console_escape(line, len, escaped, &elen);
        JournalField fields[8] = {
                { "MESSAGE", escaped, elen },
                { "PRIORITY", prio, 1 },
                { "SYSLOG_IDENTIFIER", f->name, strlen(f->name) },
                { "COWVM_VM", f->name, strlen(f->name) },
                { "COWVM_SOURCE", source, strlen(source) },
        };
        size_t n = 5;

        if (continued)
                fields[n++] = (JournalField) { "COWVM_CONTINUED", "1", 1 };
        /* Escaping keeps `journalctl` readable; the bytes as sent stay here. */
        if (esc)
                fields[n++] = (JournalField) { "COWVM_RAW", line, len };

        if (f->ok) {
                int r = journal_writer_send(&f->writer, fields, n);
                if (r >= 0) {
                        if (f->writer.head)
                                (void) sd_event_source_set_enabled(f->source, SD_EVENT_ON);
                        congestion_update(f);
                        return;
                }
                log_warning_errno(r, "Cannot write to the journal, console lines go to stderr from now on: %m");
                f->ok = false;
        }
        (void) fprintf(stderr, "%s %s: %.*s\n", f->name, source, (int) elen, escaped);
}

void journal_forward_done(JournalForward *f) {
        f->source = sd_event_source_disable_unref(f->source);
        for (int i = 0; f->ok && i < 100 && f->writer.head; i++) {
                if (journal_writer_flush(&f->writer) < 0)
                        break;
                if (f->writer.head)
                        (void) usleep(10000);
        }
        journal_writer_done(&f->writer);
}
