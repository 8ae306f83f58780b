/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <linux/magic.h>

#include "disk-limit.h"
#include "tests.h"

#define M (1024ULL * 1024)

static void test_plan(void) {
        /* A new VM on btrfs: a subvolume whether or not a limit is asked for,
         * so that DiskSize= can be added later without moving its disk. */
        CHECK(state_dir_plan(false, true, false, true) == STATE_DIR_CREATE_SUBVOLUME);
        CHECK(state_dir_plan(false, true, false, false) == STATE_DIR_CREATE_SUBVOLUME);
        /* Elsewhere: a plain directory as before, unless a limit is asked for. */
        CHECK(state_dir_plan(false, false, false, false) == STATE_DIR_MKDIR);
        CHECK(state_dir_plan(false, false, false, true) == STATE_DIR_REFUSE_NOT_BTRFS);
        /* Existing state directories are used as they are, or refused. */
        CHECK(state_dir_plan(true, true, true, true) == STATE_DIR_USE);
        CHECK(state_dir_plan(true, true, true, false) == STATE_DIR_USE);
        CHECK(state_dir_plan(true, true, false, false) == STATE_DIR_USE);
        CHECK(state_dir_plan(true, false, false, false) == STATE_DIR_USE);
        CHECK(state_dir_plan(true, true, false, true) == STATE_DIR_REFUSE_PLAIN_DIR);
        CHECK(state_dir_plan(true, false, false, true) == STATE_DIR_REFUSE_NOT_BTRFS);
}

static void test_names(void) {
        CHECK(fs_is_btrfs_type(BTRFS_SUPER_MAGIC));
        CHECK(!fs_is_btrfs_type(TMPFS_MAGIC));
        CHECK_STREQ(fs_type_name(BTRFS_SUPER_MAGIC), "btrfs");
        CHECK_STREQ(fs_type_name(EXT4_SUPER_MAGIC), "ext4");
        CHECK_STREQ(fs_type_name(TMPFS_MAGIC), "tmpfs");
        CHECK_STREQ(fs_type_name(XFS_SUPER_MAGIC), "xfs");
        CHECK(fs_type_name(0x12345678) == NULL);
}

static void test_format_size(void) {
        char b[32];

        CHECK_STREQ(format_size(b, sizeof b, 0), "0B");
        CHECK_STREQ(format_size(b, sizeof b, 1023), "1023B");
        CHECK_STREQ(format_size(b, sizeof b, 1024), "1K");
        CHECK_STREQ(format_size(b, sizeof b, 1536), "1.5K");
        CHECK_STREQ(format_size(b, sizeof b, 512 * M), "512M");
        CHECK_STREQ(format_size(b, sizeof b, 1536 * M), "1.5G");
        CHECK_STREQ(format_size(b, sizeof b, 10 * 1024 * M), "10G");
        CHECK_STREQ(format_size(b, sizeof b, 5ULL << 40), "5T");
        CHECK_STREQ(format_size(b, sizeof b, 881000000ULL), "840.2M");
}

static void test_space(void) {
        uint64_t size, inodes;

        CHECK(statvfs_available(1000, 4096) == 4096000);
        CHECK(statvfs_available(0, 4096) == 0);
        CHECK(statvfs_available(UINT64_MAX / 2, 4096) == UINT64_MAX);

        /* DiskSize= bounds an ephemeral VM's tmpfs; without it, its memory. */
        ephemeral_tmpfs_limits(32 * M, 256 * M, &size, &inodes);
        CHECK(size == 32 * M && inodes == 8192);
        ephemeral_tmpfs_limits(0, 256 * M, &size, &inodes);
        CHECK(size == 256 * M && inodes == 65536);
}

int main(void) {
        test_plan();
        test_names();
        test_format_size();
        test_space();
        TESTS_EXIT();
}
