/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * What ch-launch asks systemd-machined for: the RegisterMachineWithNetwork
 * call as machined 252 declares it (sayssusai), and the unit check that keeps
 * a ch-launch outside vm@NAME.service from registering someone else's unit.
 */

#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "machine-register.h"
#include "macro.h"
#include "tests.h"
#include "vm-identity.h"

static void test_unit_check(void) {
        CHECK(machine_unit_is_vm("vm@web.service", "web"));
        CHECK(machine_unit_is_vm("vm@web-1.service", "web-1"));
        CHECK(!machine_unit_is_vm("vm@web-1.service", "web"));
        CHECK(!machine_unit_is_vm("vm@web.service", "we"));
        CHECK(!machine_unit_is_vm("vm@web.socket", "web"));
        CHECK(!machine_unit_is_vm("session-1.scope", "web"));
        CHECK(!machine_unit_is_vm("vm@web.service.d", "web"));
        CHECK(!machine_unit_is_vm(NULL, "web"));
}

/* A bus on a socket pair, never authenticated: enough to build messages. */
static sd_bus *test_bus(void) {
        sd_bus *bus = NULL;
        int sp[2];

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
        CHECK(sd_bus_new(&bus) >= 0);
        CHECK(sd_bus_set_fd(bus, sp[0], sp[0]) >= 0);
        CHECK(sd_bus_start(bus) >= 0);
        close(sp[1]);
        return bus;
}

static void check_message(sd_bus *bus, const char *name, int ifindex) {
        sd_bus_message *m = NULL;
        const char *s, *service, *class, *root;
        const void *id, *ifs;
        size_t id_len, ifs_len;
        char expect_id[33], got_id[33];
        uint32_t leader;

        CHECK(machine_register_message(bus, name, 4242, ifindex, &m) >= 0);
        CHECK_STREQ(sd_bus_message_get_member(m), "RegisterMachineWithNetwork");
        CHECK_STREQ(sd_bus_message_get_destination(m), "org.freedesktop.machine1");
        CHECK_STREQ(sd_bus_message_get_path(m), "/org/freedesktop/machine1");
        CHECK_STREQ(sd_bus_message_get_interface(m), "org.freedesktop.machine1.Manager");
        CHECK(sd_bus_message_seal(m, 1, 0) >= 0);
        CHECK(sd_bus_message_has_signature(m, "sayssusai"));
        CHECK(sd_bus_message_rewind(m, true) >= 0);

        CHECK(sd_bus_message_read(m, "s", &s) > 0);
        CHECK_STREQ(s, name);
        CHECK(sd_bus_message_read_array(m, 'y', &id, &id_len) > 0);
        CHECK(id_len == 16);
        vm_machine_id(name, expect_id);
        for (size_t i = 0; i < 16; i++)
                sprintf(got_id + 2 * i, "%02x", ((const unsigned char *) id)[i]);
        CHECK_STREQ(got_id, expect_id);
        CHECK(sd_bus_message_read(m, "ssus", &service, &class, &leader, &root) > 0);
        CHECK_STREQ(service, "cowvm");
        CHECK_STREQ(class, "vm");
        CHECK(leader == 4242);
        CHECK_STREQ(root, "");
        CHECK(sd_bus_message_read_array(m, 'i', &ifs, &ifs_len) >= 0);
        if (ifindex > 0)
                CHECK(ifs_len == sizeof(int) && *(const int *) ifs == ifindex);
        else
                CHECK(ifs_len == 0);
        CHECK(sd_bus_message_at_end(m, true) > 0);
        sd_bus_message_unref(m);
}

int main(void) {
        sd_bus *bus;

        test_unit_check();
        bus = test_bus();
        check_message(bus, "web", 7);
        check_message(bus, "database-server-1", 0);
        sd_bus_close_unref(bus);
        TESTS_EXIT();
}
