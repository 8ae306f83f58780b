#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Boots the test base (make-test-base.sh) the way cowvm does, by hand: an
# overlay over the base, the C virtiofsd serving it, QEMU (TCG) with direct
# kernel boot and `root=myfs rootfstype=virtiofs rw`. Checks that
#   - the guest boots and names itself after /etc/hostname of the overlay,
#   - it sends READY=1 on the first virtio console,
#   - its hooks run and their writes land in the upper layer, not the base,
#   - QMP system_powerdown (the ACPI power button) makes it power off and QEMU exit.
# Prints the time to READY=1 and of the whole run.
#
# test-boot-qemu.sh [vmlinuz|vmlinux]: the kernel of the base to boot, Debian's
# compressed bzImage (default) or the uncompressed PVH ELF.
#
# Root only (overlay mounts, virtiofsd); runs in a private mount namespace.

set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "overlay mounts, virtiofsd"
QEMU=${QEMU:-qemu-system-x86_64}
require_cmd "$QEMU" qemu-system-x86
require_virtiofsd
require_cmd socat socat

KERNEL=${1:-vmlinuz}
case "$KERNEL" in
vmlinuz|vmlinux) ;;
*) echo "usage: $0 [vmlinuz|vmlinux]" >&2; exit 2 ;;
esac

private_mounts "$@"

test_base
BASE=$TEST_BASE

T0=$EPOCHREALTIME
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-test-boot.XXXXXX")
QEMU_PID='' VIRTIOFSD_PID=''
cleanup() {
        local rc=$?
        [ -z "$QEMU_PID" ] || kill -KILL "$QEMU_PID" 2>/dev/null || true
        [ -z "$VIRTIOFSD_PID" ] || kill -KILL "$VIRTIOFSD_PID" 2>/dev/null || true
        wait 2>/dev/null || true
        if [ $rc -ne 0 ]; then
                for f in serial.log notify.log virtiofsd.log qemu.log; do
                        [ -s "$TMP/$f" ] || continue
                        echo "----- $f" >&2
                        tail -n 60 "$TMP/$f" >&2
                done
        fi
        umount "$TMP/root" 2>/dev/null || true
        [ -n "${COWVM_TEST_KEEP:-}" ] || rm -rf -- "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP"/{upper,work,root}
# What a VM's own upper layer would hold: its hostname and a test hook. The
# hook writes into the root; the write must end up in the upper layer.
mkdir -p "$TMP/upper/etc/cowvm-test.d"
echo boot-test >"$TMP/upper/etc/hostname"
cat >"$TMP/upper/etc/cowvm-test.d/50-marker.sh" <<'EOF'
#!/bin/sh
echo "hook ran on $(hostname)" >/var/tmp/hook-marker
sync
EOF
chmod 0755 "$TMP/upper/etc/cowvm-test.d/50-marker.sh"

mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$TMP/upper,workdir=$TMP/work" "$TMP/root" ||
        fail "cannot mount the overlay over $BASE"

virtiofsd_start "$TMP/virtiofsd.sock" "$TMP/root" "$TMP/virtiofsd.log"

T_START=$EPOCHREALTIME
qemu_direct_boot socket="$TMP/virtiofsd.sock" kernel="$BASE/boot/$KERNEL" initrd="$BASE/boot/initrd.img" \
        serial=file:"$TMP/serial.log" notify="$TMP/notify.log" qmp="$TMP/qmp.sock"
"$QEMU" "${QEMU_BOOT_ARGS[@]}" </dev/null >"$TMP/qemu.log" 2>&1 &
QEMU_PID=$!

qemu_wait_for "READY=1 on the virtio console" 180 grep -qs '^READY=1' "$TMP/notify.log"
T_READY=$EPOCHREALTIME

grep -q '^cowvm-test-guest: booted boot-test' "$TMP/serial.log" ||
        fail "the serial console does not say 'cowvm-test-guest: booted boot-test'"

qemu_wait_for "hook marker in the upper layer" 60 test -s "$TMP/upper/var/tmp/hook-marker"
grep -qx 'hook ran on boot-test' "$TMP/upper/var/tmp/hook-marker" || fail "unexpected hook marker: $(cat "$TMP/upper/var/tmp/hook-marker")"
[ ! -e "$BASE/var/tmp/hook-marker" ] || fail "the guest wrote into the base tree $BASE"

T_POWERDOWN=$EPOCHREALTIME
printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
        socat -t 2 - UNIX-CONNECT:"$TMP/qmp.sock" >"$TMP/qmp.log" 2>&1 ||
        fail "QMP system_powerdown failed: $(cat "$TMP/qmp.log")"
grep -q '"return"' "$TMP/qmp.log" || fail "QMP did not answer: $(cat "$TMP/qmp.log")"

end=$(( ${EPOCHREALTIME%.*} + 60 ))
while kill -0 "$QEMU_PID" 2>/dev/null; do
        [ "${EPOCHREALTIME%.*}" -lt "$end" ] || fail "QEMU still running 60s after system_powerdown"
        sleep 0.05
done
wait "$QEMU_PID" || fail "QEMU exited with status $?"
QEMU_PID=
T_END=$EPOCHREALTIME

tr -d '\r' <"$TMP/serial.log" | grep -q '^cowvm-test-guest: poweroff$' ||
        fail "the guest did not report a clean poweroff on the serial console"

echo "boot-qemu ($KERNEL): READY=1 after $(elapsed "$T_START" "$T_READY" 2)s, poweroff took $(elapsed "$T_POWERDOWN" "$T_END" 2)s," \
     "QEMU ran $(elapsed "$T_START" "$T_END" 2)s, whole test $(elapsed "$T0" "$T_END" 2)s"
echo "PASS"
