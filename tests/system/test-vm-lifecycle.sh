#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A minimal guest's whole life, driven only through systemd: define, start
# (returns once the guest reported READY=1), status, console in the journal,
# restart keeps what the guest wrote, stop is clean (inactive, not failed) and
# leaves no mount, process or socket behind.
#
# test-vm-lifecycle.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

# No daemon-reload: a new definition is read when its VM starts.
vm_define demo "Hypervisor=qemu" "CPUs=1" "Memory=256M"

t0=$EPOCHREALTIME
C systemctl start vm@demo || fail "systemctl start vm@demo failed: $(C systemctl status --no-pager vm@demo)"
t1=$EPOCHREALTIME
[ "$(unit_state vm@demo)" = active ] || fail "vm@demo is $(unit_state vm@demo) after start"
ok "systemctl start vm@demo returned with the guest ready after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s"

status=$(C systemctl status --no-pager vm@demo)
grep -q "Guest ready" <<<"$status" || fail "systemctl status does not say the guest is ready: $status"
ok "status: $(grep -m1 'Status:' <<<"$status" | sed 's/^ *//')"
C findmnt -n -t overlay /run/cowvm/demo/root >/dev/null || fail "the root of vm@demo is not an overlay mount"
[ "$(unit_state virtiofsd@demo.service)" = active ] || fail "virtiofsd@demo.service is not running"

grep -q "cowvm-test-guest: booted demo" <<<"$(vm_console demo)" ||
        fail "the guest's console is not in the journal of vm@demo: $(vm_console demo | tail -n 5)"
grep -q "cowvm-test-guest: booted demo" <<<"$(C journalctl --no-pager -u vm@demo -o cat)" ||
        fail "journalctl -u vm@demo does not show the console"
ok "journalctl -u vm@demo shows the guest's console"
[ "$(C cat /var/lib/cowvm/vms/demo/upper/etc/hostname)" = demo ] || fail "the hostname was not injected"

# A file the guest writes survives a stop and start.
C systemctl stop vm@demo
[ "$(unit_state vm@demo)" = inactive ] || fail "vm@demo is $(unit_state vm@demo) after a clean stop, not inactive"
# journald may store the last console lines a moment after the unit stopped.
powered_off() { grep -q "cowvm-test-guest: poweroff" <<<"$(vm_console demo)"; }
harness_wait_for "the guest's poweroff on its console (it did not power off through the ACPI button)" 30 powered_off
wait_vm_gone demo
ok "stop: the guest powered off, the unit is inactive, nothing left behind"

printf '#!/bin/sh\n[ -f /root/written-by-guest ] && echo "found $(cat /root/written-by-guest)"\necho "boot $(cat /proc/sys/kernel/random/boot_id)" > /root/written-by-guest\nsync\n' |
        vm_hook demo 50-persist.sh
C systemctl start vm@demo
harness_wait_for "the guest's file" 60 C test -s /var/lib/cowvm/vms/demo/upper/root/written-by-guest
first=$(C cat /var/lib/cowvm/vms/demo/upper/root/written-by-guest)
C systemctl restart vm@demo
read_back() { grep -qx "found $first" <<<"$(vm_console demo)"; }
harness_wait_for "the guest reading its file back" 60 read_back
ok "after a restart the guest still has the file it wrote ($first)"

C systemctl stop vm@demo
[ "$(unit_state vm@demo)" = inactive ] || fail "vm@demo is $(unit_state vm@demo) after stop"
wait_vm_gone demo
C test -s /var/lib/cowvm/vms/demo/upper/root/written-by-guest || fail "the upper layer lost the guest's file at stop"
ok "the upper layer is kept after stop"
echo PASS
