/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * ch-launch NAME: the ExecStart= of vm@NAME.service (Type=notify). Writes the
 * guest's configuration into its root (inject.h, as config-inject(8) does),
 * starts the hypervisor for the VM NAME and supervises it until it exits:
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
 *
 * The pieces: a backend per hypervisor (backend.h) prepares the channels and
 * the argv and reports events; the console (console.c), the notify channel
 * (guest-channel.c) and the hypervisor's stderr are Channels whose lines go
 * to the journal (journal-forward.c); child.c runs the hypervisor.
 */

#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "accel.h"
#include "backend.h"
#include "channel.h"
#include "config.h"
#include "child.h"
#include "console.h"
#include "guest-channel.h"
#include "host-setup.h"
#include "inject.h"
#include "journal-forward.h"
#include "log.h"
#include "machine-register.h"
#include "main-func.h"
#include "path-util.h"
#include "strv.h"
#include "vm-definition.h"
#include "vm-boot.h"
#include "vm-identity.h"
#include "vm-uid.h"

#define KILL_GRACE (3 * USEC_PER_SEC)
/* A guest that was still booting when the button was first pressed (no
 * acpid or logind yet) ignores it; pressing again costs nothing. */
#define POWER_BUTTON_REPEAT (5 * USEC_PER_SEC)
/* What is left to read when the hypervisor has ended, at most, per channel. */
#define DRAIN_READS_MAX 4096

/* ch-launch's own fds for the child (kernel, initrd, tap) come first. */
#define LAUNCH_MAX_PASS_FDS 3

typedef struct Launch {
        VmDefinition *def;
        const Backend *backend;
        BackendConfig backend_config;
        void *backend_state;
        BackendResult wired; /* what the backend asked for */
        sd_event *event;

        char *binary, *cmdline, *api_socket, *serial_socket;
        char uuid[37];
        const char *accel_reason;
        bool kvm;
        char mac[18];            /* the guest's */
        char tap_name[IFNAMSIZ]; /* empty: no NIC */
        /* The hypervisor's own uid and gid (vm-uid.h), and /dev/kvm's group
         * as its one supplementary group when KVM needs it ((gid_t) -1: none). */
        VmUid vm_uid;
        gid_t kvm_gid;
        /* /proc/self/fd/N of the kernel and initrd ch-launch opened for it */
        char kernel_arg[32], initrd_arg[32];
        int pass_fds[LAUNCH_MAX_PASS_FDS];
        size_t n_pass_fds;

        pid_t pid;
        int pidfd;
        sd_event_source *child_source;

        Console console;    /* ttyS0 */
        GuestChannel guest; /* hvc0 */
        Channel hv_stderr;  /* the hypervisor's stderr */
        JournalForward journal;

        sd_event_source *stop_timer, *kill_timer, *button_timer, *start_timer;
        usec_t stop_timeout;

        bool vmm_running, ready, guest_reported_ready, stopping, forced;
        MachineRegistration machine; /* systemd-machined's view of the VM */
        char *failure;               /* why the exit status will be non-zero */
} Launch;

static const char *arg_name;

static void status(const char *fmt, ...) _printf_(1, 2);
static void status(const char *fmt, ...) {
        char buf[900];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        log_debug("STATUS=%s", buf);
        (void) sd_notifyf(false, "STATUS=%s", buf);
}

static const char *hypervisor_name(const Launch *l) {
        return hypervisor_to_string(l->backend->id);
}

/* ---- the channels' lines ------------------------------------------------- */

static void serial_line(const char *line, size_t len, bool continued, void *userdata) {
        Launch *l = userdata;

        journal_forward_line(&l->journal, "console", LOG_INFO, line, len, continued);
}

static void stderr_line(const char *line, size_t len, bool continued, void *userdata) {
        Launch *l = userdata;

        journal_forward_line(&l->journal, "hypervisor", LOG_WARNING, line, len, continued);
}

static const ChannelOps stderr_ops = {
        .on_line = stderr_line,
};

/* The journal queue bounds every channel from the guest or the hypervisor:
 * while it is full they are not read (hvc0 excepted, guest-channel.h). */
static void journal_congestion(bool congested, void *userdata) {
        Launch *l = userdata;

        console_set_reading(&l->console, !congested);
        channel_set_reading(&l->hv_stderr, !congested);
}

/* The guest's address as cowvm-network wrote it (a static Address= or its
 * lease on the default network): shown in the unit's status. "" if none. */
static void guest_address(const Launch *l, char *buf, size_t size) {
        _cleanup_free_ char *p = path_join(l->def->layout.runtime_dir, "address");
        _cleanup_fclose_ FILE *f = p ? fopen(p, "re") : NULL;

        buf[0] = '\0';
        if (f && fgets(buf, (int) size, f))
                buf[strcspn(buf, "\n")] = '\0';
}

static void ready(Launch *l, const char *text) {
        char address[64];

        if (l->ready || l->stopping)
                return;
        l->ready = true;
        guest_address(l, address, sizeof address);
        log_info("%s%s%s", text, address[0] ? ", address " : "", address);
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s%s%s", text, address[0] ? ", address " : "", address);
}

static void guest_ready(void *userdata) {
        Launch *l = userdata;

        if (l->def->ready_on == READY_ON_GUEST)
                ready(l, "Guest ready");
        else if (!l->guest_reported_ready) /* once: the guest may repeat it */
                log_debug("The guest reported READY=1.");
        l->guest_reported_ready = true;
}

static void guest_status(const char *text, void *userdata) {
        log_info("Guest status: %s", text);
        status("Guest: %s", text);
}

static void guest_line(const char *line, size_t len, bool continued, void *userdata) {
        Launch *l = userdata;

        journal_forward_line(&l->journal, "notify", LOG_DEBUG, line, len, continued);
}

static bool guest_congested(void *userdata) {
        Launch *l = userdata;

        return journal_forward_congested(&l->journal);
}

static const GuestChannelOps guest_ops = {
        .ready = guest_ready,
        .status = guest_status,
        .line = guest_line,
        .congested = guest_congested,
};

/* ---- the definition's timeouts -------------------------------------------- */

/* vm@.service carries the default timeouts; the definition's own are
 * applied from here, so that a new or edited one needs no daemon-reload: a
 * longer one (or 0, no limit) through EXTEND_TIMEOUT_USEC=, which moves
 * systemd's deadline for the current phase (start or stop), a shorter one
 * by ch-launch's own deadline (start) or its hard stop (stop_timeout_pick()). */
#define UNIT_TIMEOUT_START (COWVM_DEFAULT_TIMEOUT_START_SEC * USEC_PER_SEC)
#define UNIT_TIMEOUT_STOP (COWVM_DEFAULT_TIMEOUT_STOP_SEC * USEC_PER_SEC)
/* "No limit" as far as systemd is concerned: a century. */
#define TIMEOUT_NONE (100ULL * 365 * 24 * 3600 * USEC_PER_SEC)

static void extend_unit_timeout(usec_t wanted, usec_t unit_default) {
        if (wanted == USEC_UNSET || (wanted != 0 && wanted <= unit_default))
                return;
        (void) sd_notifyf(false, "EXTEND_TIMEOUT_USEC=%llu",
                          (unsigned long long) (wanted == 0 ? TIMEOUT_NONE : wanted));
}

static void launch_fail(Launch *l, const char *reason);

static int start_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;
        char t[64], why[384];

        if (l->ready || l->stopping)
                return 0;
        (void) snprintf(why, sizeof why, "The VM was not ready within TimeoutStartSec=%s (%s); stopping it.",
                        format_timespan_unit(t, sizeof t, l->def->timeout_start_usec), l->def->path);
        launch_fail(l, why);
        return 0;
}

static int apply_start_timeout(Launch *l) {
        usec_t t = l->def->timeout_start_usec;

        extend_unit_timeout(t, UNIT_TIMEOUT_START);
        if (t == USEC_UNSET || t == 0 || t >= UNIT_TIMEOUT_START)
                return 0;
        return sd_event_add_time_relative(l->event, &l->start_timer, CLOCK_MONOTONIC, t, 0, start_timer_fired, l);
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
        (void) sd_notifyf(false, "STOPPING=1\nSTATUS=Stopping the VM hard");
        (void) l->backend->force_stop(l->backend_state);
        l->stop_timer = sd_event_source_disable_unref(l->stop_timer);
        l->button_timer = sd_event_source_disable_unref(l->button_timer);
        (void) sd_event_add_time_relative(l->event, &l->kill_timer, CLOCK_MONOTONIC, KILL_GRACE, 0, kill_timer_fired,
                                          l);
}

/* Something fatal happened: record why, stop hard. */
static void launch_fail(Launch *l, const char *reason) {
        log_error("%s", reason);
        if (!l->failure)
                l->failure = strdup(reason);
        hard_stop(l);
}

static int stop_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;
        char t[64], why[256];

        (void) snprintf(why, sizeof why,
                        "The guest did not power off within %s of the ACPI power button; stopping it hard.",
                        format_timespan_unit(t, sizeof t, l->stop_timeout));
        launch_fail(l, why);
        return 0;
}

static int button_timer_fired(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;

        if (l->forced)
                return 0;
        if (l->backend->request_poweroff(l->backend_state) >= 0)
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
        extend_unit_timeout(l->def->timeout_stop_usec, UNIT_TIMEOUT_STOP);

        if (!l->ready)
                log_warning("Stop requested before the VM was ready: %s.",
                            l->def->ready_on == READY_ON_GUEST && l->vmm_running
                                    ? "the guest never wrote READY=1 to its virtio console (hvc0)"
                                    : "the hypervisor never reported the VM running");

        (void) sd_notifyf(false,
                          "STOPPING=1\nSTATUS=Pressing the ACPI power button, waiting for the guest to power off");
        r = l->backend->request_poweroff(l->backend_state);
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
        r = l->backend->request_reboot(l->backend_state);
        if (r < 0)
                log_warning_errno(r, "Could not reboot the guest: %m");
        else
                log_info("Reboot requested (signal from PID %u): resetting the guest.", si->ssi_pid);
        return 0;
}

/* ---- the hypervisor's end ------------------------------------------------ */

/* Why the hypervisor's end is a failure, in `why` ("" if it is none). */
static void exit_reason(Launch *l, const siginfo_t *si, char *why, size_t size) {
        const char *hv = hypervisor_name(l);

        why[0] = '\0';
        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                if (!l->failure && l->forced)
                        (void) snprintf(why, size, "%s exited after a hard stop.", hv);
                else if (!l->failure)
                        log_info("The VM powered off.");
        } else if (si->si_code == CLD_EXITED)
                (void) snprintf(why, size, "%s exited with status %d.", hv, si->si_status);
        else
                (void) snprintf(why, size, "%s was killed by signal SIG%s%s.", hv, sigabbrev_np(si->si_status) ?: "?",
                                si->si_code == CLD_DUMPED ? " (core dumped)" : "");
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Launch *l = userdata;
        char why[256];
        int code;

        /* Drain what the hypervisor wrote last (a panic, its own errors). */
        console_drain(&l->console);
        guest_channel_drain(&l->guest);
        channel_drain(&l->hv_stderr, DRAIN_READS_MAX);
        channel_flush(&l->hv_stderr);

        exit_reason(l, si, why, sizeof why);
        if (why[0])
                log_error("%s", why);
        code = why[0] || l->failure ? EXIT_FAILURE : EXIT_SUCCESS;
        /* The first reason is the one that explains the others; without
         * one, the hypervisor's own end is the reason: `systemctl status`
         * must not say "Stopped" for a VM whose QEMU was killed. */
        if (code == EXIT_FAILURE)
                (void) sd_notifyf(false, "STATUS=Failed: %s", l->failure ?: why);
        else
                (void) sd_notifyf(false, "STATUS=Stopped");

        l->pid = 0;
        machine_unregister(&l->machine);
        return sd_event_exit(l->event, code);
}

/* ---- the backend's events ------------------------------------------------ */

static void on_vmm_running(const char *detail, void *userdata) {
        Launch *l = userdata;

        if (l->vmm_running)
                return;
        l->vmm_running = true;
        if (l->def->ready_on == READY_ON_VMM)
                ready(l, "VM running");
        else
                status("VM running, waiting for the guest to report READY=1 on hvc0");
        log_info("VM running (%s).", detail);
        (void) machine_register(&l->machine, l->event, l->def->name,
                                l->tap_name[0] ? (int) if_nametoindex(l->tap_name) : 0);
}

static void on_backend_failed(const char *reason, void *userdata) {
        launch_fail(userdata, reason);
}

static void on_serial_connected(int fd, void *userdata) {
        Launch *l = userdata;

        (void) console_attach_serial(&l->console, fd);
}

static const BackendEvents backend_events = {
        .vmm_running = on_vmm_running,
        .failed = on_backend_failed,
        .serial_connected = on_serial_connected,
};

/* ---- starting ------------------------------------------------------------ */

/* Registers `fd` (the Launch takes it) for the child; returns its number there. */
static int launch_pass_fd(Launch *l, int fd) {
        if (l->n_pass_fds >= LAUNCH_MAX_PASS_FDS) {
                safe_close(fd);
                return -E2BIG;
        }
        l->pass_fds[l->n_pass_fds] = fd;
        return 3 + (int) l->n_pass_fds++;
}

static int launch_pick(Launch *l) {
        int r;

        r = hypervisor_pick(l->def, &l->backend, &l->binary);
        if (r < 0)
                return r;
        r = accel_probe(&l->kvm, &l->accel_reason);
        if (r < 0)
                return r;
        if (l->backend->id == HYPERVISOR_CLOUD_HYPERVISOR && !l->kvm)
                return log_error_errno(SYNTHETIC_ERRNO(EOPNOTSUPP),
                                       "Cloud Hypervisor needs KVM, which is not usable here (%s). "
                                       "Set Hypervisor=qemu in %s.",
                                       l->accel_reason, l->def->path);
        l->stop_timeout = stop_timeout_pick(l->def);
        return 0;
}

static int launch_paths(Launch *l) {
        /* Under systemd, vm@.service's RuntimeDirectory= made vmm_dir. */
        if (mkdir(l->def->layout.runtime_dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", l->def->layout.runtime_dir);
        if (mkdir(l->def->layout.vmm_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", l->def->layout.vmm_dir);
        l->api_socket = path_join(l->def->layout.vmm_dir, "api.sock");
        l->serial_socket = path_join(l->def->layout.vmm_dir, "serial.sock");
        l->console.socket_path = path_join(l->def->layout.vmm_dir, "console.sock");
        if (!l->api_socket || !l->serial_socket || !l->console.socket_path)
                return log_oom();
        vm_uuid(l->def->name, l->uuid);
        return 0;
}

static int launch_cmdline(Launch *l) {
        int r;

        r = vm_boot_kernel_command_line(l->def, "ttyS0", &l->cmdline);
        if (r < 0)
                return log_oom();
        /* Under emulation on a busy host the guest's early timer check can
         * miss its ticks and panic ("IO-APIC + timer doesn't work!"); the
         * check means nothing for a virtual machine. */
        if (!l->kvm) {
                char *s;

                if (asprintf(&s, "%s no_timer_check", l->cmdline) < 0)
                        return log_oom();
                free(l->cmdline);
                l->cmdline = s;
        }
        return 0;
}

static int pass_boot_file(Launch *l, const char *what, const char *path, char *arg, size_t size) {
        int fd, n;

        fd = boot_file_open(what, path);
        if (fd < 0)
                return fd;
        n = launch_pass_fd(l, fd);
        if (n < 0)
                return log_error_errno(n, "Failed to pass the %s: %m", what);
        (void) snprintf(arg, size, "/proc/self/fd/%d", n);
        return 0;
}

/* The hypervisor's uid, and what it needs to reach as that uid. */
static int launch_user(Launch *l) {
        _cleanup_free_ char *dir = vm_layout_uid_dir();
        int r;

        if (!dir)
                return log_oom();
        r = vm_uid_acquire(dir, l->def->name, NULL, &l->vm_uid);
        if (r < 0)
                return r;
        log_info("The hypervisor runs as uid and gid %u.", (unsigned) l->vm_uid.uid);
        r = kvm_group(l->kvm, &l->kvm_gid);
        if (r < 0)
                return r;
        r = pass_boot_file(l, "kernel", l->def->kernel_path, l->kernel_arg, sizeof l->kernel_arg);
        if (r < 0)
                return r;
        if (l->def->initrd_path)
                return pass_boot_file(l, "initrd", l->def->initrd_path, l->initrd_arg, sizeof l->initrd_arg);
        return 0;
}

static int launch_network(Launch *l, int *ret_net_fd) {
        int fd, r;

        *ret_net_fd = -1;
        r = tap_setup(l->def, &fd, l->tap_name, l->mac);
        if (r < 0 || fd < 0)
                return r;
        r = launch_pass_fd(l, fd);
        if (r < 0)
                return log_error_errno(r, "Failed to pass the tap device: %m");
        *ret_net_fd = r;
        return 0;
}

/* The backend's config: the argv's common part and the paths it needs. */
static int launch_prepare_backend(Launch *l) {
        BackendConfig *c = &l->backend_config;
        int r;

        *c = (BackendConfig) {
                .launch = LAUNCH_CONFIG_NULL,
                .name = l->def->name,
                .vmm_dir = l->def->layout.vmm_dir,
                .virtiofsd_socket = l->def->layout.virtiofsd_socket,
                .api_socket = l->api_socket,
                .serial_socket = l->serial_socket,
                .uid = l->vm_uid.uid,
                .event = l->event,
                .events = &backend_events,
                .userdata = l,
        };
        c->launch.name = l->def->name;
        c->launch.binary = l->binary;
        c->launch.kernel = l->kernel_arg;
        c->launch.initrd = l->def->initrd_path ? l->initrd_arg : NULL;
        c->launch.cmdline = l->cmdline;
        c->launch.cpus = l->def->cpus;
        c->launch.memory = l->def->memory;
        c->launch.virtiofsd_socket = l->def->layout.virtiofsd_socket;
        c->launch.uuid = l->uuid;
        c->launch.kvm = l->kvm;
        r = launch_network(l, &c->launch.net_fd);
        if (r < 0)
                return r;
        if (c->launch.net_fd >= 0)
                c->launch.mac = l->mac;
        c->first_fd = 3 + (int) l->n_pass_fds;
        return l->backend->prepare(c, &l->backend_state, &l->wired);
}

static int launch_event_loop(Launch *l) {
        sigset_t ss;
        int r;

        /* Before any child exists: signals arrive through sd-event. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGRTMIN + 4);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");

        r = sd_event_default(&l->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate an event loop: %m");
        r = sd_event_add_signal(l->event, NULL, SIGTERM, on_sigterm, l);
        /* machined's poweroff and reboot (machinectl), sent to the leader: us. */
        if (r >= 0)
                r = sd_event_add_signal(l->event, NULL, SIGRTMIN + 4, on_sigterm, l);
        if (r >= 0)
                r = sd_event_add_signal(l->event, NULL, SIGINT, on_sigint, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        return 0;
}

/* The journal and the guest's channels, before the hypervisor writes to them. */
static int launch_channels(Launch *l) {
        int r;

        r = journal_forward_open(&l->journal, l->event, l->def->name, journal_congestion, l);
        if (r < 0)
                return r;
        r = console_init(&l->console, l->event, serial_line, l);
        if (r < 0)
                return r;
        r = guest_channel_init(&l->guest, l->event, &guest_ops, l);
        if (r < 0)
                return r;
        if (l->wired.serial_fd >= 0) {
                r = console_attach_serial(&l->console, TAKE_FD(l->wired.serial_fd));
                if (r < 0)
                        return r;
        }
        r = console_listen(&l->console);
        if (r < 0)
                log_warning_errno(r, "Cannot listen on %s, no interactive console: %m", l->console.socket_path);
        return 0;
}

static int launch_spawn(Launch *l) {
        ChildSpec spec = {
                .argv = l->wired.argv,
                .stdout_fd = l->wired.child_stdout,
                .uid = l->vm_uid.uid,
                .kvm_gid = l->kvm_gid,
                .umask = l->wired.child_umask,
        };
        int p[2], r;

        for (size_t i = 0; i < l->n_pass_fds; i++)
                spec.pass_fds[spec.n_pass_fds++] = l->pass_fds[i];
        for (size_t i = 0; i < l->wired.n_pass_fds; i++)
                spec.pass_fds[spec.n_pass_fds++] = l->wired.pass_fds[i];
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        spec.stderr_fd = p[1];
        r = channel_open(&l->hv_stderr, l->event, p[0], &stderr_ops, l);
        if (r >= 0)
                r = child_spawn(&spec, &l->pid);
        safe_close(p[1]);
        if (r < 0)
                return log_error_errno(r, "Failed to start the hypervisor: %m");

        /* Our copies of the child's ends: the child holds them now. */
        for (size_t i = 0; i < l->n_pass_fds; i++)
                l->pass_fds[i] = safe_close(l->pass_fds[i]);
        l->n_pass_fds = 0;
        for (size_t i = 0; i < l->wired.n_pass_fds; i++)
                l->wired.pass_fds[i] = safe_close(l->wired.pass_fds[i]);
        l->wired.n_pass_fds = 0;
        l->wired.child_stdout = safe_close(l->wired.child_stdout);

        l->pidfd = (int) syscall(SYS_pidfd_open, l->pid, 0);
        if (l->pidfd < 0)
                return log_error_errno(errno, "Failed to open a pidfd for PID %d: %m", (int) l->pid);
        r = sd_event_add_child_pidfd(l->event, &l->child_source, l->pidfd, WEXITED, on_child, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the hypervisor: %m");
        return 0;
}

static int launch_start(Launch *l) {
        int r;

        status("Starting %s (%s)...", hypervisor_name(l), l->accel_reason);
        if (log_get_max_level() >= LOG_DEBUG)
                STRV_FOREACH (a, l->wired.argv)
                        log_debug("argv: %s", *a);

        r = launch_spawn(l);
        if (r < 0)
                return r;
        /* Logged at once: its journal timestamp is when the hypervisor started
         * (bench/ reads it). */
        log_info("Started %s (PID %d, %s).", hypervisor_name(l), (int) l->pid, l->accel_reason);

        r = guest_channel_open(&l->guest, TAKE_FD(l->wired.notify_fd));
        if (r < 0)
                return log_error_errno(r, "Failed to watch the hypervisor's output: %m");
        return l->backend->started(l->backend_state);
}

static void launch_done(Launch *l) {
        machine_registration_done(&l->machine);
        if (l->backend)
                l->backend_state = l->backend->free(l->backend_state);
        if (l->pid > 0) {
                /* Only on our own error paths: never leave a hypervisor behind. */
                (void) kill(l->pid, SIGKILL);
                (void) waitpid(l->pid, NULL, 0);
        }
        sd_event_source_disable_unref(l->child_source);
        sd_event_source_disable_unref(l->stop_timer);
        sd_event_source_disable_unref(l->button_timer);
        sd_event_source_disable_unref(l->kill_timer);
        sd_event_source_disable_unref(l->start_timer);
        guest_channel_done(&l->guest);
        channel_close(&l->hv_stderr);
        console_done(&l->console);
        journal_forward_done(&l->journal);
        backend_result_done(&l->wired);
        for (size_t i = 0; i < l->n_pass_fds; i++)
                safe_close(l->pass_fds[i]);
        safe_close(l->pidfd);
        free(l->api_socket);
        free(l->serial_socket);
        free(l->failure);
        /* After the hypervisor is gone (above): its uid is free again. */
        vm_uid_release(&l->vm_uid);
        free(l->binary);
        free(l->cmdline);
        vm_definition_free(l->def);
        sd_event_unref(l->event);
}

static int parse_argv(int argc, char *argv[]) {
        if (argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                printf("%s NAME\n\nStarts and supervises the VM NAME; see ch-launch(8).\n",
                       program_invocation_short_name);
                return 0;
        }
        if (argc != 2 || argv[1][0] == '-')
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Usage: %s NAME", program_invocation_short_name);
        arg_name = argv[1];
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(launch_done) Launch l = {
                .wired = BACKEND_RESULT_NULL,
                .pidfd = -EBADF,
                .console = CONSOLE_NULL,
                .guest = GUEST_CHANNEL_NULL,
                .hv_stderr = CHANNEL_NULL,
                .journal = JOURNAL_FORWARD_NULL,
                .vm_uid = VM_UID_NULL,
                .kvm_gid = (gid_t) -1,
        };
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        r = launch_event_loop(&l);
        if (r < 0)
                return r;
        r = vm_definition_load(arg_name, &l.def);
        if (r < 0)
                return r;
        r = vm_boot_resolve(l.def);
        if (r < 0)
                return r;
        r = apply_start_timeout(&l);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the start timeout: %m");
        /* The guest's configuration first: what config-inject(8) does. */
        r = inject_vm(l.def);
        if (r < 0)
                return r;
        if ((r = launch_pick(&l)) < 0 || (r = launch_paths(&l)) < 0 || (r = launch_cmdline(&l)) < 0 ||
            (r = launch_user(&l)) < 0 || (r = launch_prepare_backend(&l)) < 0 || (r = launch_channels(&l)) < 0 ||
            (r = launch_start(&l)) < 0)
                return r;

        r = sd_event_loop(l.event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return r; /* the exit code on_child() chose */
}

DEFINE_MAIN_FUNCTION_WITH_POSITIVE_FAILURE("ch-launch", LOG_TARGET_CONSOLE, run);
