#!/usr/bin/env bash
# Every repository path the README, CONTRIBUTING and docs/ name exists: a file that
# is moved or renamed fails this until the pages that point to it follow (the
# contributor steps in CONTRIBUTING.md name the files to edit, and must stay true).
# Placeholders are skipped: paths with {a,b}, a *, a trailing '-', or one of the
# upper-case words the pages use for a name to fill in (NAME, TARGET, ...). Needs no build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
missing=0 checked=0
for page in README.md CONTRIBUTING.md docs/*.md; do
    while read -r path; do
        path=${path%[.,:;)]}
        case "$path" in *'{'*|*'*'*|*-) continue ;; esac
        [[ "$path" =~ (^|/|-)(NAME|TARGET|RUN|DIR|FILE|MODEL|OUT|ROOT|SPLIT|CLASS|IMAGE|TAG|N|X)(/|\.|-|$) ]] && continue
        checked=$((checked + 1))
        [ -e "$path" ] || { echo "FAIL docs-paths: $page names $path, which does not exist"; missing=$((missing + 1)); }
    done < <(grep -oE "(Sources|Tests|Cluster|configs|docs)/[A-Za-z0-9_./{},*-]+" "$page" | sort -u)
done
echo "docs-paths: $checked paths named by README.md, CONTRIBUTING.md and docs/*.md, $missing missing"
[ "$missing" = 0 ]
