/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* virtiofsd's command line for both implementations, against their documented
 * options (Rust virtiofsd --help; QEMU 7.2 tools/virtiofsd --help). */

#include "strv.h"
#include "tests.h"
#include "virtiofsd-argv.h"

static char *build(VirtiofsdFlavour f, VirtiofsCache c, unsigned threads) {
        _cleanup_strv_free_ char **a = NULL;

        CHECK(virtiofsd_build_argv(f, "/bin/vfs", "/run/cowvm/web/root", 3, c, threads, &a) == 0);
        return argv_join(a);
}

int main(void) {
        _cleanup_strv_free_ char **a = NULL;
        char *s;

        /* Rust: long options with separate values; "never", not "none". */
        s = build(VIRTIOFSD_RUST, VIRTIOFS_CACHE_AUTO, 0);
        CHECK_STREQ(s, "/bin/vfs|--shared-dir|/run/cowvm/web/root|--fd|3|--cache|auto|--sandbox|namespace");
        free(s);
        s = build(VIRTIOFSD_RUST, VIRTIOFS_CACHE_NEVER, 16);
        CHECK_STREQ(s, "/bin/vfs|--shared-dir|/run/cowvm/web/root|--fd|3|--cache|never|--sandbox|namespace|"
                       "--thread-pool-size|16");
        free(s);
        s = build(VIRTIOFSD_RUST, VIRTIOFS_CACHE_ALWAYS, 0);
        CHECK(strstr(s, "|--cache|always|"));
        free(s);

        /* C: -o key=value, --fd=N, "none" for never. */
        s = build(VIRTIOFSD_C, VIRTIOFS_CACHE_AUTO, 0);
        CHECK_STREQ(s, "/bin/vfs|-o|source=/run/cowvm/web/root|--fd=3|-o|cache=auto|-o|sandbox=namespace");
        free(s);
        s = build(VIRTIOFSD_C, VIRTIOFS_CACHE_NEVER, 8);
        CHECK_STREQ(s, "/bin/vfs|-o|source=/run/cowvm/web/root|--fd=3|-o|cache=none|-o|sandbox=namespace|"
                       "--thread-pool-size=8");
        free(s);

        /* The C option parser splits at ','. */
        CHECK(virtiofsd_build_argv(VIRTIOFSD_C, "/bin/vfs", "/a,b", 3, VIRTIOFS_CACHE_AUTO, 0, &a) == -EINVAL);
        CHECK(virtiofsd_build_argv(VIRTIOFSD_RUST, "/bin/vfs", "/a,b", 3, VIRTIOFS_CACHE_AUTO, 0, &a) == 0);
        CHECK(virtiofsd_build_argv(VIRTIOFSD_C, "/bin/vfs", "/x", -1, VIRTIOFS_CACHE_AUTO, 0, &a) == -EINVAL);

        /* Flavour detection from --version output and from the install path. */
        CHECK(virtiofsd_flavour_from_version("virtiofsd version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
                                             "Copyright (c) 2003-2022 Fabrice Bellard\n") == VIRTIOFSD_C);
        CHECK(virtiofsd_flavour_from_version("virtiofsd 1.13.0\n") == VIRTIOFSD_RUST);
        CHECK(virtiofsd_flavour_from_version("something else") == _VIRTIOFSD_FLAVOUR_INVALID);
        CHECK(virtiofsd_flavour_from_version("") == _VIRTIOFSD_FLAVOUR_INVALID);
        CHECK(virtiofsd_flavour_from_path("/usr/libexec/virtiofsd") == VIRTIOFSD_RUST);
        CHECK(virtiofsd_flavour_from_path("/usr/lib/qemu/virtiofsd") == VIRTIOFSD_C);
        CHECK(virtiofsd_flavour_from_path("/opt/virtiofsd") == _VIRTIOFSD_FLAVOUR_INVALID);
        CHECK(virtiofsd_flavour_from_string("rust") == VIRTIOFSD_RUST);
        CHECK(virtiofsd_flavour_from_string("c") == VIRTIOFSD_C);
        CHECK(virtiofsd_flavour_from_string(NULL) == _VIRTIOFSD_FLAVOUR_INVALID);
        TESTS_EXIT();
}
