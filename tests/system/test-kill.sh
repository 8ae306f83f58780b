#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# kill -9 of each process a running VM depends on: its virtiofsd, its
# hypervisor (QEMU), ch-launch itself. Each VM has a NIC on a bridge. After
# the kill the unit is failed with the reason in `systemctl status`, nothing
# is left (mount, process, socket, runtime directory, tap device), and the
# next `systemctl start` works.
#
# test-kill.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

C ip link add cowbr0 type bridge
C ip link set cowbr0 up

VMS=(kvfs kqemu kch)
for v in "${VMS[@]}"; do
        printf '%s\n' "[VM]" "Base=test" "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
                "TimeoutStartSec=10min" "" "[Network]" "Bridge=cowbr0" | C sh -c "cat > /etc/cowvm/$v.vm"
done
C systemctl daemon-reload

# tap_of NAME: the tap device ch-launch made for this run of the VM.
tap_of() {
        local out
        out=$(C journalctl --no-pager -o cat -u "vm@$1" --grep "^Network: tap ")
        out=$(tail -n 1 <<<"$out")
        out=${out#Network: tap }
        echo "${out%% *}"
}

start_all() {
        local v
        C systemctl start "${VMS[@]/#/vm@}" || fail "systemctl start ${VMS[*]/#/vm@} failed: $(C systemctl --no-pager status "${VMS[@]/#/vm@}")"
        for v in "${VMS[@]}"; do
                [ "$(unit_state "vm@$v")" = active ] || fail "vm@$v is $(unit_state "vm@$v") after start"
        done
}

# says NAME PATTERN: `systemctl status vm@NAME` shows PATTERN, eventually
# (journald stores what it receives asynchronously).
says() {
        local status
        for _ in $(seq 1 100); do
                status=$(C systemctl status --no-pager -n 40 "vm@$1" 2>&1 || true)
                grep -qF -- "$2" <<<"$status" && return 0
                sleep 0.1
        done
        fail "systemctl status vm@$1 does not say '$2':
$status"
}

is_failed() { [ "$(unit_state "vm@$1")" = failed ]; }

start_all
declare -A TAP
for v in "${VMS[@]}"; do
        TAP[$v]=$(tap_of "$v")
        { [ -n "${TAP[$v]}" ] && C ip link show dev "${TAP[$v]}" >/dev/null; } ||
                fail "vm@$v has no tap device: $(C journalctl --no-pager -o cat -u "vm@$v" | tail -n 20)"
done
ok "three VMs running with NICs on cowbr0: ${TAP[*]}"

vfs_pid=$(C systemctl show -P MainPID virtiofsd@kvfs.service)
ch_pid=$(C systemctl show -P MainPID vm@kqemu.service)
qemu_pid=$(C pgrep -P "$ch_pid" qemu-system)
kch_pid=$(C systemctl show -P MainPID vm@kch.service)
{ [ "$vfs_pid" -gt 0 ] && [ -n "$qemu_pid" ] && [ "$kch_pid" -gt 0 ]; } ||
        fail "could not find the processes to kill (virtiofsd $vfs_pid, qemu '$qemu_pid', ch-launch $kch_pid)"
C kill -9 "$vfs_pid" "$qemu_pid" "$kch_pid"

for v in "${VMS[@]}"; do
        harness_wait_for "end of vm@$v" 120 is_failed "$v"
        wait_vm_gone "$v"
        ! C ip link show dev "${TAP[$v]}" >/dev/null 2>&1 || fail "tap ${TAP[$v]} of vm@$v is left behind"
done
says kvfs "virtiofsd hung up on /run/cowvm/kvfs/virtiofsd.sock: the VM lost its root file system"
says kqemu "Failed: qemu was killed by signal SIGKILL"
says kch "code=killed, status=9/KILL"
[ "$(C systemctl show -P Result vm@kch)" = signal ] || fail "vm@kch failed with result $(C systemctl show -P Result vm@kch), not signal"
ok "after kill -9 of virtiofsd, qemu and ch-launch the units are failed with the reason in status; no mount, process, socket or tap is left"

start_all
for v in "${VMS[@]}"; do
        C ip link show dev "$(tap_of "$v")" >/dev/null || fail "vm@$v has no tap device after its restart"
done
ok "all three start again"
C systemctl stop "${VMS[@]/#/vm@}"
for v in "${VMS[@]}"; do
        [ "$(unit_state "vm@$v")" = inactive ] || fail "vm@$v is $(unit_state "vm@$v") after a clean stop"
        wait_vm_gone "$v"
done
[ -z "$(C ip -o link show master cowbr0)" ] || fail "devices left on cowbr0: $(C ip -o link show master cowbr0)"
ok "and stop cleanly"
echo PASS
