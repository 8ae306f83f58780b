#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/debian-creation.sh BUILDDIR BASE [ROUNDS]
#
# The host-side cost of creating a VM over BASE, without systemd or a
# hypervisor: overlay-prepare start, overlay-prepare mount (as
# overlay-prepare@ runs them) and config-inject (what ch-launch does before it
# starts the hypervisor), ROUNDS times (default 20) with a fresh
# VM each time, on this machine's disk (/var/tmp). Reports per-step times and
# what the upper layer holds afterwards (bytes, inodes). Then the baseline:
# creating the VM by copying BASE (cp -a) and by copying a raw ext4 image of
# it, each followed by sync, as a copy-based VM creation must. Prints JSON.
set -eu
if [ -z "${COWVM_IN_NAMESPACE:-}" ]; then
        exec env COWVM_IN_NAMESPACE=1 unshare -m --propagation private "$0" "$@"
fi
BUILD=$(realpath "$1") BASE=$(realpath "$2") ROUNDS=${3:-20}
prep=$BUILD/helpers/overlay-prepare/overlay-prepare
inject=$BUILD/helpers/config-inject/config-inject
W=$(mktemp -d -p /var/tmp cowvm-bench.XXXXXX)
trap 'umount -R "$W/run" 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/etc" "$W/state/bases" "$W/run"
# Nothing boots here: a stand-in kernel file satisfies overlay-prepare's check
# on bases made without one.
: >"$W/vmlinuz"
export COWVM_DEFINITION_PATH=$W/etc COWVM_STATE_DIR=$W/state COWVM_RUNTIME_DIR=$W/run COWVM_LOG_TARGET=console

key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bench@host"
now() { date +%s%6N; }
rows=()
for r in $(seq 1 "$ROUNDS"); do
        name=vm$r
        rm -f "$W"/etc/*.vm
        printf '[VM]\nBase=%s\nKernel=%s\n[Guest]\nPasswordHash=$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o7.JbF6fDNcPZTR/QdoJpYbJeHL4OoGB.\nSSHAuthorizedKey=%s\n[Network]\nAddress=10.0.0.%d/24\nGateway=10.0.0.1\nDNS=10.0.0.1\n' \
                "$BASE" "$W/vmlinuz" "$key" $((r + 1)) >"$W/etc/$name.vm"
        t0=$(now)
        "$prep" start "$name" 2>"$W/log" || { cat "$W/log" >&2; exit 1; }
        t1=$(now)
        "$prep" mount "$name" 2>"$W/log" || { cat "$W/log" >&2; exit 1; }
        t2=$(now)
        "$inject" "$name" 2>"$W/log" || { cat "$W/log" >&2; exit 1; }
        t3=$(now)
        upper=$W/state/vms/$name/upper
        bytes=$(du -s --apparent-size --block-size=1 "$upper" | cut -f1)
        alloc=$(du -s --block-size=1 "$upper" | cut -f1)
        inodes=$(find "$upper" -mindepth 1 | wc -l)
        rows+=("{\"prepare_us\":$((t1 - t0)),\"mount_us\":$((t2 - t1)),\"inject_us\":$((t3 - t2)),\"upper_bytes\":$bytes,\"upper_allocated\":$alloc,\"upper_inodes\":$inodes}")
        [ "$r" = 1 ] && find "$upper" -mindepth 1 -printf '%y %s %P\n' | sort -k3 >"$W/../cowvm-bench-upper-listing.txt" 2>/dev/null || true
        "$prep" umount "$name" 2>/dev/null
        "$prep" stop "$name" 2>/dev/null
done

# The baseline: a copy of the base, made durable.
base_bytes=$(du -s --apparent-size --block-size=1 "$BASE" | cut -f1)
sync
t0=$(now)
cp -a "$BASE" "$W/copy-tree"
sync -f "$W/copy-tree"
t1=$(now)
rm -rf "$W/copy-tree"
# A raw ext4 image of the base, as a disk-image VM would boot from.
size=$(( base_bytes * 14 / 10 / 1048576 + 64 ))
truncate -s "${size}M" "$W/base.img"
mkfs.ext4 -q -d "$BASE" "$W/base.img" >/dev/null 2>&1 || { echo "mkfs.ext4 -d failed" >&2; exit 1; }
img_bytes=$(stat -c %s "$W/base.img")
sync
t2=$(now)
cp --sparse=never "$W/base.img" "$W/copy.img"
sync -f "$W/copy.img"
t3=$(now)
rm -f "$W/copy.img" "$W/base.img"

printf '{"base_bytes":%s,"rounds":[%s],"copy_tree_us":%s,"image_bytes":%s,"copy_image_us":%s}\n' \
        "$base_bytes" "$(IFS=,; echo "${rows[*]}")" $((t1 - t0)) "$img_bytes" $((t3 - t2))
