#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A guest cannot fill the host's disk, nor its memory through an ephemeral
# VM's tmpfs. /var/lib/cowvm/vms is a btrfs with quotas (a loop-mounted image
# made here, bound into the container). The guest `hog` (DiskSize=64M) writes
# zeros until the kernel stops it, while `calm` runs beside it: the writer
# gets EDQUOT/ENOSPC, hog's disk holds about its limit and not more, the file
# system keeps its free space, calm is still running and another VM still
# starts. An ephemeral VM with DiskSize=32M cannot put more than that into its
# tmpfs. Where no limit can be set (another file system, an existing plain
# directory, quotas off), a VM with DiskSize= does not start and says how to
# set the host up; and no VM starts when less than MinFreeSpace= is free.
#
# test-disk-limit.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"

harness_require
require_cmd mkfs.btrfs btrfs-progs
require_cmd btrfs btrfs-progs

# ---- the host side: a 1 GiB btrfs with quotas, for the VMs' disks ----------
IMG=$(harness_dir)/vms.btrfs
MNT=$(harness_dir)/vms
truncate -s 1G "$IMG"
mkfs.btrfs -q "$IMG" >/dev/null || fail "mkfs.btrfs failed"
LOOP=$(losetup --find --show "$IMG") || skip "no loop device to be had"
# Runs after the container is gone, before the harness removes its directory.
harness_at_exit "umount '$MNT' 2>/dev/null; losetup -d '$LOOP'; rm -f '$IMG'"
mkdir -p "$MNT"
mount "$LOOP" "$MNT" || fail "could not mount the btrfs image"
btrfs quota enable "$MNT" || fail "btrfs quota enable failed"

cowvm_boot "$1" --bind="$MNT:/var/lib/cowvm/vms"

GUEST=("Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" "KernelCommandLine=no_timer_check" "TimeoutStartSec=10min" "TimeoutStopSec=5min")
MiB=$((1024 * 1024))

# Bytes free on the VMs' file system, as df (statvfs f_bavail) says.
fs_avail() {
        sync -f "$MNT"
        df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '
}

# says NAME PATTERN...: the journal of vm@NAME shows each PATTERN (fixed
# strings); journald may store the last lines a moment after the failure.
says() {
        local name=$1 p journal missing
        shift
        for _ in $(seq 1 100); do
                journal=$(C journalctl --no-pager -o cat -u "vm@$name")
                missing=
                for p in "$@"; do
                        grep -qF -- "$p" <<<"$journal" || missing=$p
                done
                [ -n "$missing" ] || return 0
                sleep 0.1
        done
        fail "the journal of vm@$name does not say '$missing':
$(tail -n 20 <<<"$journal")"
}

# The attack: write zeros to the root until the kernel says no, then report.
# shellcheck disable=SC2016 # expanded by the guest's shell
HOG='#!/bin/sh
(
        dd if=/dev/zero of=/big bs=1M 2>&1 | while read -r l; do echo "hog: $l"; done
        sync
        echo "hog: done"
) </dev/null >/dev/console 2>&1 &'

vm_define hog "${GUEST[@]}" "DiskSize=64M"
vm_define calm "${GUEST[@]}"
vm_define third "${GUEST[@]}"
C systemctl daemon-reload

step "creating hog and calm"
C systemctl start vm@hog vm@calm || fail "systemctl start vm@hog vm@calm failed: $(C systemctl status --no-pager vm@hog vm@calm)"
C systemctl stop vm@hog
wait_vm_gone hog
subvols=$(btrfs subvolume list "$MNT")
grep -q " path hog$" <<<"$subvols" || fail "hog's state directory is not a btrfs subvolume: $subvols"
grep -q " path calm$" <<<"$subvols" || fail "calm's state directory is not a btrfs subvolume (it has no DiskSize=, but must be able to get one): $subvols"
limit=$(btrfs qgroup show -re --raw "$MNT" | awk '$NF == "hog" { print $4 }')
[ "$limit" = $((64 * MiB)) ] || fail "hog's qgroup limit is '$limit', not 64M: $(btrfs qgroup show -re "$MNT")"
[ "$(C stat -c %a /var/lib/cowvm/vms/hog)" = 700 ] || fail "hog's subvolume is not root-only: $(C stat -c %a /var/lib/cowvm/vms/hog)"
ok "hog and calm have btrfs subvolumes; hog's is limited to 64M"

vm_hook hog 50-hog.sh <<<"$HOG"
avail_before=$(fs_avail)

step "hog writes until it is stopped, calm runs beside it"
C systemctl start vm@hog || fail "systemctl start vm@hog failed: $(C systemctl status --no-pager vm@hog)"
hog_done() { grep -qx "hog: done" <<<"$(vm_console_this_run "$1")"; }
harness_wait_for "the writer in hog to end" 900 hog_done hog
out=$(vm_console_this_run hog)
grep -E "^hog: .*(Disk quota exceeded|No space left on device)" <<<"$out" ||
        fail "hog's writer did not get EDQUOT or ENOSPC: $(grep "^hog:" <<<"$out")"
big=$(C stat -c %s /var/lib/cowvm/vms/hog/upper/big)
[ "$big" -le $((64 * MiB)) ] || fail "hog wrote $big bytes, more than its DiskSize=64M"
[ "$big" -ge $((32 * MiB)) ] || fail "hog's writer stopped at $big bytes, long before its limit"
used=$(C du -sb /var/lib/cowvm/vms/hog | cut -f1)
[ "$used" -le $((65 * MiB)) ] || fail "hog's disk holds $used bytes, more than its DiskSize=64M"
avail_after=$(fs_avail)
[ "$avail_after" -ge $((avail_before - 80 * MiB)) ] ||
        fail "the file system lost $(( (avail_before - avail_after) / MiB ))M to hog (from $((avail_before / MiB))M free to $((avail_after / MiB))M)"
# Far more than the host's reserve (MinFreeSpace=, 512M by default) is left.
[ "$avail_after" -ge $(( (512 + 128) * MiB)) ] || fail "only $((avail_after / MiB))M are left free"
ok "hog's writer was stopped by its limit ($(grep -m1 -E "^hog: .*(quota|space)" <<<"$out")); it holds $((big / MiB))M; $((avail_after / MiB))M of the file system are still free (was $((avail_before / MiB))M)"

[ "$(unit_state vm@calm)" = active ] || fail "vm@calm is $(unit_state vm@calm) after hog filled its disk"
C systemctl start vm@third || fail "vm@third cannot start after hog filled its disk: $(C systemctl status --no-pager vm@third)"
C sh -c 'echo still-writable > /run/cowvm/calm/root/root/after-hog' || fail "calm's disk is not writable after hog filled its own"
ok "calm is still running and writable, and third started"
C systemctl stop vm@hog vm@calm vm@third
for v in hog calm third; do wait_vm_gone "$v"; done

# A full disk is the VM's own problem: it does not start, says so, and loses
# nothing; raising DiskSize= is enough to start it again.
step "hog at its limit"
C rm /var/lib/cowvm/vms/hog/upper/etc/cowvm-test.d/50-hog.sh
start_must_fail vm@hog >/dev/null
says hog "The disk of VM 'hog' is full: it holds its DiskSize=64M. Raise DiskSize= in '/etc/cowvm/hog.vm'"
wait_vm_gone hog
vm_define hog "${GUEST[@]}" "DiskSize=128M"
C systemctl start vm@hog || fail "vm@hog does not start with DiskSize=128M: $(C systemctl status --no-pager vm@hog)"
[ "$(C stat -c %s /run/cowvm/hog/root/big)" = "$big" ] || fail "hog's /big changed across the refused start"
limit=$(btrfs qgroup show -re --raw "$MNT" | awk '$NF == "hog" { print $4 }')
[ "$limit" = $((128 * MiB)) ] || fail "hog's qgroup limit is '$limit', not 128M"
C systemctl stop vm@hog
wait_vm_gone hog
vm_define hog "${GUEST[@]}" "DiskSize=64M"
ok "hog at its limit: the start is refused with how to free it; with DiskSize=128M it starts, its files intact"

# ---- an ephemeral VM: its tmpfs holds DiskSize= and no more ------------------
# The ephemeral upper starts empty at every start, so the hook comes with a
# base of its own: a copy of the test base.
step "an ephemeral VM writes into its tmpfs"
C cp -a /var/lib/cowvm/bases/test /var/lib/cowvm/bases/hogbase
C sh -c 'cat > /var/lib/cowvm/bases/hogbase/etc/cowvm-test.d/50-hog.sh && chmod 755 /var/lib/cowvm/bases/hogbase/etc/cowvm-test.d/50-hog.sh' <<<"$HOG"
printf '%s\n' "[VM]" "Base=hogbase" "${GUEST[@]}" "Ephemeral=yes" "DiskSize=32M" | vm_define eph
C systemctl daemon-reload
C systemctl start vm@eph || fail "systemctl start vm@eph failed: $(C systemctl status --no-pager vm@eph)"
size=$(C df -B1 --output=size /run/cowvm/eph/ephemeral | tail -n 1 | tr -d ' ')
[ "$size" = $((32 * MiB)) ] || fail "the tmpfs of vm@eph has $size bytes, not DiskSize=32M"
harness_wait_for "the writer in eph to end" 600 hog_done eph
out=$(vm_console_this_run eph)
grep -E "^hog: .*(No space left on device|Disk quota exceeded)" <<<"$out" ||
        fail "eph's writer did not get ENOSPC: $(grep "^hog:" <<<"$out")"
big=$(C stat -c %s /run/cowvm/eph/ephemeral/upper/big)
[ "$big" -le $((32 * MiB)) ] || fail "eph wrote $big bytes into its tmpfs, more than its DiskSize=32M"
ok "the ephemeral VM's tmpfs is 32M; its writer stopped at $((big / MiB))M"
C systemctl stop vm@eph
wait_vm_gone eph

# ---- where no limit can be set, a VM with DiskSize= does not start -----------
step "DiskSize= on a file system that is not btrfs"
C mkdir /var/lib/cowvm/vms/elsewhere
C mount -t tmpfs -o mode=0700 tmpfs /var/lib/cowvm/vms/elsewhere
vm_define elsewhere "${GUEST[@]}" "DiskSize=64M"
C systemctl daemon-reload
start_must_fail vm@elsewhere >/dev/null
says elsewhere "VM 'elsewhere' has DiskSize=64M" "is on tmpfs, where cowvm cannot limit it" "btrfs quota enable" "HOST SETUP"
wait_vm_gone elsewhere
ok "DiskSize= on tmpfs: the start is refused, naming the VM, the file system and the host setup"

step "DiskSize= on an existing plain directory on btrfs"
C mkdir -p -m 0700 /var/lib/cowvm/vms/plain/upper/root
C sh -c 'echo mine > /var/lib/cowvm/vms/plain/upper/root/keep'
vm_define plain "${GUEST[@]}" "DiskSize=64M"
C systemctl daemon-reload
start_must_fail vm@plain >/dev/null
says plain "VM 'plain' has DiskSize=64M" "is on btrfs as a plain directory" "btrfs subvolume create /var/lib/cowvm/vms/plain" "cp -a --reflink=always"
wait_vm_gone plain
[ "$(C cat /var/lib/cowvm/vms/plain/upper/root/keep)" = mine ] || fail "the plain VM's upper layer was touched"
ok "DiskSize= on an existing plain directory: refused with how to convert it; its upper layer is untouched"

# ---- the host's reserve -------------------------------------------------------
step "MinFreeSpace= above what is free"
C sh -c 'printf "[VM]\nMinFreeSpace=100T\n" > /etc/cowvm/cowvm.conf'
start_must_fail vm@calm >/dev/null
says calm "Refusing to start VM 'calm'" "free, less than the 100T kept free for the host (MinFreeSpace= in [VM] of /etc/cowvm/cowvm.conf)"
wait_vm_gone calm
C rm /etc/cowvm/cowvm.conf
ok "MinFreeSpace=100T: the start is refused, saying what is free, what is reserved and where"

# ---- quotas off ----------------------------------------------------------------
step "quotas disabled on the file system"
btrfs quota disable "$MNT" || fail "btrfs quota disable failed"
start_must_fail vm@hog >/dev/null
says hog "VM 'hog' has DiskSize=64M, but quotas are not enabled" "btrfs quota enable /var/lib/cowvm/vms"
wait_vm_gone hog
C systemctl start vm@calm || fail "vm@calm (no DiskSize=) does not start without quotas: $(C systemctl status --no-pager vm@calm)"
C systemctl stop vm@calm
wait_vm_gone calm
ok "quotas off: hog (DiskSize=) is refused with how to enable them; calm (no DiskSize=) starts"

report_cgroup_trouble
echo PASS
