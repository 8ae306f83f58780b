/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Just enough JSON for the two control channels ch-launch reads: QMP replies
 * and events (one object per line) and Cloud Hypervisor's vm.info and event
 * monitor (pretty-printed objects). ch-launch only ever needs a handful of
 * string or boolean members ("state", "event", "source", "return.status"),
 * so this is a validating scanner over spans of the input, not a DOM: it
 * skips nested values correctly (strings with escapes, arrays, objects) and
 * decodes one string on request. That keeps libjson-c and its allocations
 * out of a process that must start in well under a millisecond; the tests
 * run it over Cloud Hypervisor output captured from a real run
 * (tests/launch/data).
 */

#include <stdbool.h>
#include <stddef.h>

typedef struct JsonSpan {
        const char *p;
        size_t n;
} JsonSpan;

/* Finds member `key` of the object in `obj` (leading whitespace allowed) and
 * returns its value's span. -ENOENT if absent, -EBADMSG if `obj` is not a
 * well-formed object. Nested keys: call again on the returned span. */
int json_object_get(JsonSpan obj, const char *key, JsonSpan *ret);

/* Decodes a JSON string value into a NUL-terminated buffer; \uXXXX outside
 * ASCII becomes '?'. -EINVAL if it is not a string, -ENOBUFS if too long. */
int json_string_decode(JsonSpan v, char *buf, size_t size);

/* Convenience: json_object_get + json_string_decode. */
int json_get_string(JsonSpan obj, const char *key, char *buf, size_t size);

/* 1 for true, 0 for false, -EINVAL for anything else. */
int json_get_bool(JsonSpan obj, const char *key);

/* Splits a byte stream of concatenated top-level objects (whitespace between
 * them, as CH's event monitor writes them). Feed bytes; each complete object
 * is passed to `cb`. Objects larger than the buffer are skipped whole. */
#define JSON_STREAM_MAX 65536
typedef struct JsonStream {
        char buf[JSON_STREAM_MAX];
        size_t n;
        unsigned depth;
        bool in_string, escape, overflow;
} JsonStream;

typedef void (*json_object_cb)(JsonSpan obj, void *userdata);
void json_stream_feed(JsonStream *s, const char *data, size_t len, json_object_cb cb, void *userdata);
