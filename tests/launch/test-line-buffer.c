/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Console lines: split, never dropped, CRLF handled, long lines in pieces;
 * the guest notify protocol; escaping for the journal; journal records. */

#include <endian.h>
#include <stdint.h>

#include "journal-writer.h"
#include "guest-notify.h"
#include "line-buffer.h"
#include "macro.h"
#include "tests.h"

typedef struct Seen {
        char lines[16][LINE_MAX_BYTES + 1];
        bool continued[16];
        size_t n;
} Seen;

static void collect(const char *line, size_t len, bool continued, void *userdata) {
        Seen *s = userdata;
        CHECK(s->n < 16);
        memcpy(s->lines[s->n], line, len);
        s->lines[s->n][len] = 0;
        s->continued[s->n++] = continued;
}

static void test_split(void) {
        static LineBuffer b;
        static Seen s;
        static char big[10000];

        /* CRLF and LF, a line split across reads, a partial line kept back. */
        line_buffer_feed(&b, "one\r\ntw", 7, collect, &s);
        line_buffer_feed(&b, "o\nthree\n\r\nprompt: ", 18, collect, &s);
        CHECK(s.n == 4);
        CHECK_STREQ(s.lines[0], "one");
        CHECK_STREQ(s.lines[1], "two");
        CHECK_STREQ(s.lines[2], "three");
        CHECK_STREQ(s.lines[3], "");
        line_buffer_flush(&b, collect, &s);
        CHECK(s.n == 5);
        CHECK_STREQ(s.lines[4], "prompt: ");
        /* the rest of the line after a flush is a continuation */
        line_buffer_feed(&b, "root\n", 5, collect, &s);
        CHECK(s.n == 6 && s.continued[5]);
        CHECK_STREQ(s.lines[5], "root");

        /* 10000 bytes: 4096 + 4096 + 1808, nothing lost; NUL bytes pass. */
        memset(&s, 0, sizeof s);
        memset(big, 'x', sizeof big);
        big[5] = '\0';
        line_buffer_feed(&b, big, sizeof big, collect, &s);
        line_buffer_feed(&b, "\r\n", 2, collect, &s);
        CHECK(s.n == 3);
        CHECK(!s.continued[0] && s.continued[1] && s.continued[2]);
        CHECK(strlen(s.lines[2]) == 10000 - 2 * LINE_MAX_BYTES);
        CHECK(s.lines[0][5] == '\0' && s.lines[0][6] == 'x');

        /* Exactly LINE_MAX_BYTES then "\r\n": no empty extra record. */
        memset(&s, 0, sizeof s);
        line_buffer_feed(&b, big + 100, LINE_MAX_BYTES, collect, &s);
        line_buffer_feed(&b, "\r\nnext\n", 7, collect, &s);
        CHECK(s.n == 2);
        CHECK_STREQ(s.lines[1], "next");
        CHECK(!s.continued[1]);
}

#define PARSE(lit) guest_notify_parse(lit, sizeof lit - 1, &v, &vl)

static void test_notify(void) {
        const char *v;
        size_t vl;

        CHECK(PARSE("READY=1") == GUEST_NOTIFY_READY);
        CHECK(PARSE("STATUS=Booting up") == GUEST_NOTIFY_STATUS);
        CHECK(vl == 10 && memcmp(v, "Booting up", 10) == 0);
        CHECK(PARSE("STATUS=Größe: 5 € 🐧") == GUEST_NOTIFY_STATUS && vl == sizeof "Größe: 5 € 🐧" - 1);
        CHECK(PARSE("STATUS=") == GUEST_NOTIFY_STATUS && vl == 0);
        CHECK(PARSE("") == GUEST_NOTIFY_OTHER);
        CHECK(PARSE("hello world") == GUEST_NOTIFY_OTHER);
        CHECK(PARSE("=1") == GUEST_NOTIFY_OTHER);
        CHECK(PARSE("ready=1") == GUEST_NOTIFY_OTHER);
        CHECK(PARSE("XREADY=1") == GUEST_NOTIFY_REFUSED);
}

/* What a hostile guest sends: nothing of it may reach systemd but READY=1
 * and printable STATUS= text. */
static void test_notify_hostile(void) {
        const char *v;
        size_t vl;

        /* systemd splits a notification at '\r' as well as '\n'. */
        CHECK(PARSE("STATUS=x\rMAINPID=1\rWATCHDOG=trigger") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=x\rERRNO=42") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("READY=1\rMAINPID=1") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("MAINPID=1") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("ERRNO=42") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("WATCHDOG=trigger") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("WATCHDOG_USEC=1") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("FDSTORE=1") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("EXTEND_TIMEOUT_USEC=999999999") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STOPPING=1") == GUEST_NOTIFY_REFUSED);
        /* READY=1 exactly, nothing after it */
        CHECK(PARSE("READY=0") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("READY=1 ") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("READY=1\tjunk") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("READY=1\0MAINPID=1") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("READY=10") == GUEST_NOTIFY_REFUSED);
        /* embedded NUL: sd_notify() would cut there, the journal would not */
        CHECK(PARSE("STATUS=a\0MAINPID=1") == GUEST_NOTIFY_REFUSED);
        /* every C0 control character, DEL and C1 (U+0085 NEL, U+009B CSI) */
        for (int c = 0; c < 0x20; c++) {
                char line[] = "STATUS=a?b";
                line[8] = (char) c;
                CHECK(guest_notify_parse(line, sizeof line - 1, &v, &vl) == GUEST_NOTIFY_REFUSED);
        }
        CHECK(PARSE("STATUS=a\x7f") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=a\xc2\x85"
                    "b") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xc2\x9b"
                    "31m") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\033[31mred") == GUEST_NOTIFY_REFUSED);
        /* invalid UTF-8: stray continuation, truncated, overlong, surrogate, beyond U+10FFFF */
        CHECK(PARSE("STATUS=\x80") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xc3") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xe2\x82") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xc0\x8a") == GUEST_NOTIFY_REFUSED);     /* '\n' in two bytes */
        CHECK(PARSE("STATUS=\xe0\x80\x8d") == GUEST_NOTIFY_REFUSED); /* '\r' in three */
        CHECK(PARSE("STATUS=\xf0\x80\x80\x8a") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xed\xa0\x80") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xf4\x90\x80\x80") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xff") == GUEST_NOTIFY_REFUSED);
        CHECK(PARSE("STATUS=\xf4\x8f\xbf\xbf") == GUEST_NOTIFY_STATUS && vl == 4);
}

/* Overlong STATUS= text is cut at the last whole character that fits. */
static void test_notify_long(void) {
        char line[7 + 1000];
        const char *v;
        size_t vl;

        memcpy(line, "STATUS=", 7);
        memset(line + 7, 'a', sizeof line - 7);
        CHECK(guest_notify_parse(line, sizeof line, &v, &vl) == GUEST_NOTIFY_STATUS);
        CHECK(v == line + 7 && vl == GUEST_STATUS_MAX);
        /* "€" (3 bytes) across the limit: cut before it */
        memcpy(line + 7 + GUEST_STATUS_MAX - 1, "€", 3);
        CHECK(guest_notify_parse(line, sizeof line, &v, &vl) == GUEST_NOTIFY_STATUS);
        CHECK(vl == GUEST_STATUS_MAX - 1);
        /* ... and ending exactly at it: kept */
        memset(line + 7, 'a', sizeof line - 7);
        memcpy(line + 7 + GUEST_STATUS_MAX - 3, "€", 3);
        CHECK(guest_notify_parse(line, sizeof line, &v, &vl) == GUEST_NOTIFY_STATUS);
        CHECK(vl == GUEST_STATUS_MAX);
        /* a control character beyond the limit still refuses the line */
        line[sizeof line - 1] = '\r';
        CHECK(guest_notify_parse(line, sizeof line, &v, &vl) == GUEST_NOTIFY_REFUSED);
        /* exactly the limit */
        CHECK(guest_notify_parse(line, 7 + GUEST_STATUS_MAX, &v, &vl) == GUEST_NOTIFY_STATUS);
        CHECK(vl == GUEST_STATUS_MAX);
}

/* A line the line buffer passes on in pieces: the first piece is refused,
 * whatever its rest says, and the rest is no assignment. */
static void test_notify_pieces(void) {
        static LineBuffer b;
        static Seen s;
        static char line[LINE_MAX_BYTES + 100];
        const char *v;
        size_t vl;

        memcpy(line, "STATUS=", 7);
        memset(line + 7, 'a', sizeof line - 7);
        memcpy(line + LINE_MAX_BYTES + 10, "\rMAINPID=1\n", 11);
        line_buffer_feed(&b, line, LINE_MAX_BYTES + 21, collect, &s);
        CHECK(s.n == 2 && !s.continued[0] && s.continued[1]);
        CHECK(guest_notify_parse(s.lines[0], LINE_MAX_BYTES, &v, &vl) == GUEST_NOTIFY_REFUSED);
        /* one byte less fits in one piece */
        CHECK(guest_notify_parse(line, LINE_MAX_BYTES - 1, &v, &vl) == GUEST_NOTIFY_STATUS && vl == GUEST_STATUS_MAX);
}

/* The line buffer removes only the CR of a CRLF: a CR inside a line stays,
 * and the parser refuses the line. */
static void test_notify_split(void) {
        static LineBuffer b;
        static Seen s;
        const char *v;
        size_t vl;

        line_buffer_feed(&b, "STATUS=ok\r\nSTATUS=x\rMAINPID=1\r\n", 32, collect, &s);
        CHECK(s.n == 2);
        CHECK(guest_notify_parse(s.lines[0], strlen(s.lines[0]), &v, &vl) == GUEST_NOTIFY_STATUS && vl == 2);
        CHECK(guest_notify_parse(s.lines[1], strlen(s.lines[1]), &v, &vl) == GUEST_NOTIFY_REFUSED);
}

static void test_escape(void) {
        char out[64];
        size_t n;

        CHECK(!console_escape("plain\ttext ü", 13, out, &n));
        CHECK_STREQ(out, "plain\ttext ü");
        static const char colour[] = "\033[1;32mOK\033[0m\x7f";
        CHECK(console_escape(colour, sizeof colour - 1, out, &n));
        CHECK_STREQ(out, "\\x1b[1;32mOK\\x1b[0m\\x7f");
        CHECK(n == strlen(out));
        CHECK(console_escape("a\0b", 3, out, &n));
        CHECK_STREQ(out, "a\\x00b");
}

static void test_journal_record(void) {
        JournalField f[] = {
                { "MESSAGE", "hello", 5 },
                { "PRIORITY", "6", 1 },
                { "COWVM_RAW", "a\nb", 3 },
        };
        char *buf;
        size_t len;
        uint64_t le = htole64(3);

        CHECK(journal_record_format(f, ELEMENTSOF(f), &buf, &len) == 0);
        char expect[64];
        size_t n = 0;
        memcpy(expect + n, "MESSAGE=hello\nPRIORITY=6\nCOWVM_RAW\n", 35);
        n += 35;
        memcpy(expect + n, &le, 8);
        n += 8;
        memcpy(expect + n, "a\nb\n", 4);
        n += 4;
        CHECK(len == n && memcmp(buf, expect, n) == 0);
        free(buf);
}

int main(void) {
        test_split();
        test_notify();
        test_notify_hostile();
        test_notify_long();
        test_notify_pieces();
        test_notify_split();
        test_escape();
        test_journal_record();
        TESTS_EXIT();
}
