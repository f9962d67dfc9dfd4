#!/usr/bin/env bash
# report.html end to end: a tiny W4A4 run (fp32 then w4a4, logged every step)
# must leave report.html in its folder; with a parity.json from `gdqr eval
# --compare --json`, pictures and quantization.json added, `gdqr report`
# rewrites it; headless Chromium renders it (screenshot not blank, DOM holds
# every section, the four charts and one table row per quantized layer).
# GDQR_BIN_DIR: another build's binaries (default .build/release).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
# Here a failed step stops the test: the later steps read what it writes.
fail() { echo "FAIL report-test: $*"; exit 1; }
command -v chromium > /dev/null || fail "chromium is not installed (Cluster/install-deps.sh installs it)"
PY=$("$root/Cluster/python-env.sh" pillow)

run=$tmp/run
"$train" --config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" --quiet --out "$run" \
    --set data.train_limit=512 --set data.test_limit=256 --set quant.fp32_phase_epochs=1 \
    --set train.epochs=1 --set train.log_every_steps=1 --set checkpoint.every_epochs=0 \
    > "$tmp/train.log" 2>&1 || fail "training failed: $(tail -3 "$tmp/train.log")"
[ -s "$run/report.html" ] || fail "training did not write $run/report.html: $(tail -3 "$tmp/train.log")"
grep -q 'id="chart-loss"' "$run/report.html" || fail "the report written by training has no loss chart"
echo "training wrote report.html ($(wc -c < "$run/report.html") bytes)"

# The parity section's input: the integer model the run wrote (model-w4a4.gdqr)
# against the run's fake-quant model.
model=$run/model-w4a4.gdqr
[ -s "$model" ] || fail "training did not write $model"
"$gdqr" eval "$model" --compare "$run" --json --limit 256 > "$run/parity.json" || fail "eval --compare failed"

# quantization.json is the trainer's to write for a quantized run: no substitute file,
# its absence is the regression this test exists to catch.
[ -s "$run/quantization.json" ] || fail "the W4A4 run wrote no quantization.json: $(ls "$run" | tr '\n' ' ')"
echo "quantization.json written by the trainer ($(wc -c < "$run/quantization.json") bytes)"
"$PY" "$root/Tests/scripts/python/report_check.py" pictures "$run/pictures"

"$gdqr" report "$run" > "$tmp/report.log" 2>&1 || fail "gdqr report: $(cat "$tmp/report.log")"
[ "$(cat "$tmp/report.log")" = "$run/report.html" ] || fail "gdqr report printed '$(cat "$tmp/report.log")'"

# A malformed metrics line is an error naming the file and the line.
mkdir "$tmp/bad" && printf '{"split":"train","step":1,"loss":1}\n{"split":\n' > "$tmp/bad/metrics.jsonl"
code=0; "$gdqr" report "$tmp/bad" > "$tmp/bad.log" 2>&1 || code=$?
[ "$code" = 1 ] && grep -q "$tmp/bad/metrics.jsonl line 2: not valid JSON" "$tmp/bad.log" \
    || fail "malformed metrics: exit $code, $(cat "$tmp/bad.log")"

# Chromium: a screenshot and the DOM after layout. It needs a writable home.
export HOME=$tmp/home && mkdir -p "$HOME"
chrome=(chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
        --user-data-dir="$tmp/chrome" --window-size=1280,2400)
"${chrome[@]}" --screenshot="$tmp/report.png" "file://$run/report.html" > "$tmp/chrome.log" 2>&1 \
    || fail "chromium --screenshot: $(tail -3 "$tmp/chrome.log")"
"${chrome[@]}" --dump-dom "file://$run/report.html" > "$tmp/dom.html" 2> "$tmp/chrome-dom.log" \
    || fail "chromium --dump-dom: $(tail -3 "$tmp/chrome-dom.log")"
"$PY" "$root/Tests/scripts/python/report_check.py" check "$run" "$tmp/dom.html" "$tmp/report.png"
if [ -n "${GDQR_REPORT_KEEP:-}" ]; then cp "$tmp/report.png" "$run/report.html" "$GDQR_REPORT_KEEP"/; fi
