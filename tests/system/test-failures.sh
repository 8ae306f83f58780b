#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What a user sees when a VM cannot start: an undefined name, a malformed
# definition among good ones, a missing base, a base replaced under an
# existing VM, a hypervisor that is not installed, a virtiofsd that is not
# there. Each start fails at once (the definitions say TimeoutStartSec=1h, so
# a failure that waited for a timeout would hang this test instead), the
# reason is in `systemctl status vm@NAME` and in `journalctl -u vm@NAME`, and
# nothing is left mounted or running.
#
# test-failures.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

# Cheap guests: the uncompressed kernel boots faster under TCG.
GUEST=("Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=1h")

# says NAME PATTERN...: `systemctl status vm@NAME` and `journalctl -u
# vm@NAME` both show each PATTERN (fixed strings). journald stores what it
# receives asynchronously: a status right after the failure may not have the
# last lines yet, so this polls for a while (30 s: a loaded machine's
# journald can lag that much).
says() {
        local name=$1 p status journal missing
        shift
        for _ in $(seq 1 300); do
                status=$(C systemctl status --no-pager -n 40 "vm@$name" 2>&1 || true)
                journal=$(C journalctl --no-pager -o cat -u "vm@$name")
                missing=
                for p in "$@"; do
                        grep -qF -- "$p" <<<"$status" || missing="status: $p"
                        grep -qF -- "$p" <<<"$journal" || missing="journal: $p"
                done
                [ -n "$missing" ] || return 0
                sleep 0.1
        done
        fail "vm@$name: the $missing is missing:
$status"
}

# start_fails_at_once NAME: `systemctl start vm@NAME` fails, and not by a
# timeout; prints how long it took.
start_fails_at_once() {
        local name=$1 t0 result
        t0=$EPOCHREALTIME
        if C systemctl start "vm@$name" 2>/dev/null; then
                fail "systemctl start vm@$name succeeded"
        fi
        result=$(C systemctl show -P Result "vm@$name")
        [ "$result" != timeout ] || fail "vm@$name failed by its start timeout"
        awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2fs", b - a }'
}

status_of() {
        C systemctl status --no-pager -n 30 "vm@$1" 2>&1 || true
}

# --- an undefined VM ---------------------------------------------------------
took=$(start_fails_at_once ghost)
says ghost "VM 'ghost' is not defined" "/etc/cowvm/ghost.vm"
wait_vm_gone ghost
C test ! -e /var/lib/cowvm/vms/ghost || fail "starting an undefined VM created /var/lib/cowvm/vms/ghost"
ok "undefined VM: start failed in $took, status names where it looked, nothing mounted, no /run/cowvm/ghost"

# --- a malformed definition next to good ones ----------------------------------
# `chg` runs over a base of its own, a copy that is replaced further down.
C cp -a /var/lib/cowvm/bases/test /var/lib/cowvm/bases/other
vm_define good "${GUEST[@]}"
vm_define chg "${GUEST[@]}"
C sed -i 's/^Base=test$/Base=other/' /etc/cowvm/chg.vm
vm_define bad "${GUEST[@]}" "CPUs=lots"
bad_line=$(C grep -n '^CPUs=lots' /etc/cowvm/bad.vm | cut -d: -f1)
C systemctl daemon-reload

t0=$EPOCHREALTIME
if C systemctl start vm@good vm@bad vm@chg 2>/dev/null; then
        fail "systemctl start vm@good vm@bad vm@chg succeeded although bad.vm is malformed"
fi
for v in good chg; do
        [ "$(unit_state "vm@$v")" = active ] || fail "vm@$v is $(unit_state "vm@$v"), the bad definition beside it stopped it: $(status_of "$v")"
done
# The first unit of its chain, which reads the definition, is the one that
# failed; vm@bad did not start (a failed dependency) and shows why.
[ "$(unit_state vm@bad)" != active ] || fail "vm@bad is active"
[ "$(unit_state overlay-prepare@bad)" = failed ] || fail "overlay-prepare@bad is $(unit_state overlay-prepare@bad), not failed"
[ "$(C systemctl show -P Result overlay-prepare@bad)" = exit-code ] || fail "overlay-prepare@bad did not fail on the definition"
says bad "/etc/cowvm/bad.vm:$bad_line:" "CPUs=lots"
wait_vm_gone bad
ok "malformed definition: vm@good and vm@chg run, vm@bad did not start, naming /etc/cowvm/bad.vm:$bad_line and CPUs= ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s for the three)"

# --- a missing base --------------------------------------------------------------
vm_define nobase "${GUEST[@]}"
C sed -i 's/^Base=test$/Base=nosuch/' /etc/cowvm/nobase.vm
C systemctl daemon-reload
took=$(start_fails_at_once nobase)
says nobase "Base '/var/lib/cowvm/bases/nosuch' of VM 'nobase' does not exist"
wait_vm_gone nobase
ok "missing base: start failed in $took, status says the base does not exist"

# --- bases that would show the guest the host's data -------------------------------
# Written as a path: refused by the definition's parser, with file:line.
vm_define hostroot "${GUEST[@]}" "Kernel=/boot/vmlinuz"
C sed -i 's|^Base=test$|Base=/|' /etc/cowvm/hostroot.vm
base_line=$(C grep -n '^Base=/$' /etc/cowvm/hostroot.vm | cut -d: -f1)
# Through a base name: a symlink under bases/ to the host's root, and one
# into another VM's disk (good's upper layer, which exists by now).
C ln -s / /var/lib/cowvm/bases/hostroot-link
C ln -s /var/lib/cowvm/vms/good/upper /var/lib/cowvm/bases/steal-link
vm_define viaroot "${GUEST[@]}" "Kernel=/boot/vmlinuz"
C sed -i 's|^Base=test$|Base=hostroot-link|' /etc/cowvm/viaroot.vm
vm_define steal "${GUEST[@]}"
C sed -i 's|^Base=test$|Base=steal-link|' /etc/cowvm/steal.vm
C systemctl daemon-reload
took=$(start_fails_at_once hostroot)
says hostroot "/etc/cowvm/hostroot.vm:$base_line: Invalid Base=/: it is the host's root file system"
wait_vm_gone hostroot
took2=$(start_fails_at_once viaroot)
says viaroot "Refusing base '/var/lib/cowvm/bases/hostroot-link' of VM 'viaroot'" "it resolves to '/'"
wait_vm_gone viaroot
took3=$(start_fails_at_once steal)
says steal "it resolves to '/var/lib/cowvm/vms/good/upper'" "lies inside /var/lib/cowvm/vms"
wait_vm_gone steal
for v in hostroot viaroot steal; do
        C test ! -e "/var/lib/cowvm/vms/$v" || fail "the refused VM $v got a state directory"
done
C rm /var/lib/cowvm/bases/hostroot-link /var/lib/cowvm/bases/steal-link
ok "host data as a base: Base=/ refused at hostroot.vm:$base_line ($took), a base linked to / ($took2) and one into another VM's upper ($took3) refused at start, nothing mounted"

# --- a hypervisor that is not installed -----------------------------------------
if command -v cloud-hypervisor >/dev/null; then
        echo "skipping the missing-hypervisor case: cloud-hypervisor is installed"
else
        vm_define nohv "Hypervisor=cloud-hypervisor" "Memory=256M" "TimeoutStartSec=1h"
        C systemctl daemon-reload
        took=$(start_fails_at_once nohv)
        says nohv "Hypervisor=cloud-hypervisor, but cloud-hypervisor is not in \$PATH"
        wait_vm_gone nohv
        ok "missing hypervisor: start failed in $took, status says cloud-hypervisor is not installed"
fi

# --- no virtiofsd ------------------------------------------------------------------
# /usr is read-only here; a drop-in is how a user points virtiofsd-exec
# elsewhere ($COWVM_VIRTIOFSD), so it is how to make it missing.
vm_define novfs "${GUEST[@]}"
C mkdir -p /etc/systemd/system/virtiofsd@novfs.service.d
printf '[Service]\nEnvironment=COWVM_VIRTIOFSD=/nonexistent/virtiofsd\n' |
        C sh -c 'cat > /etc/systemd/system/virtiofsd@novfs.service.d/missing.conf'
C systemctl daemon-reload
took=$(start_fails_at_once novfs)
# Only virtiofsd's own reason: whether ch-launch is already running to see
# the hang-up ("virtiofsd hung up") or vm@novfs is stopped before (it is
# bound to virtiofsd@novfs) depends on which of the two gets there first.
says novfs "/nonexistent/virtiofsd is not executable"
wait_vm_gone novfs
ok "missing virtiofsd: start failed in $took, status says why"

# --- the base replaced under an existing VM ------------------------------------------
C systemctl stop vm@good vm@chg
for v in good chg; do
        [ "$(unit_state "vm@$v")" = inactive ] || fail "vm@$v is $(unit_state "vm@$v") after stop"
        wait_vm_gone "$v"
done
C sh -c 'mv /var/lib/cowvm/bases/other /var/lib/cowvm/bases/other.old && cp -a /var/lib/cowvm/bases/other.old /var/lib/cowvm/bases/other'
took=$(start_fails_at_once chg)
says chg "Base '/var/lib/cowvm/bases/other' of VM 'chg' has changed since the VM was created"
wait_vm_gone chg
C test -d /var/lib/cowvm/vms/chg/upper/etc || fail "the upper layer of vm@chg is gone after the refused start"
# Putting the original back makes it start again.
C sh -c 'rm -rf /var/lib/cowvm/bases/other && mv /var/lib/cowvm/bases/other.old /var/lib/cowvm/bases/other'
C systemctl start vm@chg || fail "vm@chg does not start over its original base again: $(status_of chg)"
C systemctl stop vm@chg
wait_vm_gone chg
ok "replaced base: start failed in $took naming the change, the upper layer is kept, the original base starts again"

[ -z "$(C ls -A /run/cowvm)" ] || fail "left behind in /run/cowvm: $(C ls -A /run/cowvm)"
echo PASS
