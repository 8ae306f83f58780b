#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The harness itself: boots systemd in a container, runs a transient service
# in it and shuts it down cleanly. With a build directory as argument, also
# stages `meson install` of it and checks that the container's systemd sees
# the installed units and the generator, wherever the build put them.
#
# test-harness-smoke.sh [BUILDDIR]

set -eu
set -o pipefail

. "$(dirname "$(realpath "$0")")/lib/harness.sh"
harness_require

BUILD=${1:-}
if [ -n "$BUILD" ]; then
        require_cmd meson meson
        harness_stage_install "$BUILD"
fi

NAME=smoke-$$
harness_start "$NAME"
BOOT=$HARNESS_BOOT_SECONDS

state=$(harness_exec "$NAME" systemctl is-system-running) || true
case "$state" in
running|degraded) ;;
*) fail "is-system-running says '$state' after harness_start" ;;
esac

# A transient service: proves we talk to the container's manager, not the host's.
harness_exec "$NAME" systemd-run --wait --quiet --unit=smoke-true true ||
        fail "systemd-run --wait true failed in the container"
out=$(harness_exec "$NAME" systemd-run --wait --pipe --quiet cat /proc/1/comm) ||
        fail "systemd-run --pipe failed in the container"
[ "$out" = systemd ] || fail "PID 1 in the container is '$out', not systemd"

# The environment of the test does not leak into the container.
export COWVM_HARNESS_LEAK=1
harness_exec "$NAME" sh -c '[ -z "${COWVM_HARNESS_LEAK:-}" ]' || fail "harness_exec leaks the environment"

if [ -n "$BUILD" ]; then
        for unit in vm@smoke.service virtiofsd@smoke.socket virtiofsd@smoke.service overlay-prepare@smoke.service; do
                load=$(harness_exec "$NAME" systemctl show -P LoadState "$unit")
                [ "$load" = loaded ] || fail "the container's systemd does not see $unit (LoadState=$load)"
        done
        # Generators run at boot and at daemon-reload from the generator
        # directories: the installed one must be in one of them, executable.
        found=
        for d in /usr/local/lib/systemd/system-generators /usr/lib/systemd/system-generators /lib/systemd/system-generators; do
                if harness_exec "$NAME" test -x "$d/cowvm-generator"; then
                        found=$d
                        break
                fi
        done
        [ -n "$found" ] || fail "cowvm-generator is in no generator directory the container's systemd runs"
        echo "installed units are seen; the generator is $found/cowvm-generator"
fi

T0=$EPOCHREALTIME
harness_stop "$NAME" || fail "the container did not shut down cleanly"
STOP=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')

echo "harness-smoke: boot to '$state' ${BOOT}s, shutdown ${STOP}s"
echo PASS
