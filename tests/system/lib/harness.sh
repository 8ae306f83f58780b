# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# System-test harness: boots a real systemd in systemd-nspawn and drives it.
#
#   . "$(dirname "$0")/lib/harness.sh"
#   harness_require                       # exit 77 unless this machine can do it
#   harness_stage_install "$BUILD_DIR"    # optional: the build, as the container sees it
#   harness_start NAME [nspawn args...]   # boot, wait for running/degraded
#   harness_exec NAME CMD...              # run CMD in the container
#   harness_stop NAME                     # orderly shutdown
#   harness_journal NAME [journalctl args], harness_wait_for WHAT SECONDS CMD...,
#   harness_leader NAME (host PID of its systemd), harness_dir, harness_at_exit CMD
#
# It sources tests/lib/test-lib.sh (skip, fail, require_*...); harness_skip
# is its skip.
#
# The container is the host's own OS: `-D / --volatile=yes` gives it the host's
# /usr (read-only) and an empty tmpfs for everything else, so /etc and /var
# start empty. Anything else it needs comes in through nspawn arguments, e.g.
# --bind=DIR:/var/lib/cowvm. The host's PID 1 is not systemd, hence
# --register=no --keep-unit, and no machinectl: we enter the container with
# nsenter on its PID 1.
#
# Containers never outlive the test: each systemd-nspawn is started with a
# parent-death signal (SIGKILL when the test's shell dies, whatever kills it),
# and an EXIT trap stops the ones still running, after dumping their journal if
# the test failed. Do not call harness_start in a subshell ($(...), a pipeline,
# ( ... )): the container would die with the subshell. Tests that need their own
# cleanup register it with harness_at_exit; it runs after the containers are gone
# (so it may unmount what they had bound).
#
# What the container gets besides nspawn's defaults (HARNESS_NSPAWN_ARGS, an
# array; set it before sourcing this file to replace it):
#   --private-network --capability=CAP_NET_ADMIN
#       tap devices and bridges for VM networking, made in the container's own
#       network namespace, never on the host.
# Nothing else is needed for the VM chain: with nspawn 252's defaults, overlayfs
# mounts, /usr/lib/qemu/virtiofsd (it speaks vhost-user and needs no /dev/fuse),
# QEMU under TCG (memfd shared memory) and /dev/net/tun (nspawn creates it) all
# work in the container, checked by test-guest-in-container.sh. For FUSE
# file systems add --bind=/dev/fuse; nspawn 252 does not create that node.
#
# HARNESS_ROOT=DIR (set before harness_start) boots the OS tree in DIR instead:
# its own /usr, /etc and /var, writable (the test gives it an overlay of its
# own), for a test that installs packages into the container's OS.
#
# Environment: HARNESS_BOOT_TIMEOUT (s, default 120), HARNESS_STOP_TIMEOUT
# (s, default 60), HARNESS_KEEP=1 keeps the log directory.

# shellcheck source=../../lib/test-lib.sh
. "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../../lib/test-lib.sh"

HARNESS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HARNESS_BOOT_TIMEOUT=${HARNESS_BOOT_TIMEOUT:-120}
HARNESS_STOP_TIMEOUT=${HARNESS_STOP_TIMEOUT:-60}
if ! declare -p HARNESS_NSPAWN_ARGS >/dev/null 2>&1; then
        HARNESS_NSPAWN_ARGS=(--private-network --capability=CAP_NET_ADMIN)
fi

declare -A _HARNESS_JOB=()
declare -A _HARNESS_NSPAWN_PID=()
declare -A _HARNESS_LEADER=()
declare -a _HARNESS_AT_EXIT=()
_HARNESS_DIR=
HARNESS_STAGE=

harness_log() {
        echo "harness: $*" >&2
}

harness_die() {
        echo "harness: ERROR: $*" >&2
        exit 1
}

harness_skip() {
        skip "$@"
}

# Exits 77 (skip) unless a systemd can be booted in a container here.
harness_require() {
        require_root "systemd-nspawn"
        require_cmd systemd-nspawn systemd-container
        require_cmd nsenter util-linux
        require_cmd setpriv util-linux
        [ -x /usr/lib/systemd/systemd ] || skip "no /usr/lib/systemd/systemd to boot (package systemd)"
}

# A directory for logs and staged files, removed at exit unless HARNESS_KEEP=1.
# Made when this file is sourced: harness_dir runs in $(...), where a lazily
# made directory would be forgotten (and leaked) with the subshell.
harness_dir() {
        echo "$_HARNESS_DIR"
}

# harness_at_exit CMD: run CMD (with eval) at exit, after the containers are
# stopped; the last registered runs first.
harness_at_exit() {
        _HARNESS_AT_EXIT+=("$1")
}

_harness_exit() {
        local rc=$? name i

        trap - EXIT INT TERM HUP
        # Whatever fails from here on, the rest of the cleanup must still run.
        set +e
        for name in "${!_HARNESS_JOB[@]}"; do
                if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
                        harness_log "test failed ($rc): journal of container $name follows"
                        [ -z "${_HARNESS_LEADER[$name]:-}" ] ||
                                harness_exec "$name" journalctl -b --no-pager -o short-monotonic -n 300 >&2
                fi
                harness_stop "$name" || true
        done
        for (( i = ${#_HARNESS_AT_EXIT[@]} - 1; i >= 0; i-- )); do
                eval "${_HARNESS_AT_EXIT[$i]}" || true
        done
        if [ -n "$_HARNESS_DIR" ]; then
                if [ -n "${HARNESS_KEEP:-}" ]; then
                        harness_log "kept $_HARNESS_DIR"
                else
                        _harness_umount_below "$_HARNESS_DIR"
                        rm -rf -- "$_HARNESS_DIR"
                fi
        fi
        exit "$rc"
}
_HARNESS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-harness.XXXXXX") ||
        harness_die "cannot create a temporary directory"
trap _harness_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

_harness_umount_below() {
        local m

        # Deepest first.
        findmnt -rn -o TARGET | grep "^$1/" | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null || true
        done
}

# harness_stage_install BUILDDIR: `meson install` the build into a staging
# directory, which harness_start then lays over the container's /usr (an
# overlay: the host's /usr below, the staged files above). The build is tested
# as installed, and the host's /usr and /usr/local stay untouched. Files that
# the install puts outside /usr: /lib/... goes to /usr/lib/... (merged /usr),
# /etc/... is bound read-only into the container's /etc.
harness_stage_install() {
        local build=$1 stage d

        stage="$(harness_dir)/stage"
        rm -rf -- "$stage"
        mkdir -p "$stage"
        meson install -C "$build" --destdir "$stage" --quiet >"$(harness_dir)/install.log" 2>&1 ||
                harness_die "meson install -C $build failed: $(tail -n 20 "$(harness_dir)/install.log")"
        # merged /usr: /lib, /bin, /sbin of the install are /usr/lib, ... in the container
        for d in lib lib64 bin sbin; do
                [ -d "$stage/$d" ] || continue
                mkdir -p "$stage/usr/$d"
                cp -a "$stage/$d/." "$stage/usr/$d/"
                rm -rf -- "${stage:?}/$d"
        done
        for d in "$stage"/*; do
                case "${d##*/}" in
                usr|etc) ;;
                *) harness_die "meson install put files in /${d##*/}, which the container cannot see" ;;
                esac
        done
        HARNESS_STAGE=$stage
}

# The nspawn arguments that make the staged install visible.
_harness_stage_args() {
        local d

        [ -n "$HARNESS_STAGE" ] || return 0
        [ ! -d "$HARNESS_STAGE/usr" ] || echo "--overlay-ro=/usr:$HARNESS_STAGE/usr:/usr"
        if [ -d "$HARNESS_STAGE/etc" ]; then
                for d in "$HARNESS_STAGE"/etc/*; do
                        [ -e "$d" ] && echo "--bind-ro=$d:/etc/${d##*/}"
                done
        fi
        return 0
}

# The host PIDs of systemd-nspawn (the only child of `unshare --fork`, PID 1
# of the outer PID namespace) and of the container's systemd (nspawn's child,
# PID 1 of the inner one).
_harness_find_nspawn() {
        local pid

        # By name: until the job has exec'ed unshare, its children are
        # short-lived subshells of _harness_cgroup_enter.
        for pid in $(pgrep -P "$1"); do
                if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd-nspawn ]; then
                        echo "$pid"
                        return 0
                fi
        done
        return 0
}

_harness_find_leader() {
        local nspawn_pid=$1 pid

        for pid in $(pgrep -P "$nspawn_pid"); do
                if grep -qE "^NSpid:[[:space:]]+${pid}[[:space:]]+[0-9]+[[:space:]]+1\$" "/proc/$pid/status" 2>/dev/null &&
                   [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
                        echo "$pid"
                        return 0
                fi
        done
        return 1
}

# _harness_cgroup_dirs NAME: one directory per cgroup hierarchy this shell is
# in, below its own cgroup there, for the container NAME.
_harness_cgroup_dirs() {
        local id ctrl path mnt
        while IFS=: read -r id ctrl path; do
                if [ -z "$ctrl" ]; then
                        mnt=$(findmnt -rn -t cgroup2 -o TARGET | head -n1)
                else
                        mnt=$(findmnt -rn -t cgroup -o TARGET,OPTIONS |
                              awk -v c="${ctrl}" '{ n = split($2, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $1; exit } }')
                fi
                [ -n "$mnt" ] && echo "$mnt${path%/}/cowvm-harness-$1"
        done </proc/self/cgroup
}

# _harness_cgroup_enter NAME: moves this (sub)shell into cgroups of its own.
# nspawn --keep-unit makes the cgroup it runs in the container's root: two
# containers started from one cgroup would share it, and each one's systemd
# would trim the other's (empty) unit cgroups, e.g. at shutdown.
_harness_cgroup_enter() {
        local d
        for d in $(_harness_cgroup_dirs "$1"); do
                mkdir -p "$d" || continue
                # A v1 cpuset takes no process before it has CPUs and nodes.
                if [ -e "$d/cpuset.cpus" ] && [ -z "$(cat "$d/cpuset.cpus")" ]; then
                        cat "${d%/*}/cpuset.cpus" >"$d/cpuset.cpus"
                        cat "${d%/*}/cpuset.mems" >"$d/cpuset.mems"
                fi
                echo "$BASHPID" >"$d/cgroup.procs" ||
                        harness_log "cannot move into cgroup $d"
        done
}

_harness_cgroup_remove() {
        local d
        for d in $(_harness_cgroup_dirs "$1"); do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
}

# harness_start NAME [extra systemd-nspawn args...]
# Boots the container and returns once `systemctl is-system-running` says
# running or degraded (degraded: logs the failed units). Fails the test if it
# does not get there within HARNESS_BOOT_TIMEOUT. Sets HARNESS_BOOT_SECONDS.
harness_start() {
        local name=$1 dir console job nspawn_pid='' leader state end t0 stage_args=() root_args=(-D / --volatile=yes)
        shift
        [ -z "${HARNESS_ROOT:-}" ] || root_args=(-D "$HARNESS_ROOT")

        [ -z "${_HARNESS_JOB[$name]:-}" ] || harness_die "container $name is already running"
        [ "$BASH_SUBSHELL" -eq 0 ] || harness_die "harness_start must not run in a subshell: the container would die with it"
        dir=$(harness_dir)
        console="$dir/$name.console"
        mapfile -t stage_args < <(_harness_stage_args)

        t0=$EPOCHREALTIME
        # If this shell dies without running its EXIT trap (SIGKILL, say), the
        # container must die too. Killing nspawn is not enough: the container's
        # systemd survives it, reparented to the host's PID 1. So nspawn runs as
        # PID 1 of a PID namespace of its own, which the kernel tears down with
        # everything in it, container included, when nspawn dies; and nspawn
        # dies with unshare (--kill-child), which dies with this shell
        # (setpriv --pdeathsig). --mount-proc: nspawn must see a /proc of its own
        # PID namespace, or it fails to tear down --private-network at exit.
        # setsid: a signal to the test's process group
        # (meson's timeout) reaches the test, whose EXIT trap then stops the
        # container in order, not the container directly.
        (
                _harness_cgroup_enter "$name"
                exec setpriv --pdeathsig KILL setsid \
                        unshare --pid --mount-proc --kill-child=KILL -- \
                        systemd-nspawn -q "${root_args[@]}" -M "$name" --register=no --keep-unit \
                        "${HARNESS_NSPAWN_ARGS[@]}" "${stage_args[@]}" "$@" \
                        -b systemd.firstboot=off
        ) </dev/null >"$console" 2>&1 &
        job=$!
        _HARNESS_JOB[$name]=$job

        end=$(( ${EPOCHREALTIME%.*} + HARNESS_BOOT_TIMEOUT ))
        until [ -n "$nspawn_pid" ] && leader=$(_harness_find_leader "$nspawn_pid"); do
                kill -0 "$job" 2>/dev/null ||
                        harness_die "systemd-nspawn for $name exited at start: $(tail -n 20 "$console")"
                [ "${EPOCHREALTIME%.*}" -lt "$end" ] || harness_die "container $name has no PID 1 after ${HARNESS_BOOT_TIMEOUT}s"
                [ -n "$nspawn_pid" ] || nspawn_pid=$(_harness_find_nspawn "$job")
                sleep 0.05
        done
        _HARNESS_NSPAWN_PID[$name]=$nspawn_pid
        _HARNESS_LEADER[$name]=$leader

        # is-system-running fails until the manager listens on its private
        # socket; --wait then blocks until start-up has finished.
        while :; do
                kill -0 "$job" 2>/dev/null ||
                        harness_die "container $name stopped while booting: $(tail -n 20 "$console")"
                state=$(harness_exec "$name" timeout 5 systemctl is-system-running --wait 2>/dev/null) || true
                case "$state" in
                running) break ;;
                degraded)
                        harness_log "container $name is degraded; failed units:"
                        harness_exec "$name" systemctl --failed --no-legend --no-pager >&2 || true
                        break ;;
                esac
                [ "${EPOCHREALTIME%.*}" -lt "$end" ] ||
                        harness_die "container $name not running after ${HARNESS_BOOT_TIMEOUT}s (state: ${state:-unknown})"
                sleep 0.1
        done
        HARNESS_BOOT_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        harness_log "container $name is $state after ${HARNESS_BOOT_SECONDS}s (PID 1 = host PID $leader)"
}

# harness_leader NAME: the host PID of the container's systemd.
harness_leader() {
        [ -n "${_HARNESS_LEADER[$1]:-}" ] || harness_die "no container $1"
        echo "${_HARNESS_LEADER[$1]}"
}

# harness_exec NAME CMD...: runs CMD in all of the container's namespaces, as
# root, with a clean environment (nothing of the test's environment leaks in;
# pass variables explicitly: harness_exec NAME env FOO=1 cmd). It runs outside
# the container's cgroups: use systemd-run for anything that must be a service.
harness_exec() {
        local name=$1 leader
        shift

        leader=${_HARNESS_LEADER[$name]:-}
        [ -n "$leader" ] || harness_die "harness_exec: no container $name"
        nsenter -t "$leader" -a -r -w -- \
                /usr/bin/env -i PATH="$HARNESS_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 \
                "$@"
}

# harness_stop NAME: orderly shutdown (SIGTERM makes nspawn ask the container's
# systemd to power off), SIGKILL after HARNESS_STOP_TIMEOUT. Returns non-zero
# if the shutdown was not clean.
harness_stop() {
        local name=$1 job nspawn_pid end rc=0

        job=${_HARNESS_JOB[$name]:-}
        [ -n "$job" ] || return 0
        nspawn_pid=${_HARNESS_NSPAWN_PID[$name]:-}
        [ -n "$nspawn_pid" ] || nspawn_pid=$(_harness_find_nspawn "$job")
        # unshare ignores SIGTERM while it waits for its child: signal nspawn.
        if [ -n "$nspawn_pid" ]; then
                kill -TERM "$nspawn_pid" 2>/dev/null || true
        else
                kill -KILL "$job" 2>/dev/null || true
        fi
        end=$(( ${EPOCHREALTIME%.*} + HARNESS_STOP_TIMEOUT ))
        while kill -0 "$job" 2>/dev/null; do
                if [ "${EPOCHREALTIME%.*}" -ge "$end" ]; then
                        harness_log "container $name did not stop within ${HARNESS_STOP_TIMEOUT}s, killing it"
                        # nspawn is PID 1 of its PID namespace: SIGKILL takes
                        # the whole container down with it.
                        kill -KILL "$nspawn_pid" "$job" 2>/dev/null || true
                        rc=1
                        break
                fi
                sleep 0.1
        done
        wait "$job" 2>/dev/null || { rc=$?; harness_log "container $name: systemd-nspawn exited with status $rc"; }
        # nspawn leaves this behind when it is killed (an empty directory).
        rmdir "/run/systemd/nspawn/propagate/$name" 2>/dev/null || true
        _harness_cgroup_remove "$name"
        unset "_HARNESS_JOB[$name]" "_HARNESS_NSPAWN_PID[$name]" "_HARNESS_LEADER[$name]"
        return $rc
}

# harness_journal NAME [journalctl args...]: the container's journal of this boot.
harness_journal() {
        local name=$1
        shift
        harness_exec "$name" journalctl -b --no-pager "$@"
}

# harness_wait_for WHAT SECONDS CMD...: polls CMD until it succeeds; fails the
# test naming WHAT after SECONDS. The limit only keeps a broken test from
# hanging the suite; it is no assertion about speed.
harness_wait_for() {
        local what=$1 limit=$2 end
        shift 2
        end=$(( ${EPOCHREALTIME%.*} + limit ))
        until "$@"; do
                [ "${EPOCHREALTIME%.*}" -lt "$end" ] || harness_die "no $what after ${limit}s"
                sleep 0.1
        done
}
