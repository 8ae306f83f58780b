/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The lines of every channel from the guest or the hypervisor, as journal
 * records of the VM (COWVM_VM=, COWVM_SOURCE=), through the non-blocking
 * JournalWriter. Its one queue is the memory bound of all channels: while it
 * is full, the owner is told to stop reading them (on_congestion), so a
 * guest that writes faster than journald stores only blocks its own writes.
 * Without a journal, lines go to stderr.
 */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "journal-writer.h"

typedef struct JournalForward {
        JournalWriter writer;
        bool ok;        /* the journal takes our records */
        bool congested; /* as last told to on_congestion */
        sd_event_source *source;
        const char *name; /* the VM's */
        void (*on_congestion)(bool congested, void *userdata);
        void *userdata;
} JournalForward;

#define JOURNAL_FORWARD_NULL                                                                                          \
        {                                                                                                             \
                .writer = {.fd = -EBADF }                                                                             \
        }

/* Connects to the journal, if there is one. Fails only when `e` does. */
int journal_forward_open(JournalForward *f, sd_event *e, const char *name,
                         void (*on_congestion)(bool congested, void *userdata), void *userdata);
void journal_forward_line(JournalForward *f, const char *source, int priority, const char *line, size_t len,
                          bool continued);
static inline bool journal_forward_congested(const JournalForward *f) {
        return journal_writer_congested(&f->writer);
}
/* Gives journald a moment for the last records, never forever. */
void journal_forward_done(JournalForward *f);
