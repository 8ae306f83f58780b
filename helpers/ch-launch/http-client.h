/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A tiny HTTP/1.1 client for Cloud Hypervisor's REST API on its AF_UNIX
 * socket (--api-socket path=). One request per connection, as ch-remote
 * does; CH's server (micro_http) answers with Content-Length and never with
 * chunked encoding. The request formatting and response parsing are pure so
 * they are unit tested; http_call() does the I/O.
 */

#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

#define CH_API_PREFIX "/api/v1/"

/* "METHOD /api/v1/ENDPOINT HTTP/1.1" with Host, Accept, Content-Length (PUT
 * always carries one, 0 when there is no body) and a JSON body if given. */
int http_format_request(const char *method, const char *endpoint, const char *body, char **ret, size_t *ret_len);

/* Parses a response in buf[0..len). Returns 0 and sets status and the body
 * span when complete, -EAGAIN when more bytes are needed (with eof, a body
 * without Content-Length ends at EOF), -EBADMSG when malformed,
 * -EPROTONOSUPPORT for chunked transfer encoding. */
int http_parse_response(const char *buf, size_t len, bool eof, unsigned *ret_status, size_t *ret_body_offset,
                        size_t *ret_body_len);

/* Connects to `socket_path`, sends the request, waits at most `timeout` for
 * the whole response. Returns the HTTP status (> 0) and the body (may be
 * NULL) as a NUL-terminated string, or a negative errno. */
int http_call(const char *socket_path, const char *method, const char *endpoint, const char *body, usec_t timeout,
              char **ret_body);
