/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* How to accelerate: KVM only where it really works (see accel.c). */
int accel_probe(bool *ret_kvm, const char **ret_reason);
