/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "backend.h"
#include "strv.h"

void backend_result_done(BackendResult *r) {
        r->argv = strv_free(r->argv);
        for (size_t i = 0; i < r->n_pass_fds; i++)
                safe_close(r->pass_fds[i]);
        r->n_pass_fds = 0;
        r->notify_fd = safe_close(r->notify_fd);
        r->serial_fd = safe_close(r->serial_fd);
        r->child_stdout = safe_close(r->child_stdout);
}

int backend_result_pass_fd(BackendResult *r, const BackendConfig *c, int fd) {
        if (r->n_pass_fds >= BACKEND_MAX_PASS_FDS) {
                safe_close(fd);
                return -E2BIG;
        }
        r->pass_fds[r->n_pass_fds] = fd;
        return c->first_fd + (int) r->n_pass_fds++;
}
