#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cowvm-mkbase `tree` and `image` on inputs made here: a root tree (the
# busybox test guest of tests/guest, with Debian's real kernel and modules)
# with everything a copy can lose (setuid bits, file capabilities, hard
# links, device nodes, foreign owners, old timestamps) and what a cloud image
# brings that a VM must not have (fstab block devices, SSH host keys, a
# machine-id, cloud-init), plus symlinks that point out of the tree where
# cowvm-mkbase writes. The same tree goes in as a directory, as a raw GPT
# disk (mkfs.ext4 -d, labelled cloudimg-rootfs, beside a bigger decoy Linux
# partition) and as qcow2; each result is checked.
#
# Root only. Env: MKBASE (the script), MKBASE_FIXUP, MKBASE_MKINITRD.

set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "a base's files keep their owners"
require_cmd qemu-img qemu-utils
require_cmd sfdisk fdisk
require_cmd mkfs.ext4 e2fsprogs
require_cmd fuse2fs fuse2fs
require_cmd setcap libcap2-bin
require_cmd getcap libcap2-bin
require_cmd blkid util-linux
[ -e /dev/fuse ] || skip "no /dev/fuse"

HERE=$(dirname "$(realpath "$0")")
: "${MKBASE:?}" "${MKBASE_FIXUP:?}" "${MKBASE_MKINITRD:?}" "${MKBASE_OVERLAY_PREPARE:?}"
export COWVM_MKBASE_FIXUP=$MKBASE_FIXUP COWVM_MKBASE_MKINITRD=$MKBASE_MKINITRD
export COWVM_MKBASE_OVERLAY_PREPARE=$MKBASE_OVERLAY_PREPARE

test_base >&2
GUEST=$TEST_BASE

TMP=$(mktemp -d /var/tmp/cowvm-test-mkbase.XXXXXX)
trap 'rm -rf -- "$TMP"' EXIT
# Traversable like /var/lib/cowvm on a host: what keeps other users out of a
# base must be cowvm's own doing, not this directory's mode.
chmod 0755 "$TMP"
export COWVM_STATE_DIR=$TMP/state

# ---------------------------------------------------------------- the input tree
SRC=$TMP/src
cp -a "$GUEST" "$SRC"
KVER=$(ls -1 "$SRC/lib/modules" | head -n1)
# A distribution keeps versioned kernels; cowvm-mkbase finds them by version.
mv "$SRC/boot/vmlinuz" "$SRC/boot/vmlinuz-$KVER"
rm -f "$SRC/boot/initrd.img"
mkdir -p "$SRC"/{etc/ssh,etc/cloud,var/lib/dbus,home/user,usr/local/bin,dev}
cat >"$SRC/etc/fstab" <<'EOF'
# cloud image fstab
LABEL=cloudimg-rootfs	/	 ext4	discard,errors=remount-ro	0 1
LABEL=UEFI	/boot/efi	vfat	umask=0077	0 1
UUID=0a1b2c3d-0000-4000-8000-000000000000 /srv ext4 defaults 0 2
tmpfs /tmp tmpfs defaults 0 0
EOF
echo 0123456789abcdef0123456789abcdef >"$SRC/etc/machine-id"
echo 0123456789abcdef0123456789abcdef >"$SRC/var/lib/dbus/machine-id"
for k in rsa ecdsa ed25519; do
        echo "secret $k" >"$SRC/etc/ssh/ssh_host_${k}_key"
        echo "public $k" >"$SRC/etc/ssh/ssh_host_${k}_key.pub"
done
echo "datasource_list: [ Ec2 ]" >"$SRC/etc/cloud/cloud.cfg"
# An image's setuid-root program (a copy of id(1), so that running it
# tells its effective uid): the guest's, but never usable on the host.
cp /usr/bin/id "$SRC/usr/local/bin/suid-id"
chmod 4755 "$SRC/usr/local/bin/suid-id"
printf '#!/bin/sh\necho hi\n' >"$SRC/usr/local/bin/suid"
chmod 4755 "$SRC/usr/local/bin/suid"
ln "$SRC/usr/local/bin/suid" "$SRC/usr/local/bin/suid-link"
cp "$SRC/usr/local/bin/suid" "$SRC/usr/local/bin/pingish"
chmod 0755 "$SRC/usr/local/bin/pingish"
setcap cap_net_raw+ep "$SRC/usr/local/bin/pingish"
echo mine >"$SRC/home/user/file"
chown -R 1000:1000 "$SRC/home/user"
chmod 0700 "$SRC/home/user"
ln -s /etc/shadow "$SRC/home/user/abs-link"
chown -h 1000:1000 "$SRC/home/user/abs-link"
mknod "$SRC/dev/null" c 1 3
touch -h -d 2001-02-03 "$SRC/home/user/file"
# Where cowvm-mkbase writes, a symlink out of the tree: written through, it
# would change the host.
OUTSIDE=$TMP/outside
mkdir -p "$OUTSIDE"
echo "host file" >"$OUTSIDE/hostname"
ln -sfn "$OUTSIDE/hostname" "$SRC/etc/hostname"
ln -s "$OUTSIDE" "$SRC/etc/cowvm-base-id-dir"

as_nobody() { # as_nobody SCRIPT ARG: sh -c SCRIPT ARG as an unprivileged user
        setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c "$@"
}

check_base() { # check_base NAME WHAT
        local b=$COWVM_STATE_DIR/bases/$1 what=$2 id

        [ -d "$b" ] || fail "$what: no base $b"
        ! ls -d "$COWVM_STATE_DIR/bases/"*.tmp-* 2>/dev/null || fail "$what: a temporary directory was left"
        [ "$(cat "$OUTSIDE/hostname")" = "host file" ] || fail "$what: wrote through a symlink out of the tree"
        [ "$(stat -c %a "$b/usr/local/bin/suid")" = 4755 ] || fail "$what: setuid bit lost"
        [ "$(stat -c %i "$b/usr/local/bin/suid")" = "$(stat -c %i "$b/usr/local/bin/suid-link")" ] || fail "$what: hard link lost"
        getcap "$b/usr/local/bin/pingish" | grep -q cap_net_raw || fail "$what: file capability lost"
        [ "$(stat -c %u:%g:%a "$b/home/user")" = 1000:1000:700 ] || fail "$what: owner/mode of /home/user lost"
        [ "$(stat -c %u:%g "$b/home/user/file")" = 1000:1000 ] || fail "$what: file owner lost"
        [ "$(stat -c %Y "$b/home/user/file")" = "$(stat -c %Y "$SRC/home/user/file")" ] || fail "$what: mtime lost"
        [ "$(readlink "$b/home/user/abs-link")" = /etc/shadow ] || fail "$what: symlink changed"
        [ "$(stat -c %u "$b/home/user/abs-link")" = 1000 ] || fail "$what: symlink owner lost"
        [ "$(stat -c %F:%t:%T "$b/dev/null")" = "character special file:1:3" ] || fail "$what: device node lost"
        [ "$(stat -c %a "$b/usr/local/bin/suid-id")" = 4755 ] || fail "$what: setuid bit of suid-id lost"
        [ "$(stat -c %a "$COWVM_STATE_DIR/bases")" = 700 ] || fail "$what: bases/ is $(stat -c %a "$COWVM_STATE_DIR/bases"), other users can reach into it"
        # Through a shell: setpriv itself still has root's capabilities
        # when it resolves the path it executes.
        euid=$(as_nobody '"$0" -u' "$b/usr/local/bin/suid-id" 2>&1) || true
        [ "$euid" != 0 ] || fail "$what: the image's setuid-root binary gives a host user euid 0"
        if as_nobody 'cat "$0"' "$b/dev/null" 2>/dev/null; then
                fail "$what: a host user can open the image's device node"
        fi

        grep -qx 'myfs / virtiofs defaults 0 0' "$b/etc/fstab" || fail "$what: no virtio-fs root line in fstab"
        ! grep -qE '^[[:space:]]*(LABEL|UUID)=' "$b/etc/fstab" || fail "$what: block-device lines left in fstab"
        grep -q '^tmpfs /tmp' "$b/etc/fstab" || fail "$what: the tmpfs line of fstab was lost"
        [ -f "$b/etc/machine-id" ] && [ ! -s "$b/etc/machine-id" ] || fail "$what: /etc/machine-id is not empty"
        [ "$(readlink "$b/var/lib/dbus/machine-id")" = /etc/machine-id ] || fail "$what: dbus machine-id not a link"
        ! ls "$b"/etc/ssh/ssh_host_* 2>/dev/null || fail "$what: SSH host keys left"
        [ -f "$b/etc/cloud/cloud-init.disabled" ] || fail "$what: cloud-init not disabled"
        [ -f "$b/etc/hostname" ] && [ ! -L "$b/etc/hostname" ] || fail "$what: /etc/hostname is still a symlink"
        id=$(cat "$b/etc/cowvm-base-id")
        [[ $id =~ ^[0-9a-f]{32}-[0-9]{8}T[0-9]{6}Z$ ]] || fail "$what: bad base id '$id'"
        [ "$(readlink "$b/boot/vmlinuz")" = "vmlinuz-$KVER" ] || fail "$what: /boot/vmlinuz"
        [ "$(readlink "$b/boot/initrd.img")" = initrd.img-cowvm ] || fail "$what: /boot/initrd.img"
        zcat "$b/boot/initrd.img-cowvm" | cpio -it --quiet 2>/dev/null | grep -qx 'lib/modules/virtiofs.ko' ||
                fail "$what: the initramfs has no virtiofs.ko"
        [ "$(zcat "$b/boot/initrd.img-cowvm" | cpio -i --quiet --to-stdout lib/modules/load-order)" = \
          "virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs virtio_console" ] ||
                fail "$what: unexpected module load order"
        echo "ok: $what"
}

# ---------------------------------------------------------------- tree
bash "$MKBASE" tree fromtree "$SRC" || fail "tree import failed"
check_base fromtree "tree import"
[ -L "$SRC/etc/hostname" ] && [ -s "$SRC/etc/machine-id" ] || fail "tree import changed its source"

# ---------------------------------------------------------------- raw disk
# 1 MiB alignment: an ESP, the root (labelled), then a bigger decoy partition
# that the label must win over.
DISK=$TMP/disk.raw
truncate -s 200M "$DISK"
sfdisk -q "$DISK" <<'EOF'
label: gpt
start=2048, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
start=18432, size=143360, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
start=161792, size=245760, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
EOF
mkfs.ext4 -q -L cloudimg-rootfs -d "$SRC" -E offset=$((18432 * 512)) "$DISK" $((143360 / 2))k ||
        fail "mkfs.ext4 of the root partition"
mkdir -p "$TMP/decoy/etc"
echo decoy >"$TMP/decoy/etc/decoy"
mkfs.ext4 -q -d "$TMP/decoy" -E offset=$((161792 * 512)) "$DISK" $((245760 / 2))k || fail "mkfs.ext4 of the decoy"

bash "$MKBASE" image fromraw "$DISK" || fail "raw image import failed"
check_base fromraw "raw image import"
[ ! -e "$COWVM_STATE_DIR/bases/fromraw/etc/decoy" ] || fail "the decoy partition was imported, not the labelled root"

qemu-img convert -f raw -O qcow2 "$DISK" "$TMP/disk.qcow2"
bash "$MKBASE" image fromqcow2 "$TMP/disk.qcow2" || fail "qcow2 image import failed"
check_base fromqcow2 "qcow2 image import"

# Without a label, the largest Linux partition is taken: here the decoy,
# which has no kernel, so the import stops there and says so.
tune2fs -L "" "$DISK?offset=$((18432 * 512))" >/dev/null 2>&1 || fail "cannot clear the label"
[ -z "$(blkid -p -O $((18432 * 512)) -s LABEL -o value "$DISK")" ] || fail "the label is still there"
if out=$(bash "$MKBASE" image largest "$DISK" 2>&1); then
        fail "the decoy (no kernel) was imported"
fi
grep -q "at byte $((161792 * 512))" <<<"$out" && grep -q "has no kernel" <<<"$out" ||
        fail "without a label, the largest partition was not chosen: $out"
echo "ok: the largest Linux partition without a label"

list=$(bash "$MKBASE" list) && grep -q "^fromqcow2 " <<<"$list" || fail "list does not show the new base"
echo PASS
