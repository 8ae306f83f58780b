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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "backend.h"
#include "ch-api.h"
#include "channel.h"
#include "http-client.h"
#include "json-lite.h"
#include "log.h"
#include "socket-util.h"
#include "strv.h"

#define CH_API_TIMEOUT (2 * USEC_PER_SEC)
#define SERIAL_RETRY_USEC (2 * USEC_PER_MSEC)
#define SERIAL_RETRY_MAX (10 * USEC_PER_SEC)

typedef struct ChState {
        const BackendConfig *config;
        int event_fd; /* until started() */
        Channel events;
        JsonStream event_stream;
        sd_event_source *serial_timer;
        usec_t serial_deadline;
        /* CH's own view of its paths, through fds it inherits */
        char api_arg[64], serial_arg[64], fs_arg[32];
} ChState;

static void ch_event(JsonSpan obj, void *userdata) {
        ChState *c = userdata;
        const char *api = c->config->api_socket;
        _cleanup_free_ char *body = NULL;
        char state[32];
        int r;

        switch (ch_event_parse(obj.p, obj.n)) {
        case CH_EVENT_BOOTED:
                /* Confirm with the API: it is also the check that we can stop it later. */
                r = http_call(api, "GET", "vm.info", NULL, CH_API_TIMEOUT, &body);
                if (r == 200 && body && ch_vm_info_state(body, strlen(body), state, sizeof state) >= 0) {
                        if (!streq(state, "Running"))
                                log_warning("vm/booted, but GET vm.info says state %s.", state);
                } else
                        log_warning_errno(r < 0 ? r : 0, "GET vm.info on %s failed (%d): %m", api, r);
                c->config->events->vmm_running("vm/booted", c->config->userdata);
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

static void event_data(Channel *ch, const char *buf, size_t len, void *userdata) {
        ChState *c = userdata;

        json_stream_feed(&c->event_stream, buf, len, ch_event, c);
}

static const ChannelOps event_ops = {
        .on_data = event_data,
};

/* CH creates the serial socket while it sets the VM up, a few ms after
 * exec; poll for it briefly. */
static int serial_try_connect(sd_event_source *s, uint64_t usec, void *userdata) {
        ChState *c = userdata;
        int fd;

        fd = socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC, c->config->serial_socket);
        if (fd >= 0) {
                c->serial_timer = sd_event_source_disable_unref(c->serial_timer);
                c->config->events->serial_connected(fd, c->config->userdata);
                return 0;
        }
        if (usec >= c->serial_deadline) {
                c->serial_timer = sd_event_source_disable_unref(c->serial_timer);
                log_warning_errno(fd, "Cannot connect to the serial console %s, giving up: %m",
                                  c->config->serial_socket);
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
static int ch_pass_paths(ChState *c, BackendResult *ret, LaunchConfig *a) {
        const BackendConfig *cfg = c->config;
        _cleanup_close_ int dir = -EBADF, vfs = -EBADF;
        uid_t u = cfg->uid;
        int nd, nv;

        dir = open(cfg->vmm_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0)
                return log_error_errno(errno, "Failed to open %s: %m", cfg->vmm_dir);
        if (fchownat(dir, "", 0, (gid_t) u, AT_EMPTY_PATH) < 0 || chmod(cfg->vmm_dir, 01770) < 0)
                return log_error_errno(errno, "Failed to give %s to gid %u: %m", cfg->vmm_dir, (unsigned) u);
        vfs = open(cfg->virtiofsd_socket, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (vfs < 0)
                return log_error_errno(errno, "Failed to open %s (is virtiofsd@%s.socket running?): %m",
                                       cfg->virtiofsd_socket, cfg->name);
        if (fchownat(vfs, "", u, (gid_t) u, AT_EMPTY_PATH) < 0)
                return log_error_errno(errno, "Failed to give %s to uid %u: %m", cfg->virtiofsd_socket, (unsigned) u);
        nd = backend_result_pass_fd(ret, cfg, TAKE_FD(dir));
        nv = nd < 0 ? nd : backend_result_pass_fd(ret, cfg, TAKE_FD(vfs));
        if (nv < 0)
                return log_error_errno(nv, "Failed to pass a path: %m");
        (void) snprintf(c->api_arg, sizeof c->api_arg, "/proc/self/fd/%d/api.sock", nd);
        (void) snprintf(c->serial_arg, sizeof c->serial_arg, "/proc/self/fd/%d/serial.sock", nd);
        (void) snprintf(c->fs_arg, sizeof c->fs_arg, "/proc/self/fd/%d", nv);
        a->api_socket = c->api_arg;
        a->serial_socket = c->serial_arg;
        a->virtiofsd_socket = c->fs_arg;
        return 0;
}

/* The event monitor, and --console tty: the virtio console is CH's stdout. */
static int ch_pipes(ChState *c, BackendResult *ret, LaunchConfig *a) {
        int p[2], n;

        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create the event monitor pipe: %m");
        c->event_fd = p[0];
        n = backend_result_pass_fd(ret, c->config, p[1]);
        if (n < 0)
                return log_error_errno(n, "Failed to pass the event monitor pipe: %m");
        a->event_monitor_fd = n;

        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create the console pipe: %m");
        ret->notify_fd = p[0];
        ret->child_stdout = p[1];
        return 0;
}

static int ch_prepare(const BackendConfig *cfg, void **ret_state, BackendResult *ret) {
        LaunchConfig a = cfg->launch;
        ChState *c;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return log_oom();
        *c = (ChState) { .config = cfg, .event_fd = -EBADF, .events = CHANNEL_NULL };
        *ret_state = c;

        /* Leftovers of an earlier run would make CH's bind() fail, or make us
         * connect to a stale serial socket. */
        (void) unlink(cfg->api_socket);
        (void) unlink(cfg->serial_socket);
        r = ch_pass_paths(c, ret, &a);
        if (r < 0)
                return r;
        r = ch_pipes(c, ret, &a);
        if (r < 0)
                return r;
        /* CH binds its API and serial sockets in vmm/, which only root and the
         * VM's uid can enter: open to both, so that ch-launch connects without
         * CAP_DAC_OVERRIDE. */
        ret->child_umask = 0;
        r = ch_build_argv(&a, &ret->argv);
        if (r == -ENOMEM)
                return log_oom();
        return r;
}

static int ch_started(void *state) {
        ChState *c = state;
        sd_event *e = c->config->event;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        r = channel_open(&c->events, e, TAKE_FD(c->event_fd), &event_ops, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the event monitor: %m");
        c->serial_deadline = now + SERIAL_RETRY_MAX;
        r = sd_event_add_time(e, &c->serial_timer, CLOCK_MONOTONIC, now + SERIAL_RETRY_USEC, 0, serial_try_connect, c);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        return 0;
}

static int ch_put(ChState *c, const char *endpoint) {
        const char *api = c->config->api_socket;
        int r = http_call(api, "PUT", endpoint, NULL, CH_API_TIMEOUT, NULL);

        if (r < 0)
                return log_warning_errno(r, "PUT %s on %s failed: %m", endpoint, api);
        if (r < 200 || r >= 300)
                return log_warning_errno(SYNTHETIC_ERRNO(EIO), "PUT %s on %s: HTTP status %d.", endpoint, api, r);
        return 0;
}

static int ch_request_poweroff(void *state) {
        return ch_put(state, "vm.power-button");
}

static int ch_force_stop(void *state) {
        return ch_put(state, "vmm.shutdown");
}

/* Like a reboot from inside the guest, this drops the vhost-user connection
 * and so ends virtiofsd and the VM (docs/ch-launch.md). */
static int ch_request_reboot(void *state) {
        return ch_put(state, "vm.reboot");
}

static void *ch_free(void *state) {
        ChState *c = state;

        if (!c)
                return NULL;
        channel_close(&c->events);
        sd_event_source_disable_unref(c->serial_timer);
        safe_close(c->event_fd);
        (void) unlink(c->config->api_socket);
        (void) unlink(c->config->serial_socket);
        free(c);
        return NULL;
}

const Backend backend_cloud_hypervisor = {
        .id = HYPERVISOR_CLOUD_HYPERVISOR,
        .prepare = ch_prepare,
        .started = ch_started,
        .request_poweroff = ch_request_poweroff,
        .force_stop = ch_force_stop,
        .request_reboot = ch_request_reboot,
        .free = ch_free,
};
