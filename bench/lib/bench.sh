# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# What the benchmarks share. Source it after tests/system/lib/cowvm.sh (for
# C, the harness and the caches of tests/lib/test-lib.sh):
#
#   bench_timed CMD...      "T_REQUEST T_END RC": realtime in µs, taken in the
#                           container right before and after CMD, and CMD's status
#   bench_machine           kernel, CPU, load, QEMU and libvirt versions (JSON)

# bench_timed CMD...: runs CMD in the container, its output discarded. The
# clock is read there, so nothing of the harness (nsenter) is counted; the
# request time is realtime, the clock journal entries and libvirt's logs carry.
# Succeeds whatever CMD's status.
bench_timed() {
        # shellcheck disable=SC2016 # for the inner shell
        C sh -c 'date +%s%6N; "$@" >/dev/null 2>&1; rc=$?; date +%s%6N; echo $rc' sh "$@" | tr '\n' ' '
}

# bench_machine: what the figures were measured on, as a JSON object.
bench_machine() {
        python3 - "$(uname -r)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" "$(nproc)" \
                "$(cut -d' ' -f1-3 /proc/loadavg)" "$(uptime)" \
                "$(qemu-system-x86_64 --version 2>/dev/null | head -n1)" \
                "$( (libvirtd --version || virtqemud --version) 2>/dev/null | head -n1)" <<'PY'
import json, sys
k = ["kernel", "cpu", "cpus", "loadavg", "uptime", "qemu", "libvirt"]
print(json.dumps(dict(zip(k, sys.argv[1:]))))
PY
}
