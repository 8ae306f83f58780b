#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make-test-base.sh OUTDIR
#
# Builds the minimal base tree the integration and system tests boot: Debian's
# 6.1 kernel, a busybox initramfs that mounts the virtio-fs root, and a busybox
# root whose /sbin/init speaks the readiness protocol of docs/design.md, powers
# off on the ACPI power button and runs test hooks from /etc/cowvm-test.d/.
# Under QEMU TCG it reaches READY=1 in a few seconds, where a Debian minbase
# needs half a minute, so tests can afford to boot real guests.
#
# The tree:
#   boot/vmlinuz, boot/initrd.img   Debian's kernel and our initramfs; boot with
#                                   root=myfs rootfstype=virtiofs rw console=ttyS0
#   boot/vmlinux                    the same kernel uncompressed (PVH ELF): ~3 s
#                                   faster to boot under TCG
#   lib/modules/KVER/               virtio, virtiofs, virtio_console, virtio_net,
#                                   virtio_blk, vsock, button, evdev + depmod files
#   sbin/init                       prints "cowvm-test-guest: booted HOSTNAME" on the
#                                   console, sends READY=1 on /dev/hvc0, runs
#                                   /etc/cowvm-test.d/*.sh, powers off on the ACPI
#                                   power button, `poweroff`, `reboot`
#   etc/{hostname,hosts,fstab,passwd,group,shadow,machine-id,os-release}
#
# Idempotent: OUTDIR carries a stamp of what it was built from, and an OUTDIR
# with the current stamp is left alone. A rebuild is made beside OUTDIR and
# renamed over it, so a half-built tree is never seen under the final name.
# Downloads are cached in $COWVM_TEST_CACHE (default /var/cache/cowvm-test);
# with a cached kernel package no network is needed.
#
# Needs root (the tree's files must be owned by root, as the guest sees their
# owners through virtio-fs), apt-get, dpkg-deb, busybox-static, cpio, gzip, xz, kmod.

set -eu
set -o pipefail
export LC_ALL=C

# The modules the guest kernel needs, in load order. The first seven mount the
# root (Debian's kernel has them as modules); virtio_console carries the readiness channel (hvc0), so
# the initramfs loads it too. The rest are loaded by /sbin/init.
INITRD_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci fuse virtiofs virtio_console"
ROOT_MODULES="button evdev virtio_net virtio_blk vmw_vsock_virtio_transport"

BUSYBOX=/bin/busybox

die() {
        echo "make-test-base: $*" >&2
        exit 1
}

log() {
        echo "make-test-base: $*" >&2
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
[ "$(id -u)" -eq 0 ] || die "must run as root: the base tree's files must be owned by root"

OUTDIR=$(realpath -m -- "$1")
CACHE=${COWVM_TEST_CACHE:-/var/cache/cowvm-test}

for tool in apt-get apt-cache dpkg-deb cpio gzip xz depmod modinfo flock sha256sum; do
        command -v "$tool" >/dev/null || die "$tool not found (packages: apt, dpkg, cpio, gzip, xz-utils, kmod, util-linux)"
done
[ -x "$BUSYBOX" ] && "$BUSYBOX" --list >/dev/null 2>&1 || die "$BUSYBOX not found (package busybox-static)"
# A dynamically linked busybox would need its libraries in the initramfs.
if ! (LC_ALL=C ldd "$BUSYBOX" 2>&1 || true) | grep -q "not a dynamic executable"; then
        die "$BUSYBOX is dynamically linked; install busybox-static"
fi

mkdir -p "$CACHE/debs"
# Tests run in parallel and may all ask for the base at once: one builds, the
# others wait and then find the stamp current.
exec 9>"$CACHE/lock"
flock 9

# Which kernel: the one linux-image-amd64 currently depends on. Offline, fall
# back to the newest package already in the cache.
find_kernel_deb() {
        local pkg deb

        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
              sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n1) || true
        if [ -n "$pkg" ]; then
                deb=$(ls -1 "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1) || true
                if [ -z "$deb" ]; then
                        log "downloading $pkg"
                        (cd "$CACHE/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) ||
                                die "apt-get download $pkg failed (run apt-get update?)"
                        deb=$(ls -1 "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n1) || true
                fi
        else
                deb=$(ls -1 "$CACHE/debs/linux-image-6.1.0-"*-amd64_*.deb 2>/dev/null | sort -V | tail -n1) || true
        fi
        [ -n "$deb" ] || die "no linux-image-6.1.0-*-amd64 package known to apt-cache nor cached in $CACHE/debs"
        echo "$deb"
}

KERNEL_DEB=$(find_kernel_deb)
STAMP="script=$(sha256sum <"$0" | cut -d' ' -f1) kernel=$(basename "$KERNEL_DEB") busybox=$(sha256sum <"$BUSYBOX" | cut -d" " -f1)"

if [ -f "$OUTDIR/.cowvm-test-base" ] && [ "$(cat "$OUTDIR/.cowvm-test-base")" = "$STAMP" ]; then
        log "$OUTDIR is up to date"
        exit 0
fi

log "building $OUTDIR from $(basename "$KERNEL_DEB")"
mkdir -p "$(dirname "$OUTDIR")"
NEW=$(mktemp -d "$OUTDIR.new.XXXXXX")
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-test-base.XXXXXX")
cleanup() {
        rm -rf -- "$SCRATCH"
        if [ -n "${NEW:-}" ]; then
                rm -rf -- "$NEW"
        fi
}
trap cleanup EXIT

# Only the kernel image and the module directory are needed, not the 400 MB of
# all modules: extract /boot and the module tree, then copy what we use.
dpkg-deb -x "$KERNEL_DEB" "$SCRATCH/kernel"
KVER=$(ls -1 "$SCRATCH/kernel/lib/modules" | sed -n 1p)
[ -n "$KVER" ] && [ -f "$SCRATCH/kernel/boot/vmlinuz-$KVER" ] || die "$KERNEL_DEB has no /boot/vmlinuz-* and /lib/modules/*"
KMOD="$SCRATCH/kernel/lib/modules/$KVER"

# module name -> path of its .ko inside $KMOD; the name in "depends" uses
# underscores, the file name sometimes dashes.
module_path() {
        local name=$1 f

        f=$(find "$KMOD/kernel" -name "$name.ko*" -print -quit)
        [ -n "$f" ] || f=$(find "$KMOD/kernel" -name "${name//_/-}.ko*" -print -quit)
        [ -n "$f" ] || die "module $name not found in $(basename "$KERNEL_DEB")"
        echo "$f"
}

# Copies a module and, first, everything it depends on into the root tree's
# module directory.
declare -A COPIED
copy_module() {
        local name=$1 f dep

        [ -z "${COPIED[$name]:-}" ] || return 0
        COPIED[$name]=1
        f=$(module_path "$name")
        for dep in $(modinfo -F depends "$f" | tr ',' ' '); do
                copy_module "$dep"
        done
        mkdir -p "$NEW/lib/modules/$KVER/$(dirname "${f#"$KMOD/"}")"
        cp "$f" "$NEW/lib/modules/$KVER/${f#"$KMOD/"}"
}

# ---------------------------------------------------------------- root tree

mkdir -p "$NEW"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,run,tmp,mnt,boot,lib/modules,var/tmp,var/log,etc/cowvm-test.d,etc/acpi/PWRF}
chmod 0700 "$NEW/root"
chmod 1777 "$NEW/tmp" "$NEW/var/tmp"

cp "$SCRATCH/kernel/boot/vmlinuz-$KVER" "$NEW/boot/vmlinuz"
# The same kernel uncompressed, as an ELF with a PVH entry point: QEMU and
# Cloud Hypervisor boot it directly, skipping the xz decompression that takes
# some 3 s of a 10 s boot under TCG. 66 MB, hence optional for users of the
# tree: boot/vmlinuz is the kernel as Debian ships it.
off=$(grep -abo $'\xfd7zXZ' "$NEW/boot/vmlinuz" | sed -n '1s/:.*//p') || true
[ -n "$off" ] || die "no xz payload in the kernel image of $(basename "$KERNEL_DEB")"
tail -c +$((off + 1)) "$NEW/boot/vmlinuz" | xz -dc >"$NEW/boot/vmlinux" 2>/dev/null || true
# xz complains about the data after its stream; what counts is the ELF it wrote.
[ "$(head -c 4 "$NEW/boot/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
        die "could not extract an uncompressed kernel from $(basename "$KERNEL_DEB")"
for m in $INITRD_MODULES $ROOT_MODULES; do
        copy_module "$m"
done
cp "$KMOD"/modules.builtin "$KMOD"/modules.builtin.modinfo "$KMOD"/modules.order "$NEW/lib/modules/$KVER/"
depmod -b "$NEW" "$KVER"

cp "$BUSYBOX" "$NEW/bin/busybox"
# Applet links, except init: /sbin/init is ours.
"$BUSYBOX" --list-full | while read -r applet; do
        case "$applet" in
        sbin/init|bin/busybox|linuxrc) continue ;;
        esac
        [ -e "$NEW/$applet" ] || ln -s /bin/busybox "$NEW/$applet"
done

cat >"$NEW/sbin/init" <<'EOF'
#!/bin/sh
# /sbin/init of the cowvm test guest: mounts the API file systems, reports
# READY=1 on the first virtio console (docs/design.md, "Guest readiness
# protocol"), powers off on the ACPI power button, runs the executable hooks
# /etc/cowvm-test.d/*.sh in order, then waits. `poweroff` and `reboot` (as
# busybox sends them: SIGUSR2 and SIGTERM to PID 1) shut down cleanly.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

is_mounted() {
        local _ mp rest
        while read -r _ mp rest; do
                [ "$mp" = "$1" ] && return 0
        done </proc/mounts
        return 1
}

[ -e /proc/self ] || mount -t proc -o nosuid,nodev,noexec proc /proc
is_mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
is_mounted /dev || mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
is_mounted /dev/pts || mount -t devpts -o nosuid,noexec,gid=5,mode=620 devpts /dev/pts
is_mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
exec </dev/console >/dev/console 2>&1

say() {
        echo "cowvm-test-guest: $*"
}

# Timestamps on the console, to see where boot time goes.
trace() {
        read -r up _ </proc/uptime
        echo "cowvm-test-guest: [$up] $*"
}

shutdown_guest() {
        # $1: poweroff or reboot
        say "${1}: stopping processes"
        trap '' TERM USR1 USR2
        kill -TERM -1 2>/dev/null
        sleep 0.2
        kill -KILL -1 2>/dev/null
        # The upper layer lives on the host: what matters is that every write
        # reached virtiofsd, which sync makes sure of.
        sync
        mount -o remount,ro / 2>/dev/null
        sync
        say "$1"
        "$1" -f
        sleep 10
}
trap 'shutdown_guest poweroff' USR1 USR2
trap 'shutdown_guest reboot' TERM

trace "init started"
# Under TCG every exec of busybox from the virtio-fs root costs some 0.2 s
# (grep, cat, sleep, mount, acpid exec; modprobe, stty, hostname, mkdir only
# fork): this script uses shell builtins wherever it can.
name=
read -r name </etc/hostname 2>/dev/null
hostname "${name:-cowvm-test}"

modprobe -q -a button evdev virtio_net virtio_blk vmw_vsock_virtio_transport ||
        say "warning: could not load all of: button evdev virtio_net virtio_blk vmw_vsock_virtio_transport"
trace "modules loaded"
say "booted ${name:-cowvm-test}"

# power_button_event: prints the event device of the "Power Button" input
# device (/dev/input/eventN) once both exist.
power_button_event() {
        local d n ev
        for d in /sys/class/input/input*; do
                n=
                read -r n <"$d/name" 2>/dev/null
                [ "$n" = "Power Button" ] || continue
                for ev in "$d"/event*; do
                        [ -c "/dev/input/${ev##*/}" ] && echo "/dev/input/${ev##*/}" && return 0
                done
        done
        return 1
}

# The ACPI power button (QMP system_powerdown, Cloud Hypervisor's power-button
# API) arrives as KEY_POWER on the "Power Button" input device; busybox acpid
# runs /etc/acpi/PWRF/00000080 for it. acpid only opens the event devices that
# exist when it starts, so wait for the button's.
i=0
until power_button_event >/dev/null || [ $i -ge 30 ]; do
        sleep 0.1; i=$((i + 1))
done
if power_button_event >/dev/null; then
        acpid -c /etc/acpi || say "warning: acpid failed, the power button will be ignored"
else
        say "warning: no ACPI power button, the power button will be ignored"
fi

trace "acpid started"

# virtio_console was loaded by the initramfs; hvc0 appears once the host side
# of the port is set up.
i=0
while [ $i -lt 50 ] && [ ! -c /dev/hvc0 ]; do
        sleep 0.1; i=$((i + 1))
done
if [ -c /dev/hvc0 ]; then
        # Raw mode, so that the host reads "READY=1\n", not "READY=1\r\n". The
        # tty forgets its mode when the last file descriptor on it is closed:
        # init keeps one open, hooks that write STATUS= lines profit from it.
        exec 3<>/dev/hvc0
        stty raw -echo <&3 2>/dev/null
        echo READY=1 >&3
        trace "sent READY=1 on hvc0"
else
        say "warning: no /dev/hvc0, cannot report readiness"
fi

ip link set lo up 2>/dev/null

for hook in /etc/cowvm-test.d/*.sh; do
        [ -f "$hook" ] && [ -x "$hook" ] || continue
        say "running $hook"
        "$hook"
        say "$hook exited with status $?"
done

while :; do
        sleep 3600 &
        wait $!
done
EOF
chmod 0755 "$NEW/sbin/init"

cat >"$NEW/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# ACPI power button: ask init for a clean poweroff.
exec kill -USR2 1
EOF
chmod 0755 "$NEW/etc/acpi/PWRF/00000080"

echo cowvm-test >"$NEW/etc/hostname"
cat >"$NEW/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	cowvm-test
::1	localhost ip6-localhost ip6-loopback
EOF
cat >"$NEW/etc/fstab" <<'EOF'
# <file system> <mount point> <type> <options> <dump> <pass>
myfs / virtiofs defaults 0 0
EOF
cat >"$NEW/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$NEW/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
EOF
cat >"$NEW/etc/shadow" <<'EOF'
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
chmod 0640 "$NEW/etc/shadow"
: >"$NEW/etc/machine-id"
cat >"$NEW/etc/os-release" <<'EOF'
NAME="cowvm test guest"
ID=cowvm-test
PRETTY_NAME="cowvm test guest (busybox)"
EOF
echo "/bin/sh" >"$NEW/etc/shells"

# ---------------------------------------------------------------- initramfs

INITRD="$SCRATCH/initrd"
mkdir -p "$INITRD"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$BUSYBOX" "$INITRD/bin/busybox"
for applet in sh mount umount insmod switch_root poweroff sleep cat echo sync mkdir; do
        ln -s busybox "$INITRD/bin/$applet"
done
for m in $INITRD_MODULES; do
        cp "$(module_path "$m")" "$INITRD/lib/modules/$m.ko"
done
echo "$INITRD_MODULES" >"$INITRD/lib/modules/load-order"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 0600 "$INITRD/dev/console" c 5 1

cat >"$INITRD/init" <<'EOF'
#!/bin/sh
# initramfs of the cowvm test guest: loads the virtio-fs modules, mounts the
# root named by root=TAG rootfstype=virtiofs and switches to it. On failure it
# says why on the console and powers off: nobody is there to use a shell.
PATH=/bin
export PATH

mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

fail() {
        echo "cowvm-test initramfs: ERROR: $*"
        echo "cowvm-test initramfs: powering off"
        sync
        poweroff -f
        sleep 10
}

root= fstype= mode=ro init=/sbin/init
for arg in $(cat /proc/cmdline); do
        case "$arg" in
        root=*) root=${arg#root=} ;;
        rootfstype=*) fstype=${arg#rootfstype=} ;;
        rw) mode=rw ;;
        ro) mode=ro ;;
        init=*) init=${arg#init=} ;;
        esac
done
[ -n "$root" ] || fail "no root= on the kernel command line (expected root=TAG rootfstype=virtiofs)"
[ "$fstype" = virtiofs ] || fail "rootfstype=$fstype is not supported, only rootfstype=virtiofs"

for m in $(cat /lib/modules/load-order); do
        insmod "/lib/modules/$m.ko" || fail "cannot load kernel module $m"
done

# The virtio-fs device is probed asynchronously to insmod: retry briefly.
i=0
until mount -t virtiofs -o "$mode" "$root" /newroot 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 50 ] || fail "cannot mount virtio-fs tag '$root' ($mode); is a vhost-user-fs device with tag=$root attached and its virtiofsd running?"
        sleep 0.1
done
[ -x "/newroot$init" ] || fail "$init not found or not executable in the root file system (virtio-fs tag '$root')"

mount --move /dev /newroot/dev || fail "cannot move /dev to the new root"
mount --move /proc /newroot/proc || fail "cannot move /proc to the new root"
mount --move /sys /newroot/sys || fail "cannot move /sys to the new root"
# These would cost init an exec each from the virtio-fs root, some 0.2 s
# under TCG; here they are cheap. init mounts whatever is missing.
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o nosuid,noexec,gid=5,mode=620 devpts /newroot/dev/pts
[ ! -d /newroot/run ] || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /newroot/run
exec switch_root /newroot "$init"
EOF
chmod 0755 "$INITRD/init"

(cd "$INITRD" && find . -print0 | LC_ALL=C sort -z |
        cpio --quiet --null -o -H newc --owner=0:0 | gzip -6 -n) >"$NEW/boot/initrd.img"

echo "$STAMP" >"$NEW/.cowvm-test-base"
chmod 0755 "$NEW"

if [ -e "$OUTDIR" ]; then
        OLD=$(mktemp -d "$OUTDIR.old.XXXXXX")
        mv -T "$OUTDIR" "$OLD/tree"
        mv -T "$NEW" "$OUTDIR"
        rm -rf -- "$OLD"
else
        mv -T "$NEW" "$OUTDIR"
fi
NEW=
log "built $OUTDIR (kernel $KVER)"
exit 0
