#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The confinement of the VM's units, as the real systemd applies it: with a
# guest running, `systemd-analyze security` rates each loaded unit of its
# chain at most at its goal (vm@ 4.0, overlay-prepare@ 3.5, virtiofsd@ 5.0);
# the hypervisor and virtiofsd run under a seccomp filter, without new
# privileges and without the capabilities the units take away; the root is
# mounted with exactly its layers and nosuid,nodev (a mount is not rated:
# those options are what keep the guest's files inert).
#
# test-unit-security.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

vm_define sec "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min"
C systemctl daemon-reload

step "start sec"
C systemctl start vm@sec || fail "systemctl start vm@sec failed: $(C systemctl status --no-pager vm@sec)"

# exposure UNIT: the overall exposure level systemd-analyze gives the unit.
exposure() {
        local out
        out=$(C systemd-analyze security --no-pager "$1" 2>&1) || true
        sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$out" | tail -n1
}

step "systemd-analyze security"
report=
for pair in vm@sec.service:4.0 overlay-prepare@sec.service:3.5 virtiofsd@sec.service:5.0; do
        unit=${pair%:*} goal=${pair##*:}
        level=$(exposure "$unit")
        [ -n "$level" ] || fail "systemd-analyze security printed no exposure level for $unit: $(C systemd-analyze security --no-pager "$unit" 2>&1 | tail -n 5)"
        report+=" $unit=$level (goal $goal)"
        awk -v l="$level" -v g="$goal" 'BEGIN { exit !(l <= g) }' ||
                fail "$unit is rated $level, above its goal $goal: $(C systemd-analyze security --no-pager "$unit" 2>&1 | grep '✗')"
done
ok "exposure levels:$report"

# status_field PID FIELD: a field of /proc/PID/status in the container.
status_field() {
        C cat "/proc/$1/status" | awk -v f="$2:" '$1 == f { print $2 }'
}

# cap_has HEXMASK BIT
cap_has() {
        (( (16#$1 >> $2) & 1 ))
}

step "the hypervisor and virtiofsd as the kernel sees them"
launch=$(C systemctl show -P MainPID vm@sec)
qemu=$(C pgrep -P "$launch" -f qemu-system) || fail "no hypervisor below ch-launch ($launch)"
vfs=$(C systemctl show -P MainPID virtiofsd@sec.service)
[ "$vfs" -gt 0 ] || fail "virtiofsd@sec has no main process"
CAP_SYS_ADMIN=21 CAP_NET_ADMIN=12 CAP_SYS_PTRACE=19 CAP_SYS_MODULE=16
for p in "qemu:$qemu" "virtiofsd:$vfs"; do
        name=${p%%:*} pid=${p#*:}
        [ "$(status_field "$pid" Seccomp)" = 2 ] || fail "$name ($pid) runs without a seccomp filter"
        [ "$(status_field "$pid" NoNewPrivs)" = 1 ] || fail "$name ($pid) may gain privileges (NoNewPrivs is not set)"
        bnd=$(status_field "$pid" CapBnd)
        for cap in CAP_SYS_PTRACE CAP_SYS_MODULE; do
                ! cap_has "$bnd" "${!cap}" || fail "$name ($pid) has $cap in its bounding set ($bnd)"
        done
done
bnd=$(status_field "$qemu" CapBnd)
! cap_has "$bnd" $CAP_SYS_ADMIN || fail "the hypervisor has CAP_SYS_ADMIN in its bounding set ($bnd)"
lbnd=$(status_field "$launch" CapBnd)
! cap_has "$lbnd" $CAP_SYS_ADMIN || fail "ch-launch has CAP_SYS_ADMIN in its bounding set ($lbnd)"
cap_has "$lbnd" $CAP_NET_ADMIN || fail "the bounding set of vm@sec lacks CAP_NET_ADMIN, which the tap needs ($lbnd)"
ok "QEMU ($qemu, CapBnd $bnd) and virtiofsd ($vfs, CapBnd $(status_field "$vfs" CapBnd)) run under seccomp with NoNewPrivs"

# The confined overlay-prepare made the new VM's upper directory, the
# guest's "/": with the mode of the base's root, not one of its own umask.
upper_mode=$(C stat -c %a /var/lib/cowvm/vms/sec/upper) base_mode=$(C stat -c %a /var/lib/cowvm/bases/test/)
[ "$upper_mode" = "$base_mode" ] || fail "the guest's / has mode $upper_mode, the base's root $base_mode"
ok "the guest's / has the mode of the base's root ($upper_mode)"

step "the root mount"
# overlay-prepare mounts it (no unit file); systemd shows it as a mount unit
# of its own making, with nothing from a fragment.
[ -z "$(C systemctl show -P FragmentPath run-cowvm-sec-root.mount)" ] ||
        fail "run-cowvm-sec-root.mount has a unit file: $(C systemctl show -P FragmentPath run-cowvm-sec-root.mount)"
[ "$(unit_state run-cowvm-sec-root.mount)" = active ] || fail "run-cowvm-sec-root.mount is $(unit_state run-cowvm-sec-root.mount)"
opts=$(C findmnt -n -o OPTIONS /run/cowvm/sec/root)
expected="lowerdir=/var/lib/cowvm/bases/test,upperdir=/var/lib/cowvm/vms/sec/upper,workdir=/var/lib/cowvm/vms/sec/work"
grep -qF "$expected" <<<"$opts" || fail "the root of sec is mounted with other layers: $opts"
grep -qE '(^|,)nosuid(,|$)' <<<"$opts" && grep -qE '(^|,)nodev(,|$)' <<<"$opts" ||
        fail "the root of sec is mounted without nosuid,nodev: $opts"
ok "the root of sec is mounted $opts; systemd sees it as run-cowvm-sec-root.mount"

step "stop sec"
C systemctl stop vm@sec
wait_vm_gone sec
ok "vm@sec stopped, nothing left behind"

report_cgroup_trouble
echo PASS
