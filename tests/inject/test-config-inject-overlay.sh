#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The real config-inject on a real overlay, mounted the way the generated
# mount unit does (lowerdir=base, upperdir=, workdir=, the same flags), in a
# private mount namespace with the state and runtime directories moved into
# a tmpfs by the environment overrides. Checks what lands in the upper layer,
# that the base is untouched, that a second run writes nothing, and that the
# helper refuses a root that is not the VM's overlay.
#
# Usage: test-config-inject-overlay.sh CONFIG_INJECT
set -eu

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

CI=$(realpath "$1")

require_root "mounts an overlay"
private_mounts "$@"

W=$(mktemp -d /tmp/cowvm-inject-ovl-XXXXXX)
trap 'umount -R "$W" 2>/dev/null || true; rm -rf "$W"' EXIT
mount -t tmpfs tmpfs "$W"

export COWVM_DEFINITION_PATH=$W/defs COWVM_STATE_DIR=$W/state COWVM_RUNTIME_DIR=$W/run COWVM_LOG_TARGET=console
BASE=$W/state/bases/deb
UPPER=$W/state/vms/vm1/upper
WORK=$W/state/vms/vm1/work
ROOT=$W/run/vm1/root
# The options of the generated mount unit (lib/overlay-util.h OVERLAY_MOUNT_FLAGS).
FLAGS=index=on,nfs_export=on,xino=auto


# A small Debian-like base.
mkdir -p "$BASE"/{etc/ssh,root,home,usr/lib/systemd/system,usr/sbin,usr/bin} "$W/defs" "$UPPER" "$WORK" "$ROOT" "$W/outside"
ln -s usr/lib "$BASE/lib"
printf 'root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/bash\n' >"$BASE/etc/passwd"
printf 'root:*:19500:0:99999:7:::\nuser:!:19500:0:99999:7:::\n' >"$BASE/etc/shadow"
chmod 0640 "$BASE/etc/shadow"
printf '127.0.0.1\tlocalhost\n' >"$BASE/etc/hosts"
printf 'debian\n' >"$BASE/etc/hostname"
printf 'UUID=abcd / ext4 errors=remount-ro 0 1\nUUID=ef01 none swap sw 0 0\n' >"$BASE/etc/fstab"
: >"$BASE/usr/lib/systemd/systemd"
: >"$BASE/usr/lib/systemd/system/systemd-networkd.service"
: >"$BASE/usr/sbin/sshd"
: >"$BASE/etc/ssh/sshd_config"
echo "BASE KEY" >"$BASE/etc/ssh/ssh_host_ed25519_key"
echo "ssh-ed25519 AAAABASE" >"$BASE/etc/ssh/ssh_host_ed25519_key.pub"
echo "sentinel" >"$W/outside/keep"

cat >"$W/defs/vm1.vm" <<EOT
[VM]
Base=deb
[Guest]
PasswordHash=\$6\$saltsalt\$0123456789abcdefABCDEF./
SSHAuthorizedKey=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one@host
[Network]
Address=192.168.10.2/24
Gateway=192.168.10.1
EOT

tree_state() { (cd "$1" && find . -printf '%p %y %m %U:%G %s %i %l\n' | sort && find . -type f -exec sha256sum {} + | sort); }
base_before=$(tree_state "$BASE")
outside_before=$(tree_state "$W/outside")
host_before=$(sha256sum /etc/passwd /etc/shadow /etc/hostname /etc/hosts /etc/fstab 2>/dev/null)

run() { timeout 60 "$CI" "$@" 2>"$W/log"; }

# 1. Nothing mounted: refuse, write nothing into the bare mount point.
if run vm1; then fail "config-inject wrote into an unmounted root"; fi
grep -q "is not mounted as the VM's overlay" "$W/log" || { cat "$W/log"; fail "no clear refusal for a bare mount point"; }
[ -z "$(ls -A "$ROOT")" ] || fail "the bare mount point was written to"
ok "refuses a bare mount point"

# 2. A tmpfs there: not an overlay.
mount -t tmpfs tmpfs "$ROOT"
if run vm1; then fail "config-inject accepted a tmpfs root"; fi
grep -q "it is not an overlay filesystem" "$W/log" || { cat "$W/log"; fail "no clear refusal for a tmpfs"; }
umount "$ROOT"
ok "refuses a tmpfs"

# 3. An overlay with someone else's upper layer.
mkdir -p "$W/other/upper" "$W/other/work"
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$W/other/upper,workdir=$W/other/work,$FLAGS" "$ROOT"
if run vm1; then fail "config-inject accepted another upper layer"; fi
grep -q "upper layer is not the VM's" "$W/log" || { cat "$W/log"; fail "no clear refusal for a foreign upper"; }
[ -z "$(ls -A "$W/other/upper")" ] || fail "the foreign upper layer was written to"
umount "$ROOT"
ok "refuses an overlay of another upper layer"

# 4. An undefined VM.
if run nosuchvm; then fail "config-inject accepted an undefined VM"; fi
grep -q "VM 'nosuchvm' is not defined" "$W/log" || { cat "$W/log"; fail "no clear message for an undefined VM"; }
ok "refuses an undefined VM"

# 5. The real thing.
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$UPPER,workdir=$WORK,$FLAGS" "$ROOT"
run vm1 || { cat "$W/log"; fail "config-inject failed on its overlay"; }
cat "$W/log"
[ "$(cat "$UPPER/etc/hostname")" = vm1 ] || fail "hostname not in the upper layer"
grep -q '^root:\$6\$saltsalt\$0123456789abcdefABCDEF\./:19500:0:99999:7:::$' "$UPPER/etc/shadow" || fail "password not set"
grep -qx 'user:!:19500:0:99999:7:::' "$UPPER/etc/shadow" || fail "other shadow lines changed"
[ "$(stat -c %a "$UPPER/etc/shadow")" = 640 ] || fail "shadow lost its mode"
grep -qx 'myfs / virtiofs defaults 0 0' "$UPPER/etc/fstab" || fail "fstab root not rewritten"
grep -qx '#cowvm-disabled: UUID=ef01 none swap sw 0 0' "$UPPER/etc/fstab" || fail "swap not disabled"
grep -Eq '^MACAddress=([0-9a-f]{2}:){5}[0-9a-f]{2}$' "$UPPER/etc/systemd/network/90-cowvm.network" || fail "networkd config missing"
[ "$(readlink "$UPPER/etc/systemd/system/multi-user.target.wants/systemd-networkd.service")" = /lib/systemd/system/systemd-networkd.service ] ||
        fail "networkd not enabled"
grep -q 'one@host' "$UPPER/root/.ssh/authorized_keys" || fail "authorized_keys missing"
[ "$(stat -c %a "$UPPER/root/.ssh")" = 700 ] || fail "~/.ssh mode"
# The base's host key: deleted in the merged view = a whiteout in the upper.
[ ! -e "$ROOT/etc/ssh/ssh_host_ed25519_key" ] || fail "base host key still visible"
[ "$(stat -c '%F %t:%T' "$UPPER/etc/ssh/ssh_host_ed25519_key")" = "character special file 0:0" ] ||
        fail "no whiteout for the base's host key"
[ -e "$UPPER/etc/systemd/system/cowvm-ready.service" ] || fail "readiness unit missing"
[ "$(tree_state "$BASE")" = "$base_before" ] || fail "the base changed"
ok "configures the overlay, in its upper layer only"

# 6. Idempotence: a second run changes nothing in the upper layer.
upper1=$(tree_state "$UPPER")
run vm1 || { cat "$W/log"; fail "second run failed"; }
[ "$(tree_state "$UPPER")" = "$upper1" ] || fail "second run changed the upper layer"
ok "a second run writes nothing"

# 7. Planted by the guest through the merged view: a symlink to a host file,
#    a FIFO, and a bind mount inside the root (RESOLVE_NO_XDEV).
ln -sf /etc/passwd "$ROOT/etc/hostname"
rm -f "$ROOT/etc/shadow" && mkfifo "$ROOT/etc/shadow"
mkdir -p "$W/outside/net" && mount --bind "$W/outside/net" "$ROOT/etc/systemd/network"
if run vm1; then fail "config-inject succeeded over a FIFO shadow and a bind mount"; fi
cat "$W/log"
grep -q "Failed to read '/etc/shadow' in the VM root .*: it is not a regular file" "$W/log" || fail "FIFO not reported"
grep -q "'/etc/systemd/network' in the VM root .*: the path crosses a mount point" "$W/log" ||
        fail "bind mount not reported"
[ ! -L "$ROOT/etc/hostname" ] && [ "$(cat "$ROOT/etc/hostname")" = vm1 ] || fail "hostname symlink not replaced"
[ -z "$(ls -A "$W/outside/net")" ] || fail "wrote through a bind mount"
umount "$ROOT/etc/systemd/network"
rmdir "$W/outside/net"
[ "$(tree_state "$W/outside")" = "$outside_before" ] || fail "outside changed"
[ "$(sha256sum /etc/passwd /etc/shadow /etc/hostname /etc/hosts /etc/fstab 2>/dev/null)" = "$host_before" ] ||
        fail "host files changed"
[ "$(tree_state "$BASE")" = "$base_before" ] || fail "the base changed"
ok "hostile layouts on the real overlay"
