/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Console lines: split, never dropped, CRLF handled, long lines in pieces;
 * the guest notify protocol; escaping for the journal; journal records. */

#include <endian.h>
#include <stdint.h>

#include "journal-writer.h"
#include "line-buffer.h"
#include "macro.h"
#include "test-util.h"

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
        CHECK_STR(s.lines[0], "one");
        CHECK_STR(s.lines[1], "two");
        CHECK_STR(s.lines[2], "three");
        CHECK_STR(s.lines[3], "");
        line_buffer_flush(&b, collect, &s);
        CHECK(s.n == 5);
        CHECK_STR(s.lines[4], "prompt: ");
        /* the rest of the line after a flush is a continuation */
        line_buffer_feed(&b, "root\n", 5, collect, &s);
        CHECK(s.n == 6 && s.continued[5]);
        CHECK_STR(s.lines[5], "root");

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
        CHECK_STR(s.lines[1], "next");
        CHECK(!s.continued[1]);
}

static void test_notify(void) {
        const char *v;
        size_t vl;

        CHECK(guest_notify_parse("READY=1", 7, &v, &vl) == GUEST_NOTIFY_READY);
        CHECK(guest_notify_parse("READY=0", 7, &v, &vl) == GUEST_NOTIFY_IGNORED);
        CHECK(guest_notify_parse("READY=1 ", 8, &v, &vl) == GUEST_NOTIFY_IGNORED);
        CHECK(guest_notify_parse("XREADY=1", 8, &v, &vl) == GUEST_NOTIFY_IGNORED);
        CHECK(guest_notify_parse("STATUS=Booting up", 17, &v, &vl) == GUEST_NOTIFY_STATUS);
        CHECK(vl == 10 && memcmp(v, "Booting up", 10) == 0);
        CHECK(guest_notify_parse("STATUS=", 7, &v, &vl) == GUEST_NOTIFY_STATUS && vl == 0);
        CHECK(guest_notify_parse("MAINPID=1", 9, &v, &vl) == GUEST_NOTIFY_IGNORED);
        CHECK(guest_notify_parse("", 0, &v, &vl) == GUEST_NOTIFY_IGNORED);
}

static void test_escape(void) {
        char out[64];
        size_t n;

        CHECK(!console_escape("plain\ttext ü", 13, out, &n));
        CHECK_STR(out, "plain\ttext ü");
        static const char colour[] = "\033[1;32mOK\033[0m\x7f";
        CHECK(console_escape(colour, sizeof colour - 1, out, &n));
        CHECK_STR(out, "\\x1b[1;32mOK\\x1b[0m\\x7f");
        CHECK(n == strlen(out));
        CHECK(console_escape("a\0b", 3, out, &n));
        CHECK_STR(out, "a\\x00b");
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
        test_escape();
        test_journal_record();
        return 0;
}
