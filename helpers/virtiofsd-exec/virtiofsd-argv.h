/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The command line of virtiofsd, for the two implementations a host may have.
 * Pure functions: no I/O, so both flavours are unit tested on any host.
 */

#include "vm-definition.h"

typedef enum VirtiofsdFlavour {
        VIRTIOFSD_RUST, /* gitlab.com/virtio-fs/virtiofsd: --shared-dir, --fd N, --cache never */
        VIRTIOFSD_C,    /* QEMU <= 7.2 tools/virtiofsd: -o source=, --fd=N, -o cache=none */
        _VIRTIOFSD_FLAVOUR_MAX,
        _VIRTIOFSD_FLAVOUR_INVALID = -EINVAL,
} VirtiofsdFlavour;

const char *virtiofsd_flavour_to_string(VirtiofsdFlavour f);
VirtiofsdFlavour virtiofsd_flavour_from_string(const char *s);

/* Tells the flavour from what `virtiofsd --version` printed. The C one prints
 * "virtiofsd version 7.2.22 (...)" (QEMU's version banner), the Rust one
 * "virtiofsd 1.13.0" (clap's "NAME VERSION"). */
VirtiofsdFlavour virtiofsd_flavour_from_version(const char *output);

/* The flavour of the two well-known install paths, without running anything;
 * _VIRTIOFSD_FLAVOUR_INVALID for any other path. */
VirtiofsdFlavour virtiofsd_flavour_from_path(const char *path);

/* argv for serving `shared_dir` on the already listening socket `fd` with the
 * [Virtiofs] settings `cache` and `thread_pool_size` (0: virtiofsd's default). */
int virtiofsd_build_argv(VirtiofsdFlavour flavour, const char *binary, const char *shared_dir, int fd,
                         VirtiofsCache cache, unsigned thread_pool_size, char ***ret);
