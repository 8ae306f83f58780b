# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# What the shell tests share. Source it first thing:
#   . "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"
#
#   skip REASON                 exit 77 (meson: SKIP), saying why on stderr
#   fail MESSAGE                exit 1
#   ok MESSAGE                  one check passed
#   soft_fail MESSAGE           a failure that lets the test go on; then
#   soft_failures_exit          exit 1 if there was one
#   require_root WHY            skip unless uid 0
#   require_cmd CMD PACKAGE     skip unless CMD is on $PATH
#   require_virtiofsd           skip unless the C virtiofsd is there; sets $VIRTIOFSD
#   private_mounts "$@"         re-exec the test in a private mount namespace
#   elapsed T0 T1 [DIGITS]      seconds between two $EPOCHREALTIME values
#   test_base                   builds (if needed) the busybox test base; sets $TEST_BASE
#   virtiofsd_start SOCKET DIR LOG [OPTION...]   sets $VIRTIOFSD_PID
#   qemu_direct_boot KEY=VALUE...                sets the array QEMU_BOOT_ARGS
#   debian_base MKBASE FIXUP MKINITRD, debian_base_hold   the cached Debian base
#
# Caches live in $COWVM_TEST_CACHE (default /var/cache/cowvm-test): the test
# base (or $COWVM_TEST_BASE), the kernel package it is made from, and the
# Debian base made by cowvm-mkbase. Point it elsewhere to keep a run off the
# caches other runs on the machine use.

TESTS_DIR=$(realpath "$(dirname "${BASH_SOURCE[0]}")/..")
TEST_CACHE=${COWVM_TEST_CACHE:-/var/cache/cowvm-test}
TEST_BASE=${COWVM_TEST_BASE:-$TEST_CACHE/base}

skip() {
        echo "SKIP: $*" >&2
        exit 77
}

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

ok() {
        echo "ok: $*"
}

TEST_SOFT_FAILURES=0
soft_fail() {
        echo "FAIL: $*" >&2
        TEST_SOFT_FAILURES=$((TEST_SOFT_FAILURES + 1))
}

soft_failures_exit() {
        [ "$TEST_SOFT_FAILURES" -eq 0 ] && return 0
        echo "$TEST_SOFT_FAILURES failure(s)" >&2
        exit 1
}

require_root() {
        [ "$(id -u)" -eq 0 ] || skip "needs root ($*)"
}

require_cmd() {
        command -v "$1" >/dev/null || skip "$1 not found (package $2)"
}

# Only the C virtiofsd runs here (QEMU 7.2's); the Rust one may be installed
# at /usr/libexec/virtiofsd.
require_virtiofsd() {
        local v
        for v in "${VIRTIOFSD:-}" /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd; do
                if [ -n "$v" ] && [ -x "$v" ]; then
                        VIRTIOFSD=$v
                        return 0
                fi
        done
        skip "no virtiofsd (package qemu-system-common or virtiofsd)"
}

# private_mounts "$@": runs the test again in a mount namespace of its own,
# so that its mounts vanish with it whatever kills it.
private_mounts() {
        [ -z "${COWVM_TEST_PRIVATE_MOUNTS:-}" ] || return 0
        require_cmd unshare util-linux
        unshare -m --propagation private true 2>/dev/null || skip "cannot make a mount namespace here"
        exec env COWVM_TEST_PRIVATE_MOUNTS=1 unshare -m --propagation private -- "$0" "$@"
}

elapsed() {
        awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { printf "%.*f", d, b - a }'
}

# The busybox test base of tests/guest/make-test-base.sh, built once into the
# cache (the script keeps it current and locks it).
test_base() {
        "$TESTS_DIR/guest/make-test-base.sh" "$TEST_BASE" || fail "could not build the test base $TEST_BASE"
}

# virtiofsd_start SOCKET DIR LOG [OPTION...]: the C virtiofsd serving DIR on
# SOCKET (for one client: it exits when QEMU disconnects), in the background.
virtiofsd_start() {
        local sock=$1 dir=$2 log=$3
        shift 3
        "$VIRTIOFSD" --socket-path="$sock" -o source="$dir" -o cache=auto "$@" >"$log" 2>&1 &
        VIRTIOFSD_PID=$!
        for _ in $(seq 100); do
                [ -S "$sock" ] && return 0
                kill -0 "$VIRTIOFSD_PID" 2>/dev/null || fail "virtiofsd exited at start: $(tail -n 20 "$log")"
                sleep 0.05
        done
        fail "virtiofsd did not create $sock"
}

# qemu_direct_boot KEY=VALUE...: QEMU's arguments (without the program) for
# a guest booted the way cowvm boots one, by hand: TCG, memfd memory shared
# with virtiofsd, the root on virtio-fs tag myfs, direct kernel boot.
#   socket=  virtiofsd's socket        kernel=, initrd=   the files to boot
#   serial=  QEMU's -serial (file:PATH, stdio)
#   memory=  MiB (512)   cpus= (1)     notify=  file of the first virtio console
#   qmp=     QMP socket (a server)
qemu_direct_boot() {
        local kv socket='' kernel='' initrd='' serial='' memory=512 cpus=1 notify='' qmp=''
        for kv in "$@"; do
                case "$kv" in
                socket=*) socket=${kv#*=} ;;
                kernel=*) kernel=${kv#*=} ;;
                initrd=*) initrd=${kv#*=} ;;
                serial=*) serial=${kv#*=} ;;
                memory=*) memory=${kv#*=} ;;
                cpus=*) cpus=${kv#*=} ;;
                notify=*) notify=${kv#*=} ;;
                qmp=*) qmp=${kv#*=} ;;
                *) fail "qemu_direct_boot: unknown argument '$kv'" ;;
                esac
        done
        if [ -z "$socket" ] || [ -z "$kernel" ] || [ -z "$initrd" ] || [ -z "$serial" ]; then
                fail "qemu_direct_boot: socket=, kernel=, initrd= and serial= are required"
        fi
        # shellcheck disable=SC2054 # commas inside QEMU's option values
        QEMU_BOOT_ARGS=(-accel tcg -cpu max -m "$memory" -smp "$cpus" -nodefaults -no-user-config -nographic
                -object memory-backend-memfd,id=mem,size="${memory}M",share=on -numa node,memdev=mem
                -chardev socket,id=fs,path="$socket" -device vhost-user-fs-pci,chardev=fs,tag=myfs
                -kernel "$kernel" -initrd "$initrd"
                -append "console=ttyS0 root=myfs rootfstype=virtiofs rw no_timer_check"
                -serial "$serial")
        # shellcheck disable=SC2054
        [ -z "$notify" ] || QEMU_BOOT_ARGS+=(-device virtio-serial-pci -chardev file,id=notify,path="$notify"
                -device virtconsole,chardev=notify)
        [ -z "$qmp" ] || QEMU_BOOT_ARGS+=(-qmp unix:"$qmp",server=on,wait=off)
}

# qemu_wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds, failing when
# the QEMU of $QEMU_PID exits first. The limit only keeps a broken guest from
# hanging the suite.
qemu_wait_for() {
        local what=$1 limit=$2 end
        shift 2
        end=$((${EPOCHREALTIME%.*} + limit))
        until "$@"; do
                kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited while waiting for $what"
                [ "${EPOCHREALTIME%.*}" -lt "$end" ] || fail "no $what after ${limit}s"
                sleep 0.05
        done
}

# ---- the Debian base (cowvm-mkbase debootstrap) -------------------------------

# Succeeds when the host's Debian mirror answers: fetches a package through
# apt's own downloader (and apt's proxy settings).
mirror_reachable() {
        local uri probe rc=0
        uri=$(apt-get -q --print-uris download base-files 2>/dev/null | sed -n "s/^'\([^']*\)'.*/\1/p" | head -n1) || true
        [ -n "$uri" ] || return 1
        probe=$(mktemp "${TMPDIR:-/tmp}/cowvm-test-probe.XXXXXX")
        timeout 60 /usr/lib/apt/apt-helper -o Acquire::http::Timeout=20 download-file "$uri" "$probe" \
                >/dev/null 2>&1 || rc=$?
        rm -f -- "$probe"
        return $rc
}

# debian_base MKBASE FIXUP MKINITRD [OVERLAY_PREPARE]: prints the directory of a Debian 12
# base made by that cowvm-mkbase, built once into $TEST_CACHE/mkbase and
# rebuilt when cowvm-mkbase or its helpers change (the stamp). Returns 1
# with the reason printed on failure, 2 when it cannot be had here (no
# current base cached and no debootstrap or no mirror): callers skip then.
# Afterwards take debian_base_hold before booting it.
debian_base() {
        local mkbase=$1 fixup=$2 mkinitrd=$3 prepare=${4:-${COWVM_MKBASE_OVERLAY_PREPARE:-}} cache=$TEST_CACHE/mkbase base
        base=$cache/state/bases/debian-12
        if [ ! -f "$mkbase" ] || [ ! -x "$fixup" ]; then
                echo "$mkbase or $fixup is not built"
                return 1
        fi
        mkdir -p "$cache"
        (
                stamp=$(cat "$mkbase" "$fixup" "$mkinitrd" | sha256sum | cut -d' ' -f1)
                fresh() { [ -d "$base" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; }
                # Checked under a shared lock first: other tests hold one
                # while their guests run, and an exclusive lock would wait
                # for them to end. Only a rebuild needs it exclusive.
                flock -s 9
                if ! fresh; then
                        flock 9
                fi
                if fresh; then
                        echo "reusing the cached Debian base $base" >&2
                        exit 0
                fi
                command -v debootstrap >/dev/null ||
                        { echo "no cached Debian base and debootstrap is not installed (package debootstrap)"; exit 2; }
                mirror_reachable ||
                        { echo "no cached Debian base, and the Debian mirror of the host's apt sources is not reachable (or apt has no package lists: apt-get update)"; exit 2; }
                rm -f "$cache/stamp"
                echo "building the Debian base with cowvm-mkbase debootstrap (a few minutes)" >&2
                t0=$EPOCHREALTIME
                COWVM_STATE_DIR=$cache/state COWVM_MKBASE_FIXUP=$fixup COWVM_MKBASE_MKINITRD=$mkinitrd \
                        COWVM_MKBASE_OVERLAY_PREPARE=$prepare \
                        bash "$mkbase" debootstrap debian-12 --suite bookworm --replace >&2 ||
                        { echo "cowvm-mkbase debootstrap failed (its messages are above)"; exit 1; }
                echo "$stamp" >"$cache/stamp"
                echo "built the Debian base in $(elapsed "$t0" "$EPOCHREALTIME")s, $(du -sh --one-file-system "$base" | cut -f1)" >&2
        ) 9>"$cache/lock" || return $?
        echo "$base"
}

# debian_base_hold: a shared lock on the Debian base cache (fd 8) for the rest
# of the test, so that no other test replaces the base under a running guest.
debian_base_hold() {
        exec 8<"$TEST_CACHE/mkbase/lock"
        flock -s 8
}
