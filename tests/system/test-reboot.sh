#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The guest's own reboot and poweroff (QEMU): a reboot from inside the guest
# stays inside the hypervisor, so vm@NAME stays active with the same MAINPID
# while the guest boots a second time (on the same root: it finds what it
# wrote before the reboot); a poweroff from inside the guest then ends the
# unit cleanly: inactive, not failed, nothing left behind.
#
# test-reboot.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

vm_define rb "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min"
C systemctl daemon-reload

vm_create rb

# The test guest's init runs /etc/cowvm-test.d/*.sh at every boot. The hook
# reboots the guest on its first boot; on the second it says so and powers
# the guest off once the host asks for it (a file the host writes into the
# VM's root; the guest sees it through virtio-fs).
vm_hook rb 50-reboot.sh <<'EOF'
#!/bin/sh
if [ ! -e /root/rebooted ]; then
        cat /proc/sys/kernel/random/boot_id > /root/rebooted
        sync
        echo "hook: rebooting"
        reboot
        exit 0
fi
echo "hook: second boot, first was $(cat /root/rebooted)"
(
        while [ ! -e /root/poweroff-now ]; do sleep 1; done
        echo "hook: powering off"
        poweroff
) </dev/null >/dev/console 2>&1 &
EOF

step "start rb, the guest reboots itself"
C systemctl start vm@rb || fail "systemctl start vm@rb failed: $(C systemctl status --no-pager vm@rb)"
pid=$(C systemctl show -P MainPID vm@rb)
inv=$(C systemctl show -P InvocationID vm@rb)
console() { vm_console rb; }
second_boot() { grep -q "^hook: second boot" <<<"$(console)"; }
harness_wait_for "second boot of rb after its reboot" 180 second_boot
out=$(console)
grep -qx "hook: rebooting" <<<"$out" || fail "the guest did not reboot itself"
# Three boots in all: the one that created the VM, then this run's two.
[ "$(grep -cx "cowvm-test-guest: booted rb" <<<"$out")" -eq 3 ] || fail "the console does not show a second boot: $(grep "cowvm-test-guest: booted" <<<"$out")"
first=$(C cat /var/lib/cowvm/vms/rb/upper/root/rebooted)
grep -qx "hook: second boot, first was $first" <<<"$out" || fail "the second boot did not find the first boot's file"
[ "$(unit_state vm@rb)" = active ] || fail "vm@rb is $(unit_state vm@rb) after the guest rebooted"
[ "$(C systemctl show -P MainPID vm@rb)" = "$pid" ] || fail "vm@rb has a new MAINPID after the guest rebooted"
[ "$(C systemctl show -P InvocationID vm@rb)" = "$inv" ] || fail "vm@rb was restarted when the guest rebooted"
[ "$(unit_state virtiofsd@rb.service)" = active ] || fail "virtiofsd@rb is $(unit_state virtiofsd@rb.service) after the reboot"
ok "the guest rebooted inside QEMU: vm@rb still active with MAINPID $pid, two boots on the console, same root"

step "poweroff from inside rb"
C sh -c 'echo now > /run/cowvm/rb/root/root/poweroff-now'
ended() { [ "$(unit_state vm@rb)" != active ]; }
harness_wait_for "end of vm@rb after the guest's poweroff" 120 ended
settled() { [ "$(unit_state vm@rb)" != deactivating ]; }
harness_wait_for "vm@rb to settle" 60 settled
[ "$(unit_state vm@rb)" = inactive ] || fail "vm@rb is $(unit_state vm@rb) after the guest powered off: $(C systemctl status --no-pager vm@rb)"
[ "$(C systemctl show -P Result vm@rb)" = success ] || fail "vm@rb ended with result $(C systemctl show -P Result vm@rb)"
grep -qx "hook: powering off" <<<"$(console)" || fail "the guest did not power off by itself"
wait_vm_gone rb
# Once when the VM was created and stopped, once now (journald may store it
# a moment after the unit ended).
powered_off_twice() { [ "$(grep -c "The VM powered off" <<<"$(C journalctl --no-pager -o cat -u vm@rb)")" -eq 2 ]; }
harness_wait_for "ch-launch's log of the guest's power-off" 30 powered_off_twice
ok "a poweroff from inside the guest ends vm@rb cleanly (inactive, result success), nothing left behind"

report_cgroup_trouble
echo PASS
