/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * ch-launch NAME: the ExecStart= of vm@NAME.service (Type=notify). Starts the
 * hypervisor for the VM NAME and supervises it until it exits:
 *   - READY=1 when the VM is up as ReadyOn= defines it (vmm: the hypervisor
 *     runs it; guest: the guest wrote READY=1 to its first virtio console);
 *   - every line of the guest's serial console into the journal, and a
 *     console socket for an interactive attach;
 *   - SIGTERM: ACPI power button, then a hard stop when the guest has not
 *     powered off within the stop timeout (or at a second SIGTERM);
 *   - registered with systemd-machined as the machine NAME, ch-launch its
 *     leader: `machinectl poweroff` (SIGRTMIN+4) is SIGTERM, `machinectl
 *     reboot` (SIGINT) resets the guest inside the hypervisor;
 *   - the hypervisor's end becomes our exit status: 0 only when the guest
 *     powered off by itself or on request.
 * ch-launch stays the main process (MAINPID) so that systemd's SIGTERM
 * reaches it and not the hypervisor: KillMode=mixed.
 */

#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "launch.h"
#include "log.h"
#include "main-func.h"
#include "netdev.h"
#include "path-util.h"
#include "strv.h"
#include "vm-identity.h"

/* vm@.service's TimeoutStopSec=, unless the definition sets its own. */
#define DEFAULT_STOP_TIMEOUT (COWVM_DEFAULT_TIMEOUT_STOP_SEC * USEC_PER_SEC)
#define STOP_MARGIN_MAX (5 * USEC_PER_SEC)
#define KILL_GRACE (3 * USEC_PER_SEC)
/* A guest that was still booting when the button was first pressed (no
 * acpid or logind yet) ignores it; pressing again costs nothing. */
#define POWER_BUTTON_REPEAT (5 * USEC_PER_SEC)
#define SERIAL_FLUSH_DELAY (250 * USEC_PER_MSEC)
/* The guest's STATUS= reaches systemd (and the log) at most this often; the
 * latest wins. Each one costs PID 1 a message and a unit property change. */
#define GUEST_STATUS_INTERVAL (250 * USEC_PER_MSEC)
/* How often, at most, refused lines on hvc0 are reported (with their count). */
#define REFUSED_REPORT_INTERVAL (10 * USEC_PER_SEC)

static const char *arg_name;

static int fd_nonblock(int fd) {
        int flags;

        if (fd < 0)
                return 0;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static void notify(const char *fmt, ...) _printf_(1, 2);
static void notify(const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        (void) sd_notify(false, buf);
}

void launch_status(Launch *l, const char *fmt, ...) {
        char buf[900];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        log_debug("STATUS=%s", buf);
        notify("STATUS=%s", buf);
}

int launch_pass_fd(Launch *l, int fd) {
        if (l->n_pass_fds >= LAUNCH_MAX_PASS_FDS) {
                safe_close(fd);
                return -E2BIG;
        }
        l->pass_fds[l->n_pass_fds] = fd;
        return 3 + (int) l->n_pass_fds++;
}

/* ---- the journal ------------------------------------------------------- */

static void journal_line(Launch *l, const char *source, int priority, const char *line, size_t len, bool continued) {
        char prio[2] = { (char) ('0' + priority), 0 };
        char escaped[LINE_MAX_BYTES * 4 + 1];
        size_t elen;
        bool esc = console_escape(line, len, escaped, &elen);
        JournalField f[8] = {
                { "MESSAGE", escaped, elen },
                { "PRIORITY", prio, 1 },
                { "SYSLOG_IDENTIFIER", l->def->name, strlen(l->def->name) },
                { "COWVM_VM", l->def->name, strlen(l->def->name) },
                { "COWVM_SOURCE", source, strlen(source) },
        };
        size_t n = 5;

        if (continued)
                f[n++] = (JournalField) { "COWVM_CONTINUED", "1", 1 };
        /* Escaping keeps `journalctl` readable; the bytes as sent stay here. */
        if (esc)
                f[n++] = (JournalField) { "COWVM_RAW", line, len };

        if (l->journal_ok) {
                int r = journal_writer_send(&l->journal, f, n);
                if (r >= 0) {
                        if (l->journal.head)
                                (void) sd_event_source_set_enabled(l->journal_source, SD_EVENT_ON);
                        return;
                }
                log_warning_errno(r, "Cannot write to the journal, console lines go to stderr from now on: %m");
                l->journal_ok = false;
        }
        (void) fprintf(stderr, "%s %s: %.*s\n", l->def->name, source, (int) elen, escaped);
}

/* Every channel from the guest or the hypervisor ends up in the journal
 * queue, so every one of them stops being read while it is full: the memory
 * bound is the queue's, and a guest that writes faster than journald stores
 * only blocks its own writes. */
static void update_backpressure(Launch *l) {
        int on = journal_writer_congested(&l->journal) ? SD_EVENT_OFF : SD_EVENT_ON;

        if (l->serial_source)
                (void) sd_event_source_set_enabled(l->serial_source, on);
        if (l->stderr_source)
                (void) sd_event_source_set_enabled(l->stderr_source, on);
}

static int journal_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        int r;

        r = journal_writer_flush(&l->journal);
        if (r < 0) {
                log_warning_errno(r, "Cannot write to the journal: %m");
                l->journal_ok = false;
        }
        if (!l->journal.head || r < 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        update_backpressure(l);
        return 0;
}

/* ---- the serial console ------------------------------------------------ */

static void serial_line(const char *line, size_t len, bool continued, void *userdata) {
        journal_line(userdata, "console", LOG_INFO, line, len, continued);
}

static void console_client_close(Launch *l) {
        l->console_client_source = sd_event_source_disable_unref(l->console_client_source);
        l->console_client_fd = safe_close(l->console_client_fd);
}

static int serial_flush(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;

        /* A prompt ("login: ") has no newline; do not keep it back. */
        line_buffer_flush(&l->serial_lines, serial_line, l);
        return 0;
}

static int serial_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        char buf[16384];
        ssize_t k;

        k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                line_buffer_flush(&l->serial_lines, serial_line, l);
                l->serial_source = sd_event_source_disable_unref(l->serial_source);
                l->serial_fd = safe_close(l->serial_fd);
                return 0;
        }
        line_buffer_feed(&l->serial_lines, buf, (size_t) k, serial_line, l);

        /* The interactive client sees what the journal sees; it is a viewer, so a
         * client that does not keep up misses output rather than stalling the guest. */
        if (l->console_client_fd >= 0 &&
            send(l->console_client_fd, buf, (size_t) k, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
                console_client_close(l);

        if (l->serial_lines.n > 0)
                (void) sd_event_source_set_time_relative(l->serial_flush_timer, SERIAL_FLUSH_DELAY),
                        (void) sd_event_source_set_enabled(l->serial_flush_timer, SD_EVENT_ONESHOT);
        update_backpressure(l);
        return 1;
}

int launch_attach_serial(Launch *l, int fd) {
        int r;

        l->serial_fd = fd;
        if (!l->event)
                return 0; /* before the event loop exists: attached in start() */
        r = sd_event_add_io(l->event, &l->serial_source, fd, EPOLLIN, serial_io, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the serial console: %m");
        return 0;
}

static int console_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        char buf[4096];
        ssize_t k;

        k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                console_client_close(l);
                return 0;
        }
        if (l->serial_fd >= 0)
                (void) send(l->serial_fd, buf, (size_t) k, MSG_DONTWAIT | MSG_NOSIGNAL);
        return 0;
}

static int console_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        int c, r;

        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0)
                return 0;
        /* One attached console at a time; the newest wins, like a serial line. */
        console_client_close(l);
        l->console_client_fd = c;
        r = sd_event_add_io(l->event, &l->console_client_source, c, EPOLLIN, console_client_io, l);
        if (r < 0)
                console_client_close(l);
        return 0;
}

static int console_listen(Launch *l) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (strlen(l->console_socket) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, l->console_socket);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(l->console_socket);
        /* The console is root's: 0600 from the start, no window with a wider mode. */
        mode_t old = umask(0077);
        r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
        umask(old);
        if (r < 0 || listen(fd, 4) < 0)
                return -errno;
        r = sd_event_add_io(l->event, &l->console_listen_source, fd, EPOLLIN, console_accept, l);
        if (r < 0)
                return r;
        l->console_listen_fd = TAKE_FD(fd);
        return 0;
}

/* ---- the notify channel (hvc0) and the hypervisor's stderr ---------------- */

/* The guest's address as cowvm-network wrote it (a static Address= or its
 * lease on the default network): shown in the unit's status. "" if none. */
static void guest_address(const Launch *l, char *buf, size_t size) {
        _cleanup_free_ char *p = path_join(l->def->runtime_dir, "address");
        _cleanup_fclose_ FILE *f = p ? fopen(p, "re") : NULL;

        buf[0] = '\0';
        if (f && fgets(buf, (int) size, f))
                buf[strcspn(buf, "\n")] = '\0';
}

static void ready(Launch *l, const char *status) {
        char address[64];

        if (l->ready || l->stopping)
                return;
        l->ready = true;
        guest_address(l, address, sizeof address);
        log_info("%s%s%s", status, address[0] ? ", address " : "", address);
        notify("READY=1\nSTATUS=%s%s%s", status, address[0] ? ", address " : "", address);
}

void launch_vmm_running(Launch *l, const char *detail) {
        if (l->vmm_running)
                return;
        l->vmm_running = true;
        if (l->def->ready_on == READY_ON_VMM)
                ready(l, "VM running");
        else
                launch_status(l, "VM running, waiting for the guest to report READY=1 on hvc0");
        log_info("VM running (%s).", detail);
        (void) machine_register(&l->machine, l->event, l->def->name,
                                l->tap_name[0] ? (int) if_nametoindex(l->tap_name) : 0);
}

static void guest_status_send(Launch *l) {
        l->guest_status_pending = false;
        log_info("Guest status: %s", l->guest_status);
        launch_status(l, "Guest: %s", l->guest_status);
        /* The next one waits for the timer, counted from now rather than from
         * the start of this loop iteration, so that no two are closer. */
        (void) sd_event_source_set_time(l->guest_status_timer, now_usec(CLOCK_MONOTONIC) + GUEST_STATUS_INTERVAL);
        (void) sd_event_source_set_enabled(l->guest_status_timer, SD_EVENT_ONESHOT);
}

static int guest_status_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;

        if (l->guest_status_pending)
                guest_status_send(l);
        return 0;
}

/* `v` was checked by guest_notify_parse(): printable, at most GUEST_STATUS_MAX. */
static void guest_status(Launch *l, const char *v, size_t vl) {
        int enabled = SD_EVENT_OFF;

        memcpy(l->guest_status, v, vl);
        l->guest_status[vl] = '\0';
        l->guest_status_pending = true;
        (void) sd_event_source_get_enabled(l->guest_status_timer, &enabled);
        if (enabled == SD_EVENT_OFF)
                guest_status_send(l);
}

static void guest_refused_report(Launch *l) {
        if (l->guest_refused == 0)
                return;
        log_warning("Refused %u line%s on the notify channel (hvc0): only READY=1 and STATUS= with printable "
                    "UTF-8 text are accepted (ch-launch(8)); the lines are in the journal at debug level.",
                    l->guest_refused, l->guest_refused == 1 ? "" : "s");
        l->guest_refused = 0;
        (void) sd_event_now(l->event, CLOCK_MONOTONIC, &l->guest_refused_reported);
}

static void guest_refused(Launch *l) {
        usec_t now;

        l->guest_refused++;
        if (sd_event_now(l->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (l->guest_refused_reported == 0 || now >= l->guest_refused_reported + REFUSED_REPORT_INTERVAL)
                guest_refused_report(l);
}

static void notify_dropped_report(Launch *l) {
        if (l->notify_dropped == 0)
                return;
        log_warning("Dropped %u line%s of the notify channel (hvc0) that were neither READY=1 nor STATUS=, "
                    "while the journal did not keep up.",
                    l->notify_dropped, l->notify_dropped == 1 ? "" : "s");
        l->notify_dropped = 0;
}

static void notify_line(const char *line, size_t len, bool continued, void *userdata) {
        Launch *l = userdata;
        const char *v;
        size_t vl;

        switch (continued ? GUEST_NOTIFY_OTHER : guest_notify_parse(line, len, &v, &vl)) {
        case GUEST_NOTIFY_READY:
                if (l->def->ready_on == READY_ON_GUEST)
                        ready(l, "Guest ready");
                else if (!l->guest_reported_ready) /* once: the guest may repeat it */
                        log_debug("The guest reported READY=1.");
                l->guest_reported_ready = true;
                return;
        case GUEST_NOTIFY_STATUS:
                if (vl > 0)
                        guest_status(l, v, vl);
                return;
        case GUEST_NOTIFY_REFUSED:
                guest_refused(l);
                break;
        default:
                break;
        }
        /* Not ours to act on, but worth keeping, unless the journal queue is
         * full. hvc0 is never paused: it carries READY=1, and QEMU discards
         * what the guest writes to a virtconsole nobody reads anyway. */
        if (journal_writer_congested(&l->journal)) {
                l->notify_dropped++;
                return;
        }
        notify_dropped_report(l);
        journal_line(l, "notify", LOG_DEBUG, line, len, continued);
}

/* Feeds what `*fd` has to `lines`. At the end of the stream (or an error)
 * the last partial line is flushed, the fd closed and its event source
 * dropped. Returns 1 while data came, 0 otherwise. */
static int read_lines(Launch *l, int *fd, sd_event_source **source, LineBuffer *lines, line_cb cb) {
        char buf[4096];
        ssize_t k;

        k = read(*fd, buf, sizeof buf);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                line_buffer_flush(lines, cb, l);
                *source = sd_event_source_disable_unref(*source);
                *fd = safe_close(*fd);
                return 0;
        }
        line_buffer_feed(lines, buf, (size_t) k, cb, l);
        return 1;
}

static int notify_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        int r;

        r = read_lines(l, &l->notify_fd, &l->notify_source, &l->notify_lines, notify_line);
        if (r > 0)
                update_backpressure(l);
        return r;
}

static void stderr_line(const char *line, size_t len, bool continued, void *userdata) {
        journal_line(userdata, "hypervisor", LOG_WARNING, line, len, continued);
}

static int stderr_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launch *l = userdata;
        int r;

        r = read_lines(l, &l->stderr_fd, &l->stderr_source, &l->stderr_lines, stderr_line);
        if (r > 0)
                update_backpressure(l);
        return r;
}

/* ---- stopping ------------------------------------------------------------ */

static int kill_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;

        log_warning("The hypervisor (PID %d) is still running, sending SIGKILL.", (int) l->pid);
        (void) syscall(SYS_pidfd_send_signal, l->pidfd, SIGKILL, NULL, 0);
        return 0;
}

static void hard_stop(Launch *l) {
        if (l->forced)
                return;
        l->forced = true;
        notify("STOPPING=1\nSTATUS=Stopping the VM hard");
        (void) l->backend->force_stop(l);
        l->stop_timer = sd_event_source_disable_unref(l->stop_timer);
        l->button_timer = sd_event_source_disable_unref(l->button_timer);
        (void) sd_event_add_time_relative(l->event, &l->kill_timer, CLOCK_MONOTONIC, KILL_GRACE, 0, kill_timer_fired,
                                          l);
}

void launch_fail(Launch *l, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        log_error("%s", buf);
        if (!l->failure)
                l->failure = strdup(buf);
        hard_stop(l);
}

static int stop_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;
        char t[64];

        launch_fail(l, "The guest did not power off within %s of the ACPI power button; stopping it hard.",
                    format_timespan_unit(t, sizeof t, l->stop_timeout));
        return 0;
}

static int button_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;

        if (l->forced)
                return 0;
        if (l->backend->request_poweroff(l) >= 0)
                log_info("Pressed the ACPI power button again.");
        return sd_event_source_set_time_relative(s, POWER_BUTTON_REPEAT) < 0
                       ? 0
                       : sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Launch *l = userdata;
        char t[64];
        int r;

        if (l->stopping) {
                log_notice("Second stop request: stopping the VM hard.");
                hard_stop(l);
                return 0;
        }
        l->stopping = true;

        if (!l->ready)
                log_warning("Stop requested before the VM was ready: %s.",
                            l->def->ready_on == READY_ON_GUEST
                                    ? (l->vmm_running ? "the guest never wrote READY=1 to its virtio console (hvc0)"
                                                      : "the hypervisor never reported the VM running")
                                    : "the hypervisor never reported the VM running");

        notify("STOPPING=1\nSTATUS=Pressing the ACPI power button, waiting for the guest to power off");
        r = l->backend->request_poweroff(l);
        if (r < 0) {
                log_warning_errno(r, "Could not press the power button: %m");
                hard_stop(l);
                return 0;
        }
        log_info("Pressed the ACPI power button; waiting up to %s for the guest to power off.",
                 format_timespan_unit(t, sizeof t, l->stop_timeout));
        if (l->stop_timeout != USEC_INFINITY)
                (void) sd_event_add_time_relative(l->event, &l->stop_timer, CLOCK_MONOTONIC, l->stop_timeout, 0,
                                                  stop_timer_fired, l);
        (void) sd_event_add_time_relative(l->event, &l->button_timer, CLOCK_MONOTONIC, POWER_BUTTON_REPEAT, 0,
                                          button_timer_fired, l);
        return 0;
}

/* SIGINT, machined's reboot: a reset, as the guest's own reboot would do. */
static int on_sigint(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Launch *l = userdata;
        int r;

        if (l->stopping) {
                log_notice("Reboot requested while the VM is stopping; ignored.");
                return 0;
        }
        r = l->backend->request_reboot(l);
        if (r < 0)
                log_warning_errno(r, "Could not reboot the guest: %m");
        else
                log_info("Reboot requested (signal from PID %u): resetting the guest.", si->ssi_pid);
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Launch *l = userdata;
        const char *hv = hypervisor_to_string(l->backend->id);
        char why[256] = "";
        int code = EXIT_SUCCESS;

        /* Drain what the hypervisor wrote last (a panic, its own errors). All
         * our ends are non-blocking; the handlers return 1 while they read. */
        for (int i = 0; i < 4096 && l->serial_fd >= 0 && serial_io(NULL, l->serial_fd, EPOLLIN, l) > 0; i++)
                ;
        for (int i = 0; i < 4096 && l->notify_fd >= 0 && notify_io(NULL, l->notify_fd, EPOLLIN, l) > 0; i++)
                ;
        for (int i = 0; i < 4096 && l->stderr_fd >= 0 && stderr_io(NULL, l->stderr_fd, EPOLLIN, l) > 0; i++)
                ;
        line_buffer_flush(&l->serial_lines, serial_line, l);
        line_buffer_flush(&l->stderr_lines, stderr_line, l);
        /* The final STATUS= below is the one that stays. */
        (void) sd_event_source_set_enabled(l->guest_status_timer, SD_EVENT_OFF);
        guest_refused_report(l);
        notify_dropped_report(l);

        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                if (l->failure)
                        code = EXIT_FAILURE;
                else if (l->forced)
                        (void) snprintf(why, sizeof why, "%s exited after a hard stop.", hv);
                else
                        log_info("The VM powered off.");
        } else if (si->si_code == CLD_EXITED)
                (void) snprintf(why, sizeof why, "%s exited with status %d.", hv, si->si_status);
        else
                (void) snprintf(why, sizeof why, "%s was killed by signal SIG%s%s.", hv,
                                sigabbrev_np(si->si_status) ?: "?", si->si_code == CLD_DUMPED ? " (core dumped)" : "");
        if (why[0]) {
                log_error("%s", why);
                code = EXIT_FAILURE;
        }
        /* The first reason is the one that explains the others; without
         * one, the hypervisor's own end is the reason: `systemctl status`
         * must not say "Stopped" for a VM whose QEMU was killed. */
        if (code == EXIT_FAILURE)
                notify("STATUS=Failed: %s", l->failure ?: why);
        else
                notify("STATUS=Stopped");

        l->pid = 0;
        machine_unregister(&l->machine);
        return sd_event_exit(l->event, code);
}

/* ---- starting ------------------------------------------------------------ */

static char *find_in_path(const char *name) {
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        char *state = NULL;

        if (!copy)
                return NULL;
        for (char *d = strtok_r(copy, ":", &state); d; d = strtok_r(NULL, ":", &state)) {
                _cleanup_free_ char *p = path_join(d, name);
                if (p && access(p, X_OK) >= 0)
                        return TAKE_PTR(p);
        }
        return NULL;
}

static int pick_hypervisor(Launch *l, char **ret_binary) {
        const char *ch = getenv("COWVM_CLOUD_HYPERVISOR"), *qemu = getenv("COWVM_QEMU");
        _cleanup_free_ char *ch_path = NULL, *qemu_path = NULL;
        Hypervisor h = l->def->hypervisor;

        if (h != HYPERVISOR_QEMU)
                ch_path = ch ? strdup(ch) : find_in_path("cloud-hypervisor");
        if (h != HYPERVISOR_CLOUD_HYPERVISOR)
                qemu_path = qemu ? strdup(qemu) : find_in_path("qemu-system-x86_64");

        if (h < 0)
                h = ch_path ? HYPERVISOR_CLOUD_HYPERVISOR : HYPERVISOR_QEMU;
        if (h == HYPERVISOR_CLOUD_HYPERVISOR && !ch_path)
                return log_error_errno(-ENOENT,
                                       "%s: Hypervisor=cloud-hypervisor, but cloud-hypervisor is not in $PATH "
                                       "(or set $COWVM_CLOUD_HYPERVISOR).",
                                       l->def->path);
        if (h == HYPERVISOR_QEMU && !qemu_path)
                return log_error_errno(-ENOENT, "No hypervisor found: install cloud-hypervisor, or QEMU "
                                                "(Debian: qemu-system-x86) for qemu-system-x86_64.");

        l->backend = h == HYPERVISOR_QEMU ? &backend_qemu : &backend_cloud_hypervisor;
        if (h == HYPERVISOR_QEMU)
                *ret_binary = TAKE_PTR(qemu_path);
        else
                *ret_binary = TAKE_PTR(ch_path);
        return 0;
}

/* [Network] Bridge=: the VM's tap device on that bridge, handed to the
 * hypervisor as its only fd (netdev.h: the tap goes away with the
 * hypervisor, however it ends). Without Bridge= the VM has no NIC. */
static int setup_network(Launch *l) {
        const VmDefinition *d = l->def;
        _cleanup_close_ int fd = -EBADF;
        struct ether_addr host_mac;
        char ifname[IFNAMSIZ];
        unsigned mtu;
        int ifindex, n, r;

        if (!d->bridge) {
                if (d->addresses || d->dhcp)
                        log_warning("%s: [Network] has Address= or DHCP=yes but no Bridge= (here or in " COWVM_CONF
                                    "): the VM gets no network interface.",
                                    d->path);
                return 0;
        }

        vm_tap_name(d->name, ifname);
        r = bridge_lookup(d->bridge, &ifindex, &mtu);
        if (r == -ENODEV)
                return log_error_errno(r,
                                       "Bridge %s does not exist: %m. Create it first (docs/networking.md: "
                                       "a systemd-networkd .netdev with Kind=bridge), or change Bridge= "
                                       "in %s or " COWVM_CONF ".",
                                       d->bridge, d->path);
        if (r < 0)
                return log_error_errno(r, "Failed to look up bridge %s: %m", d->bridge);

        r = tap_open(ifname, &fd);
        if (r == -EBUSY)
                return log_error_errno(r,
                                       "A network interface named %s already exists: is VM %s running "
                                       "outside vm@%s.service, or did something else create it? "
                                       "cowvm never takes over an existing interface; if it is stale, "
                                       "remove it with 'ip link delete %s'.",
                                       ifname, d->name, d->name, ifname);
        if (r == -ENOENT)
                return log_error_errno(r,
                                       "Failed to create the tap device %s: /dev/net/tun is missing "
                                       "(modprobe tun).",
                                       ifname);
        if (r < 0)
                return log_error_errno(r, "Failed to create the tap device %s: %m", ifname);

        tap_host_mac(&d->mac, &host_mac);
        r = tap_attach(ifname, &host_mac, mtu, d->bridge);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "%s is not a bridge (Bridge= in %s or " COWVM_CONF ").", d->bridge, d->path);
        if (r < 0)
                return log_error_errno(r, "Failed to add the tap device %s to bridge %s: %m", ifname, d->bridge);

        n = launch_pass_fd(l, TAKE_FD(fd));
        if (n < 0)
                return log_error_errno(n, "Failed to pass the tap device: %m");
        ether_addr_format(&d->mac, l->mac);
        strcpy(l->tap_name, ifname);
        l->config.net_fd = n;
        l->config.mac = l->mac;
        log_info("Network: tap %s on bridge %s, guest MAC %s.", ifname, d->bridge, l->mac);
        return 0;
}

/* The kernel and initrd lie in the base, which only root reaches: the
 * hypervisor gets them opened, as /proc/self/fd/N (reopening that checks
 * the file's own mode, not the directories above it). */
static int pass_boot_file(Launch *l, const char *what, const char *path, char *arg, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(errno, "Cannot read the %s %s: %m", what, path);
        if (fstat(fd, &st) < 0)
                return log_error_errno(errno, "Cannot stat the %s %s: %m", what, path);
        if (!S_ISREG(st.st_mode))
                return log_error_errno(-EINVAL, "The %s %s is not a regular file.", what, path);
        if (!(st.st_mode & S_IROTH))
                return log_error_errno(-EACCES,
                                       "The %s %s is not readable by other users (mode %04o): the hypervisor, "
                                       "which runs as a user of its own, cannot load it. Make it readable "
                                       "(chmod o+r); the base directory keeps it private.",
                                       what, path, (unsigned) (st.st_mode & 07777));
        n = launch_pass_fd(l, TAKE_FD(fd));
        if (n < 0)
                return log_error_errno(n, "Failed to pass the %s: %m", what);
        (void) snprintf(arg, size, "/proc/self/fd/%d", n);
        return 0;
}

/* /dev/kvm is the one device node the hypervisor opens itself. */
static int kvm_group(Launch *l) {
        struct stat st;

        if (!l->config.kvm)
                return 0;
        if (stat("/dev/kvm", &st) < 0)
                return log_error_errno(errno, "Cannot stat /dev/kvm: %m");
        if ((st.st_mode & 0006) == 0006)
                return 0;
        if ((st.st_mode & 0060) == 0060 && st.st_gid != 0) {
                l->kvm_gid = st.st_gid;
                return 0;
        }
        /* The hypervisor's own error will follow; this one says why. */
        log_warning("/dev/kvm (mode %04o, group %u) is not usable by the hypervisor's user: give its group "
                    "(kvm) read and write access, as udev does by default, or set $COWVM_ACCEL=tcg.",
                    (unsigned) (st.st_mode & 07777), (unsigned) st.st_gid);
        return 0;
}

/* The hypervisor's uid and what it needs to reach as that uid. */
static int setup_user(Launch *l) {
        _cleanup_free_ char *dir = path_join(cowvm_runtime_dir(), ".uid");
        int r;

        if (!dir)
                return log_oom();
        r = vm_uid_acquire(dir, l->def->name, NULL, &l->vm_uid);
        if (r < 0)
                return r;
        log_info("The hypervisor runs as uid and gid %u.", (unsigned) l->vm_uid.uid);
        r = kvm_group(l);
        if (r < 0)
                return r;
        r = pass_boot_file(l, "kernel", l->def->kernel_path, l->kernel_arg, sizeof l->kernel_arg);
        if (r < 0)
                return r;
        l->config.kernel = l->kernel_arg;
        if (l->def->initrd_path) {
                r = pass_boot_file(l, "initrd", l->def->initrd_path, l->initrd_arg, sizeof l->initrd_arg);
                if (r < 0)
                        return r;
                l->config.initrd = l->initrd_arg;
        }
        return 0;
}

static usec_t pick_stop_timeout(const VmDefinition *def) {
        const char *e = getenv("COWVM_STOP_TIMEOUT_USEC");
        usec_t t = DEFAULT_STOP_TIMEOUT;

        if (e) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(e, &end, 10);
                if (errno == 0 && *end == '\0' && end != e)
                        t = v == 0 ? USEC_INFINITY : (usec_t) v;
                else if (streq(e, "infinity"))
                        t = USEC_INFINITY;
                else
                        log_warning("Ignoring invalid $COWVM_STOP_TIMEOUT_USEC=%s.", e);
        } else if (def->timeout_stop_usec != USEC_UNSET)
                t = def->timeout_stop_usec == 0 ? USEC_INFINITY : def->timeout_stop_usec;

        if (t == USEC_INFINITY)
                return t;
        /* Leave systemd's own timeout room to see our hard stop through. */
        return t - (t / 5 < STOP_MARGIN_MAX ? t / 5 : STOP_MARGIN_MAX);
}

static _noreturn_ void child_fail(const char *what) {
        (void) dprintf(STDERR_FILENO, "Failed to drop the hypervisor's privileges (%s): %m\n", what);
        _exit(126);
}

/* In the child: the VM's own uid and gid, no capability in any set, and none
 * to be gained by exec (no_new_privs). The bounding set goes first: dropping
 * from it needs CAP_SETPCAP, which the uid change takes away. */
static void drop_privileges(Launch *l) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        uid_t u = l->vm_uid.uid;
        gid_t g = (gid_t) u;

        if (!vm_uid_in_range(u))
                child_fail("no id allocated");
        for (int cap = 0; cap < 64; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        child_fail("bounding set");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                child_fail("ambient set");
        if (setgroups(l->kvm_gid == (gid_t) -1 ? 0 : 1, &l->kvm_gid) < 0)
                child_fail("setgroups");
        if (setresgid(g, g, g) < 0)
                child_fail("setresgid");
        if (setresuid(u, u, u) < 0)
                child_fail("setresuid");
        /* The uid change cleared the permitted and effective sets; the
         * inheritable one goes too. */
        if (syscall(SYS_capset, &h, d) < 0)
                child_fail("capset");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail("no_new_privs");
        if (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)
                child_fail("still root");
}

/* In the child: fds to 0, 1, 2 and 3..; no other fd, default signals. */
static _noreturn_ void exec_child(Launch *l, char **argv, int devnull) {
        int tmp[3 + LAUNCH_MAX_PASS_FDS], src[3 + LAUNCH_MAX_PASS_FDS];
        size_t n = 3 + l->n_pass_fds;
        sigset_t ss;

        src[0] = devnull;
        src[1] = l->child_stdout >= 0 ? l->child_stdout : l->child_stderr;
        src[2] = l->child_stderr;
        for (size_t i = 0; i < l->n_pass_fds; i++)
                src[3 + i] = l->pass_fds[i];

        /* Two steps, so that no source is overwritten before it was copied. */
        for (size_t i = 0; i < n; i++) {
                tmp[i] = fcntl(src[i], F_DUPFD, (int) n);
                if (tmp[i] < 0)
                        _exit(126);
        }
        for (size_t i = 0; i < n; i++)
                if (dup2(tmp[i], (int) i) < 0)
                        _exit(126);
        (void) syscall(SYS_close_range, (unsigned) n, ~0U, 0);

        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                (void) signal(sig, SIG_DFL);

        drop_privileges(l);
        /* Cloud Hypervisor binds its API and serial sockets in vmm/, which
         * only root and the VM's uid can enter: open to both, so that
         * ch-launch connects without CAP_DAC_OVERRIDE. */
        if (l->backend->id == HYPERVISOR_CLOUD_HYPERVISOR)
                (void) umask(0);
        /* After the uid change, which clears it. The parent may be gone by now. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != l->parent)
                _exit(126);

        execv(argv[0], argv);
        (void) dprintf(STDERR_FILENO, "Failed to execute %s: %m\n", argv[0]);
        _exit(127);
}

static int spawn(Launch *l, char **argv) {
        _cleanup_close_ int devnull = -EBADF;
        int p[2];
        pid_t pid;
        int r;

        devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0)
                return log_error_errno(errno, "Failed to open /dev/null: %m");
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        l->stderr_fd = p[0];
        l->child_stderr = p[1];
        /* Our ends never block (the drain at exit relies on it); the child's do. */
        if ((r = fd_nonblock(l->stderr_fd)) < 0 || (r = fd_nonblock(l->notify_fd)) < 0 ||
            (r = fd_nonblock(l->serial_fd)) < 0)
                return log_error_errno(r, "Failed to make a channel non-blocking: %m");

        l->parent = getpid();
        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork: %m");
        if (pid == 0)
                exec_child(l, argv, devnull);
        l->pid = pid;

        /* Our copies of the child's ends: the child holds them now. */
        for (size_t i = 0; i < l->n_pass_fds; i++)
                l->pass_fds[i] = safe_close(l->pass_fds[i]);
        l->n_pass_fds = 0;
        l->child_stdout = safe_close(l->child_stdout);
        l->child_stderr = safe_close(l->child_stderr);

        l->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (l->pidfd < 0)
                return log_error_errno(errno, "Failed to open a pidfd for PID %d: %m", (int) pid);
        r = sd_event_add_child_pidfd(l->event, &l->child_source, l->pidfd, WEXITED, on_child, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the hypervisor: %m");
        return 0;
}

static void launch_done(Launch *l) {
        machine_registration_done(&l->machine);
        if (l->backend && l->backend->done)
                l->backend->done(l);
        if (l->pid > 0) {
                /* Only on our own error paths: never leave a hypervisor behind. */
                (void) kill(l->pid, SIGKILL);
                (void) waitpid(l->pid, NULL, 0);
        }
        sd_event_source_disable_unref(l->child_source);
        sd_event_source_disable_unref(l->serial_source);
        sd_event_source_disable_unref(l->serial_flush_timer);
        sd_event_source_disable_unref(l->guest_status_timer);
        sd_event_source_disable_unref(l->notify_source);
        sd_event_source_disable_unref(l->stderr_source);
        sd_event_source_disable_unref(l->console_listen_source);
        sd_event_source_disable_unref(l->console_client_source);
        sd_event_source_disable_unref(l->journal_source);
        sd_event_source_disable_unref(l->stop_timer);
        sd_event_source_disable_unref(l->button_timer);
        sd_event_source_disable_unref(l->kill_timer);
        if (l->journal_ok) {
                /* Last lines: give journald a moment, never forever. */
                for (int i = 0; i < 100 && l->journal.head; i++) {
                        if (journal_writer_flush(&l->journal) < 0)
                                break;
                        if (l->journal.head)
                                (void) usleep(10000);
                }
        }
        journal_writer_done(&l->journal);
        for (size_t i = 0; i < l->n_pass_fds; i++)
                safe_close(l->pass_fds[i]);
        safe_close(l->child_stdout);
        safe_close(l->child_stderr);
        safe_close(l->pidfd);
        safe_close(l->serial_fd);
        safe_close(l->notify_fd);
        safe_close(l->stderr_fd);
        safe_close(l->console_client_fd);
        safe_close(l->console_listen_fd);
        if (l->console_socket)
                (void) unlink(l->console_socket);
        free(l->api_socket);
        free(l->serial_socket);
        free(l->console_socket);
        free(l->failure);
        /* After the hypervisor is gone (above): its uid is free again. */
        vm_uid_release(&l->vm_uid);
        free((char *) l->config.binary);
        free((char *) l->config.cmdline);
        free((char *) l->config.uuid);
        vm_definition_free(l->def);
        sd_event_unref(l->event);
}

static int run(int argc, char *argv[]) {
        _cleanup_(launch_done) Launch l = {
                .config = LAUNCH_CONFIG_NULL,
                .pidfd = -EBADF,
                .child_stdout = -EBADF,
                .child_stderr = -EBADF,
                .serial_fd = -EBADF,
                .notify_fd = -EBADF,
                .stderr_fd = -EBADF,
                .console_listen_fd = -EBADF,
                .console_client_fd = -EBADF,
                .journal = { .fd = -EBADF },
                .vm_uid = VM_UID_NULL,
                .kvm_gid = (gid_t) -1,
        };
        _cleanup_strv_free_ char **args = NULL;
        char *binary = NULL, *cmdline = NULL, *uuid;
        const char *accel_reason = NULL;
        bool kvm = false;
        sigset_t ss;
        int r;

        if (argc != 2 || argv[1][0] == '-') {
                if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                        printf("%s NAME\n\nStarts and supervises the VM NAME; see ch-launch(8).\n",
                               program_invocation_short_name);
                        return 0;
                }
                return log_error_errno(-EINVAL, "Usage: %s NAME", program_invocation_short_name);
        }
        arg_name = argv[1];

        /* First of all, before any child exists: signals arrive through sd-event. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGRTMIN + 4);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");

        r = vm_definition_load(arg_name, &l.def);
        if (r < 0)
                return r;

        r = pick_hypervisor(&l, &binary);
        if (r < 0)
                return r;
        l.config.binary = binary;

        r = accel_probe(&kvm, &accel_reason);
        if (r < 0)
                return r;
        if (l.backend->id == HYPERVISOR_CLOUD_HYPERVISOR && !kvm)
                return log_error_errno(-EOPNOTSUPP,
                                       "Cloud Hypervisor needs KVM, which is not usable here (%s). "
                                       "Set Hypervisor=qemu in %s.",
                                       accel_reason, l.def->path);

        /* Under systemd, vm@.service's RuntimeDirectory= made vmm_dir. */
        if (mkdir(l.def->runtime_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", l.def->runtime_dir);
        if (mkdir(l.def->vmm_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", l.def->vmm_dir);
        l.api_socket = path_join(l.def->vmm_dir, "api.sock");
        l.serial_socket = path_join(l.def->vmm_dir, "serial.sock");
        l.console_socket = path_join(l.def->vmm_dir, "console.sock");
        uuid = malloc(37);
        if (!l.api_socket || !l.serial_socket || !l.console_socket || !uuid)
                return log_oom();
        vm_uuid(l.def->name, uuid);
        l.config.uuid = uuid;
        r = vm_definition_kernel_command_line(l.def, "ttyS0", &cmdline);
        if (r < 0)
                return log_oom();
        /* Under emulation on a busy host the guest's early timer check can
         * miss its ticks and panic ("IO-APIC + timer doesn't work!"); the
         * check means nothing for a virtual machine. */
        if (!kvm) {
                char *s;

                if (asprintf(&s, "%s no_timer_check", cmdline) < 0)
                        return log_oom();
                free(cmdline);
                cmdline = s;
        }
        l.config.cmdline = cmdline;
        l.config.name = l.def->name;
        l.config.kernel = l.def->kernel_path;
        l.config.initrd = l.def->initrd_path;
        l.config.cpus = l.def->cpus;
        l.config.memory = l.def->memory;
        l.config.virtiofsd_socket = l.def->virtiofsd_socket;
        l.config.kvm = kvm;
        l.stop_timeout = pick_stop_timeout(l.def);

        r = setup_user(&l);
        if (r < 0)
                return r;

        r = setup_network(&l);
        if (r < 0)
                return r;
        r = l.backend->prepare(&l);
        if (r < 0)
                return r;
        r = l.backend->build_argv(&l.config, &args);
        if (r == -EINVAL)
                return log_error_errno(r,
                                       "Cannot express the VM's paths on the %s command line "
                                       "(a ',' in a path?).",
                                       hypervisor_to_string(l.backend->id));
        if (r < 0)
                return log_oom();

        r = sd_event_default(&l.event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate an event loop: %m");
        r = sd_event_add_signal(l.event, NULL, SIGTERM, on_sigterm, &l);
        /* machined's poweroff and reboot (machinectl), sent to the leader: us. */
        if (r >= 0)
                r = sd_event_add_signal(l.event, NULL, SIGRTMIN + 4, on_sigterm, &l);
        if (r >= 0)
                r = sd_event_add_signal(l.event, NULL, SIGINT, on_sigint, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        l.journal_ok = journal_writer_open(&l.journal, NULL) >= 0;
        if (l.journal_ok) {
                r = sd_event_add_io(l.event, &l.journal_source, l.journal.fd, EPOLLOUT, journal_writable, &l);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the journal socket: %m");
                (void) sd_event_source_set_enabled(l.journal_source, SD_EVENT_OFF);
        } else
                log_debug("No journal socket; console lines go to stderr.");

        r = sd_event_add_time_relative(l.event, &l.serial_flush_timer, CLOCK_MONOTONIC, SERIAL_FLUSH_DELAY, 0,
                                       serial_flush, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        (void) sd_event_source_set_enabled(l.serial_flush_timer, SD_EVENT_OFF);
        r = sd_event_add_time_relative(l.event, &l.guest_status_timer, CLOCK_MONOTONIC, GUEST_STATUS_INTERVAL,
                                       USEC_PER_MSEC, guest_status_timer_fired, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to add a timer: %m");
        (void) sd_event_source_set_enabled(l.guest_status_timer, SD_EVENT_OFF);

        if (l.serial_fd >= 0) {
                r = launch_attach_serial(&l, l.serial_fd);
                if (r < 0)
                        return r;
        }
        r = console_listen(&l);
        if (r < 0)
                log_warning_errno(r, "Cannot listen on %s, no interactive console: %m", l.console_socket);

        launch_status(&l, "Starting %s (%s)...", hypervisor_to_string(l.backend->id), accel_reason);
        if (log_get_max_level() >= LOG_DEBUG)
                STRV_FOREACH (a, args)
                        log_debug("argv: %s", *a);

        r = spawn(&l, args);
        if (r < 0)
                return r;
        /* Logged at once: its journal timestamp is when the hypervisor started
         * (bench/ reads it). */
        log_info("Started %s (PID %d, %s).", hypervisor_to_string(l.backend->id), (int) l.pid, accel_reason);

        r = sd_event_add_io(l.event, &l.notify_source, l.notify_fd, EPOLLIN, notify_io, &l);
        if (r >= 0)
                r = sd_event_add_io(l.event, &l.stderr_source, l.stderr_fd, EPOLLIN, stderr_io, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the hypervisor's output: %m");
        r = l.backend->started(&l);
        if (r < 0)
                return r;

        r = sd_event_loop(l.event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r; /* the exit code on_child() chose */
}

DEFINE_MAIN_FUNCTION_WITH_POSITIVE_FAILURE("ch-launch", LOG_TARGET_CONSOLE, run);
