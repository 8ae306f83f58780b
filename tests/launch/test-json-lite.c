/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The small JSON scanner over what the hypervisors really send: Cloud
 * Hypervisor's captured vm.info and event stream, and QMP lines. */

#include "json-lite.h"
#include "ch-api.h"
#include "macro.h"
#include "tests.h"

static int events[16], n_events;

static void on_event(JsonSpan obj, void *userdata) {
        CHECK(n_events < 16);
        events[n_events++] = ch_event_parse(obj.p, obj.n);
}

int main(void) {
        char buf[256];
        size_t len;
        char *s;

        /* vm.info: "state" at top level, after a big nested "config". */
        s = read_data("vm.info.json", &len);
        CHECK(ch_vm_info_state(s, len, buf, sizeof buf) == 0);
        CHECK_STREQ(buf, "Running");
        /* a nested key is not found at top level, but through its parent */
        JsonSpan obj = { s, len }, cfg, payload;
        CHECK(json_get_string(obj, "cmdline", buf, sizeof buf) == -ENOENT);
        CHECK(json_object_get(obj, "config", &cfg) == 0);
        CHECK(json_object_get(cfg, "payload", &payload) == 0);
        CHECK(json_get_string(payload, "cmdline", buf, sizeof buf) == 0);
        CHECK_STREQ(buf, "console=ttyS0 root=myfs rootfstype=virtiofs rw");
        free(s);

        s = read_data("vmm.ping.json", &len);
        CHECK(json_get_string((JsonSpan) { s, len }, "version", buf, sizeof buf) == 0);
        CHECK_STREQ(buf, "54.0.0");
        free(s);

        /* The event monitor stream, fed in odd-sized chunks. */
        s = read_data("event-monitor.sample", &len);
        static JsonStream js;
        for (size_t i = 0; i < len; i += 7)
                json_stream_feed(&js, s + i, len - i < 7 ? len - i : 7, on_event, NULL);
        CHECK(n_events == 6);
        CHECK(events[0] == CH_EVENT_OTHER);    /* vmm/starting */
        CHECK(events[1] == CH_EVENT_OTHER);    /* vm/booting */
        CHECK(events[2] == CH_EVENT_BOOTED);   /* vm/booted */
        CHECK(events[3] == CH_EVENT_SHUTDOWN); /* vm/shutdown */
        CHECK(events[4] == CH_EVENT_OTHER);    /* vm/deleted */
        CHECK(events[5] == CH_EVENT_SHUTDOWN); /* vmm/shutdown */
        free(s);

        /* QMP, one object per line. */
        const char *qmp = "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
                          "\"id\": \"status\"}";
        JsonSpan q = { qmp, strlen(qmp) }, ret;
        CHECK(json_get_string(q, "id", buf, sizeof buf) == 0);
        CHECK_STREQ(buf, "status");
        CHECK(json_object_get(q, "return", &ret) == 0);
        CHECK(json_get_string(ret, "status", buf, sizeof buf) == 0);
        CHECK_STREQ(buf, "running");
        CHECK(json_get_bool(ret, "running") == 1);
        CHECK(json_get_bool(ret, "singlestep") == 0);
        CHECK(json_get_bool(ret, "status") == -EINVAL);

        /* Escapes, strings that contain braces and quotes, and the key match
         * only on whole keys. */
        const char *tricky = "{\"a\\\"b\": \"}{\", \"ev\": \"x\", \"event\": \"a\\\"\\\\\\/\\n\\u0041\\u00e9\"}";
        JsonSpan t = { tricky, strlen(tricky) };
        CHECK(json_get_string(t, "event", buf, sizeof buf) == 0);
        CHECK_STREQ(buf, "a\"\\/\nA?");
        CHECK(json_get_string(t, "e", buf, sizeof buf) == -ENOENT);
        CHECK(json_get_string(t, "event", buf, 3) == -ENOBUFS);

        /* Malformed input is refused, not misread. */
        const char *bad[] = { "", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":\"x}", "{\"a\":1 \"b\":2}" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                JsonSpan v;
                int r = json_object_get((JsonSpan) { bad[i], strlen(bad[i]) }, "b", &v);
                CHECK(r == -EBADMSG);
        }
        CHECK(json_object_get((JsonSpan) { "{}", 2 }, "a", &ret) == -ENOENT);
        TESTS_EXIT();
}
