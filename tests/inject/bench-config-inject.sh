#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark, not a test: time of config-inject on a real base tree mounted as
# an overlay, and what it writes into the upper layer (bytes, inodes).
#
# Usage: bench-config-inject.sh CONFIG_INJECT BASE_DIR [RUNS]
#   BASE_DIR: e.g. made by
#   debootstrap --variant=minbase --include=systemd-sysv,udev,iproute2,openssh-server,netbase bookworm DIR
set -eu

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

CI=$(realpath "$1")
BASE=$(realpath "$2")
RUNS=${3:-20}

require_root "mounts an overlay"
private_mounts "$@"

W=$(mktemp -d /var/tmp/cowvm-bench-XXXXXX)
trap 'umount "$W/run/vm1/root" 2>/dev/null || true; rm -rf "$W"' EXIT
export COWVM_DEFINITION_PATH=$W/defs COWVM_STATE_DIR=$W/state COWVM_RUNTIME_DIR=$W/run COWVM_LOG_TARGET=console
UPPER=$W/state/vms/vm1/upper WORK=$W/state/vms/vm1/work ROOT=$W/run/vm1/root
mkdir -p "$W/defs" "$UPPER" "$WORK" "$ROOT"
cat >"$W/defs/vm1.vm" <<EOT
[VM]
Base=$BASE
[Guest]
PasswordHash=\$6\$saltsalt\$0123456789abcdefABCDEF./
SSHAuthorizedKey=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl one@host
[Network]
Address=192.168.10.2/24
Gateway=192.168.10.1
DNS=192.168.10.1
EOT

mount_root() {
        mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$UPPER,workdir=$WORK,index=on,nfs_export=on,xino=auto" "$ROOT"
}
ms() { echo $(( ($2 - $1) / 1000000 )).$(( ($2 - $1) / 10000 % 100 )); }

mount_root
t0=$(date +%s%N); "$CI" vm1 2>/dev/null; t1=$(date +%s%N)
echo "first run (fresh upper):   $(ms "$t0" "$t1") ms"
echo "upper after first run:     $(du -s --block-size=1 "$UPPER" | cut -f1) bytes allocated," \
     "$(du -s --apparent-size --block-size=1 "$UPPER" | cut -f1) bytes apparent," \
     "$(find "$UPPER" -mindepth 1 | wc -l) inodes (files, dirs, links, whiteouts)"
find "$UPPER" -mindepth 1 -printf '  %y %P\n' | sort

t0=$(date +%s%N)
for _ in $(seq "$RUNS"); do "$CI" vm1 2>/dev/null; done
t1=$(date +%s%N)
echo "later runs (nothing to do): $(ms 0 $(( (t1 - t0) / RUNS ))) ms each, mean of $RUNS"
echo "upper after $RUNS more runs:  $(find "$UPPER" -mindepth 1 | wc -l) inodes"

# Every start from a fresh upper (Ephemeral=yes-like).
total=0
for _ in $(seq "$RUNS"); do
        umount "$ROOT"; rm -rf "$UPPER" "$WORK"; mkdir -p "$UPPER" "$WORK"; mount_root
        t0=$(date +%s%N); "$CI" vm1 2>/dev/null; t1=$(date +%s%N)
        total=$(( total + t1 - t0 ))
done
echo "fresh-upper runs:          $(ms 0 $(( total / RUNS ))) ms each, mean of $RUNS"
