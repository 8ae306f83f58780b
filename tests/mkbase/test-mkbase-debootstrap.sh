#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-mkbase-debootstrap.sh BOOT_BASE_SCRIPT
#
# `cowvm-mkbase debootstrap` of Debian 12 from the host's mirror, then the
# result booted under QEMU (boot-base.sh) with each initramfs: cowvm's
# (the default) and Debian's own. Prints how long each took.
#
# The base is kept in $COWVM_TEST_CACHE/mkbase (default
# /var/cache/cowvm-test/mkbase) and rebuilt only when cowvm-mkbase or its
# helpers changed: a debootstrap takes a minute or two and needs the mirror.
#
# Root only. Env: MKBASE, MKBASE_FIXUP, MKBASE_MKINITRD.

set -eu
set -o pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "needs root"
command -v debootstrap >/dev/null || skip "debootstrap not found (package debootstrap)"
: "${MKBASE:?}" "${MKBASE_FIXUP:?}" "${MKBASE_MKINITRD:?}" "${MKBASE_OVERLAY_PREPARE:?}"
export COWVM_MKBASE_FIXUP=$MKBASE_FIXUP COWVM_MKBASE_MKINITRD=$MKBASE_MKINITRD
export COWVM_MKBASE_OVERLAY_PREPARE=$MKBASE_OVERLAY_PREPARE
BOOT=${1:?usage: $0 BOOT_BASE_SCRIPT}

CACHE=${COWVM_TEST_CACHE:-/var/cache/cowvm-test}/mkbase
export COWVM_STATE_DIR=$CACHE/state
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9

STAMP=$(cat "$MKBASE" "$MKBASE_FIXUP" "$MKBASE_MKINITRD" | sha256sum | cut -d' ' -f1)
BASE=$COWVM_STATE_DIR/bases/debian-12
if [ -d "$BASE" ] && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$STAMP" ]; then
        echo "reusing $BASE (built by this cowvm-mkbase)"
else
        rm -f "$CACHE/stamp"
        t0=$EPOCHREALTIME
        bash "$MKBASE" debootstrap debian-12 --suite bookworm --replace || fail "cowvm-mkbase debootstrap failed"
        echo "$STAMP" >"$CACHE/stamp"
        echo "debootstrap + kernel + initramfs: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')s," \
             "base size $(du -sh --one-file-system "$BASE" | cut -f1)"
fi

# The keygen unit where config-inject writes it too, so that a VM's first
# start finds it in place (tests/inject/test-inject-after-mkbase.c).
for f in etc/cowvm-base-id boot/vmlinuz boot/initrd.img boot/initrd.img-cowvm etc/systemd/system/cowvm-ssh-keygen.service; do
        [ -e "$BASE/$f" ] || fail "the base has no /$f"
done
[ "$(readlink "$BASE/etc/systemd/system/multi-user.target.wants/cowvm-ssh-keygen.service")" = ../cowvm-ssh-keygen.service ] ||
        fail "cowvm-ssh-keygen.service is not enabled"
grep -qx 'myfs / virtiofs defaults 0 0' "$BASE/etc/fstab" || fail "fstab has no virtio-fs root"
[ ! -s "$BASE/etc/machine-id" ] || fail "the machine-id is not empty"
grep -qx virtiofs "$BASE/etc/initramfs-tools/modules" || fail "virtiofs is not in the initramfs-tools modules"
[ -x "$BASE/usr/bin/dbus-daemon" ] || fail "the base has no dbus"
KVER=$(readlink "$BASE/boot/vmlinuz")
KVER=${KVER#vmlinuz-}

"$BOOT" "$BASE" "$BASE/boot/initrd.img-cowvm" || fail "the base did not boot with cowvm's initramfs"
"$BOOT" "$BASE" "$BASE/boot/initrd.img-$KVER" || fail "the base did not boot with Debian's initramfs"
echo PASS
