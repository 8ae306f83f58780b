#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# boot-base.sh BASE [INITRD]
#
# Boots a base made by cowvm-mkbase the way cowvm does, by hand: an overlay
# over BASE, the C virtiofsd serving it, QEMU (TCG) with direct kernel boot of
# BASE/boot/vmlinuz and INITRD (default BASE/boot/initrd.img) and
# `console=ttyS0 root=myfs rootfstype=virtiofs rw`. Checks that
#   - the guest's systemd boots to a login prompt on the serial console
#     (the serial getty) and to multi-user.target (its journal in the upper
#     layer), without a 90 s wait for a disk from /etc/fstab,
#   - sshd started with host keys the guest generated itself (in the upper
#     layer, not in the base),
#   - QMP system_powerdown (the ACPI power button) makes it power off: systemd-logind
#     acts on the power key, which needs dbus in the base.
# Prints the time to the login prompt and of the whole run.
#
# Root only (overlay mounts, virtiofsd); runs in a private mount namespace.

set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

[ $# -ge 1 ] || fail "usage: $0 BASE [INITRD]"
require_root "overlay mounts, virtiofsd"
QEMU=${QEMU:-qemu-system-x86_64}
require_cmd "$QEMU" qemu-system-x86
require_virtiofsd
require_cmd socat socat
require_cmd journalctl systemd

private_mounts "$@"

BASE=$(realpath -- "$1")
INITRD=${2:-$BASE/boot/initrd.img}
[ -e "$BASE/boot/vmlinuz" ] || fail "$BASE/boot/vmlinuz is missing"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-boot-base.XXXXXX")
QEMU_PID= VIRTIOFSD_PID=
cleanup() {
        local rc=$?
        [ -z "$QEMU_PID" ] || kill -KILL "$QEMU_PID" 2>/dev/null || true
        [ -z "$VIRTIOFSD_PID" ] || kill -KILL "$VIRTIOFSD_PID" 2>/dev/null || true
        wait 2>/dev/null || true
        if [ $rc -ne 0 ]; then
                for f in serial.log virtiofsd.log qemu.log; do
                        [ -s "$TMP/$f" ] || continue
                        echo "----- $f" >&2
                        tail -n 80 "$TMP/$f" >&2
                done
        fi
        umount "$TMP/root" 2>/dev/null || true
        [ -n "${COWVM_TEST_KEEP:-}" ] || rm -rf -- "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP"/{upper,work,root}
mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$TMP/upper,workdir=$TMP/work" "$TMP/root" ||
        fail "cannot mount the overlay over $BASE"

virtiofsd_start "$TMP/virtiofsd.sock" "$TMP/root" "$TMP/virtiofsd.log" -o xattr

T_START=$EPOCHREALTIME
qemu_direct_boot memory=1024 cpus=2 socket="$TMP/virtiofsd.sock" kernel="$BASE/boot/vmlinuz" initrd="$INITRD" \
        serial=file:"$TMP/serial.log" qmp="$TMP/qmp.sock"
"$QEMU" "${QEMU_BOOT_ARGS[@]}" </dev/null >"$TMP/qemu.log" 2>&1 &
QEMU_PID=$!


qemu_wait_for "login prompt on the serial console" 600 grep -qs 'login: *$' "$TMP/serial.log"
T_LOGIN=$EPOCHREALTIME

# Once the serial getty owns the console, systemd's status lines stop there;
# the guest's persistent journal, in the upper layer, says the rest.
guest_journal() {
        local j
        for j in "$TMP"/upper/var/log/journal/*/system.journal; do
                journalctl --file "$j" --no-pager -q -o short-monotonic 2>/dev/null
        done
}
journal_says() {
        guest_journal | grep -q "$1"
}
qemu_wait_for "multi-user.target in the guest's journal" 600 journal_says 'Reached target multi-user.target'
T_MULTI=$EPOCHREALTIME
GUEST_MULTI=$(guest_journal | grep -m1 'Reached target multi-user.target' | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
# When the initramfs handed over: the kernel's clock at systemd's first line.
GUEST_INIT=$(sed -n 's/^\[ *\([0-9.]*\)\] systemd\[1\]: systemd [0-9].* running in system mode.*/\1/p' "$TMP/serial.log" | head -n1)
! grep -q 'Timed out waiting for device' "$TMP/serial.log" || fail "systemd waited for a device (fstab?)"
! journal_says 'Dependency failed for.*File System' || fail "a mount from /etc/fstab failed"

[ -s "$TMP/upper/etc/ssh/ssh_host_ed25519_key.pub" ] || fail "the guest made no SSH host key of its own"
[ ! -e "$BASE/etc/ssh/ssh_host_ed25519_key" ] || fail "the base has SSH host keys"
qemu_wait_for "sshd in the guest's journal" 300 journal_says 'Started ssh.service'
# logind acts on the power button below; it needs dbus.
qemu_wait_for "systemd-logind in the guest's journal" 300 journal_says 'Started systemd-logind.service'

T_POWERDOWN=$EPOCHREALTIME
printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
        socat -t 2 - UNIX-CONNECT:"$TMP/qmp.sock" >"$TMP/qmp.log" 2>&1 || fail "QMP system_powerdown failed"
end=$((${EPOCHREALTIME%.*} + 120))
while kill -0 "$QEMU_PID" 2>/dev/null; do
        [ "${EPOCHREALTIME%.*}" -lt "$end" ] || fail "the guest ignored the ACPI power button for 120s"
        sleep 0.1
done
wait "$QEMU_PID" || fail "QEMU exited with status $?"
QEMU_PID=
T_END=$EPOCHREALTIME

echo "boot-base: $(basename "$INITRD"): systemd started at guest clock ${GUEST_INIT:-?}s, login prompt after $(elapsed "$T_START" "$T_LOGIN")s," \
        "multi-user.target after $(elapsed "$T_START" "$T_MULTI")s (guest clock ${GUEST_MULTI}s)," \
        "poweroff took $(elapsed "$T_POWERDOWN" "$T_END")s, upper layer $(du -sh "$TMP/upper" | cut -f1)"
echo PASS
