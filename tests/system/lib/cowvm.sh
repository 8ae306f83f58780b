# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# What every cowvm system test does: the build installed into a container
# running a real systemd (harness.sh), the busybox test base bound as base
# "test", and helpers that act the way a user does: definitions in
# /etc/cowvm, systemctl, journalctl. Source it, then call cowvm_boot.
#
#   cowvm_boot BUILDDIR [nspawn args...]
#   vm_define NAME [KEY=VALUE in [VM]...]      # or: vm_define NAME < file
#   C CMD...                                  # run CMD in the container
#   systemctl_ok / systemctl_fails ...
#   vm_create NAME                            # first start and stop: its upper layer exists
#   vm_hook NAME FILE < script                # a boot hook into NAME's upper layer
#   vm_gone NAME                              # nothing of NAME left: mount, processes, sockets
#   vm_path NAME WHAT                         # where NAME's WHAT is on the host (lib/vm-layout.h)
#   wait_machine_registered / wait_machine_forgotten NAME   # systemd-machined's view
# fail, ok, skip, require_* and the caches come from tests/lib/test-lib.sh.
#
# Every scenario runs against the host's systemd instead when
# COWVM_SYSTEM_TEST_HOST=1 is set and PID 1 is systemd (off by default: it
# changes /etc/cowvm and /var/lib/cowvm of the machine it runs on).

set -eu
set -o pipefail

SYSTEM_TESTS=$(dirname "$(realpath "${BASH_SOURCE[0]}")")/..
. "$SYSTEM_TESTS/lib/harness.sh"

CT=
COWVM_ON_HOST=

# C CMD...: run in the container (or on the host with COWVM_SYSTEM_TEST_HOST=1).
C() {
        if [ -n "$COWVM_ON_HOST" ]; then
                "$@"
        else
                harness_exec "$CT" "$@"
        fi
}

cowvm_boot() {
        local build=$1
        shift

        require_cmd qemu-system-x86_64 qemu-system-x86
        require_virtiofsd
        test_base >/dev/null

        if [ "${COWVM_SYSTEM_TEST_HOST:-}" = 1 ] && [ "$(cat /proc/1/comm)" = systemd ]; then
                COWVM_ON_HOST=1
                mkdir -p /var/lib/cowvm/bases /etc/cowvm
                ln -sfn "$TEST_BASE" /var/lib/cowvm/bases/test
                return 0
        fi
        harness_require
        harness_stage_install "$build"
        CT=cowvm-$$
        # The base is bound read-only: nothing a VM does may write to it.
        harness_start "$CT" --bind-ro="$TEST_BASE:/var/lib/cowvm/bases/test" "$@"
        C mkdir -p /etc/cowvm
}

# vm_define NAME [LINE...]: /etc/cowvm/NAME.vm with Base=test and the given
# [VM] lines; without LINEs, the definition comes from stdin.
vm_define() {
        local name=$1
        shift
        if [ $# -eq 0 ] && [ ! -t 0 ]; then
                C sh -c "cat > /etc/cowvm/$name.vm"
        else
                printf '%s\n' "[VM]" "Base=test" "$@" | C sh -c "cat > /etc/cowvm/$name.vm"
        fi
}

# vm_path NAME WHAT: the host path of VM NAME's WHAT, laid out as
# lib/vm-layout.h does (tests/unit/test-vm-layout.c holds the C side to the
# same paths): state, upper, work, base-record (of a persistent VM); runtime,
# root, socket, vmm, ephemeral, ephemeral-upper, ephemeral-work.
vm_path() {
        local state=/var/lib/cowvm/vms/$1 run=/run/cowvm/$1
        case $2 in
        state) echo "$state" ;;
        upper | work) echo "$state/$2" ;;
        base-record) echo "$state/base" ;;
        runtime) echo "$run" ;;
        root) echo "$run/root" ;;
        socket) echo "$run/virtiofsd.sock" ;;
        vmm) echo "$run/vmm" ;;
        ephemeral) echo "$run/ephemeral" ;;
        ephemeral-upper | ephemeral-work) echo "$run/ephemeral/${2#ephemeral-}" ;;
        *) fail "vm_path: no path '$2'" ;;
        esac
}

# vm_create NAME: the first start of a defined VM makes its upper layer (its
# disk); it is stopped again so that hooks can go into the upper layer as
# files of the VM's own disk (vm_hook) before the start that uses them.
vm_create() {
        local name=$1
        step "creating $name"
        C systemctl start "vm@$name" || fail "systemctl start vm@$name failed: $(C systemctl status --no-pager "vm@$name")"
        C systemctl stop "vm@$name"
        wait_vm_gone "$name"
}

# vm_hook NAME FILE < SCRIPT: SCRIPT as /etc/cowvm-test.d/FILE in NAME's upper
# layer, executable; the test guest's init runs /etc/cowvm-test.d/*.sh in
# order at every boot.
vm_hook() {
        local dir
        dir=$(vm_path "$1" upper)/etc/cowvm-test.d
        C mkdir -p "$dir"
        # shellcheck disable=SC2016 # $1 of the inner shell
        C sh -c 'cat > "$1" && chmod 755 "$1"' sh "$dir/$2"
}

# systemd-machined lists NAME as a VM of cowvm's, or does not list it at all.
machine_registered() {
        local out
        out=$(C machinectl list --no-legend --no-pager)
        grep -qE "^$1 +vm +cowvm( |$)" <<<"$out"
}
machine_forgotten() {
        local out
        out=$(C machinectl list --no-legend --no-pager)
        ! grep -q "^$1 " <<<"$out"
}

# wait_machine_registered NAME, wait_machine_forgotten NAME [SECONDS]:
# registration and its end follow the unit asynchronously.
wait_machine_registered() {
        harness_wait_for "machine $1 in machinectl list" 60 machine_registered "$1"
}
wait_machine_forgotten() {
        harness_wait_for "machine $1 to go" "${2:-60}" machine_forgotten "$1"
}

# The unit's state, as `systemctl is-active` prints it.
unit_state() {
        C systemctl is-active "$1" 2>/dev/null || true
}

# Nothing of VM NAME is left: no mount, no unit of its chain active, no
# process in its cgroups, no socket or directory under /run/cowvm/NAME.
vm_gone() {
        local name=$1 u run mounts procs
        for u in "vm@$name.service" "virtiofsd@$name.service" "virtiofsd@$name.socket" "overlay-prepare@$name.service"; do
                case "$(unit_state "$u")" in
                active|activating|deactivating|reloading) echo "$u is still $(unit_state "$u")"; return 1 ;;
                esac
        done
        run=$(vm_path "$name" runtime)
        mounts=$(C findmnt -rn -o TARGET)
        if grep -q "^$run/" <<<"$mounts"; then
                echo "still mounted: $(grep "^$run/" <<<"$mounts")"
                return 1
        fi
        if C test -e "$run"; then
                echo "left behind: $(C find "$run")"
                return 1
        fi
        # virtiofsd names the root in its arguments; QEMU and the helpers
        # only the VM's name (QEMU gets its channels as fds).
        procs="cowvm/$name/|/ch-launch $name\$|/virtiofsd-exec $name\$| -name $name "
        if C pgrep -f "$procs" >/dev/null; then
                echo "processes left: $(C pgrep -af "$procs")"
                return 1
        fi
        return 0
}

# wait_vm_gone NAME: the chain winds down asynchronously after a failure.
wait_vm_gone() {
        local i out
        for i in $(seq 1 300); do
                out=$(vm_gone "$1") && return 0
                sleep 0.1
        done
        echo "--- the journal up to the first repeated line:" >&2
        C journalctl -b --no-pager -o short-monotonic | grep -v fv_queue | awk '{ l = $0; sub(/^[^]]*] /, "", l); if (seen[l]++ > 2) exit; print }' | tail -n 80 >&2 || true
        fail "VM $1 not cleaned up: $out"
}

# The console lines ch-launch sent to the journal for VM NAME. (Tests match
# with grep on a here-string, never `| grep -q`: with pipefail, grep -q
# exiting early makes the pipeline fail with SIGPIPE.)
vm_console() {
        local out
        out=$(C journalctl --no-pager -o cat COWVM_VM="$1" COWVM_SOURCE=console)
        printf '%s\n' "${out//$'\r'/}"
}

# The same, of the VM's current run only (this invocation of vm@NAME).
vm_console_this_run() {
        local out id
        id=$(C systemctl show -P InvocationID "vm@$1.service")
        out=$(C journalctl --no-pager -o cat COWVM_VM="$1" COWVM_SOURCE=console _SYSTEMD_INVOCATION_ID="$id")
        printf '%s\n' "${out//$'\r'/}"
}

# systemctl start that must fail; prints what systemctl status says.
start_must_fail() {
        local unit=$1
        if C systemctl start "$unit" 2>/dev/null; then
                fail "systemctl start $unit succeeded"
        fi
        C systemctl status --no-pager -n 20 "$unit" 2>&1 || true
}

# step TEXT: says where the test is, in its output and in the container's
# journal (so that report_cgroup_trouble can tell what the test was doing).
step() {
        echo "--- $*"
        C logger -t cowvm-test -- "step: $*" 2>/dev/null || true
}

# A known intermittent problem of systemd in nspawn on a cgroup v1 hybrid
# host: a mount unit's umount fails, again and again, with "Failed to attach
# to cgroup /system.slice/run-cowvm-NAME-root.mount: No such file or
# directory" (219/CGROUP). Prints, for each step of the test during which it
# happened, how often and for which units; prints nothing if it did not.
report_cgroup_trouble() {
        local out
        out=$(C journalctl -b --no-pager -o cat 2>/dev/null) || return 0
        awk '
                /^step: / { step = substr($0, 7); next }
                /Failed to attach to cgroup/ || /status=219\/CGROUP/ {
                        u = $0
                        if (match(u, /run-cowvm-[^ :]*\.mount/)) u = substr(u, RSTART, RLENGTH); else u = "?"
                        key = (step == "" ? "(before the first step)" : step) " | " u
                        if (!(key in n)) order[++k] = key
                        n[key]++
                }
                END {
                        for (i = 1; i <= k; i++)
                                printf "NOTE: cgroup attach failure (219/CGROUP) x%d during: %s\n", n[order[i]], order[i]
                }' <<<"$out"
}

# ---- the Debian base (cowvm-mkbase debootstrap), shared by the tests ---------

# cowvm_debian_base BUILDDIR: prints the directory of a Debian base made by
# the build's cowvm-mkbase, the one tests/mkbase/test-mkbase-debootstrap.sh
# boots too (debian_base of test-lib.sh: one cache, one lock, one stamp).
# Returns 1 with the reason printed on failure, 2 when it cannot be had here:
# callers skip then. $COWVM_TEST_DEBIAN_BASE names another base. Take
# cowvm_debian_hold before booting it.
cowvm_debian_base() {
        local build=$1

        if [ -n "${COWVM_TEST_DEBIAN_BASE:-}" ]; then
                [ -f "$COWVM_TEST_DEBIAN_BASE/etc/cowvm-base-id" ] ||
                        { echo "\$COWVM_TEST_DEBIAN_BASE=$COWVM_TEST_DEBIAN_BASE is not a cowvm base"; return 1; }
                echo "$COWVM_TEST_DEBIAN_BASE"
                return 0
        fi
        debian_base "$build/mkbase/cowvm-mkbase" "$build/mkbase/mkbase-fixup" "$(dirname "$TESTS_DIR")/mkbase/mkinitrd" \
                "$build/helpers/overlay-prepare/overlay-prepare"
}

# cowvm_debian_hold: keeps the base from being replaced while guests run.
cowvm_debian_hold() {
        [ -n "${COWVM_TEST_DEBIAN_BASE:-}" ] && return 0
        debian_base_hold
}
