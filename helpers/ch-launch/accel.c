/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * KVM or TCG. /dev/kvm existing is not enough: on a PVM host (the kvm_pvm
 * module: a KVM vendor backend for running inside an unprivileged container
 * or a cloud VM without nested virtualisation) /dev/kvm works and
 * KVM_CREATE_VM succeeds, but only PVM-enabled guest kernels run; an
 * ordinary kernel hangs right after decompression, with QEMU and Cloud
 * Hypervisor alike. No ioctl tells the two apart, the loaded module does.
 * Beyond that, KVM_GET_API_VERSION + KVM_CREATE_VM is the real probe: it
 * fails where VMX/SVM is off or /dev/kvm is a stale node.
 */

#include <fcntl.h>
#include <string.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "accel.h"
#include "log.h"

int accel_probe(bool *ret_kvm, const char **ret_reason) {
        _cleanup_close_ int kvm = -EBADF, vm = -EBADF;
        const char *e = getenv("COWVM_ACCEL");

        if (e && streq(e, "kvm")) {
                *ret_kvm = true;
                *ret_reason = "KVM ($COWVM_ACCEL=kvm)";
                return 0;
        }
        if (e && streq(e, "tcg")) {
                *ret_kvm = false;
                *ret_reason = "TCG ($COWVM_ACCEL=tcg)";
                return 0;
        }
        if (e && !isempty(e))
                log_warning("Ignoring $COWVM_ACCEL=%s: expected kvm or tcg.", e);

        *ret_kvm = false;
        if (access("/sys/module/kvm_pvm", F_OK) >= 0) {
                *ret_reason = "TCG: /dev/kvm is PVM (kvm_pvm), which runs only PVM guest kernels";
                return 0;
        }
        kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0) {
                *ret_reason = errno == ENOENT ? "TCG: no /dev/kvm" : "TCG: /dev/kvm cannot be opened";
                return 0;
        }
        if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
                *ret_reason = "TCG: unexpected KVM API version";
                return 0;
        }
        vm = ioctl(kvm, KVM_CREATE_VM, 0);
        if (vm < 0) {
                *ret_reason = "TCG: KVM_CREATE_VM failed";
                return 0;
        }
        *ret_kvm = true;
        *ret_reason = "KVM";
        return 0;
}
