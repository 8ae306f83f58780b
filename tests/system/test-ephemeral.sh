#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Ephemeral=yes: what is written into the VM's root while it runs (here from
# the host, through /run/cowvm/NAME/root) is gone after a stop and start, and
# after a restart; after the stop nothing is left under /var/lib/cowvm/vms/NAME
# or /run/cowvm/NAME. A persistent VM beside it, treated alike, keeps its files.
#
# test-ephemeral.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

GUEST=("Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min")
vm_define eph "${GUEST[@]}" "Ephemeral=yes"
vm_define keep "${GUEST[@]}"
C systemctl daemon-reload

# A hook the test guest's init runs at boot (/etc/cowvm-test.d/*.sh): if it
# survives into the next boot of the ephemeral VM, the console shows it.
HOOK='#!/bin/sh
echo "hook: ran"'

# write_into NAME: a file and a boot hook into the running VM's root.
write_into() {
        C mkdir -p "/run/cowvm/$1/root/etc/cowvm-test.d"
        C sh -c "cat > /run/cowvm/$1/root/etc/cowvm-test.d/50-hook.sh && chmod 755 /run/cowvm/$1/root/etc/cowvm-test.d/50-hook.sh" <<<"$HOOK"
        C sh -c "echo from-host > /run/cowvm/$1/root/root/from-host"
}

step "first start of eph and keep"
C systemctl start vm@eph vm@keep || fail "systemctl start vm@eph vm@keep failed: $(C systemctl status --no-pager vm@eph vm@keep)"
C findmnt -n -t tmpfs /run/cowvm/eph/ephemeral >/dev/null || fail "the upper layer of vm@eph is not on a tmpfs of its own"
C test ! -e /var/lib/cowvm/vms/eph || fail "the ephemeral VM has state under /var/lib/cowvm/vms/eph"
write_into eph
write_into keep
C test -e /run/cowvm/eph/ephemeral/upper/root/from-host || fail "the host's file is not in the ephemeral upper layer"
ok "the ephemeral VM's upper layer is on a tmpfs of its own; files written into both running roots"

step "stop of eph and keep"
C systemctl stop vm@eph vm@keep
for v in eph keep; do
        [ "$(unit_state "vm@$v")" = inactive ] || fail "vm@$v is $(unit_state "vm@$v") after stop"
        wait_vm_gone "$v"
done
C test ! -e /var/lib/cowvm/vms/eph || fail "left behind: $(C find /var/lib/cowvm/vms/eph)"
C test -s /var/lib/cowvm/vms/keep/upper/root/from-host || fail "the persistent VM lost the file at stop"
ok "after stop nothing of the ephemeral VM is left under /run/cowvm/eph or /var/lib/cowvm/vms/eph"

step "start of eph and keep"
C systemctl start vm@eph vm@keep || fail "systemctl start vm@eph vm@keep failed: $(C systemctl status --no-pager vm@eph vm@keep)"
C test ! -e /run/cowvm/eph/root/root/from-host || fail "a file written during the previous run of the ephemeral VM survived stop and start"
C test -e /run/cowvm/keep/root/root/from-host || fail "the persistent VM lost the file at stop and start"
# Of this run only: the first run may itself have run the hook written into
# its root while it was booting.
hook_ran() { grep -qx "hook: ran" <<<"$(vm_console_this_run "$1")"; }
harness_wait_for "the hook in keep" 60 hook_ran keep
! hook_ran eph || fail "the ephemeral VM ran a hook written into its root during its previous run"
ok "stop and start: the ephemeral VM began from its base, the persistent one kept the file and ran the hook"

step "restart of eph"
write_into eph
C systemctl restart vm@eph || fail "systemctl restart vm@eph failed: $(C systemctl status --no-pager vm@eph)"
C test ! -e /run/cowvm/eph/root/root/from-host || fail "a file written before the restart of the ephemeral VM survived it"
! hook_ran eph || fail "the ephemeral VM ran a hook written into its root before its restart"
ok "restart: the ephemeral VM began from its base again"

C systemctl stop vm@eph vm@keep
for v in eph keep; do
        [ "$(unit_state "vm@$v")" = inactive ] || fail "vm@$v is $(unit_state "vm@$v") after stop"
        wait_vm_gone "$v"
done
C test ! -e /var/lib/cowvm/vms/eph || fail "left behind: $(C find /var/lib/cowvm/vms/eph)"
report_cgroup_trouble
echo PASS
