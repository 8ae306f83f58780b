/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * QEMU (qemu-system-x86_64). Every channel is a socket ch-launch creates and
 * hands over as an fd, so nothing is listening in the file system and no
 * early output can be missed:
 *   - QMP on a socketpair (-chardev socket,fd=N + -mon mode=control);
 *   - the serial console ttyS0 on a socketpair (-serial chardev:);
 *   - the notify channel: virtio-serial + virtconsole (hvc0) on a socketpair;
 *   - the vhost-user-fs connection: ch-launch connects to virtiofsd@NAME.socket
 *     itself and passes the connected socket. It keeps a duplicate and watches
 *     it for the peer hanging up (EPOLLRDHUP, never reading): that is how a
 *     dead virtiofsd is noticed at once. QEMU would only log it and leave the
 *     guest hanging on its root file system.
 * Guest memory is a shared memfd, which vhost-user requires.
 */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "backend.h"
#include "channel.h"
#include "json-lite.h"
#include "log.h"
#include "socket-util.h"
#include "strv.h"

typedef struct QemuState {
        const BackendConfig *config;
        int qmp_fd; /* until started() */
        Channel qmp;
        JsonStream qmp_stream;
        int vhost_watch_fd;
        sd_event_source *vhost_watch_source;
} QemuState;

/* QMP commands ch-launch sends; "id" comes back in the reply. */
#define QMP_CAPABILITIES "{\"execute\":\"qmp_capabilities\",\"id\":\"caps\"}\n"
#define QMP_QUERY_STATUS "{\"execute\":\"query-status\",\"id\":\"status\"}\n"
#define QMP_POWERDOWN "{\"execute\":\"system_powerdown\",\"id\":\"powerdown\"}\n"
#define QMP_QUIT "{\"execute\":\"quit\",\"id\":\"quit\"}\n"
#define QMP_RESET "{\"execute\":\"system_reset\",\"id\":\"reset\"}\n"

static int qmp_send(QemuState *q, const char *cmd) {
        size_t len = strlen(cmd);

        if (!channel_is_open(&q->qmp))
                return -ENOTCONN;
        /* Commands are tiny and the socket buffer is empty: one send suffices,
         * and MSG_DONTWAIT keeps a wedged QEMU from wedging us. */
        ssize_t k = send(q->qmp.fd, cmd, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0)
                return -errno;
        return (size_t) k == len ? 0 : -EAGAIN;
}

/* QEMU exits 0 also when a signal from outside ends it (`machinectl kill`,
 * `systemctl kill`): only its reason tells that the guest never shut down. */
static void qmp_shutdown(QemuState *q, JsonSpan obj) {
        char reason[32] = "";
        JsonSpan data;

        if (json_object_get(obj, "data", &data) >= 0)
                (void) json_get_string(data, "reason", reason, sizeof reason);
        if (streq(reason, "host-signal"))
                q->config->events->failed("QEMU was ended by a signal from outside ch-launch; the guest did not "
                                          "shut down.",
                                          q->config->userdata);
        else
                log_info("The guest shut down; QEMU is exiting.");
}

static void qmp_message(JsonSpan obj, void *userdata) {
        QemuState *q = userdata;
        char id[32], event[64], status[64];
        JsonSpan ret;

        if (json_object_get(obj, "QMP", &ret) >= 0) {
                (void) qmp_send(q, QMP_CAPABILITIES);
                return;
        }
        if (json_get_string(obj, "event", event, sizeof event) >= 0) {
                if (streq(event, "RESET"))
                        log_info("The guest is rebooting.");
                else if (streq(event, "POWERDOWN"))
                        log_debug("ACPI power button pressed.");
                else if (streq(event, "SHUTDOWN"))
                        qmp_shutdown(q, obj);
                else if (streq(event, "GUEST_PANICKED"))
                        log_error("The guest kernel panicked.");
                return;
        }
        if (json_get_string(obj, "id", id, sizeof id) < 0)
                return;
        if (json_object_get(obj, "error", &ret) >= 0) {
                char desc[256] = "?";
                (void) json_get_string(ret, "desc", desc, sizeof desc);
                log_warning("QMP command '%s' failed: %s", id, desc);
                return;
        }
        if (streq(id, "caps"))
                (void) qmp_send(q, QMP_QUERY_STATUS);
        else if (streq(id, "status") && json_object_get(obj, "return", &ret) >= 0 &&
                 json_get_string(ret, "status", status, sizeof status) >= 0) {
                if (streq(status, "running"))
                        q->config->events->vmm_running("QMP query-status: running", q->config->userdata);
                else
                        log_warning("QEMU reports the VM as '%s', not running.", status);
        }
}

/* QEMU is exiting when QMP ends; its exit status tells the rest. */
static void qmp_data(Channel *c, const char *buf, size_t len, void *userdata) {
        QemuState *q = userdata;

        json_stream_feed(&q->qmp_stream, buf, len, qmp_message, q);
}

static const ChannelOps qmp_ops = {
        .on_data = qmp_data,
};

static int vhost_hangup(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QemuState *q = userdata;
        char why[512];

        q->vhost_watch_source = sd_event_source_disable_unref(q->vhost_watch_source);
        (void) snprintf(why, sizeof why, "virtiofsd hung up on %s: the VM lost its root file system.",
                        q->config->virtiofsd_socket);
        q->config->events->failed(why, q->config->userdata);
        return 0;
}

static int socketpair_pass(BackendResult *ret, const BackendConfig *c, int *ret_parent, int *ret_child_number) {
        int sp[2], n;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        n = backend_result_pass_fd(ret, c, sp[1]);
        if (n < 0) {
                safe_close(sp[0]);
                return n;
        }
        *ret_parent = sp[0];
        *ret_child_number = n;
        return 0;
}

/* The vhost-user connection: passed to QEMU, a duplicate kept to watch it. */
static int virtiofsd_connect(QemuState *q, BackendResult *ret, LaunchConfig *a) {
        const BackendConfig *c = q->config;
        _cleanup_close_ int vfs = -EBADF;
        int n;

        vfs = socket_open_connected(SOCK_STREAM | SOCK_CLOEXEC, c->virtiofsd_socket);
        if (vfs < 0)
                return log_error_errno(vfs,
                                       "Failed to connect to virtiofsd at %s (is virtiofsd@%s.socket running?): %m",
                                       c->virtiofsd_socket, c->name);
        q->vhost_watch_fd = fcntl(vfs, F_DUPFD_CLOEXEC, 3);
        if (q->vhost_watch_fd < 0)
                return log_error_errno(errno, "Failed to duplicate a socket: %m");
        n = backend_result_pass_fd(ret, c, TAKE_FD(vfs));
        if (n < 0)
                return log_error_errno(n, "Failed to pass a socket: %m");
        a->vhost_user_fd = n;
        return 0;
}

static int qemu_channels(QemuState *q, BackendResult *ret, LaunchConfig *a) {
        int r;

        r = socketpair_pass(ret, q->config, &q->qmp_fd, &a->qmp_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to create the QMP channel: %m");
        r = socketpair_pass(ret, q->config, &ret->serial_fd, &a->serial_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to create the serial channel: %m");
        r = socketpair_pass(ret, q->config, &ret->notify_fd, &a->notify_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to create the notify channel: %m");
        /* QEMU's stdout carries nothing with these options; fold it into stderr. */
        ret->child_stdout = -EBADF;
        return 0;
}

static int qemu_prepare(const BackendConfig *c, void **ret_state, BackendResult *ret) {
        QemuState *q;
        LaunchConfig a = c->launch;
        int r;

        q = calloc(1, sizeof *q);
        if (!q)
                return log_oom();
        *q = (QemuState) { .config = c, .qmp_fd = -EBADF, .qmp = CHANNEL_NULL, .vhost_watch_fd = -EBADF };
        *ret_state = q;

        r = virtiofsd_connect(q, ret, &a);
        if (r < 0)
                return r;
        r = qemu_channels(q, ret, &a);
        if (r < 0)
                return r;
        r = qemu_build_argv(&a, &ret->argv);
        if (r == -ENOMEM)
                return log_oom();
        return r;
}

static int qemu_started(void *state) {
        QemuState *q = state;
        sd_event *e = q->config->event;
        int r;

        r = channel_open(&q->qmp, e, TAKE_FD(q->qmp_fd), &qmp_ops, q);
        if (r < 0)
                return log_error_errno(r, "Failed to watch QMP: %m");
        /* EPOLLRDHUP only: never EPOLLIN, the data is QEMU's to read. */
        r = sd_event_add_io(e, &q->vhost_watch_source, q->vhost_watch_fd, EPOLLRDHUP, vhost_hangup, q);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the virtiofsd connection: %m");
        return 0;
}

static int qemu_request_poweroff(void *state) {
        return qmp_send(state, QMP_POWERDOWN);
}

static int qemu_force_stop(void *state) {
        return qmp_send(state, QMP_QUIT);
}

static int qemu_request_reboot(void *state) {
        return qmp_send(state, QMP_RESET);
}

static void *qemu_free(void *state) {
        QemuState *q = state;

        if (!q)
                return NULL;
        channel_close(&q->qmp);
        sd_event_source_disable_unref(q->vhost_watch_source);
        safe_close(q->qmp_fd);
        safe_close(q->vhost_watch_fd);
        free(q);
        return NULL;
}

const Backend backend_qemu = {
        .id = HYPERVISOR_QEMU,
        .prepare = qemu_prepare,
        .started = qemu_started,
        .request_poweroff = qemu_request_poweroff,
        .force_stop = qemu_force_stop,
        .request_reboot = qemu_request_reboot,
        .free = qemu_free,
};
