/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* HTTP/1.1 request formatting and response parsing for Cloud Hypervisor's
 * API (base http://localhost/api/v1/, answers with Content-Length). */

#include "http-client.h"
#include "tests.h"

static int parse(const char *s, bool eof, unsigned *status, const char **body, size_t *blen) {
        size_t off;
        int r = http_parse_response(s, strlen(s), eof, status, &off, blen);
        if (r == 0)
                *body = s + off;
        return r;
}

int main(void) {
        unsigned status;
        const char *body;
        size_t len, blen;
        char *s;

        CHECK(http_format_request("PUT", "vm.power-button", NULL, &s, &len) == 0);
        CHECK_STREQ(s, "PUT /api/v1/vm.power-button HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n"
                       "Content-Length: 0\r\n\r\n");
        CHECK(len == strlen(s));
        free(s);
        CHECK(http_format_request("GET", "vm.info", NULL, &s, &len) == 0);
        CHECK_STREQ(s, "GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
        free(s);
        CHECK(http_format_request("PUT", "vm.resize", "{\"desired_vcpus\":2}", &s, &len) == 0);
        CHECK_STREQ(s, "PUT /api/v1/vm.resize HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n"
                       "Content-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"desired_vcpus\":2}");
        free(s);
        /* No way to smuggle a second request or another path in. */
        CHECK(http_format_request("PUT", "vm.info HTTP/1.1\r\n", NULL, &s, &len) == -EINVAL);
        CHECK(http_format_request("PUT", "../x", NULL, &s, &len) == -EINVAL);
        CHECK(http_format_request("PUT", "", NULL, &s, &len) == -EINVAL);

        /* 204 as CH sends for vm.power-button: no body even without a length. */
        CHECK(parse("HTTP/1.1 204 No Content\r\nServer: Cloud Hypervisor API\r\n\r\n", false, &status, &body, &blen) ==
              0);
        CHECK(status == 204 && blen == 0);
        /* 200 with a body, headers in any case. */
        CHECK(parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false, &status, &body, &blen) == 0);
        CHECK(status == 200 && blen == 5 && memcmp(body, "hello", 5) == 0);
        /* Incomplete: head, then body. */
        CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false, &status, &body, &blen) == -EAGAIN);
        CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false, &status, &body, &blen) == -EAGAIN);
        CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true, &status, &body, &blen) == -EBADMSG);
        /* No length: the body ends at EOF. */
        CHECK(parse("HTTP/1.1 404 Not Found\r\n\r\nnope", false, &status, &body, &blen) == -EAGAIN);
        CHECK(parse("HTTP/1.1 404 Not Found\r\n\r\nnope", true, &status, &body, &blen) == 0);
        CHECK(status == 404 && blen == 4);
        /* Garbage and what CH never sends. */
        CHECK(parse("SSH-2.0-OpenSSH\r\n\r\n", false, &status, &body, &blen) == -EBADMSG);
        CHECK(parse("HTTP/1.1 2x0 OK\r\n\r\n", false, &status, &body, &blen) == -EBADMSG);
        CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, &status, &body, &blen) == -EBADMSG);
        CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &status, &body, &blen) ==
              -EPROTONOSUPPORT);
        TESTS_EXIT();
}
