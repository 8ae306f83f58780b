#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every C file of the tree is as clang-format (with the repository's
# .clang-format) writes it. Fix a failure with:
#   clang-format -i FILE...
set -eu
# shellcheck source=lib/test-lib.sh
. "$(dirname "$(realpath "$0")")/lib/test-lib.sh"
cd "$1"

require_cmd clang-format clang-format

if [ -d .git ] || [ -f .git ]; then
        mapfile -t files < <(git ls-files '*.c' '*.h')
else
        mapfile -t files < <(find . -path ./build\* -prune -o \( -name '*.c' -o -name '*.h' \) -print)
fi

bad=()
for f in "${files[@]}"; do
        clang-format --style=file "$f" | cmp -s - "$f" || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
        echo "not formatted with clang-format (${#bad[@]} files):"
        printf '  %s\n' "${bad[@]}"
        echo "fix: clang-format -i ${bad[*]}"
        exit 1
fi
echo "ok: ${#files[@]} C files are clang-format clean"
