#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A VM's layers through the real systemd (cowvm(1), docs/layers.md): a
# snapshot keeps the disk as a read-only layer; what the guest deletes and
# writes afterwards is undone by a reset to it, seen from the guest at its
# next boot and from the host; a commit publishes the layers as a base from
# which two new VMs boot with the committed files but their own identity;
# a base others stand on cannot be removed; a running VM is not touched;
# Base= of a VM with snapshots cannot change under them; a chain of 50
# snapshots boots.
#
# test-layers.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"
cowvm_boot "$1"

VM_KEYS=("Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min")

start_vm() {
        C systemctl start "vm@$1" || fail "systemctl start vm@$1 failed: $(C systemctl status --no-pager "vm@$1")"
}
stop_vm() {
        C systemctl stop "vm@$1"
        wait_vm_gone "$1"
}
# The hook's line of this run of VM $1.
hook_line() {
        local out
        out=$(vm_console_this_run "$1")
        grep "^hook: " <<<"$out" | tail -n1
}
wait_hook() {
        have_hook() { [ -n "$(hook_line "$1")" ]; }
        harness_wait_for "the hook's line of $1" 180 have_hook "$1"
        hook_line "$1"
}

# The hook: on a boot where the host left /root/phase2, the guest deletes
# the file it wrote on its first boot and writes another one; then it says
# what it sees.
HOOK='#!/bin/sh
# What is typed on the serial console comes back marked: cowvm console.
(while read -r l; do echo "console-echo: $l"; done </dev/console >/dev/console 2>&1) &
if [ -e /root/phase2 ]; then
        rm -f /root/first
        echo two > /root/second
elif [ ! -e /root/first ] && [ ! -e /root/second ]; then
        echo one > /root/first
        # What a commit strips from the layer, pointed at the host: resolved
        # inside the layer, these reach nothing of the host.
        mkdir -p /home
        ln -s /../../../../../../../../var/lib/cowvm/canary /home/evil
        ln -s /../../../../../../../../var/lib/cowvm/canary-ssh /etc/ssh
        ln -s /../../../../../../../../var/lib/cowvm/canary-ssh/ssh_host_key /root/.ssh 2>/dev/null || true
fi
n=0
for f in /root/layer-*; do [ -e "$f" ] && n=$((n + 1)); done
sync
echo "hook: first=$(cat /root/first 2>/dev/null || echo none) second=$(cat /root/second 2>/dev/null || echo none) layers=$n host=$(hostname) mid=$(cat /etc/machine-id)"
'

step "creating la"
vm_define la "${VM_KEYS[@]}"
start_vm la
stop_vm la
C mkdir -p /var/lib/cowvm/vms/la/upper/etc/cowvm-test.d
C sh -c 'cat > /var/lib/cowvm/vms/la/upper/etc/cowvm-test.d/50-layers.sh && chmod 755 /var/lib/cowvm/vms/la/upper/etc/cowvm-test.d/50-layers.sh' <<<"$HOOK"

step "first boot: the guest writes /root/first"
start_vm la
line=$(wait_hook la)
[[ $line == "hook: first=one second=none "* ]] || fail "first boot of la: $line"
mid_la=${line##* mid=}
stop_vm la

step "snapshot s1"
out=$(C cowvm snapshot la s1 2>&1) || fail "cowvm snapshot la s1 failed: $out"
C test -f /var/lib/cowvm/vms/la/layers/1/root/first || fail "layer 1 of la does not hold /root/first"
[ -z "$(C find /var/lib/cowvm/vms/la/upper -mindepth 1)" ] || fail "la's new upper is not empty: $(C find /var/lib/cowvm/vms/la/upper)"
[ -z "$(C find /var/lib/cowvm/vms/la/work -mindepth 1)" ] || fail "la's work directory is not empty"
[ "$(C stat -c %a:%u:%g /var/lib/cowvm/vms/la/upper)" = "$(C stat -c %a:%u:%g /var/lib/cowvm/vms/la/layers/1)" ] ||
        fail "la's new upper does not have the mode and owner of the old one"
snaps=$(C cowvm snapshots la)
grep -q "^1 *s1 " <<<"$snaps" || fail "cowvm snapshots la does not list s1: $snaps"
ok "cowvm snapshot: the disk became layer 1, la goes on with an empty upper"

step "second boot: the guest deletes /root/first, writes /root/second"
C mkdir -p /var/lib/cowvm/vms/la/upper/root
C touch /var/lib/cowvm/vms/la/upper/root/phase2
start_vm la
line=$(wait_hook la)
[[ $line == "hook: first=none second=two "* ]] || fail "second boot of la: $line"
# The deletion of a file of a lower layer is a whiteout in the upper.
[ "$(C stat -c %F:%t:%T /var/lib/cowvm/vms/la/upper/root/first)" = "character special file:0:0" ] ||
        fail "no whiteout of /root/first in la's upper: $(C stat -c %F /var/lib/cowvm/vms/la/upper/root/first 2>&1)"

step "a running VM is not snapshotted, reset or committed"
for cmd in "snapshot la" "reset la s1" "commit la nope"; do
        # shellcheck disable=SC2086
        if out=$(C cowvm $cmd 2>&1); then fail "cowvm $cmd succeeded on a running VM"; fi
        grep -qF "VM la is running; stop it first: systemctl stop vm@la" <<<"$out" || fail "cowvm $cmd: $out"
done
[ "$(C cat /var/lib/cowvm/vms/la/upper/root/second)" = two ] || fail "la's upper changed"
[ "$(unit_state vm@la)" = active ] || fail "vm@la is $(unit_state vm@la) after the refused commands"
ok "cowvm snapshot/reset/commit refuse the running la, which runs on, its disk untouched"

# cowvm console: a line typed reaches the guest's serial console and its
# answer comes back; from a pipe the command ends with its input, on a
# terminal (script(1)'s pty) at Ctrl-], restoring the terminal.
step "cowvm console la"
# shellcheck disable=SC2016 # expanded in the container
C sh -c '{ echo piped-probe; i=0; until grep -q "console-echo: piped-probe" /tmp/console.out 2>/dev/null ||
        [ $((i += 1)) -gt 600 ]; do sleep 0.1; done; } | cowvm console la >/tmp/console.out 2>/tmp/console.err' ||
        fail "cowvm console la (piped) failed: $(C cat /tmp/console.err)"
C grep -q "console-echo: piped-probe" /tmp/console.out || fail "no answer through cowvm console: $(C cat /tmp/console.out)"
C grep -q "Left the console of VM la" /tmp/console.err || fail "cowvm console did not say it left: $(C cat /tmp/console.err)"
# shellcheck disable=SC2016
C sh -c '{ printf "tty-probe\r"; i=0; until grep -q "console-echo: tty-probe" /tmp/console.tty 2>/dev/null ||
        [ $((i += 1)) -gt 600 ]; do sleep 0.1; done; printf "\035"; } |
        script -qefc "cowvm console la" /tmp/console.tty >/dev/null' ||
        fail "cowvm console la on a terminal failed: $(C cat /tmp/console.tty)"
C grep -q "console-echo: tty-probe" /tmp/console.tty || fail "no answer on the terminal: $(C cat /tmp/console.tty)"
C grep -q "Left the console of VM la" /tmp/console.tty || fail "Ctrl-] did not leave the console: $(C cat /tmp/console.tty)"
[ "$(unit_state vm@la)" = active ] || fail "vm@la is $(unit_state vm@la) after the console sessions"
ok "cowvm console: typed lines reach la's serial console and its answers come back; Ctrl-] leaves a terminal session"
stop_vm la

step "Base= of a VM with snapshots cannot change"
C ln -s test /var/lib/cowvm/bases/test-alias
C sed -i 's/^Base=test$/Base=test-alias/' /etc/cowvm/la.vm
out=$(start_must_fail vm@la)
grep -q "has 1 snapshot(s) over base" <<<"$out$(C journalctl --no-pager -o cat -u overlay-prepare@la)" ||
        fail "changing Base= of la was not refused with its snapshots named: $out"
C sed -i 's/^Base=test-alias$/Base=test/' /etc/cowvm/la.vm
C systemctl reset-failed
wait_vm_gone la
ok "Base= of la (1 snapshot) cannot change: refused naming reset and commit"

step "reset to s1"
out=$(C cowvm reset la s1 2>&1) || fail "cowvm reset la s1 failed: $out"
C test ! -e /var/lib/cowvm/vms/la/upper/root || fail "la's upper still holds /root after the reset"
# The discarded layers are deleted after the command, while the VM can start.
trash_gone() { [ -z "$(C sh -c 'ls -d /var/lib/cowvm/vms/la/trash.* 2>/dev/null')" ]; }
harness_wait_for "deletion of the trash of the reset" 60 trash_gone
start_vm la
line=$(wait_hook la)
[[ $line == "hook: first=one second=none "* ]] || fail "boot of la after the reset: $line"
C test -f /run/cowvm/la/root/root/first || fail "the host does not see /root/first in la's root"
C test ! -e /run/cowvm/la/root/root/second || fail "the host still sees /root/second in la's root"
ok "cowvm reset la s1: the guest finds /root/first again and no /root/second (and so does the host)"
stop_vm la

step "commit la as base lbase"
C mkdir -p /var/lib/cowvm/canary/.ssh /var/lib/cowvm/canary-ssh
C sh -c 'echo host > /var/lib/cowvm/canary/.ssh/authorized_keys; echo host > /var/lib/cowvm/canary-ssh/ssh_host_key'
C test -L /var/lib/cowvm/vms/la/layers/1/home/evil || fail "the guest's symlink /home/evil is not in la's layer"
out=$(C cowvm commit la lbase 2>&1) || fail "cowvm commit la lbase failed: $out"
C test -f /var/lib/cowvm/canary/.ssh/authorized_keys || fail "the commit removed the host's canary/.ssh/authorized_keys through the guest's symlink"
C test -f /var/lib/cowvm/canary-ssh/ssh_host_key || fail "the commit removed the host's canary-ssh/ssh_host_key through the guest's symlink"
ok "the guest's symlinks /home/evil and /etc/ssh into the host's files: the commit removed nothing of the host"
C test -d /var/lib/cowvm/bases/lbase.s1 || fail "no intermediate base lbase.s1"
[ "$(C cat /var/lib/cowvm/bases/.lbase.s1.parent)" = test ] || fail "lbase.s1 does not stand on test"
[ "$(C cat /var/lib/cowvm/bases/.lbase.parent)" = lbase.s1 ] || fail "lbase does not stand on lbase.s1"
C grep -qx "Base=lbase" /etc/cowvm/la.vm || fail "la's definition does not say Base=lbase: $(C cat /etc/cowvm/la.vm)"
for f in etc/hostname etc/machine-id; do
        for b in lbase lbase.s1; do
                C test ! -e "/var/lib/cowvm/bases/$b/$f" || fail "base $b kept la's /$f"
        done
done
# Before la ever starts over it, lbase is la's.
out=$(C cowvm-mkbase remove lbase 2>&1) && fail "cowvm-mkbase remove lbase succeeded right after the commit"
grep -q "used by the VM(s): la" <<<"$out" || fail "removal of lbase right after the commit: $out"
list=$(C cowvm-mkbase list)
grep -q "^    lbase " <<<"$list" || fail "cowvm-mkbase list does not show lbase below lbase.s1: $list"
ok "cowvm commit: bases lbase.s1 (on test) and lbase (on lbase.s1), la's identity files not in them"

step "two new VMs from lbase"
for v in lb1 lb2; do
        printf '%s\n' "[VM]" "Base=lbase" "${VM_KEYS[@]}" | C sh -c "cat > /etc/cowvm/$v.vm"
done
mids=()
for v in lb1 lb2; do
        start_vm $v
        line=$(wait_hook $v)
        [[ $line == "hook: first=one second=none layers=0 host=$v mid="* ]] || fail "first boot of $v: $line"
        mids+=("${line##* mid=}")
        [ "$(C cat /var/lib/cowvm/vms/$v/upper/etc/hostname)" = $v ] || fail "$v has not its own /etc/hostname"
        stop_vm $v
done
[ "${mids[0]}" != "${mids[1]}" ] && [ "${mids[0]}" != "$mid_la" ] && [ "${mids[1]}" != "$mid_la" ] ||
        fail "machine ids not distinct: la $mid_la, lb1 ${mids[0]}, lb2 ${mids[1]}"
start_vm la
line=$(wait_hook la)
[[ $line == "hook: first=one second=none layers=0 host=la mid=$mid_la" ]] || fail "la over lbase: $line"
stop_vm la
ok "lb1 and lb2 boot from lbase with /root/first, each with its own hostname and machine id; la goes on over lbase"

step "bases others stand on are not removed"
out=$(C cowvm-mkbase remove lbase 2>&1) && fail "cowvm-mkbase remove lbase succeeded"
grep -q "used by the VM(s): la lb1 lb2" <<<"$out" || fail "removal of lbase: $out"
out=$(C cowvm-mkbase remove lbase.s1 2>&1) && fail "cowvm-mkbase remove lbase.s1 succeeded"
grep -q "is the parent of the base(s): lbase" <<<"$out" || fail "removal of lbase.s1: $out"
C test -d /var/lib/cowvm/bases/lbase.s1 -a -d /var/lib/cowvm/bases/lbase || fail "a base went missing"
ok "cowvm-mkbase refuses to remove lbase (VMs la lb1 lb2) and lbase.s1 (the parent of lbase)"

step "a chain of 50 snapshots"
vm_define lc "${VM_KEYS[@]}"
start_vm lc
stop_vm lc
C mkdir -p /var/lib/cowvm/vms/lc/upper/etc/cowvm-test.d
C sh -c 'cat > /var/lib/cowvm/vms/lc/upper/etc/cowvm-test.d/50-layers.sh && chmod 755 /var/lib/cowvm/vms/lc/upper/etc/cowvm-test.d/50-layers.sh' <<<"$HOOK"
C sh -ec 'for i in $(seq 1 50); do
        mkdir -p /var/lib/cowvm/vms/lc/upper/root
        echo $i > /var/lib/cowvm/vms/lc/upper/root/layer-$i
        cowvm snapshot lc 2>/dev/null
done'
[ "$(C sh -c 'ls /var/lib/cowvm/vms/lc/layers | wc -l')" = 50 ] || fail "lc does not have 50 layers"
start_vm lc
options=$(C findmnt -n -o OPTIONS /run/cowvm/lc/root)
lowerdir=$(sed 's/.*lowerdir=\([^,]*\).*/\1/' <<<"$options")
lowers=$(tr ':' '\n' <<<"$lowerdir" | wc -l)
[ "$lowers" = 51 ] || fail "the root of lc is mounted with $lowers lower layers, not 51: $options"
line=$(wait_hook lc)
# Every layer's file, and the first boot's file, which a reset never touched.
[[ $line == "hook: first=one second=none layers=50 "* ]] || fail "lc with 50 snapshots: $line"
ok "lc boots over 50 snapshot layers, its mount options ${#options} bytes (page: 4096), and sees all 50 layers' files"
stop_vm lc

step "reset to the pristine base"
out=$(C cowvm reset lc 2>&1) || fail "cowvm reset lc failed: $out"
[ -z "$(C sh -c 'ls /var/lib/cowvm/vms/lc/layers')" ] || fail "lc still has layers"
[ -z "$(C find /var/lib/cowvm/vms/lc/upper -mindepth 1)" ] || fail "lc's upper is not empty"
[ "$(C cowvm snapshots lc | grep -c '^[0-9]')" = 0 ] || fail "cowvm snapshots lc still lists snapshots"
ok "cowvm reset lc: no layer left, an empty upper over the base"

step "a listed layer missing"
C mkdir /var/lib/cowvm/vms/lc/layers/1
C sh -c 'echo "1 0 byhand" > /var/lib/cowvm/vms/lc/snapshots; echo "2 0 gone" >> /var/lib/cowvm/vms/lc/snapshots'
out=$(start_must_fail vm@lc)
grep -q "Snapshot layer '/var/lib/cowvm/vms/lc/layers/2' of VM 'lc' is listed" <<<"$out$(C journalctl --no-pager -o cat -u overlay-prepare@lc)" ||
        fail "a missing layer of lc was not refused: $out"
C systemctl reset-failed
wait_vm_gone lc
C rm /var/lib/cowvm/vms/lc/snapshots
C rmdir /var/lib/cowvm/vms/lc/layers/1
ok "a listed layer that is missing is refused at start, naming the fix"

list=$(C cowvm list)
grep -q "^la .* lbase<lbase.s1<test " <<<"$list" || fail "cowvm list does not show la's chain: $list"
grep -q "^lc .*inactive" <<<"$list" || fail "cowvm list does not show lc inactive: $list"
ok "cowvm list shows each VM's state and chain"

report_cgroup_trouble
echo PASS
