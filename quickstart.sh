#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ./quickstart.sh: from a fresh Debian 12 machine (as root) to a running VM.
#
# Installs what cowvm needs from Debian's archive, builds and installs cowvm,
# makes a small demo base (busybox and Debian's kernel, ~15 MB), defines the
# VM "demo", starts vm@demo and shows `systemctl status vm@demo` and the
# guest's console from the journal, with how long the start took.
#
# Where PID 1 is not systemd (a container, a CI runner) there is no systemd to
# install into: the same steps then run in a real systemd booted with
# systemd-nspawn over this machine's /usr (tests/system/lib/harness.sh), and
# the script says so.
set -eu
cd "$(dirname "$(realpath "$0")")"
[ "$(id -u)" = 0 ] || { echo "quickstart.sh: run me as root (it installs packages and starts a VM)." >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends meson ninja-build gcc libc6-dev pkgconf \
        libsystemd-dev libmount-dev libinih-dev qemu-system-x86 busybox-static cpio kmod zstd \
        systemd systemd-container util-linux procps >/dev/null

step "Building cowvm"
meson setup build-quickstart --prefix=/usr --buildtype=release >/dev/null 2>&1 ||
        meson setup --reconfigure build-quickstart --prefix=/usr --buildtype=release >/dev/null
ninja -C build-quickstart >/dev/null

step "Making the demo base (busybox + Debian's kernel)"
base=/var/lib/cowvm/bases/demo
tests/guest/make-test-base.sh "$base"

define_demo() { # writes the definition with the command given
        "$@" sh -c 'mkdir -p /etc/cowvm && cat > /etc/cowvm/demo.vm' <<'INI'
[VM]
Base=demo
Memory=256M
# Return from `systemctl start` once the guest said it booted.
ReadyOn=guest
INI
}

show() { # runs the demo with the command prefix given ("" or harness_exec NAME)
        local run=("$@") t0 t1
        define_demo "${run[@]}"
        step "systemctl start vm@demo"
        t0=$(date +%s%N)
        "${run[@]}" systemctl start vm@demo
        t1=$(date +%s%N)
        step "systemctl status vm@demo"
        "${run[@]}" systemctl status --no-pager vm@demo || true
        step "journalctl -u vm@demo (the guest's console)"
        "${run[@]}" journalctl --no-pager -o cat -u vm@demo | grep -a cowvm-test-guest || true
        step "vm@demo started in $(( (t1 - t0) / 1000000 )) ms"
        "${run[@]}" journalctl --no-pager -o cat -u vm@demo --grep '^Started (qemu|cloud-hypervisor)' | tail -n1
}

if [ "$(cat /proc/1/comm)" = systemd ]; then
        step "Installing cowvm into this system"
        meson install -C build-quickstart --quiet
        # For the unit templates just installed (a new definition needs none).
        systemctl daemon-reload
        show
        echo
        echo "Stop it with: systemctl stop vm@demo"
else
        step "PID 1 here is $(cat /proc/1/comm), not systemd: running the demo in a systemd booted with systemd-nspawn"
        # The harness: a real systemd over this machine's /usr, with the build
        # installed (meson install) on top; it stops when this script ends.
        . tests/system/lib/harness.sh
        harness_require
        harness_stage_install build-quickstart
        harness_start demo --bind-ro="$base:$base"
        show harness_exec demo
        step "Stopping vm@demo and the container"
        harness_exec demo systemctl stop vm@demo
fi
