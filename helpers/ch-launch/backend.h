/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One backend per hypervisor. The supervisor (ch-launch.c) hands a backend
 * a BackendConfig; the backend creates the channels its hypervisor's argv
 * refers to and returns, in a BackendResult, what the supervisor wires up:
 * the argv, the fds the child gets, the host ends of the guest's consoles.
 * It keeps its own state (private to its .c), talks to the hypervisor's
 * control channel, and reports only events (BackendEvents). The supervisor
 * owns the process, the signals, the timers, the consoles and the
 * notifications to systemd.
 */

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "launch-config.h"
#include "vm-definition.h"

#define BACKEND_MAX_PASS_FDS 8

/* What happens in the hypervisor that the supervisor acts on. */
typedef struct BackendEvents {
        /* The hypervisor runs the VM (ReadyOn=vmm's condition). */
        void (*vmm_running)(const char *detail, void *userdata);
        /* Something fatal (virtiofsd gone, ...): the supervisor records why and stops hard. */
        void (*failed)(const char *reason, void *userdata);
        /* The host end of the serial console, when it exists only after the start; the callee takes `fd`. */
        void (*serial_connected)(int fd, void *userdata);
} BackendEvents;

typedef struct BackendConfig {
        /* The argv's common part; the backend fills in its own channels. */
        LaunchConfig launch;
        const char *name;
        /* As ch-launch sees them. */
        const char *vmm_dir;
        const char *virtiofsd_socket;
        const char *api_socket, *serial_socket;
        uid_t uid; /* the hypervisor's */
        /* The number the child has for the first fd the backend passes. */
        int first_fd;
        sd_event *event;
        const BackendEvents *events;
        void *userdata;
} BackendConfig;

typedef struct BackendResult {
        char **argv;
        /* pass_fds[i] becomes the child's fd first_fd + i */
        int pass_fds[BACKEND_MAX_PASS_FDS];
        size_t n_pass_fds;
        int notify_fd;      /* the host end of hvc0 */
        int serial_fd;      /* the host end of ttyS0 (-EBADF: serial_connected() later) */
        int child_stdout;   /* -EBADF: the same as its stderr */
        mode_t child_umask; /* (mode_t) -1: unchanged */
} BackendResult;

#define BACKEND_RESULT_NULL                                                                                           \
        { .notify_fd = -EBADF, .serial_fd = -EBADF, .child_stdout = -EBADF, .child_umask = (mode_t) -1 }

void backend_result_done(BackendResult *r);
/* Adds `fd` (the result takes it) to what the child gets; returns its number there. */
int backend_result_pass_fd(BackendResult *r, const BackendConfig *c, int fd);

typedef struct Backend {
        Hypervisor id;
        /* Before the fork: the channels and the argv. */
        int (*prepare)(const BackendConfig *c, void **ret_state, BackendResult *ret);
        /* After the fork: listens on the control channel. */
        int (*started)(void *state);
        /* The graceful stop: ACPI power button. */
        int (*request_poweroff)(void *state);
        /* The hard stop; the supervisor sends SIGKILL if it does not work. */
        int (*force_stop)(void *state);
        /* A hard reset of the guest, inside the running hypervisor. */
        int (*request_reboot)(void *state);
        void *(*free)(void *state);
} Backend;

extern const Backend backend_cloud_hypervisor;
extern const Backend backend_qemu;
