#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ch-launch with [Network] Bridge= and Cloud Hypervisor, which cannot be
# installed here: a fake cloud-hypervisor records its argv, its open fds and
# the bridge's ports, then exits. Checks that the tap is a port of the bridge
# and up while the hypervisor runs, that `--net fd=[N]` names an fd the
# hypervisor really has open on /dev/net/tun, with the VM's stable MAC, and
# that the tap is gone once the hypervisor has exited. Root; runs in network
# and mount namespaces of its own (the bridge never exists on the host).

set -eu
set -o pipefail

# shellcheck source=../lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/../lib/test-lib.sh"

require_root "tap devices, network namespace"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
require_cmd ip iproute2
if [ -z "${COWVM_TEST_NETNS:-}" ]; then
        exec env COWVM_TEST_NETNS=1 unshare -n -m --propagation private -- "$0" "$@"
fi

HERE=$(dirname "$(realpath "$0")")
BUILD=${COWVM_BUILD_DIR:-$(realpath "$HERE/../../build")}
CH_LAUNCH=$BUILD/helpers/ch-launch/ch-launch
[ -x "$CH_LAUNCH" ] || fail "$CH_LAUNCH not built"

T=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-test-tap.XXXXXX")
trap 'umount "$T/run/tapvm/root" 2>/dev/null; rm -rf -- "$T"' EXIT
# The fake runs as the VM's own uid: it must reach itself and its output.
chmod 0755 "$T"
mkdir -p "$T/defs" "$T/base/boot" "$T/base/sbin" "$T/run/tapvm/vmm" "$T/out"
chmod 1777 "$T/out"
: >"$T/base/boot/vmlinuz"
cp /bin/true "$T/base/sbin/init"
# What ch-launch hands CH as virtiofsd's socket (opened O_PATH, chowned).
: >"$T/run/tapvm/virtiofsd.sock"

cat >"$T/fake-ch" <<'EOF'
#!/bin/bash
printf '%s\n' "$@" >"$FAKE_OUT.argv"
for fd in /proc/$$/fd/*; do echo "${fd##*/} $(readlink "$fd")"; done >"$FAKE_OUT.fds"
grep -E '^(Umask|Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/$$/status >"$FAKE_OUT.status"
ip -o link show master br0 >"$FAKE_OUT.ports"
exit 3
EOF
chmod +x "$T/fake-ch"

ip link add br0 type bridge
ip link set br0 up
cat >"$T/defs/tapvm.vm" <<EOF
[VM]
Base=$T/base
Hypervisor=cloud-hypervisor
ReadyOn=vmm

[Network]
Bridge=br0
EOF

export COWVM_DEFINITION_PATH=$T/defs COWVM_STATE_DIR=$T/state COWVM_RUNTIME_DIR=$T/run COWVM_LOG_TARGET=console
export COWVM_CLOUD_HYPERVISOR=$T/fake-ch COWVM_ACCEL=kvm FAKE_OUT=$T/out/ch COWVM_JOURNAL_SOCKET=$T/no-journal
# ch-launch configures the guest in its root first: the VM's real overlay,
# mounted as overlay-prepare@ does (in this test's mount namespace).
"$BUILD/helpers/overlay-prepare/overlay-prepare" start tapvm >"$T/log" 2>&1 &&
        "$BUILD/helpers/overlay-prepare/overlay-prepare" mount tapvm >>"$T/log" 2>&1 ||
        fail "cannot mount the root of tapvm: $(cat "$T/log")"
if "$CH_LAUNCH" tapvm >"$T/log" 2>&1; then
        fail "ch-launch succeeded although the hypervisor exited 3"
fi
grep -q "exited with status 3" "$T/log" || fail "unexpected ch-launch output: $(cat "$T/log")"

n=$(sed -n 's/^fd=\[\([0-9]*\)\],mac=.*/\1/p' "$T/out/ch.argv")
mac=$(sed -n 's/^fd=\[[0-9]*\],mac=\(.*\)/\1/p' "$T/out/ch.argv")
[ -n "$n" ] || fail "no --net fd=[N],mac= in the argv: $(tr '\n' ' ' <"$T/out/ch.argv")"
grep -qx -- "--net" "$T/out/ch.argv" || fail "no --net"
grep -qx "$n /dev/net/tun" "$T/out/ch.fds" || fail "fd $n of the hypervisor is not /dev/net/tun: $(cat "$T/out/ch.fds")"
[[ "$mac" =~ ^[0-9a-f][26ae](:[0-9a-f]{2}){5}$ ]] || fail "not a local unicast MAC: $mac"
grep -q "vm-tapvm: <[^>]*,UP,LOWER_UP> .* master br0" "$T/out/ch.ports" || fail "the tap was not an up port of br0: $(cat "$T/out/ch.ports")"
grep -q "link/ether fe:${mac#??:}" "$T/out/ch.ports" || fail "the tap's own MAC is not fe: + the guest's: $(cat "$T/out/ch.ports")"
! ip link show vm-tapvm >/dev/null 2>&1 || fail "vm-tapvm is left after the hypervisor exited"
echo "ok: --net fd=[$n],mac=$mac; vm-tapvm was an up port of br0 and is gone"

# Its own uid and gid, no capabilities, and its paths through inherited fds.
u=$(awk '/^Uid:/ { print $2 }' "$T/out/ch.status")
[ -n "$u" ] && [ "$u" -ne 0 ] || fail "the hypervisor ran as root: $(cat "$T/out/ch.status")"
grep -qx "Uid:	$u	$u	$u	$u" "$T/out/ch.status" || fail "mixed uids: $(cat "$T/out/ch.status")"
grep -qx "Gid:	$u	$u	$u	$u" "$T/out/ch.status" || fail "gid is not the uid: $(cat "$T/out/ch.status")"
[ "$(grep -c '^Cap.*:	0000000000000000$' "$T/out/ch.status")" -eq 5 ] || fail "capabilities left: $(cat "$T/out/ch.status")"
grep -qx 'NoNewPrivs:	1' "$T/out/ch.status" || fail "no no_new_privs"
grep -qx -- "--seccomp" "$T/out/ch.argv" || fail "no --seccomp"
# Its sockets must be connectable by ch-launch without CAP_DAC_OVERRIDE.
grep -qx 'Umask:	0000' "$T/out/ch.status" || fail "CH's umask: $(grep Umask "$T/out/ch.status")"
api=$(sed -n 's|^path=/proc/self/fd/\([0-9]*\)/api.sock$|\1|p' "$T/out/ch.argv")
fs=$(sed -n 's|^tag=myfs,socket=/proc/self/fd/\([0-9]*\)$|\1|p' "$T/out/ch.argv")
grep -qx "$api $T/run/tapvm/vmm" "$T/out/ch.fds" || fail "--api-socket is not in the vmm dir: $(cat "$T/out/ch.fds")"
grep -qx "$fs $T/run/tapvm/virtiofsd.sock" "$T/out/ch.fds" || fail "--fs socket= is not virtiofsd's: $(cat "$T/out/ch.fds")"
[ "$(stat -c %u "$T/run/tapvm/virtiofsd.sock")" -eq "$u" ] || fail "the virtiofsd socket is not the VM uid's"
[ "$(stat -c %g:%a "$T/run/tapvm/vmm")" = "$u:1770" ] || fail "vmm/ is $(stat -c %g:%a "$T/run/tapvm/vmm")"
[ ! -e "$T/run/.uid/$u" ] || fail "the uid lock $T/run/.uid/$u is left"
echo "ok: CH ran as uid/gid $u without capabilities, its paths through fds"

# A tap of that name already there (persistent, made by someone else): refused, left alone.
ip tuntap add vm-tapvm mode tap
rm -f "$T/out/ch.argv"
if "$CH_LAUNCH" tapvm >"$T/log" 2>&1; then
        fail "ch-launch started over an existing vm-tapvm"
fi
grep -q "already exists" "$T/log" || fail "no clear error for an existing interface: $(cat "$T/log")"
[ ! -e "$T/out/ch.argv" ] || fail "the hypervisor was started"
ip link show vm-tapvm >/dev/null || fail "the existing vm-tapvm was removed"
ip link delete vm-tapvm
echo "ok: an existing vm-tapvm is refused and left alone"

# Not a bridge.
ip tuntap add notabridge mode tap
sed -i 's/^Bridge=.*/Bridge=notabridge/' "$T/defs/tapvm.vm"
if "$CH_LAUNCH" tapvm >"$T/log" 2>&1; then
        fail "ch-launch accepted a tap as a bridge"
fi
grep -q "notabridge is not a bridge" "$T/log" || fail "no clear error for a non-bridge: $(cat "$T/log")"
! ip link show vm-tapvm >/dev/null 2>&1 || fail "vm-tapvm is left after a failed start"
echo "ok: a non-bridge is refused, no tap left"
echo PASS
