#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Eight VMs started with one `systemctl start` call: all become ready, each
# guest booted on its own root (its own host name on its console); one
# `systemctl stop` call stops them all cleanly (inactive, not failed) and
# leaves nothing behind.
#
# test-many.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

VMS=(a b c d e f g h)
UNITS=("${VMS[@]/#/vm@}")
# Eight guests under software emulation on two cores: generous timeouts, so
# that a slow machine is not mistaken for a broken start or stop.
for v in "${VMS[@]}"; do
        vm_define "$v" "Hypervisor=qemu" "CPUs=1" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
                "TimeoutStartSec=15min" "TimeoutStopSec=10min"
done
C systemctl daemon-reload

step "starting ${UNITS[*]}"
t0=$EPOCHREALTIME
C systemctl start "${UNITS[@]}" || fail "systemctl start ${UNITS[*]} failed: $(C systemctl status --no-pager "${UNITS[@]}")"
t1=$EPOCHREALTIME
for v in "${VMS[@]}"; do
        [ "$(unit_state "vm@$v")" = active ] || fail "vm@$v is $(unit_state "vm@$v") after start"
        grep -q "Guest ready" <<<"$(C systemctl status --no-pager "vm@$v")" || fail "vm@$v does not say its guest is ready"
        grep -qx "cowvm-test-guest: booted $v" <<<"$(vm_console "$v")" ||
                fail "the console of vm@$v does not show its guest booting as $v: $(vm_console "$v" | tail -n 5)"
        C findmnt -n -t overlay "/run/cowvm/$v/root" >/dev/null || fail "the root of vm@$v is not mounted"
done
[ "$(C findmnt -rn -t overlay -o TARGET | grep -c '^/run/cowvm/')" -eq 8 ] || fail "not eight VM roots mounted"
ok "one systemctl start: 8 VMs ready after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s"

# journald may store the last console lines a moment after the unit ended.
powered_off() { grep -q "cowvm-test-guest: poweroff" <<<"$(vm_console "$1")"; }

step "stopping ${UNITS[*]}"
t0=$EPOCHREALTIME
C systemctl stop "${UNITS[@]}"
t1=$EPOCHREALTIME
for v in "${VMS[@]}"; do
        [ "$(unit_state "vm@$v")" = inactive ] || fail "vm@$v is $(unit_state "vm@$v") after stop, not inactive: $(C systemctl status --no-pager "vm@$v")"
        harness_wait_for "the poweroff of vm@$v's guest on its console" 30 powered_off "$v"
done
for v in "${VMS[@]}"; do
        wait_vm_gone "$v"
done
[ -z "$(C ls -A /run/cowvm)" ] || fail "left behind in /run/cowvm: $(C ls -A /run/cowvm)"
ok "one systemctl stop: all 8 powered off in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s, nothing left behind"
report_cgroup_trouble
echo PASS
