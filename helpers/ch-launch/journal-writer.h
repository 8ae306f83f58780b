/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The guest's console lines into the journal, without ever blocking.
 *
 * sd_journal_send() writes to a blocking socket: when journald lags, it
 * would stall ch-launch, which would stop reading the serial port, which
 * would stall the guest's printk. So ch-launch speaks journald's native
 * protocol (systemd.journal-fields(7), "Native Journal Protocol") itself over
 * a non-blocking datagram socket, keeps what journald cannot take yet in a
 * queue, and only when that queue holds JOURNAL_QUEUE_MAX bytes does the
 * caller stop reading the console (backpressure, never loss).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define JOURNAL_QUEUE_MAX (8U * 1024 * 1024)

typedef struct JournalRecord JournalRecord;

typedef struct JournalWriter {
        int fd;
        JournalRecord *head, *tail;
        size_t queued_bytes;
} JournalWriter;

/* Connects to `path` (NULL: $COWVM_JOURNAL_SOCKET or JOURNAL_SOCKET). */
int journal_writer_open(JournalWriter *w, const char *path);
void journal_writer_done(JournalWriter *w);

/* Serialises fields into one native-protocol datagram: "KEY=VALUE\n", or
 * "KEY\n" + little-endian 64-bit length + VALUE + "\n" when the value
 * contains a newline or is binary. Pure; *ret is malloc()ed. */
typedef struct JournalField {
        const char *key;
        const char *value;
        size_t len;
} JournalField;
int journal_record_format(const JournalField *fields, size_t n_fields, char **ret, size_t *ret_len);

/* Sends now, or queues. 0 on success (sent or queued), negative errno on a
 * real failure (journald gone: the caller falls back to stderr). */
int journal_writer_send(JournalWriter *w, const JournalField *fields, size_t n_fields);
/* Sends queued records until the socket would block. Returns 0, or <0. */
int journal_writer_flush(JournalWriter *w);
static inline bool journal_writer_congested(const JournalWriter *w) {
        return w->queued_bytes >= JOURNAL_QUEUE_MAX;
}

/* Escapes C0 control characters but '\t' (and DEL) as \xNN so that a console
 * line with ANSI colour codes stays readable text in the journal instead of a
 * blob. Returns true if anything was escaped. `out` must hold 4*len+1 bytes. */
bool console_escape(const char *line, size_t len, char *out, size_t *ret_len);
