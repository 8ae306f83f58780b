#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian package, the way an administrator meets it: `dpkg-buildpackage
# -us -uc -b` on a copy of the source tree, lintian without errors, then
# `apt-get install ./cowvm_VERSION_amd64.deb` into a Debian 12 that boots its
# own systemd in systemd-nspawn (the package's files land in that container's
# /usr, /lib and /etc, nowhere else):
#   - the templates, the generator, the helpers, the man pages and the
#     conffile /etc/cowvm/cowvm.conf are installed, systemd knows vm@.service
#     at once (postinst reloads it), a VM defined afterwards starts without
#     a daemon-reload, systemd-analyze verify accepts the VM's units;
#   - `systemctl start vm@NAME` boots the busybox test guest;
#   - `apt-get remove cowvm` stops nothing: the guest's QEMU, its virtiofsd and
#     its overlay root are still there, and so is the VM's upper layer; a stop
#     after the removal loses nothing of it either;
#   - `dpkg --purge cowvm` removes the conffile, keeps /var/lib/cowvm (every
#     VM's disk) and the administrator's definition, and says what it left.
#
# test-debian-package.sh BUILDDIR
#
# The container's OS is the Debian base that tests/mkbase and the Debian guest
# test share (cowvm_debian_base: built once with debootstrap, cached), below
# an overlay of this test's own: the cached tree is never written. What cowvm
# depends on and the tree lacks (QEMU and its libraries) is taken from the
# host's apt cache, or downloaded once with the host's apt, into
# $COWVM_TEST_CACHE/debian-package/debs; the container installs from a local
# repository made of it, offline. Recommends are not installed.

# A mount namespace of its own: the overlay this test mounts goes with it,
# however the test ends.
if [ -z "${COWVM_PACKAGE_TEST_NS:-}" ]; then
        COWVM_PACKAGE_TEST_NS=1 exec unshare --mount --propagation private -- "$0" "$@"
fi

. "$(dirname "$(realpath "$0")")/lib/cowvm.sh"

BUILD=$(realpath "${1:?usage: $0 BUILDDIR}")
SRC=$(realpath "$SYSTEM_TESTS/../..")
NAME=pkg
NAME2=pkg2
DEBCACHE=${COWVM_TEST_CACHE:-/var/cache/cowvm-test}/debian-package/debs

# step() logs into the container's journal too: there is none before it boots.
phase() {
        if [ -n "$CT" ]; then step "$@"; else echo "--- $*"; fi
}

[ "$(id -u)" -eq 0 ] || harness_skip "needs root (systemd-nspawn, overlay mounts, QEMU)"
for tool in dpkg-buildpackage dh lintian dpkg-scanpackages apt-get; do
        command -v "$tool" >/dev/null ||
                harness_skip "$tool not found (packages dpkg-dev, debhelper, lintian, apt)"
done
harness_require
"$SYSTEM_TESTS/../guest/make-test-base.sh" "$TEST_BASE" >/dev/null || fail "could not build the test base"

# Any Debian 12 tree with systemd and apt will do: a cached base is used
# whichever build of cowvm-mkbase made it (the others rebuild it when theirs
# changed); held with the same shared lock, it is not replaced under the test.
mkbase_cache=${COWVM_TEST_CACHE:-/var/cache/cowvm-test}/mkbase
DEBIAN=
if [ -z "${COWVM_TEST_DEBIAN_BASE:-}" ] && [ -f "$mkbase_cache/lock" ]; then
        exec 8<"$mkbase_cache/lock"
        flock -s 8
        # cowvm-base-id is the last thing cowvm-mkbase writes: the tree is whole.
        if [ -f "$mkbase_cache/state/bases/debian-12/etc/cowvm-base-id" ] &&
           [ -x "$mkbase_cache/state/bases/debian-12/usr/bin/apt-get" ]; then
                DEBIAN=$mkbase_cache/state/bases/debian-12
                echo "using the cached Debian base $DEBIAN"
        else
                exec 8<&-
        fi
fi
if [ -z "$DEBIAN" ]; then
        rc=0
        DEBIAN=$(cowvm_debian_base "$BUILD") || rc=$?
        case $rc in
        0) ;;
        2) harness_skip "no Debian tree to install the package into: $DEBIAN" ;;
        *) fail "could not get the Debian base: $DEBIAN" ;;
        esac
        cowvm_debian_hold
fi

# ---- build and lint ------------------------------------------------------------

# dpkg-buildpackage writes into the source tree and its parent: a copy.
phase "dpkg-buildpackage -us -uc -b"
work=$(harness_dir)/pkg
mkdir -p "$work/cowvm"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$SRC" ls-files -z --cached --others --exclude-standard |
                (cd "$SRC" && tar --null -T - -cf -) | tar -C "$work/cowvm" -xf -
else
        tar -C "$SRC" --exclude='./build*' --exclude=./obj-\* -cf - . | tar -C "$work/cowvm" -xf -
fi
version=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$SRC/meson.build" | head -n1)
[ -n "$version" ] || fail "no project version in meson.build"
(cd "$work/cowvm" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
        fail "dpkg-buildpackage failed: $(tail -n 30 "$work/build.log")"
DEB=$work/cowvm_${version}_amd64.deb
[ -f "$DEB" ] || fail "dpkg-buildpackage made no $(basename "$DEB"): $(ls "$work")"
[ -f "$work/cowvm-dbgsym_${version}_amd64.deb" ] || fail "no cowvm-dbgsym package"
ok "dpkg-buildpackage made $(cd "$work" && echo ./*.deb)"

contents=$(dpkg-deb -c "$DEB" | awk '{ print $6 }')
grep -v -E '^\./(etc/cowvm/|lib/systemd/|usr/)' <<<"$contents" | grep -v -x -E '\./|\./(etc|lib)/' &&
        fail "the package has files outside /etc/cowvm, /lib/systemd and /usr (above)"
for f in ./etc/cowvm/cowvm.conf ./usr/sbin/cowvm-mkbase ./usr/share/man/man5/cowvm.vm.5.gz; do
        grep -q -x -F "$f" <<<"$contents" || fail "the package has no $f"
done
grep -q '^/etc/cowvm/cowvm.conf$' <<<"$(dpkg-deb -I "$DEB" conffiles)" || fail "/etc/cowvm/cowvm.conf is no conffile"
grep -q '/var/lib' <<<"$contents" && fail "the package ships something in /var/lib: $(grep /var/lib <<<"$contents")"
prerm=$(dpkg-deb -I "$DEB" prerm 2>/dev/null) || true
grep -E 'systemctl|deb-systemd-invoke' <<<"$prerm" && fail "prerm stops or touches units: $prerm"
ok "the package ships only below /etc/cowvm, /lib/systemd and /usr, cowvm.conf as a conffile, no prerm that stops units"

phase "lintian"
lintian_out=$(cd "$work" && lintian "cowvm_${version}_amd64.changes" 2>&1) || true
printf '%s\n' "$lintian_out" >"$work/lintian.log"
grep -E '^E: ' <<<"$lintian_out" && fail "lintian reports errors (above)"
ok "lintian: no errors ($(grep -c '^W: ' <<<"$lintian_out" || true) warnings)"

# ---- the packages cowvm needs beyond the Debian tree ----------------------------

# apt on the host resolves against the tree's dpkg status: the list is what
# `apt install ./cowvm.deb` in the tree would fetch.
phase "collecting the dependencies"
apt_tree=(-o Dir::State::status="$DEBIAN/var/lib/dpkg/status" -o Dir::Cache::archives="$DEBCACHE"
          -o Debug::NoLocking=1 --no-install-recommends)
mkdir -p "$DEBCACHE/partial"
rc=0
(
        flock 9
        uris=$(apt-get -qq --print-uris "${apt_tree[@]}" install "$DEB" 2>&1) ||
                { echo "apt-get cannot resolve cowvm's dependencies in the Debian tree: $uris"; exit 1; }
        while read -r _ file _; do
                [ "$file" != "$(basename "$DEB")" ] || continue
                [ ! -f "/var/cache/apt/archives/$file" ] || cp "/var/cache/apt/archives/$file" "$DEBCACHE/"
        done <<<"$uris"
        if ! out=$(timeout 300 apt-get -q -y --download-only "${apt_tree[@]}" install "$DEB" 2>&1); then
                echo "the packages cowvm needs are neither in the host's apt cache nor downloadable: $(tail -n 5 <<<"$out")"
                exit 2
        fi
        (cd "$DEBCACHE" && dpkg-scanpackages -m . >Packages 2>/dev/null)
) 9>"$DEBCACHE/../lock" >"$work/deps.log" 2>&1 || rc=$?
case $rc in
0) ;;
2) harness_skip "$(cat "$work/deps.log")" ;;
*) fail "collecting the dependencies failed: $(tail -n 10 "$work/deps.log")" ;;
esac
ok "the dependencies are in $DEBCACHE ($(find "$DEBCACHE" -maxdepth 1 -name '*.deb' | wc -l) packages)"

# ---- the container -------------------------------------------------------------

root=$(harness_dir)/root
mkdir -p "$root" "$(harness_dir)/upper" "$(harness_dir)/work"
mount -t overlay cowvm-test-debian -o "lowerdir=$DEBIAN,upperdir=$(harness_dir)/upper,workdir=$(harness_dir)/work" "$root" ||
        fail "cannot mount an overlay over $DEBIAN"
harness_at_exit "umount -l '$root'"
# A VM's upper layer cannot be on the overlay that is the container's root
# (overlayfs refuses an overlayfs upper): /var/lib/cowvm is a directory of the
# host's, empty, as a host's own disk for VMs would be. A definition's Base=
# may be any path: the test base stays outside it, so that what is in
# /var/lib/cowvm is what cowvm made.
mkdir -p "$(harness_dir)/state"
# shellcheck disable=SC2034 # read by harness_start
HARNESS_ROOT=$root
CT=cowvm-pkg-$$
harness_start "$CT" --bind-ro="$DEBCACHE:/srv/cowvm-debs" --bind-ro="$work:/srv/cowvm-pkg" \
        --bind-ro="$TEST_BASE:/srv/cowvm-test-base" --bind="$(harness_dir)/state:/var/lib/cowvm"

C test ! -e /lib/systemd/system/vm@.service || fail "the Debian tree already has cowvm"

phase "apt-get install ./cowvm_${version}_amd64.deb"
# The local repository is apt's only source: the install works offline.
apt_local=(-o Dir::Etc::SourceList=/srv/cowvm-debs.list -o Dir::Etc::SourceParts=/nonexistent)
echo 'deb [trusted=yes] file:/srv/cowvm-debs ./' | C sh -c 'cat > /srv/cowvm-debs.list'
C apt-get -q "${apt_local[@]}" update >"$work/apt-update.log" 2>&1 ||
        fail "apt-get update from the local repository failed: $(tail -n 10 "$work/apt-update.log")"
C env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends "${apt_local[@]}" \
        install "/srv/cowvm-pkg/$(basename "$DEB")" >"$work/apt-install.log" 2>&1 ||
        fail "apt-get install failed: $(tail -n 30 "$work/apt-install.log")"
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
[ "$(C dpkg-query -W -f '${Status}' cowvm)" = "install ok installed" ] || fail "cowvm is not installed"
ok "apt-get install ./$(basename "$DEB") in the Debian container"

C systemctl cat vm@.service >/dev/null || fail "systemctl does not know vm@.service after the install"
for f in /lib/systemd/system-generators/cowvm-generator /usr/libexec/cowvm/ch-launch /usr/libexec/cowvm/overlay-prepare \
         /usr/libexec/cowvm/virtiofsd-exec /usr/libexec/cowvm/config-inject /usr/sbin/cowvm-mkbase; do
        C test -x "$f" || fail "$f is not installed"
done
for m in man5/cowvm.vm.5 man8/cowvm-generator.8 man8/cowvm-mkbase.8 man8/ch-launch.8; do
        C test -f "/usr/share/man/$m.gz" || fail "the man page $m is not installed"
done
C test -f /etc/cowvm/cowvm.conf || fail "/etc/cowvm/cowvm.conf is not installed"
ok "units known to systemd, generator, helpers, man pages and /etc/cowvm/cowvm.conf installed"

# ---- two VMs ------------------------------------------------------------------

# One to stop after the purge, one to stop after installing the package again.
phase "VMs from the package"
for vm in "$NAME" "$NAME2"; do
        printf '%s\n' "[VM]" "Base=/srv/cowvm-test-base" "Hypervisor=qemu" "Memory=256M" "Kernel=boot/vmlinux" \
                "KernelCommandLine=no_timer_check" | C sh -c "cat > /etc/cowvm/$vm.vm"
done
out=$(C systemd-analyze verify --man=no "vm@$NAME.service" "overlay-prepare@$NAME.service" \
        "virtiofsd@$NAME.socket" "virtiofsd@$NAME.service" 2>&1) || fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify complained: $out"
ok "systemd-analyze verify accepts the units of vm@$NAME"

declare -A qemu_pid fsd_pid
for vm in "$NAME" "$NAME2"; do
        C systemctl start "vm@$vm" || fail "systemctl start vm@$vm failed: $(C systemctl status --no-pager "vm@$vm")"
        [ "$(unit_state "vm@$vm")" = active ] || fail "vm@$vm is $(unit_state "vm@$vm") after start"
        grep -q "cowvm-test-guest: booted $vm" <<<"$(vm_console "$vm")" || fail "the console of $vm shows no boot"
        C test -d "/var/lib/cowvm/vms/$vm/upper" || fail "no upper layer at /var/lib/cowvm/vms/$vm/upper"
        C sh -c "echo kept > /var/lib/cowvm/vms/$vm/upper/written-before-removal"
        qemu_pid[$vm]=$(C pgrep -f -- "-name $vm ") || fail "no QEMU for $vm"
        fsd_pid[$vm]=$(C systemctl show -P MainPID "virtiofsd@$vm.service")
        [ "${fsd_pid[$vm]:-0}" -gt 0 ] || fail "virtiofsd@$vm has no main process"
done
ok "systemctl start vm@$NAME vm@$NAME2: active, the guests booted"

# ---- removal and purge ---------------------------------------------------------

running() {
        local vm
        for vm in "$NAME" "$NAME2"; do
                C kill -0 "${qemu_pid[$vm]}" || fail "QEMU of $vm ($1) is gone"
                C kill -0 "${fsd_pid[$vm]}" || fail "virtiofsd of $vm ($1) is gone"
                C findmnt -n -t overlay "/run/cowvm/$vm/root" >/dev/null || fail "the root of $vm ($1) is not mounted"
                C test -f "/var/lib/cowvm/vms/$vm/upper/written-before-removal" || fail "the upper layer of $vm ($1) lost a file"
        done
}

phase "apt-get remove cowvm"
C env DEBIAN_FRONTEND=noninteractive apt-get -q -y "${apt_local[@]}" remove cowvm >"$work/apt-remove.log" 2>&1 ||
        fail "apt-get remove cowvm failed: $(tail -n 20 "$work/apt-remove.log")"
C test ! -e /lib/systemd/system/vm@.service || fail "vm@.service is still there after the removal"
running "after apt-get remove"
grep -q "cowvm: left running: vm@$NAME.service vm@$NAME2.service" "$work/apt-remove.log" ||
        fail "the removal does not list the VMs it left running: $(grep cowvm: "$work/apt-remove.log")"
ok "apt-get remove cowvm: QEMU, virtiofsd and the overlay roots still run, the upper layers are intact, and it said: $(grep -m1 'cowvm: left running' "$work/apt-remove.log")"

phase "dpkg --purge cowvm"
purge_out=$(C dpkg --purge cowvm 2>&1) || fail "dpkg --purge cowvm failed: $purge_out"
running "after dpkg --purge"
C test ! -e /etc/cowvm/cowvm.conf || fail "/etc/cowvm/cowvm.conf is still there after the purge"
C test -f "/etc/cowvm/$NAME.vm" || fail "the purge removed the definition /etc/cowvm/$NAME.vm"
C test -d /var/lib/cowvm/vms || fail "the purge removed /var/lib/cowvm/vms"
grep -q "purge leaves /var/lib/cowvm" <<<"$purge_out" || fail "the purge does not say that it leaves /var/lib/cowvm: $purge_out"
ok "dpkg --purge cowvm: the conffile is gone; /var/lib/cowvm, the definitions and the running VMs stay; it said: $(grep -m1 'purge leaves /var/lib' <<<"$purge_out")"

# Without its units, systemd stops a VM the way it stops any unit it does
# not know (README.Debian): the hypervisor may end without a guest shutdown,
# but nothing of the VM's disk may be lost.
phase "systemctl stop vm@$NAME2 after the purge"
C timeout 120 systemctl stop "vm@$NAME2" || true
gone() { ! C kill -0 "${qemu_pid[$NAME2]}" 2>/dev/null; }
harness_wait_for "end of QEMU after systemctl stop vm@$NAME2" 90 gone
C test -f "/var/lib/cowvm/vms/$NAME2/upper/written-before-removal" || fail "the stop lost the upper layer's file"
ok "systemctl stop vm@$NAME2 after the purge: QEMU ended (vm@$NAME2 $(unit_state "vm@$NAME2")), the upper layer is intact"

# ---- the package again ---------------------------------------------------------

phase "apt-get install again, clean stops"
C env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends "${apt_local[@]}" \
        install "/srv/cowvm-pkg/$(basename "$DEB")" >"$work/apt-reinstall.log" 2>&1 ||
        fail "apt-get install (again) failed: $(tail -n 30 "$work/apt-reinstall.log")"
C kill -0 "${qemu_pid[$NAME]}" || fail "installing the package again ended QEMU of $NAME"
# The stop is the usual one, but for one thing: systemd dropped the
# listening socket of virtiofsd@NAME.socket while the unit had no
# configuration, so its stop leaves the socket's file in /run/cowvm/NAME.
C systemctl stop "vm@$NAME" || fail "systemctl stop vm@$NAME failed: $(C systemctl status --no-pager "vm@$NAME")"
[ "$(unit_state "vm@$NAME")" = inactive ] || fail "vm@$NAME is $(unit_state "vm@$NAME") after the stop, not inactive"
powered_off() { grep -q "cowvm-test-guest: poweroff" <<<"$(vm_console "$NAME")"; }
harness_wait_for "the poweroff of $NAME on its console" 30 powered_off
unmounted() { ! C findmnt -n "/run/cowvm/$NAME/root" >/dev/null; }
harness_wait_for "the unmount of the root of $NAME" 30 unmounted
C pgrep -f -- "-name $NAME " >/dev/null && fail "QEMU of $NAME still runs after its stop"
C test -f "/var/lib/cowvm/vms/$NAME/upper/written-before-removal" || fail "the upper layer of $NAME lost its file"
ok "installed again: vm@$NAME, running all along, stops cleanly (ACPI poweroff, inactive, root unmounted)"

# Both start again, and stop leaving nothing behind: what the removal left
# (the socket of a VM that ran through it, see above) is no obstacle.
for vm in "$NAME2" "$NAME"; do
        C systemctl start "vm@$vm" || fail "systemctl start vm@$vm failed: $(C systemctl status --no-pager "vm@$vm")"
        C test -f "/var/lib/cowvm/vms/$vm/upper/written-before-removal" || fail "the upper layer of $vm lost its file"
        C systemctl stop "vm@$vm"
        [ "$(unit_state "vm@$vm")" = inactive ] || fail "vm@$vm is $(unit_state "vm@$vm") after the stop, not inactive"
        wait_vm_gone "$vm"
done
ok "installed again: vm@$NAME2 and vm@$NAME start and stop again, nothing left behind, their upper layers intact"
echo PASS
