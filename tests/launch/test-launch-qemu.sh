#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ch-launch and virtiofsd-exec for real, without systemd: the test base
# (tests/guest/make-test-base.sh) on an overlay, virtiofsd-exec socket
# activated by systemd-socket-activate as virtiofsd@.socket would, ch-launch
# with $NOTIFY_SOCKET and the journal socket pointing at test sinks. Checks:
#   1. ReadyOn=guest: STATUS= along the way, READY=1 only after the guest's
#      READY=1 on hvc0; the serial console in the journal (a 10 000-byte line
#      in pieces, escape sequences escaped); SIGTERM -> ACPI power button ->
#      clean poweroff -> exit 0;
#   2. a second start of the same VM works (ReadyOn=vmm this time);
#   3. virtiofsd killed with SIGKILL -> ch-launch stops the VM, exits non-zero
#      and says why.
# Root only; runs in a private mount namespace.

set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "overlay mounts, virtiofsd"
require_cmd qemu-system-x86_64 qemu-system-x86
require_virtiofsd
require_cmd systemd-socket-activate systemd
require_cmd python3 python3
private_mounts "$@"

HERE=$(dirname "$(realpath "$0")")
SRC=$(realpath "$HERE/../..")
BUILD=${COWVM_BUILD_DIR:-$SRC/build}
CH_LAUNCH=${CH_LAUNCH:-$BUILD/helpers/ch-launch/ch-launch}
VIRTIOFSD_EXEC=${VIRTIOFSD_EXEC:-$BUILD/helpers/virtiofsd-exec/virtiofsd-exec}
[ -x "$CH_LAUNCH" ] || fail "$CH_LAUNCH not built"
[ -x "$VIRTIOFSD_EXEC" ] || fail "$VIRTIOFSD_EXEC not built"

test_base
SHARED_BASE=$TEST_BASE

T=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-test-launch.XXXXXX")
PIDS=()
cleanup() {
        local rc=$?
        for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        if [ $rc -ne 0 ]; then
                for f in "$T"/*.log; do
                        [ -s "$f" ] || continue
                        echo "----- $f" >&2
                        tail -n 40 "$f" >&2
                done
        fi
        umount "$T/run/t/root" 2>/dev/null || true
        rm -rf -- "$T"
}
trap cleanup EXIT

export COWVM_DEFINITION_PATH=$T/defs COWVM_STATE_DIR=$T/state COWVM_RUNTIME_DIR=$T/run COWVM_LOG_TARGET=console
mkdir -p "$T/defs" "$T/run/t/root" "$T/state/vms/t/upper/etc/cowvm-test.d" "$T/state/vms/t/work"

# A guest hook that writes what a console relay can get wrong: a line longer
# than the journal piece size, and colour escape sequences.
cat >"$T/state/vms/t/upper/etc/cowvm-test.d/10-console.sh" <<'HOOK'
#!/bin/sh
long=$(head -c 10000 /dev/zero | tr '\0' 'x')
echo "LONG-BEGIN${long}LONG-END" >/dev/ttyS0
printf 'COLOUR \033[1;32mgreen\033[0m END\n' >/dev/ttyS0
echo "STATUS=hook ran" >/dev/hvc0
HOOK
chmod +x "$T/state/vms/t/upper/etc/cowvm-test.d/10-console.sh"

# A private copy (13 MB): make-test-base.sh renames a rebuilt base over the
# shared one, which would pull the lower layer away under a running guest.
# The shared lock keeps a rebuild from swapping it in the middle of the copy.
BASE=$T/base
flock -s "$TEST_CACHE/lock" cp -a "$SHARED_BASE" "$BASE" || fail "cannot copy the test base"

mount -t overlay overlay \
        -o "lowerdir=$BASE,upperdir=$T/state/vms/t/upper,workdir=$T/state/vms/t/work" "$T/run/t/root" ||
        fail "cannot mount the overlay"

python3 "$HERE/dgram-sink.py" notify "$T/notify.sock" "$T/notify.log" &
PIDS+=($!)
python3 "$HERE/dgram-sink.py" journal "$T/journal.sock" "$T/journal.log" &
PIDS+=($!)
for _ in $(seq 100); do
        [ -S "$T/notify.sock" ] && [ -S "$T/journal.sock" ] && break
        sleep 0.05
done
[ -S "$T/notify.sock" ] && [ -S "$T/journal.sock" ] || fail "the test sinks did not start"

define() { # ReadyOn=
        cat >"$T/defs/t.vm" <<DEF
[VM]
Base=$BASE
Hypervisor=qemu
ReadyOn=$1
TimeoutStopSec=30s
DEF
}

start_virtiofsd() {
        rm -f "$T/run/t/virtiofsd.sock"
        systemd-socket-activate -E COWVM_DEFINITION_PATH -E COWVM_STATE_DIR -E COWVM_RUNTIME_DIR \
                -E COWVM_LOG_TARGET -l "$T/run/t/virtiofsd.sock" "$VIRTIOFSD_EXEC" t 2>>"$T/virtiofsd.log" &
        VFS_PID=$!
        PIDS+=($VFS_PID)
        for _ in $(seq 100); do [ -S "$T/run/t/virtiofsd.sock" ] && return 0; sleep 0.05; done
        fail "virtiofsd@t.socket stand-in did not listen"
}

start_launch() {
        : >"$T/notify.log"
        : >"$T/journal.log" # the sinks append (O_APPEND): truncating is safe
        NOTIFY_SOCKET=$T/notify.sock COWVM_JOURNAL_SOCKET=$T/journal.sock "$CH_LAUNCH" t 2>>"$T/ch-launch.log" &
        LAUNCH_PID=$!
        PIDS+=($LAUNCH_PID)
}

wait_for() { # FILE PATTERN SECONDS
        local i
        for i in $(seq $(($3 * 10))); do
                grep -qa -- "$2" "$1" 2>/dev/null && return 0
                kill -0 "$LAUNCH_PID" 2>/dev/null || { grep -qa -- "$2" "$1" 2>/dev/null && return 0; return 1; }
                sleep 0.1
        done
        return 1
}

stop_launch() { # expected exit status
        local rc=0
        kill -TERM "$LAUNCH_PID"
        wait "$LAUNCH_PID" || rc=$?
        [ "$rc" -eq "$1" ] || fail "ch-launch exited with $rc, expected $1"
}

# --- 1. ReadyOn=guest, console, clean stop ---
define guest
start_virtiofsd
start_launch
wait_for "$T/notify.log" '^READY=1' 120 || fail "no READY=1 from ch-launch"
grep -q '^STATUS=Starting qemu' "$T/notify.log" || fail "no STATUS=Starting qemu"
grep -q '^STATUS=VM running, waiting for the guest' "$T/notify.log" || fail "no 'waiting for the guest' status"
# READY=1 only after the guest said so: the status before it must be the wait.
[ "$(grep -n '^READY=1' "$T/notify.log" | head -1 | cut -d: -f1)" -gt \
  "$(grep -n '^STATUS=VM running' "$T/notify.log" | head -1 | cut -d: -f1)" ] || fail "READY=1 before the VM ran"
grep -q '^STATUS=Guest ready' "$T/notify.log" || fail "no STATUS=Guest ready"
wait_for "$T/notify.log" '^STATUS=Guest: hook ran' 60 || fail "the guest's STATUS= did not arrive"
wait_for "$T/journal.log" 'COLOUR' 30 || fail "console lines missing from the journal"
grep -q '^console|6|\[ *0\.000000\] Linux version' "$T/journal.log" || fail "the boot log is not in the journal"
grep -q '^console|6|cowvm-test-guest: booted' "$T/journal.log" || fail "the guest's init output is not in the journal"
grep -qF 'console|6|COLOUR \x1b[1;32mgreen\x1b[0m END' "$T/journal.log" || fail "escape sequences not escaped"
# The long line: three pieces of at most 4096 bytes, the first two marked as continued.
long=$(grep -a '^console|6|LONG-BEGIN' -A2 "$T/journal.log" | cut -d'|' -f3 | tr -d '\n')
[ "${#long}" -eq 10018 ] || fail "the long line arrived with ${#long} bytes, not 10018"
[ "$(grep -c '|continued$' "$T/journal.log")" -ge 2 ] || fail "long-line pieces not marked as continued"
grep -q MALFORMED "$T/journal.log" && fail "malformed journal records"
[ -S "$T/run/t/vmm/console.sock" ] || fail "no console socket"

stop_launch 0
grep -q '^STOPPING=1' "$T/notify.log" || fail "no STOPPING=1"
grep -q 'cowvm-test-guest: poweroff' "$T/journal.log" || fail "the guest did not power off cleanly"
grep -q 'The VM powered off' "$T/ch-launch.log" || fail "ch-launch did not report the poweroff"
wait "$VFS_PID" 2>/dev/null || true
echo "ok 1 ReadyOn=guest, console, SIGTERM -> clean poweroff -> exit 0"

# --- 2. a second start, ReadyOn=vmm ---
define vmm
start_virtiofsd
start_launch
wait_for "$T/notify.log" '^READY=1' 60 || fail "second start: no READY=1"
grep -q '^STATUS=VM running$' "$T/notify.log" || fail "second start: no STATUS=VM running"
# The power button only works once the guest's acpid runs.
wait_for "$T/journal.log" "sent READY=1 on hvc0" 60 || fail "second start: the guest did not boot"
sleep 0.5
stop_launch 0
wait "$VFS_PID" 2>/dev/null || true
echo "ok 2 second start (ReadyOn=vmm), clean stop"

# --- 3. virtiofsd dies ---
define guest
start_virtiofsd
start_launch
wait_for "$T/notify.log" '^READY=1' 120 || fail "third start: no READY=1"
pkill -KILL -P "$VFS_PID" 2>/dev/null || true # systemd-socket-activate execs, so VFS_PID is virtiofsd itself
kill -KILL "$VFS_PID" 2>/dev/null || true
rc=0
wait "$LAUNCH_PID" || rc=$?
[ "$rc" -ne 0 ] || fail "ch-launch exited 0 after virtiofsd died"
grep -q 'virtiofsd hung up' "$T/ch-launch.log" || fail "ch-launch did not say virtiofsd hung up"
grep -q '^STATUS=Failed: virtiofsd hung up' "$T/notify.log" || fail "no STATUS=Failed"
echo "ok 3 virtiofsd SIGKILL -> VM stopped, exit $rc"
