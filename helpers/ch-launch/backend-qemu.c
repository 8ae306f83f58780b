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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "json-lite.h"
#include "launch.h"
#include "log.h"
#include "strv.h"

typedef struct QemuData {
        int qmp_fd;
        sd_event_source *qmp_source;
        JsonStream qmp_stream;
        int vhost_watch_fd;
        sd_event_source *vhost_watch_source;
} QemuData;

/* QMP commands ch-launch sends; "id" comes back in the reply. */
#define QMP_CAPABILITIES "{\"execute\":\"qmp_capabilities\",\"id\":\"caps\"}\n"
#define QMP_QUERY_STATUS "{\"execute\":\"query-status\",\"id\":\"status\"}\n"
#define QMP_POWERDOWN "{\"execute\":\"system_powerdown\",\"id\":\"powerdown\"}\n"
#define QMP_QUIT "{\"execute\":\"quit\",\"id\":\"quit\"}\n"
#define QMP_RESET "{\"execute\":\"system_reset\",\"id\":\"reset\"}\n"

static int qmp_send(QemuData *q, const char *cmd) {
        size_t len = strlen(cmd);

        if (q->qmp_fd < 0)
                return -ENOTCONN;
        /* Commands are tiny and the socket buffer is empty: one send suffices,
         * and MSG_DONTWAIT keeps a wedged QEMU from wedging us. */
        ssize_t k = send(q->qmp_fd, cmd, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0)
                return -errno;
        return (size_t) k == len ? 0 : -EAGAIN;
}

/* QEMU exits 0 also when a signal from outside ends it (`machinectl kill`,
 * `systemctl kill`): only its reason tells that the guest never shut down. */
static void qmp_shutdown(Launch *l, JsonSpan obj) {
        char reason[32] = "";
        JsonSpan data;

        if (json_object_get(obj, "data", &data) >= 0)
                (void) json_get_string(data, "reason", reason, sizeof reason);
        if (streq(reason, "host-signal"))
                launch_fail(l, "QEMU was ended by a signal from outside ch-launch; the guest did not shut down.");
        else
                log_info("The guest shut down; QEMU is exiting.");
}

static void qmp_message(JsonSpan obj, void *userdata) {
        Launch *l = userdata;
        QemuData *q = l->backend_data;
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
                        qmp_shutdown(l, obj);
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
                        launch_vmm_running(l, "QMP query-status: running");
                else
                        log_warning("QEMU reports the VM as '%s', not running.", status);
        }
}

static int qmp_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        QemuData *q = l->backend_data;
        char buf[4096];
        ssize_t k;

        k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                /* QEMU is exiting; its exit status tells the rest. */
                q->qmp_source = sd_event_source_disable_unref(q->qmp_source);
                q->qmp_fd = safe_close(q->qmp_fd);
                return 0;
        }
        json_stream_feed(&q->qmp_stream, buf, (size_t) k, qmp_message, l);
        return 0;
}

static int vhost_hangup(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        QemuData *q = l->backend_data;

        q->vhost_watch_source = sd_event_source_disable_unref(q->vhost_watch_source);
        launch_fail(l, "virtiofsd hung up on %s: the VM lost its root file system.", l->def->layout.virtiofsd_socket);
        return 0;
}

static int socketpair_pass(Launch *l, int *ret_parent, int *ret_child_number) {
        int sp[2], n;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return -errno;
        n = launch_pass_fd(l, sp[1]);
        if (n < 0) {
                safe_close(sp[0]);
                return n;
        }
        *ret_parent = sp[0];
        *ret_child_number = n;
        return 0;
}

static int qemu_prepare(Launch *l) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int vfs = -EBADF;
        QemuData *q;
        int fd = -EBADF, n, r;

        q = calloc(1, sizeof *q);
        if (!q)
                return log_oom();
        q->qmp_fd = q->vhost_watch_fd = -EBADF;
        l->backend_data = q;

        if (strlen(l->def->layout.virtiofsd_socket) >= sizeof sa.sun_path)
                return log_error_errno(-ENAMETOOLONG, "Socket path too long: %s", l->def->layout.virtiofsd_socket);
        strcpy(sa.sun_path, l->def->layout.virtiofsd_socket);
        vfs = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (vfs < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        if (connect(vfs, (struct sockaddr *) &sa, sizeof sa) < 0)
                return log_error_errno(errno,
                                       "Failed to connect to virtiofsd at %s (is virtiofsd@%s.socket running?): %m",
                                       sa.sun_path, l->def->name);
        q->vhost_watch_fd = fcntl(vfs, F_DUPFD_CLOEXEC, 3);
        if (q->vhost_watch_fd < 0)
                return log_error_errno(errno, "Failed to duplicate a socket: %m");
        n = launch_pass_fd(l, TAKE_FD(vfs));
        if (n < 0)
                return log_error_errno(n, "Failed to pass a socket: %m");
        l->config.vhost_user_fd = n;

        r = socketpair_pass(l, &q->qmp_fd, &l->config.qmp_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to create the QMP channel: %m");
        r = socketpair_pass(l, &fd, &l->config.serial_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to create the serial channel: %m");
        r = launch_attach_serial(l, fd);
        if (r < 0)
                return r;
        r = socketpair_pass(l, &l->notify_fd, &l->config.notify_fd);
        if (r < 0)
                return log_error_errno(r, "Failed to create the notify channel: %m");

        /* QEMU's stdout carries nothing with these options; fold it into stderr. */
        l->child_stdout = -EBADF;
        return 0;
}

static int qemu_started(Launch *l) {
        QemuData *q = l->backend_data;
        int r;

        r = sd_event_add_io(l->event, &q->qmp_source, q->qmp_fd, EPOLLIN, qmp_io, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch QMP: %m");
        /* EPOLLRDHUP only: never EPOLLIN, the data is QEMU's to read. */
        r = sd_event_add_io(l->event, &q->vhost_watch_source, q->vhost_watch_fd, EPOLLRDHUP, vhost_hangup, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the virtiofsd connection: %m");
        return 0;
}

static int qemu_request_poweroff(Launch *l) {
        return qmp_send(l->backend_data, QMP_POWERDOWN);
}

static int qemu_force_stop(Launch *l) {
        return qmp_send(l->backend_data, QMP_QUIT);
}

static int qemu_request_reboot(Launch *l) {
        return qmp_send(l->backend_data, QMP_RESET);
}

static void qemu_done(Launch *l) {
        QemuData *q = l->backend_data;

        if (!q)
                return;
        sd_event_source_disable_unref(q->qmp_source);
        sd_event_source_disable_unref(q->vhost_watch_source);
        safe_close(q->qmp_fd);
        safe_close(q->vhost_watch_fd);
        free(q);
        l->backend_data = NULL;
}

const Backend backend_qemu = {
        .id = HYPERVISOR_QEMU,
        .build_argv = qemu_build_argv,
        .prepare = qemu_prepare,
        .started = qemu_started,
        .request_poweroff = qemu_request_poweroff,
        .force_stop = qemu_force_stop,
        .request_reboot = qemu_request_reboot,
        .done = qemu_done,
};
