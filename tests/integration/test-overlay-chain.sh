#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-overlay-chain.sh OVERLAY-PREPARE
#
# The overlay half of a VM's life, with real overlayfs mounts in a private
# mount namespace: overlay-prepare start and mount (run by hand, it mounts
# in its caller's namespace), write as the guest would, overlay-prepare
# umount and stop; again, and the guest's file is still there. Then the refusals: a replaced base, a changed
# Base=, a mount already at the root; and an ephemeral VM that leaves nothing.
# The base path contains ',', ':', '\' and a space, which the mount options
# must survive.
set -eu

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "mounts"
private_mounts "$@"

prep=$(realpath "$1")
tmp=$(mktemp -d)
trap 'umount -R "$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
# A tmpfs of our own keeps the test off the host's filesystems entirely.
mount -t tmpfs tmpfs "$tmp"

export COWVM_DEFINITION_PATH=$tmp/etc COWVM_STATE_DIR=$tmp/state COWVM_RUNTIME_DIR=$tmp/run COWVM_LOG_TARGET=console
base="$tmp/bases/odd,name:with\\back slash"
mkdir -p "$base/sbin" "$base/boot" "$base/etc" "$tmp/etc" "$tmp/run"
cp /bin/true "$base/sbin/init"
echo kernel >"$base/boot/vmlinuz"
echo from-base >"$base/etc/motd"


define() { # NAME KEY=VALUE...
        local name=$1
        shift
        { echo "[VM]"; printf '%s\n' "$@"; } >"$tmp/etc/$name.vm"
}

mount_vm() { # NAME
        "$prep" mount "$1"
}

root=$tmp/run/web/root

define web "Base=$base"
"$prep" start web || soft_fail "first start"
[ -d "$tmp/state/vms/web/upper" ] && [ "$(stat -c %a "$tmp/state/vms/web")" = 700 ] && ok "upper created, VM dir 0700" ||
        soft_fail "upper layer not created as expected"
grep -Fxq "path=$base" "$tmp/state/vms/web/base" && ok "base recorded" || soft_fail "base not recorded"
mount_vm web && ok "mounted" || soft_fail "mount"
opts=$(findmnt -no OPTIONS "$root")
grep -qE '(^|,)nosuid(,|$)' <<<"$opts" && grep -qE '(^|,)nodev(,|$)' <<<"$opts" && ok "mounted nosuid,nodev: $opts" ||
        soft_fail "the root is mounted without nosuid,nodev: $opts"
[ "$(cat "$root/etc/motd")" = from-base ] && ok "base visible through the overlay" || soft_fail "base not visible"
echo guest-data >"$root/guest-file"
echo changed >"$root/etc/motd"
"$prep" umount web || soft_fail "umount"
"$prep" stop web || soft_fail "stop"
[ ! -e "$tmp/run/web" ] && ok "runtime directory removed at stop" || soft_fail "runtime directory left behind"

"$prep" start web || soft_fail "second start"
mount_vm web
[ "$(cat "$root/guest-file" 2>/dev/null)" = guest-data ] && [ "$(cat "$root/etc/motd")" = changed ] &&
        ok "the guest's changes survive a restart" || soft_fail "guest changes lost"
[ "$(cat "$base/etc/motd")" = from-base ] && ok "the base is untouched" || soft_fail "the base was written to"

# A mount at the root already: stop must not touch it, start must refuse.
out=$("$prep" stop web 2>&1) && soft_fail "stop with the root still mounted succeeded" ||
        { grep -q "still mounted" <<<"$out" && ok "stop refuses while the root is mounted"; }
[ -f "$root/guest-file" ] || soft_fail "stop removed files under a mounted root"
out=$("$prep" start web 2>&1) && soft_fail "start over a mounted root succeeded" ||
        { grep -q "still mounted" <<<"$out" && ok "start refuses a stale mount: $(tail -n1 <<<"$out")"; }
umount "$root"
mkdir -p "$root" && mount -t tmpfs foreign "$root"
out=$("$prep" start web 2>&1) && soft_fail "start over a foreign mount succeeded" ||
        { grep -q "Something else is mounted" <<<"$out" && ok "start refuses a foreign mount"; }
umount "$root"

# The base replaced under the VM: refused, and the upper layer is kept.
mv "$base" "$base.orig" && cp -a "$base.orig" "$base"
out=$("$prep" start web 2>&1) && soft_fail "start over a replaced base succeeded" ||
        { grep -q "has changed since the VM was created" <<<"$out" && ok "replaced base refused: $(tail -n1 <<<"$out")"; }
[ -f "$tmp/state/vms/web/upper/guest-file" ] && ok "upper layer kept" || soft_fail "upper layer touched"
rm -rf "$base" && mv "$base.orig" "$base"
"$prep" start web 2>/dev/null && ok "original base restored: starts again" || soft_fail "restored base refused"
"$prep" stop web

# Base= pointed elsewhere for an existing VM: refused.
mkdir -p "$tmp/bases/other/sbin" "$tmp/bases/other/boot"
cp /bin/true "$tmp/bases/other/sbin/init" && echo k >"$tmp/bases/other/boot/vmlinuz"
define web "Base=$tmp/bases/other"
out=$("$prep" start web 2>&1) && soft_fail "start with a changed Base= succeeded" ||
        { grep -q "now says Base=" <<<"$out" && ok "changed Base= refused"; }

# A base that cannot boot, and an undefined VM.
define broken "Base=$tmp/bases/empty"
mkdir -p "$tmp/bases/empty"
out=$("$prep" start broken 2>&1) && soft_fail "start of a base without init succeeded" ||
        { grep -q "has no executable /sbin/init" <<<"$out" && ok "base without init refused"; }
out=$("$prep" start ghost 2>&1) && soft_fail "start of an undefined VM succeeded" ||
        { grep -q "is not defined: no definition at" <<<"$out" && ok "undefined VM refused: $out"; }
[ ! -e "$tmp/state/vms/ghost" ] && [ ! -e "$tmp/run/ghost" ] && ok "nothing created for it" ||
        soft_fail "an undefined VM left state behind"

# Ephemeral: a fresh tmpfs each start, nothing left after stop.
define scratch "Base=$base" "Ephemeral=yes"
"$prep" start scratch || soft_fail "ephemeral start"
mount_vm scratch
echo tmp >"$tmp/run/scratch/root/junk"
"$prep" umount scratch || soft_fail "ephemeral umount"
"$prep" stop scratch || soft_fail "ephemeral stop"
[ ! -e "$tmp/run/scratch" ] && [ ! -e "$tmp/state/vms/scratch" ] && ok "ephemeral VM left nothing behind" ||
        soft_fail "ephemeral VM left state: $(find "$tmp/run/scratch" "$tmp/state/vms/scratch" 2>/dev/null)"
"$prep" start scratch && mount_vm scratch
[ ! -e "$tmp/run/scratch/root/junk" ] && ok "ephemeral VM starts from the base again" || soft_fail "ephemeral data survived"
"$prep" umount scratch && "$prep" stop scratch

soft_failures_exit
echo PASS
