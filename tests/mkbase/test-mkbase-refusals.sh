#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What cowvm-mkbase must refuse, each with a message that says why, and
# never leaving anything half-made under $COWVM_STATE_DIR/bases: not root,
# a bad name, an existing base, a base VMs use (replace and remove), a
# missing qemu-img, images that are corrupt, in an unsupported format, with
# a backing file, without a Linux partition or with a non-ext root, and a
# full disk.
#
# Root only (it drops privileges for the first case). Env: MKBASE,
# MKBASE_FIXUP, MKBASE_MKINITRD, MKBASE_OVERLAY_PREPARE.

set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "it drops privileges for the first case"
require_cmd qemu-img qemu-utils
require_cmd sfdisk fdisk
require_cmd mkswap util-linux
require_cmd setpriv util-linux
: "${MKBASE:?}" "${MKBASE_FIXUP:?}" "${MKBASE_MKINITRD:?}" "${MKBASE_OVERLAY_PREPARE:?}"
export COWVM_MKBASE_FIXUP=$MKBASE_FIXUP COWVM_MKBASE_MKINITRD=$MKBASE_MKINITRD
export COWVM_MKBASE_OVERLAY_PREPARE=$MKBASE_OVERLAY_PREPARE

TMP=$(mktemp -d /var/tmp/cowvm-test-mkbase.XXXXXX)
cleanup() {
        umount "$TMP/small" 2>/dev/null || true
        rm -rf -- "$TMP"
}
trap cleanup EXIT
chmod 0755 "$TMP"
export COWVM_STATE_DIR=$TMP/state
BASES=$COWVM_STATE_DIR/bases

# expect_refusal PATTERN COMMAND...: COMMAND fails, says PATTERN, leaves no
# temporary directory behind.
expect_refusal() {
        local pattern=$1 out
        shift
        if out=$("$@" 2>&1); then
                fail "'$*' succeeded; expected a refusal saying '$pattern'"
        fi
        grep -q -- "$pattern" <<<"$out" || fail "'$*' said:
$out
expected: '$pattern'"
        ! ls -d "$BASES"/*.tmp-* 2>/dev/null || fail "'$*' left a temporary directory"
        echo "ok: refused '$pattern'"
}

# A small tree that makes a valid base (a kernel and modules.dep are all
# cowvm-mkbase needs to find; the modules are placeholders, never loaded).
SRC=$TMP/src
KVER=6.1.0-0-test
mkdir -p "$SRC"/{etc,boot,sbin,lib/modules/$KVER/kernel/fs/fuse,lib/modules/$KVER/kernel/drivers/virtio}
echo placeholder >"$SRC/boot/vmlinuz-$KVER"
for m in fs/fuse/fuse fs/fuse/virtiofs drivers/virtio/virtio drivers/virtio/virtio_ring \
         drivers/virtio/virtio_pci drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci_modern_dev \
         drivers/char/virtio_console; do
        mkdir -p "$(dirname "$SRC/lib/modules/$KVER/kernel/$m")"
        echo "placeholder $m" >"$SRC/lib/modules/$KVER/kernel/$m.ko"
done
cat >"$SRC/lib/modules/$KVER/modules.dep" <<'EOF'
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/fuse/fuse.ko:
kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
EOF
echo "LABEL=root / ext4 defaults 0 1" >"$SRC/etc/fstab"

# As nobody, the program runs from a copy in $TMP: the build tree may sit
# below a directory only its owner can enter, and a refusal to read the
# script is not the refusal tested here.
cp "$MKBASE" "$TMP/cowvm-mkbase"
chmod 0755 "$TMP/cowvm-mkbase"
as_nobody() {
        (cd "$TMP" && setpriv --reuid=65534 --regid=65534 --clear-groups "$@")
}
expect_refusal "must be run as root" as_nobody bash "$TMP/cowvm-mkbase" tree b1 "$SRC"
expect_refusal "invalid base name" bash "$MKBASE" tree ../evil "$SRC"
expect_refusal "invalid base name" bash "$MKBASE" tree "x.tmp-1" "$SRC"
expect_refusal "is not a directory" bash "$MKBASE" tree b1 "$TMP/nonexistent"
mkdir -p "$TMP/nokernel/etc"
expect_refusal "has no kernel" bash "$MKBASE" tree b1 "$TMP/nokernel"

bash "$MKBASE" tree b1 "$SRC" >/dev/null 2>&1 || fail "the valid tree was refused"
[ "$(cat "$BASES/b1/lib/modules/$KVER/modules.dep" | wc -l)" -gt 0 ] || fail "b1 incomplete"
expect_refusal "already exists; pass --replace" bash "$MKBASE" tree b1 "$SRC"
bash "$MKBASE" tree b1 "$SRC" --replace >/dev/null 2>&1 || fail "--replace of an unused base failed"

# A VM created over b1: overlay-prepare's record.
mkdir -p "$COWVM_STATE_DIR/vms/web/upper"
printf '# comment\npath=%s\nid=%s\n' "$BASES/b1" "$(cat "$BASES/b1/etc/cowvm-base-id")" >"$COWVM_STATE_DIR/vms/web/base"
id_before=$(cat "$BASES/b1/etc/cowvm-base-id")
expect_refusal "used by the VM(s): web.*e.g. 'b1-2'" bash "$MKBASE" tree b1 "$SRC" --replace
expect_refusal "used by the VM(s): web" bash "$MKBASE" remove b1
[ "$(cat "$BASES/b1/etc/cowvm-base-id")" = "$id_before" ] || fail "a used base was changed"
list=$(bash "$MKBASE" list) && grep -q "^b1 .*web" <<<"$list" || fail "list does not show that web uses b1"
# A VM whose Base= is a path that resolves to b1 uses it too.
ln -s "$BASES/b1" "$TMP/b1-link"
mkdir -p "$COWVM_STATE_DIR/vms/api/upper"
printf 'path=%s\nid=%s\n' "$TMP/b1-link" "$id_before" >"$COWVM_STATE_DIR/vms/api/base"
expect_refusal "used by the VM(s): api web" bash "$MKBASE" remove b1
rm -rf "$COWVM_STATE_DIR/vms/web" "$COWVM_STATE_DIR/vms/api"
bash "$MKBASE" remove b1 >/dev/null 2>&1 || fail "remove of an unused base failed"
[ ! -e "$BASES/b1" ] || fail "b1 still exists after remove"
expect_refusal "there is no base 'b1'" bash "$MKBASE" remove b1

# ---------------------------------------------------------------- images
# Without qemu-img: a PATH of everything else.
mkdir -p "$TMP/bin"
for f in /usr/local/sbin/* /usr/local/bin/* /usr/sbin/* /usr/bin/* /sbin/* /bin/*; do
        [ "$(basename "$f")" = qemu-img ] || ln -sf "$f" "$TMP/bin/" 2>/dev/null || true
done
rm -f "$TMP/bin/qemu-img"
expect_refusal "qemu-img not found; install the package 'qemu-utils'" env PATH="$TMP/bin" bash "$MKBASE" image i1 /dev/null

head -c 4M /dev/urandom >"$TMP/garbage.raw"
expect_refusal "no filesystem found\|cannot read the partition table" bash "$MKBASE" image i1 "$TMP/garbage.raw"
printf 'QFI\xfb' >"$TMP/trunc.qcow2"
head -c 100 /dev/urandom >>"$TMP/trunc.qcow2"
expect_refusal "not a disk image qemu-img can read\|only qcow2 and raw" bash "$MKBASE" image i1 "$TMP/trunc.qcow2"
qemu-img create -q -f vmdk "$TMP/x.vmdk" 16M
expect_refusal "is a 'vmdk' image; only qcow2 and raw" bash "$MKBASE" image i1 "$TMP/x.vmdk"
qemu-img create -q -f qcow2 "$TMP/backing.qcow2" 16M
qemu-img create -q -f qcow2 -F qcow2 -b "$TMP/backing.qcow2" "$TMP/overlay.qcow2"
expect_refusal "refers to a backing or data file" bash "$MKBASE" image i1 "$TMP/overlay.qcow2"

truncate -s 32M "$TMP/nolinux.raw"
printf 'label: gpt\nstart=2048, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q "$TMP/nolinux.raw"
expect_refusal "no Linux partition" bash "$MKBASE" image i1 "$TMP/nolinux.raw"

truncate -s 32M "$TMP/swap.raw"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$TMP/swap.raw"
dd if=/dev/zero of="$TMP/swap.part" bs=1M count=30 status=none
mkswap -q "$TMP/swap.part"
dd if="$TMP/swap.part" of="$TMP/swap.raw" bs=512 seek=2048 conv=notrunc status=none
expect_refusal "root filesystem of .* is swap; only ext2/3/4" bash "$MKBASE" image i1 "$TMP/swap.raw"

# ---------------------------------------------------------------- a full disk
mkdir -p "$TMP/small" "$TMP/big"
mount -t tmpfs -o size=4m tmpfs "$TMP/small"
cp -a "$SRC/." "$TMP/big/"
head -c 8M /dev/urandom >"$TMP/big/blob"
COWVM_STATE_DIR=$TMP/small expect_refusal "is full" bash "$MKBASE" tree b2 "$TMP/big"
[ -z "$(ls -A "$TMP/small/bases")" ] || fail "a full disk left something in $TMP/small/bases: $(ls -A "$TMP/small/bases")"
echo PASS
