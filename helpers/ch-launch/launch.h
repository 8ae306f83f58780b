/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * ch-launch's pieces: the supervisor (ch-launch.c) and one backend per
 * hypervisor behind the small Backend interface. A backend builds the
 * hypervisor's argv from a LaunchConfig (a pure function, unit tested against
 * the documented syntax), creates the channels that argv refers to, talks to
 * the hypervisor's control channel, and reports back through the launch_*()
 * calls below. The supervisor owns the process, the signals, the timers, the
 * console and the notifications to systemd.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "line-buffer.h"
#include "journal-writer.h"
#include "machine-register.h"
#include "time-util.h"
#include "vm-definition.h"
#include "vm-uid.h"

#define LAUNCH_MAX_PASS_FDS 8

/* Everything an argv depends on. Plain data; fd numbers are as the child
 * sees them (-1: channel not used). */
typedef struct LaunchConfig {
        const char *name;
        const char *binary;
        const char *kernel;
        const char *initrd; /* NULL: none */
        const char *cmdline;
        unsigned cpus;
        uint64_t memory; /* bytes */
        const char *virtiofsd_socket;
        const char *uuid;
        bool kvm;
        /* The NIC: a tap fd (-1: no NIC) and the guest's MAC ("02:..."). */
        int net_fd;
        const char *mac;

        /* Cloud Hypervisor */
        const char *api_socket;
        const char *serial_socket;
        int event_monitor_fd;

        /* QEMU */
        int qmp_fd;
        int serial_fd;
        int notify_fd;
        int vhost_user_fd;
} LaunchConfig;

#define LAUNCH_CONFIG_NULL                                                                                            \
        { .net_fd = -1, .event_monitor_fd = -1, .qmp_fd = -1, .serial_fd = -1, .notify_fd = -1, .vhost_user_fd = -1 }

typedef struct Launch Launch;

typedef struct Backend {
        Hypervisor id;
        /* Pure: the hypervisor's argv for `c`. */
        int (*build_argv)(const LaunchConfig *c, char ***ret);
        /* Before the fork: create the channels, register fds to pass. */
        int (*prepare)(Launch *l);
        /* After the fork: start listening on the control channel. */
        int (*started)(Launch *l);
        /* The graceful stop: ACPI power button. */
        int (*request_poweroff)(Launch *l);
        /* The hard stop; the supervisor sends SIGKILL if it does not work. */
        int (*force_stop)(Launch *l);
        /* A hard reset of the guest, inside the running hypervisor. */
        int (*request_reboot)(Launch *l);
        void (*done)(Launch *l);
} Backend;

extern const Backend backend_cloud_hypervisor;
extern const Backend backend_qemu;

struct Launch {
        VmDefinition *def;
        const Backend *backend;
        LaunchConfig config;
        sd_event *event;

        char *api_socket, *serial_socket, *console_socket;
        char mac[18];            /* the guest's, as LaunchConfig.mac points to it */
        char tap_name[IFNAMSIZ]; /* empty: no NIC */
        /* The hypervisor's own uid and gid (vm-uid.h), and /dev/kvm's group
         * as its one supplementary group when KVM needs it ((gid_t) -1: none). */
        VmUid vm_uid;
        gid_t kvm_gid;
        /* /proc/self/fd/N of the kernel and initrd ch-launch opened for it */
        char kernel_arg[32], initrd_arg[32];

        /* what the child gets: pass_fds[i] becomes fd 3+i; stdout, stderr */
        int pass_fds[LAUNCH_MAX_PASS_FDS];
        size_t n_pass_fds;
        int child_stdout; /* -EBADF: same as stderr */
        int child_stderr;

        pid_t pid, parent;
        int pidfd;
        sd_event_source *child_source;

        /* the guest's serial console (ttyS0) and notify channel (hvc0) */
        int serial_fd;
        sd_event_source *serial_source, *serial_flush_timer;
        LineBuffer serial_lines;
        int notify_fd;
        sd_event_source *notify_source;
        LineBuffer notify_lines;
        /* the guest's STATUS=, coalesced (GUEST_STATUS_INTERVAL) */
        sd_event_source *guest_status_timer;
        char guest_status[GUEST_STATUS_MAX + 1];
        bool guest_status_pending, guest_reported_ready;
        unsigned guest_refused;  /* lines refused since the last report */
        unsigned notify_dropped; /* other hvc0 lines dropped while the journal was full */
        usec_t guest_refused_reported;
        int stderr_fd;
        sd_event_source *stderr_source;
        LineBuffer stderr_lines;

        int console_listen_fd, console_client_fd;
        sd_event_source *console_listen_source, *console_client_source;

        JournalWriter journal;
        bool journal_ok;
        sd_event_source *journal_source;

        sd_event_source *stop_timer, *kill_timer, *button_timer;
        usec_t stop_timeout;

        bool vmm_running, ready, stopping, forced, exiting;
        MachineRegistration machine; /* systemd-machined's view of the VM */
        char *failure;               /* why the exit status will be non-zero */

        void *backend_data;
};

/* Registers `fd` (parent side; the Launch takes ownership) to be passed to
 * the hypervisor; returns the number it has there. */
int launch_pass_fd(Launch *l, int fd);
/* The hypervisor says the VM runs (ReadyOn=vmm's condition). */
void launch_vmm_running(Launch *l, const char *detail);
/* Something fatal happened (virtiofsd gone, ...): record why, stop hard. */
void launch_fail(Launch *l, const char *fmt, ...) _printf_(2, 3);
/* Attach the serial console's host end, once the backend has it. */
int launch_attach_serial(Launch *l, int fd);
/* A STATUS= to systemd. */
void launch_status(Launch *l, const char *fmt, ...) _printf_(2, 3);

/* How to accelerate: KVM only where it really works (see accel.c). */
int accel_probe(bool *ret_kvm, const char **ret_reason);

/* The backends' pure parts, for the tests. */
int qemu_build_argv(const LaunchConfig *c, char ***ret);
int ch_build_argv(const LaunchConfig *c, char ***ret);
/* Cloud Hypervisor's event monitor: what one event object means to us. */
typedef enum ChEvent {
        CH_EVENT_OTHER,
        CH_EVENT_BOOTED,    /* vm/booted: vCPUs started */
        CH_EVENT_REBOOTING, /* vm/rebooting */
        CH_EVENT_SHUTDOWN,  /* vm/shutdown or vmm/shutdown */
        CH_EVENT_PANIC,     /* guest/panic */
        _CH_EVENT_INVALID = -EINVAL,
} ChEvent;
ChEvent ch_event_parse(const char *json, size_t len);
/* The "state" of a GET vm.info body: "Running", "Shutdown", ... */
int ch_vm_info_state(const char *json, size_t len, char *buf, size_t size);
