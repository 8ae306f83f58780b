/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vm-definition.h"

/* For a VM with a [Network] Bridge=: a vm@NAME.service drop-in that runs
 * cowvm-network around the VM, and for each Forward= a socket and a
 * systemd-socket-proxyd service that live and die with vm@NAME. */
int generate_network_units(int dir_fd, const char *dir, const VmDefinition *d);
