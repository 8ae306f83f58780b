#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/overlay-options.sh [LOWER]: what each candidate set of overlayfs
# options costs, over a real tree (default: this host's /usr, a Debian tree)
# with a fresh upper layer on the same filesystem as /var/lib/cowvm would be:
#   mount   median time of mount + umount, over 100 rounds
#   copyup  time to modify 200 files of the lower layer (content copy-up)
#           and to chmod 200 others (metadata-only copy-up)
#   upper   bytes and inodes the copy-ups left in the upper layer
#   remount whether mounting the same upper over a different lower tree is
#           refused (the kernel's own guard against a replaced base)
set -eu
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
if [ -z "${COWVM_IN_NAMESPACE:-}" ]; then
        exec env COWVM_IN_NAMESPACE=1 unshare -m --propagation private "$0" "$@"
fi
lower=${1:-/usr}
work=$(mktemp -d -p /var/tmp)
trap 'umount -R "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT

now() { date +%s%N; }
printf '%-42s %10s %12s %14s %10s\n' options "mount (ms)" "copyup (ms)" "upper (KiB/ino)" remount
for opts in "" "xino=auto" "index=on" "index=on,nfs_export=on" "index=on,nfs_export=on,xino=auto" "metacopy=on,redirect_dir=on"; do
        rm -rf "$work/u" "$work/w" "$work/m" "$work/other"
        mkdir -p "$work/u" "$work/w" "$work/m" "$work/other"
        o="lowerdir=$lower,upperdir=$work/u,workdir=$work/w${opts:+,$opts}"
        times=()
        for i in $(seq 1 100); do
                t0=$(now)
                mount -t overlay overlay -o "$o" "$work/m"
                umount "$work/m"
                t1=$(now)
                times+=($(( (t1 - t0) / 1000 )))
        done
        median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 50p)

        mount -t overlay overlay -o "$o" "$work/m"
        mapfile -t files < <(find "$work/m/share/doc" -type f -size -64k 2>/dev/null | head -n 400)
        t0=$(now)
        for f in "${files[@]:0:200}"; do echo x >>"$f"; done
        for f in "${files[@]:200:200}"; do chmod u+w "$f"; done
        sync -f "$work/m"
        t1=$(now)
        umount "$work/m"
        kib=$(du -sk "$work/u" | cut -f1)
        inodes=$(find "$work/u" | wc -l)
        remount="accepted"
        mount -t overlay overlay -o "lowerdir=$work/other,upperdir=$work/u,workdir=$work/w${opts:+,$opts}" "$work/m" 2>/dev/null &&
                umount "$work/m" || remount="refused"
        printf '%-42s %10.2f %12.1f %14s %10s\n' "${opts:-(defaults)}" "$(bc -l <<<"$median/1000")" \
                "$(bc -l <<<"($t1-$t0)/1000000")" "$kib/$inodes" "$remount"
done
