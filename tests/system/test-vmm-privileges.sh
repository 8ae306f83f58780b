#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The hypervisor runs as a user of its own per VM, with nothing of root's:
# two QEMU guests, and for each the QEMU process (ch-launch's child) has
# all four uids and gids equal to the id ch-launch allocated for that VM
# (the lock file /run/cowvm/.uid/UID names the VM), no supplementary group,
# empty capability sets, no_new_privs and a seccomp filter. As that uid (what
# a guest that broke out of QEMU's device models would be), the other VM's
# disk (its upper layer, its mounted root, its virtiofsd socket), the base
# and root's files are out of reach, and the other VM's QEMU cannot be
# signalled. The guests still boot to READY=1 with the console in the
# journal and power off cleanly on `systemctl stop`; after kill -9 of
# ch-launch nothing is left but a stale lock, which the next start of the
# VM takes over.
#
# test-vmm-privileges.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

for v in pa pb; do
        vm_define "$v" "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" \
                "TimeoutStartSec=10min" "TimeoutStopSec=5min"
done
C systemctl daemon-reload
# As cowvm-mkbase leaves it (the test base is bound in instead).
C chmod 0700 /var/lib/cowvm/bases

# qemu_of NAME: the PID of the VM's QEMU, ch-launch's child.
qemu_of() {
        local ch
        ch=$(C systemctl show -P MainPID "vm@$1")
        [ "$ch" -gt 0 ] || fail "vm@$1 has no main process"
        C pgrep -P "$ch" qemu-system || fail "ch-launch of $1 (PID $ch) has no QEMU child"
}

# uid_of NAME: the id the VM's lock file holds for it.
uid_of() {
        local f
        f=$(C grep -lx "$1" -r /run/cowvm/.uid) || fail "no lock file in /run/cowvm/.uid names $1: $(C ls -la /run/cowvm/.uid)"
        [ "$(wc -l <<<"$f")" -eq 1 ] || fail "more than one lock names $1: $f"
        echo "${f##*/}"
}

# check_unprivileged NAME: prints the VM's uid after checking its QEMU.
check_unprivileged() {
        local pid u status
        pid=$(qemu_of "$1") || exit 1
        u=$(uid_of "$1") || exit 1
        status=$(C cat "/proc/$pid/status")
        if [ "$u" -lt 1878982656 ] || [ "$u" -gt 1879048191 ]; then
                fail "uid $u of $1 is outside the range"
        fi
        grep -qx "Uid:	$u	$u	$u	$u" <<<"$status" || fail "QEMU of $1 does not run as $u: $(grep ^Uid <<<"$status")"
        grep -qx "Gid:	$u	$u	$u	$u" <<<"$status" || fail "QEMU of $1 has gid $(grep ^Gid <<<"$status")"
        grep -qx "Groups:[[:space:]]*" <<<"$status" || fail "QEMU of $1 has groups: $(grep ^Groups <<<"$status")"
        for c in CapInh CapPrm CapEff CapBnd CapAmb; do
                grep -qx "$c:	0000000000000000" <<<"$status" || fail "QEMU of $1: $(grep "^$c" <<<"$status")"
        done
        grep -qx "NoNewPrivs:	1" <<<"$status" || fail "QEMU of $1 has no no_new_privs"
        grep -qx "Seccomp:	2" <<<"$status" || fail "QEMU of $1 has no seccomp filter: $(grep ^Seccomp <<<"$status")"
        echo "$u"
}

# as UID FILE: read FILE as UID, through a shell (setpriv itself keeps
# root's capabilities until its own execve).
as() {
        C setpriv --reuid="$1" --regid="$1" --clear-groups /bin/sh -c '/bin/cat "$0"' "$2" >/dev/null 2>&1
}

step "start pa and pb"
C systemctl start vm@pa vm@pb || fail "systemctl start failed: $(C systemctl status --no-pager vm@pa vm@pb)"
for v in pa pb; do
        [ "$(unit_state "vm@$v")" = active ] || fail "vm@$v is $(unit_state "vm@$v") after start"
        grep -qx "cowvm-test-guest: booted $v" <<<"$(vm_console "$v")" || fail "the console of $v is not in the journal"
done
ua=$(check_unprivileged pa)
ub=$(check_unprivileged pb)
[ "$ua" != "$ub" ] || fail "pa and pb share uid $ua"
grep -qx "The hypervisor runs as uid and gid $ua." <<<"$(C journalctl --no-pager -o cat -u vm@pa)" ||
        fail "ch-launch did not log pa's uid"
ok "QEMU of pa runs as $ua, of pb as $ub: no capabilities, no_new_privs, seccomp; both guests booted to READY=1"

step "what pa's uid reaches"
out=$(C setpriv --reuid="$ua" --regid="$ua" --clear-groups /bin/sh -c 'id -u; /bin/cat "$0"' /usr/lib/os-release 2>&1) ||
        fail "as $ua even a world-readable file is unreadable, the checks below would prove nothing: $out"
[ "$(head -n 1 <<<"$out")" = "$ua" ] || fail "setpriv did not run as $ua: $out"
C test -f /var/lib/cowvm/vms/pb/upper/etc/machine-id || fail "pb's upper has no etc/machine-id"
for f in /var/lib/cowvm/vms/pb/upper/etc/machine-id /run/cowvm/pb/root/etc/machine-id \
        /var/lib/cowvm/bases/test/boot/vmlinux /var/lib/cowvm/bases/test/sbin/init /etc/shadow; do
        ! as "$ua" "$f" || fail "as pa's uid $ua, $f is readable"
done
! C setpriv --reuid="$ua" --regid="$ua" --clear-groups /bin/sh -c 'kill -0 "$0"' "$(qemu_of pb)" 2>/dev/null ||
        fail "pa's uid can signal pb's QEMU"
# Connecting needs to reach the socket's inode first.
C test -S /run/cowvm/pb/virtiofsd.sock || fail "pb has no virtiofsd socket"
! C setpriv --reuid="$ua" --regid="$ua" --clear-groups /bin/sh -c 'test -e "$0"' /run/cowvm/pb/virtiofsd.sock ||
        fail "pa's uid reaches pb's virtiofsd socket"
C setpriv --reuid="$ua" --regid="$ua" --clear-groups /bin/sh -c 'kill -0 "$0"' "$(qemu_of pa)" ||
        fail "pa's uid cannot signal its own QEMU: the signal check proves nothing"
ok "as $ua: pb's upper and root, the base, /etc/shadow unreadable; pb's QEMU and virtiofsd socket out of reach"

step "systemctl stop pa"
C systemctl stop vm@pa
[ "$(unit_state vm@pa)" = inactive ] || fail "vm@pa is $(unit_state vm@pa) after stop, not inactive"
grep -q "cowvm-test-guest: poweroff" <<<"$(vm_console pa)" || fail "pa did not power off cleanly"
wait_vm_gone pa
! C test -e "/run/cowvm/.uid/$ua" || fail "the lock /run/cowvm/.uid/$ua is left after pa stopped"
ok "pa powered off cleanly on systemctl stop; its lock is gone"

step "kill -9 of pb's ch-launch, restart"
C kill -9 "$(C systemctl show -P MainPID vm@pb)"
is_failed() { [ "$(unit_state vm@pb)" = failed ]; }
harness_wait_for "end of vm@pb" 120 is_failed
wait_vm_gone pb
C systemctl reset-failed vm@pb
C systemctl start vm@pb || fail "vm@pb does not start again after kill -9: $(C systemctl status --no-pager vm@pb)"
ub2=$(check_unprivileged pb)
[ "$ub2" = "$ub" ] || fail "pb got $ub2 after the restart, not its stale lock's $ub"
ok "after kill -9 of ch-launch pb starts again, taking over its stale lock $ub"

C systemctl stop vm@pb
[ "$(unit_state vm@pb)" = inactive ] || fail "vm@pb is $(unit_state vm@pb) after stop"
wait_vm_gone pb
[ -z "$(C ls -A /run/cowvm)" ] || fail "left behind in /run/cowvm: $(C ls -A /run/cowvm)"
ok "nothing left in /run/cowvm"
echo PASS
