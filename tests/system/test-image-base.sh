#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A base imported from a disk image boots through systemd: a raw disk with an
# MBR partition table and an ext4 root partition (mkfs.ext4 -d of the busybox
# test guest, laid out as a distribution installs a kernel:
# /boot/vmlinuz-VERSION, no initramfs, an fstab naming the root by label),
# imported with `cowvm-mkbase image` on the host, is bound into the
# container as a base; a VM over it reaches ReadyOn=guest through
# `systemctl start`, booted with the kernel and the initramfs cowvm-mkbase
# installed, and `systemctl stop` powers it off cleanly, leaving nothing.
#
# test-image-base.sh BUILDDIR

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"

BUILD=$(realpath "${1:?usage: $0 BUILDDIR}")
SRC=$(realpath "$SYSTEM_TESTS/../..")
NAME=imgvm

require_root "a base's files keep their owners; systemd-nspawn"
require_cmd sfdisk fdisk
require_cmd mkfs.ext4 e2fsprogs
require_cmd fuse2fs fuse2fs
require_cmd qemu-img qemu-utils
require_cmd blkid util-linux
[ -e /dev/fuse ] || skip "no /dev/fuse: cowvm-mkbase image reads the image with fuse2fs"
[ -f "$BUILD/mkbase/cowvm-mkbase" ] && [ -x "$BUILD/mkbase/mkbase-fixup" ] ||
        fail "cowvm-mkbase is not built in $BUILD"

# ---- the image -------------------------------------------------------------------

test_base >/dev/null
WORK=$(harness_dir)
TREE=$WORK/tree
cp -a "$TEST_BASE" "$TREE"
KVER=$(ls -1 "$TREE/lib/modules")
[ "$(wc -l <<<"$KVER")" -eq 1 ] || fail "the test base has more than one kernel: $KVER"
mv "$TREE/boot/vmlinuz" "$TREE/boot/vmlinuz-$KVER"
# cowvm-mkbase brings the initramfs; the uncompressed kernel only makes the
# image bigger.
rm -f "$TREE/boot/initrd.img" "$TREE/boot/vmlinux" "$TREE/.cowvm-test-base"
cat >"$TREE/etc/fstab" <<'EOF'
LABEL=root	/	ext4	defaults	0 1
tmpfs	/tmp	tmpfs	defaults	0 0
EOF
echo "image root" >"$TREE/etc/cowvm-test-image"

DISK=$WORK/disk.raw
size_kib=$(( $(du -sk "$TREE" | cut -f1) * 3 / 2 + 16384 ))
truncate -s $(( (size_kib + 1024) * 1024 )) "$DISK"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$DISK" || fail "sfdisk failed"
mkfs.ext4 -q -L root -d "$TREE" -E offset=$((2048 * 512)) "$DISK" "${size_kib}k" || fail "mkfs.ext4 -d failed"
ok "a ${size_kib} KiB raw disk with an MBR and an ext4 root partition labelled 'root'"

# ---- the import, on the host -----------------------------------------------------

STATE=$WORK/state
t0=$EPOCHREALTIME
COWVM_STATE_DIR=$STATE COWVM_MKBASE_FIXUP=$BUILD/mkbase/mkbase-fixup COWVM_MKBASE_MKINITRD=$SRC/mkbase/mkinitrd \
        COWVM_MKBASE_OVERLAY_PREPARE=$BUILD/helpers/overlay-prepare/overlay-prepare \
        bash "$BUILD/mkbase/cowvm-mkbase" image fromimage "$DISK" >"$WORK/mkbase.log" 2>&1 ||
        fail "cowvm-mkbase image failed: $(cat "$WORK/mkbase.log")"
T_IMPORT=$(elapsed "$t0" "$EPOCHREALTIME")
BASE=$STATE/bases/fromimage
[ "$(cat "$BASE/etc/cowvm-test-image" 2>/dev/null)" = "image root" ] || fail "the base does not hold the image's root"
[ "$(readlink "$BASE/boot/vmlinuz")" = "vmlinuz-$KVER" ] || fail "/boot/vmlinuz of the base is not the image's kernel"
[ "$(readlink "$BASE/boot/initrd.img")" = initrd.img-cowvm ] || fail "/boot/initrd.img of the base is not cowvm's initramfs"
grep -qx 'myfs / virtiofs defaults 0 0' "$BASE/etc/fstab" || fail "the base's fstab has no virtio-fs root"
# The root line becomes the virtio-fs one, other disks are commented out:
# no line may mount a disk by its label.
! grep -q '^[[:space:]]*LABEL=' "$BASE/etc/fstab" || fail "the base's fstab still mounts a disk by label"
ok "cowvm-mkbase image imported it in ${T_IMPORT}s ($(du -sh "$BASE" | cut -f1))"

# ---- a VM over it, through systemd -----------------------------------------------

cowvm_boot "$BUILD" --bind-ro="$BASE:/var/lib/cowvm/bases/fromimage"
vm_define "$NAME" <<EOF
[VM]
Base=fromimage
Hypervisor=qemu
CPUs=1
Memory=256M
ReadyOn=guest
EOF
C systemctl daemon-reload

step "systemctl start vm@$NAME"
t0=$EPOCHREALTIME
C systemctl start "vm@$NAME" ||
        fail "systemctl start vm@$NAME failed: $(C systemctl status --no-pager -n 30 "vm@$NAME" 2>&1)"
T_START=$(elapsed "$t0" "$EPOCHREALTIME")
[ "$(unit_state "vm@$NAME")" = active ] || fail "vm@$NAME is $(unit_state "vm@$NAME") after start"
grep -q "Guest ready" <<<"$(C systemctl status --no-pager "vm@$NAME" 2>&1)" ||
        fail "systemctl status does not say the guest is ready"
console=$(vm_console "$NAME")
grep -q "cowvm-test-guest: booted $NAME" <<<"$console" ||
        fail "the guest's console does not show its init: $(tail -n 20 <<<"$console")"
grep -q "Linux version ${KVER//./\\.} " <<<"$console" || fail "the guest did not boot the image's kernel $KVER"
C test -f "/var/lib/cowvm/vms/$NAME/base" || fail "overlay-prepare recorded no base for $NAME"
grep -q "$(head -n1 "$BASE/etc/cowvm-base-id")" <<<"$(C cat "/var/lib/cowvm/vms/$NAME/base")" ||
        fail "the VM did not record the imported base's id: $(C cat "/var/lib/cowvm/vms/$NAME/base")"
ok "systemctl start vm@$NAME returned with the guest ready after ${T_START}s (kernel $KVER from the image)"

step "systemctl stop vm@$NAME"
C systemctl stop "vm@$NAME"
state=$(unit_state "vm@$NAME")
[ "$state" = inactive ] || fail "vm@$NAME is $state after stop, not inactive"
grep -q "cowvm-test-guest: poweroff" <<<"$(vm_console "$NAME")" ||
        fail "the guest did not power off through the ACPI button"
wait_vm_gone "$NAME"
ok "systemctl stop vm@$NAME: the guest powered off, the unit is inactive, nothing left"

report_cgroup_trouble
echo "image-base: import ${T_IMPORT}s, start ${T_START}s"
echo PASS
