/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Cloud Hypervisor. Its CLI and REST API as documented upstream and captured
 * from a real run (its CLI and REST API as Cloud Hypervisor documents them):
 *   --console tty      the notify channel (hvc0) is CH's stdout, a pipe to us;
 *   --serial socket=   ttyS0 on a socket CH creates; we connect once it exists;
 *   --api-socket path= the REST API: PUT vm.power-button, PUT vm.reboot,
 *                      PUT vmm.shutdown, GET vm.info, spoken by http-client.c;
 *   --event-monitor fd= a pipe of concatenated JSON objects; vm/booted is
 *                      the "VM runs" signal (no polling).
 * CH connects to the vhost-user socket by path itself (--fs socket=), so a
 * dead virtiofsd is caught by the unit dependency (BindsTo=), not here.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "http-client.h"
#include "json-lite.h"
#include "launch.h"
#include "log.h"
#include "strv.h"

#define CH_API_TIMEOUT (2 * USEC_PER_SEC)
#define SERIAL_RETRY_USEC (2 * USEC_PER_MSEC)
#define SERIAL_RETRY_MAX (10 * USEC_PER_SEC)

typedef struct ChData {
        int event_fd;
        sd_event_source *event_source;
        JsonStream events;
        sd_event_source *serial_timer;
        usec_t serial_deadline;
        /* CH's own view of its paths, through fds it inherits */
        char api_arg[64], serial_arg[64], fs_arg[32];
} ChData;

static void ch_event(JsonSpan obj, void *userdata) {
        Launch *l = userdata;
        _cleanup_free_ char *body = NULL;
        char state[32];
        int r;

        switch (ch_event_parse(obj.p, obj.n)) {
        case CH_EVENT_BOOTED:
                /* Confirm with the API: it is also the check that we can stop it later. */
                r = http_call(l->api_socket, "GET", "vm.info", NULL, CH_API_TIMEOUT, &body);
                if (r == 200 && body && ch_vm_info_state(body, strlen(body), state, sizeof state) >= 0) {
                        if (!streq(state, "Running"))
                                log_warning("vm/booted, but GET vm.info says state %s.", state);
                } else
                        log_warning_errno(r < 0 ? r : 0, "GET vm.info on %s failed (%d): %m", l->api_socket, r);
                launch_vmm_running(l, "vm/booted");
                break;
        case CH_EVENT_REBOOTING:
                log_info("The guest is rebooting.");
                break;
        case CH_EVENT_SHUTDOWN:
                log_debug("Cloud Hypervisor reports a shutdown event.");
                break;
        case CH_EVENT_PANIC:
                log_error("The guest kernel panicked.");
                break;
        default:
                break;
        }
}

static int event_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        ChData *c = l->backend_data;
        char buf[4096];
        ssize_t k;

        k = read(fd, buf, sizeof buf);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                c->event_source = sd_event_source_disable_unref(c->event_source);
                c->event_fd = safe_close(c->event_fd);
                return 0;
        }
        json_stream_feed(&c->events, buf, (size_t) k, ch_event, l);
        return 0;
}

/* CH creates the serial socket while it sets the VM up, a few ms after
 * exec; poll for it briefly. */
static int serial_try_connect(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;
        ChData *c = l->backend_data;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        strncpy(sa.sun_path, l->serial_socket, sizeof sa.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) >= 0) {
                c->serial_timer = sd_event_source_disable_unref(c->serial_timer);
                return launch_attach_serial(l, TAKE_FD(fd));
        }
        if (usec >= c->serial_deadline) {
                c->serial_timer = sd_event_source_disable_unref(c->serial_timer);
                log_warning_errno(errno, "Cannot connect to the serial console %s, giving up: %m", l->serial_socket);
                return 0;
        }
        (void) sd_event_source_set_time(s, usec + SERIAL_RETRY_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* CH runs as the VM's uid and cannot walk /run/cowvm/NAME (root's, 0700),
 * so it reaches what it needs through inherited O_PATH fds: the vmm
 * directory, where it creates api.sock and serial.sock (group-writable for
 * the VM's gid, sticky so that it cannot touch ch-launch's console.sock), and
 * the virtiofsd socket, which becomes the VM's uid's (connecting needs write
 * access to it; it is this VM's alone, as the uid is). */
static int ch_pass_paths(Launch *l, ChData *c) {
        _cleanup_close_ int dir = -EBADF, vfs = -EBADF;
        uid_t u = l->vm_uid.uid;
        int nd, nv;

        dir = open(l->def->layout.vmm_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0)
                return log_error_errno(errno, "Failed to open %s: %m", l->def->layout.vmm_dir);
        if (fchownat(dir, "", 0, (gid_t) u, AT_EMPTY_PATH) < 0 || chmod(l->def->layout.vmm_dir, 01770) < 0)
                return log_error_errno(errno, "Failed to give %s to gid %u: %m", l->def->layout.vmm_dir, (unsigned) u);
        vfs = open(l->def->layout.virtiofsd_socket, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (vfs < 0)
                return log_error_errno(errno, "Failed to open %s (is virtiofsd@%s.socket running?): %m",
                                       l->def->layout.virtiofsd_socket, l->def->name);
        if (fchownat(vfs, "", u, (gid_t) u, AT_EMPTY_PATH) < 0)
                return log_error_errno(errno, "Failed to give %s to uid %u: %m", l->def->layout.virtiofsd_socket,
                                       (unsigned) u);
        nd = launch_pass_fd(l, TAKE_FD(dir));
        nv = nd < 0 ? nd : launch_pass_fd(l, TAKE_FD(vfs));
        if (nv < 0)
                return log_error_errno(nv, "Failed to pass a path: %m");
        (void) snprintf(c->api_arg, sizeof c->api_arg, "/proc/self/fd/%d/api.sock", nd);
        (void) snprintf(c->serial_arg, sizeof c->serial_arg, "/proc/self/fd/%d/serial.sock", nd);
        (void) snprintf(c->fs_arg, sizeof c->fs_arg, "/proc/self/fd/%d", nv);
        l->config.api_socket = c->api_arg;
        l->config.serial_socket = c->serial_arg;
        l->config.virtiofsd_socket = c->fs_arg;
        return 0;
}

static int ch_prepare(Launch *l) {
        ChData *c;
        int p[2], n, r;

        c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        c->event_fd = -EBADF;
        l->backend_data = c;

        /* Leftovers of an earlier run would make CH's bind() fail, or make us
         * connect to a stale serial socket. */
        (void) unlink(l->api_socket);
        (void) unlink(l->serial_socket);
        r = ch_pass_paths(l, c);
        if (r < 0)
                return r;

        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create the event monitor pipe: %m");
        c->event_fd = p[0];
        n = launch_pass_fd(l, p[1]);
        if (n < 0)
                return log_error_errno(n, "Failed to pass the event monitor pipe: %m");
        l->config.event_monitor_fd = n;

        /* --console tty: the virtio console is CH's stdout. */
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create the console pipe: %m");
        l->notify_fd = p[0];
        l->child_stdout = p[1];
        return 0;
}

static int ch_started(Launch *l) {
        ChData *c = l->backend_data;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        r = sd_event_add_io(l->event, &c->event_source, c->event_fd, EPOLLIN, event_io, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the event monitor: %m");
        c->serial_deadline = now + SERIAL_RETRY_MAX;
        r = sd_event_add_time(l->event, &c->serial_timer, CLOCK_MONOTONIC, now + SERIAL_RETRY_USEC, 0,
                              serial_try_connect, l);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        return 0;
}

static int ch_put(Launch *l, const char *endpoint) {
        int r = http_call(l->api_socket, "PUT", endpoint, NULL, CH_API_TIMEOUT, NULL);
        if (r < 0)
                return log_warning_errno(r, "PUT %s on %s failed: %m", endpoint, l->api_socket);
        if (r < 200 || r >= 300)
                return log_warning_errno(-EIO, "PUT %s on %s: HTTP status %d.", endpoint, l->api_socket, r);
        return 0;
}

static int ch_request_poweroff(Launch *l) {
        return ch_put(l, "vm.power-button");
}

static int ch_force_stop(Launch *l) {
        return ch_put(l, "vmm.shutdown");
}

/* Like a reboot from inside the guest, this drops the vhost-user connection
 * and so ends virtiofsd and the VM (docs/ch-launch.md). */
static int ch_request_reboot(Launch *l) {
        return ch_put(l, "vm.reboot");
}

static void ch_done(Launch *l) {
        ChData *c = l->backend_data;

        if (!c)
                return;
        sd_event_source_disable_unref(c->event_source);
        sd_event_source_disable_unref(c->serial_timer);
        safe_close(c->event_fd);
        free(c);
        l->backend_data = NULL;
        (void) unlink(l->api_socket);
        (void) unlink(l->serial_socket);
}

const Backend backend_cloud_hypervisor = {
        .id = HYPERVISOR_CLOUD_HYPERVISOR,
        .build_argv = ch_build_argv,
        .prepare = ch_prepare,
        .started = ch_started,
        .request_poweroff = ch_request_poweroff,
        .force_stop = ch_force_stop,
        .request_reboot = ch_request_reboot,
        .done = ch_done,
};
