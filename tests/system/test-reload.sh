#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Autostart= and reloads while VMs run:
# - `systemctl start machines.target` starts the Autostart=yes VMs and not
#   the Autostart=no one;
# - `systemctl daemon-reload`, with one definition edited (Hostname=) and
#   one VM added, leaves the running VMs alone (same MAINPID, still active);
# - the edit applies at that VM's next restart, the other VM is unchanged;
# - a new definition starts with no daemon-reload at all (`systemctl start`
#   alone), with its root, its definition's limits and timeout; a
#   daemon-reload while it runs leaves it alone, with one mount unit for its
#   root and none from a unit file; an edit of its definition applies at its
#   next restart, again without a reload.
#
# test-reload.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

GUEST=("Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min")
vm_define auto1 "${GUEST[@]}" "Autostart=yes"
vm_define auto2 "${GUEST[@]}" "Autostart=yes"
vm_define manual "${GUEST[@]}" "Autostart=no"
C systemctl daemon-reload

step "systemctl start machines.target"
C systemctl start machines.target || fail "systemctl start machines.target failed: $(C systemctl status --no-pager machines.target)"
for v in auto1 auto2; do
        # machines.target only waits for the start jobs: Before= in vm@.service.
        [ "$(unit_state "vm@$v")" = active ] || fail "vm@$v (Autostart=yes) is $(unit_state "vm@$v") after machines.target started"
done
[ "$(unit_state vm@manual)" = inactive ] || fail "vm@manual (Autostart=no) is $(unit_state vm@manual) after machines.target started"
ok "machines.target started the Autostart=yes VMs and not the other"

step "a new definition, started without daemon-reload"
# The reload above was the last one: fresh.vm appears only now.
vm_define fresh "Hypervisor=qemu" "Memory=192M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
        "TimeoutStartSec=20min" "TimeoutStopSec=5min" "TasksMax=222"
out=$(C systemctl start vm@fresh 2>&1) || fail "systemctl start vm@fresh (no daemon-reload) failed: $out $(C systemctl status --no-pager vm@fresh)"
# The limits are runtime drop-ins of the unit: systemd must not take them
# for a unit file changed on disk and ask for the reload we do without.
! grep -q "changed on disk" <<<"$out" || fail "systemctl start vm@fresh says: $out"
for u in vm@fresh virtiofsd@fresh; do
        [ "$(C systemctl show -P NeedDaemonReload "$u")" = no ] || fail "$u wants a daemon-reload: $(C systemctl cat "$u" 2>&1 | head -n 40)"
done
[ "$(unit_state vm@fresh)" = active ] || fail "vm@fresh is $(unit_state vm@fresh) after its start"
[ "$(unit_state run-cowvm-fresh-root.mount)" = active ] || fail "the root of fresh is not a mounted unit: $(unit_state run-cowvm-fresh-root.mount)"
[ "$(C cat /var/lib/cowvm/vms/fresh/upper/etc/hostname)" = fresh ] || fail "fresh was not configured"
v=$(C systemctl show -P MemoryMax vm@fresh)
[ "$v" = $(((192 + 256) * 1024 * 1024)) ] || fail "vm@fresh has MemoryMax=$v, not Memory= + MemoryOverhead="
[ "$(C systemctl show -P TasksMax virtiofsd@fresh)" = 222 ] || fail "virtiofsd@fresh lacks TasksMax=222: $(C systemctl show -P TasksMax virtiofsd@fresh)"
fresh_boot() { grep -qx "cowvm-test-guest: booted fresh" <<<"$(vm_console fresh)"; }
harness_wait_for "boot of fresh on its console" 120 fresh_boot
ok "vm@fresh started with no daemon-reload: root mounted, configured, its limits set, the guest booted"

step "a definition's shorter TimeoutStartSec=, without daemon-reload"
vm_define hasty "Hypervisor=qemu" "Memory=128M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
        "ReadyOn=guest" "TimeoutStartSec=1s"
out=$(start_must_fail vm@hasty)
grep -q "The VM was not ready within TimeoutStartSec=1s" <<<"$out" || fail "no timeout message for hasty: $out"
wait_vm_gone hasty
C systemctl reset-failed vm@hasty
ok "TimeoutStartSec=1s of a new definition stops its start, saying so: $(grep -o 'The VM was not ready[^;]*' <<<"$out" | head -n1)"

step "editing auto1, adding late, daemon-reload"
pidf=$(C systemctl show -P MainPID vm@fresh)
pid1=$(C systemctl show -P MainPID vm@auto1)
pid2=$(C systemctl show -P MainPID vm@auto2)
inv1=$(C systemctl show -P InvocationID vm@auto1)
{ [ "$pid1" -gt 0 ] && [ "$pid2" -gt 0 ]; } || fail "no MAINPID for the running VMs ($pid1, $pid2)"
[ "$(C cat /var/lib/cowvm/vms/auto1/upper/etc/hostname)" = auto1 ] || fail "auto1 did not get its default host name"

printf '%s\n' "" "[Guest]" "Hostname=renamed" | C sh -c 'cat >> /etc/cowvm/auto1.vm'
vm_define late "${GUEST[@]}"
C systemctl daemon-reload
for v in auto1 auto2; do
        [ "$(unit_state "vm@$v")" = active ] || fail "vm@$v is $(unit_state "vm@$v") after daemon-reload"
done
[ "$(C systemctl show -P MainPID vm@auto1)" = "$pid1" ] || fail "vm@auto1 has a new MAINPID after daemon-reload"
[ "$(C systemctl show -P MainPID vm@auto2)" = "$pid2" ] || fail "vm@auto2 has a new MAINPID after daemon-reload"
[ "$(C systemctl show -P InvocationID vm@auto1)" = "$inv1" ] || fail "vm@auto1 was restarted by daemon-reload"
[ "$(C cat /var/lib/cowvm/vms/auto1/upper/etc/hostname)" = auto1 ] || fail "the running auto1 was reconfigured by daemon-reload"
[ "$(unit_state vm@late)" = inactive ] || fail "the new vm@late was started by daemon-reload"
[ "$(C systemctl show -P MainPID vm@fresh)" = "$pidf" ] || fail "vm@fresh, started without a reload, has a new MAINPID after one"
mounts=$(C systemctl list-units --all --plain --no-legend --type=mount 'run-cowvm-fresh-*' | awk '{print $1 " " $3}')
[ "$mounts" = "run-cowvm-fresh-root.mount active" ] || fail "after daemon-reload the root of fresh is: $mounts"
[ -z "$(C systemctl show -P FragmentPath run-cowvm-fresh-root.mount)" ] || fail "the root of fresh got a unit file at the reload"
ok "daemon-reload: running VMs untouched (same MAINPID, also fresh), one mount unit for fresh's root, the new VM not started"

step "restarting auto1"
C systemctl restart vm@auto1 || fail "systemctl restart vm@auto1 failed: $(C systemctl status --no-pager vm@auto1)"
[ "$(C systemctl show -P MainPID vm@auto1)" != "$pid1" ] || fail "vm@auto1 has its old MAINPID after a restart"
[ "$(C cat /var/lib/cowvm/vms/auto1/upper/etc/hostname)" = renamed ] || fail "the edited Hostname= did not apply at the restart"
# The guest's init sets its host name from /etc/hostname and prints it.
renamed_boot() { grep -qx "cowvm-test-guest: booted renamed" <<<"$(vm_console auto1)"; }
harness_wait_for "boot of auto1 as 'renamed' on its console" 60 renamed_boot
[ "$(C systemctl show -P MainPID vm@auto2)" = "$pid2" ] || fail "vm@auto2 was restarted with vm@auto1"
ok "the edited Hostname= applied at the restart (upper/etc/hostname and the guest's console); auto2 untouched"

step "editing fresh, restarting it without daemon-reload"
C sed -i 's/^Memory=192M$/Memory=160M/' /etc/cowvm/fresh.vm
printf '%s\n' "" "[Guest]" "Hostname=refreshed" | C sh -c 'cat >> /etc/cowvm/fresh.vm'
out=$(C systemctl restart vm@fresh 2>&1) || fail "systemctl restart vm@fresh failed: $out $(C systemctl status --no-pager vm@fresh)"
! grep -q "changed on disk" <<<"$out" || fail "systemctl restart vm@fresh says: $out"
v=$(C systemctl show -P MemoryMax vm@fresh)
[ "$v" = $(((160 + 256) * 1024 * 1024)) ] || fail "the edited Memory= did not reach vm@fresh's MemoryMax ($v)"
[ "$(C cat /var/lib/cowvm/vms/fresh/upper/etc/hostname)" = refreshed ] || fail "the edited Hostname= of fresh did not apply"
ok "the edits of fresh (Memory=, Hostname=) applied at its restart, with no reload"

step "stopping machines.target"
C systemctl stop machines.target
C systemctl stop vm@fresh
for v in auto1 auto2 manual late fresh; do
        [ "$(unit_state "vm@$v")" != failed ] || fail "vm@$v failed on the stop of machines.target"
        wait_vm_gone "$v"
done
ok "stopping machines.target stops its VMs cleanly"
report_cgroup_trouble
echo PASS
