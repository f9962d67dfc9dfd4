#!/usr/bin/env bash
# Rewrites README.md's configuration reference (between the BEGIN/END markers)
# with `gdqr config reference`, the Markdown generated from the config schema.
# TrainerTests.ConfigReadmeTests fails while the README differs from it.
#
#   Cluster/update-config-reference.sh [path/to/gdqr]
set -euo pipefail
cd "$(dirname "$0")/.."
GDQR=${1:-.build/release/gdqr}
[ -x "$GDQR" ] || { echo "error: $GDQR not built (swift build -c release)" >&2; exit 1; }
ref=$(mktemp)
"$GDQR" config reference > "$ref"
python3 - "$ref" <<'PY'
import sys
begin, end = "<!-- BEGIN config reference -->\n", "<!-- END config reference -->\n"
text = open("README.md").read()
i, j = text.find(begin), text.find(end)
if i < 0 or j < i:
    sys.exit("error: README.md has no BEGIN/END config reference markers")
new = text[:i + len(begin)] + open(sys.argv[1]).read() + text[j:]
if new != text:
    open("README.md", "w").write(new)
    print("README.md: configuration reference updated")
else:
    print("README.md: configuration reference already current")
PY
rm -f "$ref"
