#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What cowvm's unit chain does, by hand, inside a real systemd in a container
# with the harness's default nspawn arguments: an overlay over a base tree,
# the C virtiofsd and QEMU (TCG) as services started with systemd-run, a guest
# (tests/guest) that boots from the overlay and reports READY=1, its serial
# console in the journal, and QMP system_powerdown ending both services. If this
# fails, no system test of cowvm can pass here: it checks the platform.

set -eu
set -o pipefail

HERE=$(dirname "$(realpath "$0")")
. "$HERE/lib/harness.sh"
harness_require
require_cmd qemu-system-x86_64 qemu-system-x86
[ -x /usr/lib/qemu/virtiofsd ] || skip "/usr/lib/qemu/virtiofsd not found (package qemu-system-common)"
require_cmd socat socat

test_base
BASE=$TEST_BASE

STATE="$(harness_dir)/state"
mkdir -p "$STATE/vms"
NAME=guest-$$
harness_start "$NAME" --bind-ro="$BASE:/var/lib/cowvm/bases/test" --bind="$STATE/vms:/var/lib/cowvm/vms"

X() {
        harness_exec "$NAME" "$@"
}

R=/run/cowvm/t
X mkdir -p /var/lib/cowvm/vms/t/upper/etc/cowvm-test.d /var/lib/cowvm/vms/t/work "$R/root"
X sh -c 'echo in-container > /var/lib/cowvm/vms/t/upper/etc/hostname'
X sh -c 'printf "#!/bin/sh\necho hook ran > /var/tmp/marker\n" > /var/lib/cowvm/vms/t/upper/etc/cowvm-test.d/50-marker.sh &&
         chmod 0755 /var/lib/cowvm/vms/t/upper/etc/cowvm-test.d/50-marker.sh'
X mount -t overlay overlay \
        -o lowerdir=/var/lib/cowvm/bases/test,upperdir=/var/lib/cowvm/vms/t/upper,workdir=/var/lib/cowvm/vms/t/work \
        "$R/root" || fail "cannot mount an overlay in the container"

X systemd-run --quiet --unit=test-virtiofsd \
        /usr/lib/qemu/virtiofsd --socket-path="$R/virtiofsd.sock" -o source="$R/root" -o cache=auto ||
        fail "systemd-run virtiofsd failed"
harness_wait_for "virtiofsd socket" 30 X test -S "$R/virtiofsd.sock"

T0=$EPOCHREALTIME
# The paths are the container's.
qemu_direct_boot socket="$R/virtiofsd.sock" kernel=/var/lib/cowvm/bases/test/boot/vmlinuz \
        initrd=/var/lib/cowvm/bases/test/boot/initrd.img serial=stdio notify="$R/notify" qmp="$R/qmp.sock"
X systemd-run --quiet --unit=test-qemu qemu-system-x86_64 "${QEMU_BOOT_ARGS[@]}" || fail "systemd-run qemu failed"

guest_ready() {
        X systemctl is-active -q test-qemu || fail "QEMU stopped before READY=1: $(X journalctl -u test-qemu --no-pager | tail -n 30)"
        X grep -qs '^READY=1' "$R/notify"
}
harness_wait_for "READY=1 from the guest" 180 guest_ready
T_READY=$EPOCHREALTIME

X journalctl -u test-qemu --no-pager -o cat | grep -q '^cowvm-test-guest: booted in-container' ||
        fail "the guest's serial console is not in the journal"
harness_wait_for "hook marker in the upper layer" 60 test -s "$STATE/vms/t/upper/var/tmp/marker"

qmp=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"system_powerdown"}' |
      X socat -t 2 - UNIX-CONNECT:"$R/qmp.sock") || fail "cannot talk to QMP in the container"
grep -q '"return"' <<<"$qmp" || fail "QMP system_powerdown failed: $qmp"
T_DOWN=$EPOCHREALTIME
unit_gone() {
        ! X systemctl is-active -q "$1"
}
harness_wait_for "end of QEMU after system_powerdown" 60 unit_gone test-qemu
# virtiofsd exits when its one client disconnects.
harness_wait_for "end of virtiofsd after QEMU" 30 unit_gone test-virtiofsd
T_END=$EPOCHREALTIME
X journalctl -u test-qemu --no-pager -o cat | tr -d '\r' | grep -q '^cowvm-test-guest: poweroff$' ||
        fail "the guest did not power off cleanly"

X umount "$R/root" || fail "cannot unmount the overlay after the guest stopped"
harness_stop "$NAME" || fail "the container did not shut down cleanly"

echo "guest-in-container: container boot ${HARNESS_BOOT_SECONDS}s, guest READY=1 after $(elapsed "$T0" "$T_READY" 2)s," \
     "powerdown to both services gone $(elapsed "$T_DOWN" "$T_END" 2)s"
echo PASS
