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

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "needs root (tap devices, network namespace)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "ip not found (package iproute2)"
if [ -z "${COWVM_TEST_NETNS:-}" ]; then
        exec env COWVM_TEST_NETNS=1 unshare -n -m --propagation private -- "$0" "$@"
fi

HERE=$(dirname "$(realpath "$0")")
BUILD=${COWVM_BUILD_DIR:-$(realpath "$HERE/../../build")}
CH_LAUNCH=$BUILD/helpers/ch-launch/ch-launch
[ -x "$CH_LAUNCH" ] || fail "$CH_LAUNCH not built"

T=$(mktemp -d "${TMPDIR:-/tmp}/cowvm-test-tap.XXXXXX")
trap 'rm -rf -- "$T"' EXIT
mkdir -p "$T/defs" "$T/base/boot" "$T/run"
: >"$T/base/boot/vmlinuz"

cat >"$T/fake-ch" <<'EOF'
#!/bin/bash
printf '%s\n' "$@" >"$FAKE_OUT.argv"
for fd in /proc/$$/fd/*; do echo "${fd##*/} $(readlink "$fd")"; done >"$FAKE_OUT.fds"
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
export COWVM_CLOUD_HYPERVISOR=$T/fake-ch COWVM_ACCEL=kvm FAKE_OUT=$T/out COWVM_JOURNAL_SOCKET=$T/no-journal
if "$CH_LAUNCH" tapvm >"$T/log" 2>&1; then
        fail "ch-launch succeeded although the hypervisor exited 3"
fi
grep -q "exited with status 3" "$T/log" || fail "unexpected ch-launch output: $(cat "$T/log")"

n=$(sed -n 's/^fd=\[\([0-9]*\)\],mac=.*/\1/p' "$T/out.argv")
mac=$(sed -n 's/^fd=\[[0-9]*\],mac=\(.*\)/\1/p' "$T/out.argv")
[ -n "$n" ] || fail "no --net fd=[N],mac= in the argv: $(tr '\n' ' ' <"$T/out.argv")"
grep -qx -- "--net" "$T/out.argv" || fail "no --net"
grep -qx "$n /dev/net/tun" "$T/out.fds" || fail "fd $n of the hypervisor is not /dev/net/tun: $(cat "$T/out.fds")"
[[ "$mac" =~ ^[0-9a-f][26ae](:[0-9a-f]{2}){5}$ ]] || fail "not a local unicast MAC: $mac"
grep -q "vm-tapvm: <[^>]*,UP,LOWER_UP> .* master br0" "$T/out.ports" || fail "the tap was not an up port of br0: $(cat "$T/out.ports")"
grep -q "link/ether fe:${mac#??:}" "$T/out.ports" || fail "the tap's own MAC is not fe: + the guest's: $(cat "$T/out.ports")"
! ip link show vm-tapvm >/dev/null 2>&1 || fail "vm-tapvm is left after the hypervisor exited"
echo "ok: --net fd=[$n],mac=$mac; vm-tapvm was an up port of br0 and is gone"

# A tap of that name already there (persistent, made by someone else): refused, left alone.
ip tuntap add vm-tapvm mode tap
rm -f "$T/out.argv"
if "$CH_LAUNCH" tapvm >"$T/log" 2>&1; then
        fail "ch-launch started over an existing vm-tapvm"
fi
grep -q "already exists" "$T/log" || fail "no clear error for an existing interface: $(cat "$T/log")"
[ ! -e "$T/out.argv" ] || fail "the hypervisor was started"
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
