/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vm-definition.h"

/* Sets the VM's resource limits (vm-limits.h) on vm@NAME and
 * virtiofsd@NAME, as runtime properties through systemd's API: they apply
 * from the next start of each, which this runs before. Outside systemd
 * (overlay-prepare run by hand) there are no units and nothing is done. */
int unit_limits_apply(const VmDefinition *d);
