#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/reload.sh BUILDDIR [N] [RUNS]
#
# What a `systemctl daemon-reload` costs with cowvm's VMs running, through the
# real systemd of the system-test harness: RUNS reloads (default 11) with no
# VM running, then with N (default 10) idle busybox guests running; prints
# the medians, the cost per running VM and the units each VM adds to
# systemd (what a reload serializes and reads back). The guests boot first
# (ReadyOn=guest) and sit idle at their shell, so that their emulation does
# not compete with PID 1 while it reloads.
set -eu
set -o pipefail
HERE=$(dirname "$(realpath "$0")")
BUILD=$(realpath "${1:-$HERE/../build}")
N=${2:-10} RUNS=${3:-11}

. "$HERE/../tests/system/lib/cowvm.sh"
cowvm_boot "$BUILD"
C systemctl is-system-running --wait >/dev/null || true

reloads() { # prints the median of RUNS reloads, in ms
        local i t0 t1
        for i in $(seq 1 "$RUNS"); do
                t0=$(C date +%s%N)
                C systemctl daemon-reload
                t1=$(C date +%s%N)
                echo $(((t1 - t0) / 1000))
        done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}

units() { C systemctl list-units --all --plain --no-legend | wc -l; }

u0=$(units)
r0=$(reloads)
vms=()
for i in $(seq 1 "$N"); do
        vm_define "r$i" "Hypervisor=qemu" "Memory=128M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
                "ReadyOn=guest" "TimeoutStartSec=20min"
        vms+=("vm@r$i")
done
# (An older cowvm, whose generator wrote units per VM, needs it; this one
# does not, and a reload costs it nothing here.)
C systemctl daemon-reload
C systemctl start "${vms[@]}"
sleep 10 # the guests' last boot messages
un=$(units)
rn=$(reloads)
C systemctl stop "${vms[@]}"

echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), systemd $(C systemctl --version | head -n1 | cut -d' ' -f2)"
echo "units loaded: $u0 with no VM, $un with $N VMs running ($(((un - u0) / N)) per VM)"
echo "daemon-reload, median of $RUNS: $r0 ms with no VM, $rn ms with $N VMs running"
awk -v a="$r0" -v b="$rn" -v n="$N" 'BEGIN { printf "per running VM: %.2f ms\n", (b - a) / n }'
