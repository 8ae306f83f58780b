#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A running VM is a machine of systemd-machined, class vm, and machinectl's
# actions do what they say: reboot resets the guest inside the same
# hypervisor (same MAINPID), poweroff is the guest's own clean power-off on
# the ACPI button (inactive, result success), terminate stops vm@NAME, kill
# (every process, QEMU too) fails the unit. The machine goes when the VM
# ends, also when ch-launch is killed with SIGKILL, and without machined a
# VM still starts, with a warning.
#
# test-machinectl.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

C ip link add cowbr0 type bridge
C ip link set cowbr0 up
printf '%s\n' "[VM]" "Base=test" "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
        "TimeoutStartSec=10min" "TimeoutStopSec=5min" "" "[Network]" "Bridge=cowbr0" "Address=10.0.0.5/24" |
        C sh -c "cat > /etc/cowvm/mc.vm"
C systemctl daemon-reload
C systemctl start systemd-machined || fail "systemd-machined does not start in the container: $(C systemctl status --no-pager systemd-machined)"

start_mc() {
        C systemctl start vm@mc || fail "systemctl start vm@mc failed: $(C systemctl status --no-pager vm@mc)"
}
prop() { C machinectl show -p "$1" --value mc; }
booted_count() {
        local out
        out=$(vm_console_this_run mc)
        grep -cx "cowvm-test-guest: booted mc" <<<"$out" || true
}
settled() { [ "$(unit_state vm@mc)" != deactivating ] && [ "$(unit_state vm@mc)" != active ]; }

step "start mc: registered with machined"
start_mc
wait_machine_registered mc
pid=$(C systemctl show -P MainPID vm@mc)
[ "$(prop Class)" = vm ] || fail "machine mc has class $(prop Class)"
[ "$(prop Service)" = cowvm ] || fail "machine mc has service $(prop Service)"
[ "$(prop Unit)" = vm@mc.service ] || fail "machine mc has unit $(prop Unit)"
[ "$(prop Leader)" = "$pid" ] || fail "machine mc has leader $(prop Leader), vm@mc's MainPID is $pid"
guest_id=$(C cat /run/cowvm/mc/root/etc/machine-id)
[ "$(prop Id)" = "$guest_id" ] || fail "machine mc has id $(prop Id), the guest's machine-id is $guest_id"
tap_index=$(C cat /sys/class/net/vm-mc/ifindex)
# machinectl show cannot print an array of ints; busctl can.
path=$(C busctl call --json=short org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager GetMachine s mc)
path=$(sed -n 's/.*"data":\["\([^"]*\)".*/\1/p' <<<"$path")
ifaces=$(C busctl get-property org.freedesktop.machine1 "$path" org.freedesktop.machine1.Machine NetworkInterfaces)
[ "$ifaces" = "ai 1 $tap_index" ] || fail "machine mc has interfaces '$ifaces', the tap vm-mc is $tap_index"
status=$(C machinectl status --no-pager mc)
grep -q "Unit: vm@mc.service" <<<"$status" || fail "machinectl status mc does not show the unit: $status"
grep -q "Iface: vm-mc" <<<"$status" || fail "machinectl status mc does not show the tap: $status"
# The leader is a host process: machined must not open a shell in its
# namespaces (it refuses for class vm).
! C machinectl shell mc /bin/true </dev/null >/dev/null 2>&1 || fail "machinectl shell mc ran a command"
ok "machinectl list shows mc (class vm, service cowvm); leader ch-launch, the guest's machine-id, the tap; status shows vm@mc.service and vm-mc; no shell"

step "machinectl reboot mc"
[ "$(booted_count)" -eq 1 ] || fail "mc booted $(booted_count) times before the reboot"
C machinectl reboot mc
twice() { [ "$(booted_count)" -eq 2 ]; }
harness_wait_for "second boot of mc after machinectl reboot" 180 twice
[ "$(unit_state vm@mc)" = active ] || fail "vm@mc is $(unit_state vm@mc) after machinectl reboot"
[ "$(C systemctl show -P MainPID vm@mc)" = "$pid" ] || fail "vm@mc has a new MainPID after machinectl reboot"
machine_registered mc || fail "machine mc is gone after machinectl reboot"
ok "machinectl reboot: the guest booted again, vm@mc still active with MainPID $pid"

step "machinectl poweroff mc"
C machinectl poweroff mc
harness_wait_for "end of vm@mc after machinectl poweroff" 180 settled
[ "$(unit_state vm@mc)" = inactive ] || fail "vm@mc is $(unit_state vm@mc) after machinectl poweroff: $(C systemctl status --no-pager vm@mc)"
[ "$(C systemctl show -P Result vm@mc)" = success ] || fail "vm@mc ended with result $(C systemctl show -P Result vm@mc)"
out=$(C journalctl --no-pager -o cat -u vm@mc)
grep -q "Pressed the ACPI power button" <<<"$out" || fail "machinectl poweroff did not press the power button"
grep -qx "cowvm-test-guest: poweroff" <<<"$(vm_console mc)" || fail "the guest did not power off by itself"
wait_machine_forgotten mc 30
wait_vm_gone mc
ok "machinectl poweroff: the guest powered off on the power button, vm@mc inactive (success), machine gone"

step "machinectl terminate mc"
start_mc
wait_machine_registered mc
inv=$(C systemctl show -P InvocationID vm@mc)
C machinectl terminate mc
harness_wait_for "end of vm@mc after machinectl terminate" 180 settled
[ "$(unit_state vm@mc)" = inactive ] || fail "vm@mc is $(unit_state vm@mc) after machinectl terminate"
out=$(C journalctl --no-pager -o cat -u vm@mc _SYSTEMD_INVOCATION_ID="$inv")
grep -q "Pressed the ACPI power button" <<<"$out" || fail "machinectl terminate did not stop vm@mc through the power button"
wait_machine_forgotten mc 30
wait_vm_gone mc
ok "machinectl terminate: vm@mc stopped (power button, inactive), machine gone"

step "machinectl kill mc: every process of the unit, QEMU too"
start_mc
wait_machine_registered mc
inv=$(C systemctl show -P InvocationID vm@mc)
C machinectl kill mc
harness_wait_for "end of vm@mc after machinectl kill" 120 settled
# QEMU exits 0 on SIGTERM: the unit must not look like a clean power-off.
[ "$(unit_state vm@mc)" = failed ] || fail "vm@mc is $(unit_state vm@mc) after machinectl kill ended QEMU"
out=$(C journalctl --no-pager -o cat -u vm@mc _SYSTEMD_INVOCATION_ID="$inv")
grep -q "QEMU was ended by a signal from outside ch-launch" <<<"$out" || fail "vm@mc's journal does not say why it failed: $(tail -n 20 <<<"$out")"
wait_machine_forgotten mc 30
wait_vm_gone mc
ok "machinectl kill: QEMU ended by SIGTERM, vm@mc failed saying so, machine gone"

step "kill -9 of ch-launch"
start_mc
wait_machine_registered mc
C kill -9 "$(C systemctl show -P MainPID vm@mc)"
harness_wait_for "end of vm@mc after kill -9" 120 settled
[ "$(unit_state vm@mc)" = failed ] || fail "vm@mc is $(unit_state vm@mc) after kill -9 of ch-launch"
wait_machine_forgotten mc
wait_vm_gone mc
ok "after kill -9 of ch-launch the machine is gone from machinectl list"

step "without machined"
C systemctl stop systemd-machined
C systemctl mask systemd-machined
start_mc
[ "$(unit_state vm@mc)" = active ] || fail "vm@mc is $(unit_state vm@mc) without machined"
warned() {
        local out
        out=$(C journalctl --no-pager -o cat -u vm@mc _SYSTEMD_INVOCATION_ID="$(C systemctl show -P InvocationID vm@mc)")
        grep -q "^Cannot register VM mc with systemd-machined" <<<"$out"
}
harness_wait_for "the warning about machined in vm@mc's journal" 60 warned
C systemctl stop vm@mc
[ "$(unit_state vm@mc)" = inactive ] || fail "vm@mc is $(unit_state vm@mc) after a stop without machined"
wait_vm_gone mc
ok "with machined masked the VM starts and stops as before, with a warning in its journal"

report_cgroup_trouble
echo PASS
