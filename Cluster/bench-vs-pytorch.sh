#!/usr/bin/env bash
# Throughput of gdqr against PyTorch (and onnxruntime for inference) on the same
# models, batch and thread count, as a table:
#
#   Cluster/bench-vs-pytorch.sh [--threads N] [--batch B] [--models "resnet cnn"]
#                               [--seconds S] [--out FILE.jsonl]
#
# PyTorch side: Cluster/bench-pytorch.py (venv from Cluster/python-env.sh),
#   resnet = depth 20 width 16, cnn = width 32, random 1x28x28 inputs; vgg-small,
#   resnet18, resnet50, mobilenetv2 as configs/fashion-mnist-*.yaml, 1x32x32.
# gdqr side: `gdqr bench train --model M --batch B --threads N --json` and
#   `gdqr bench infer ...` (binary: $GDQR_BIN, default .build/release/gdqr; not
#   built here). Each prints JSON lines with at least "model", "mode"
#   ("train" / "train-fq4" / "infer") and "images_per_s". A command that fails
#   or prints no such line shows "gdqr: not available" in its rows.
#
# Every JSON record (both sides, gdqr's tagged "framework": "gdqr") is kept in
# --out (default runs/bench-vs-pytorch-<time>.jsonl; runs/ is gitignored).
# Ratios are gdqr images/s divided by the other framework's; > 1 means gdqr is
# faster. On a shared machine, compare loadavg_1m in the records with N.
# JSON is read with jq when installed (unless GDQR_NO_JQ=1), else with python.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=$(nproc)
BATCH=128
MODELS="resnet cnn"
SECONDS_PER_MODE=5
OUT=""
PT_MODES="train,train-fq4,infer,ort,ort-int8"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_MODE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --pytorch-modes) PT_MODES="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-vs-pytorch: unknown argument $1" >&2; exit 2 ;;
  esac
done
GDQR="${GDQR_BIN:-.build/release/gdqr}"
if [ -z "$OUT" ]; then
  mkdir -p runs
  OUT="runs/bench-vs-pytorch-$(date +%Y%m%d-%H%M%S).jsonl"
fi
: > "$OUT"

PY=$(Cluster/python-env.sh torch onnx onnxruntime onnxscript numpy)
HAVE_JQ=0
[ -z "${GDQR_NO_JQ:-}" ] && command -v jq >/dev/null 2>&1 && HAVE_JQ=1

# Keeps the JSON objects of stdin that have images_per_s, tagged framework=gdqr
# unless they name one; "model" is set to the model asked for ($1) so rows join
# with PyTorch's (gdqr's own spelling is kept as gdqr_model).
gdqr_records() {
  if [ "$HAVE_JQ" = 1 ]; then
    jq -c -R --arg m "$1" 'fromjson? | select(type == "object" and has("images_per_s"))
              | .framework = (.framework // "gdqr") | .gdqr_model = .model | .model = $m'
  else
    "$PY" -c '
import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if isinstance(r, dict) and "images_per_s" in r:
        r.setdefault("framework", "gdqr")
        r["gdqr_model"], r["model"] = r.get("model"), sys.argv[1]
        print(json.dumps(r))' "$1"
  fi
}

for m in $MODELS; do
  echo "== pytorch $m, $THREADS threads, batch $BATCH" >&2
  "$PY" Cluster/bench-pytorch.py --model "$m" --threads "$THREADS" --batch "$BATCH" \
    --seconds "$SECONDS_PER_MODE" --modes "$PT_MODES" >> "$OUT" \
    || echo "bench-vs-pytorch: bench-pytorch.py failed for $m" >&2
  for cmd in train infer; do
    echo "== gdqr bench $cmd $m" >&2
    if [ ! -x "$GDQR" ]; then
      echo "gdqr: not available ($GDQR not built)" >&2
      continue
    fi
    tmp=$(mktemp)
    if "$GDQR" bench "$cmd" --model "$m" --batch "$BATCH" --threads "$THREADS" --json > "$tmp" 2> "$tmp.err"; then
      n=$(gdqr_records "$m" < "$tmp" | tee -a "$OUT" | wc -l)
      [ "$n" -gt 0 ] || echo "gdqr: not available (bench $cmd printed no images_per_s)" >&2
    else
      echo "gdqr: not available (bench $cmd --model $m: $(head -c 200 "$tmp.err" | tr '\n' ' '))" >&2
    fi
    rm -f "$tmp" "$tmp.err"
  done
done

echo
echo "threads $THREADS, batch $BATCH, records in $OUT"
if [ "$HAVE_JQ" = 1 ]; then
  jq -r -s --arg models "$MODELS" '
    def ips($fw; $m; $mode):
      [ .[] | select(.framework == $fw and .model == $m and .mode == $mode) | .images_per_s ]
      | if length == 0 then null else (add / length) end;
    def num: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
    def ratio($a; $b): if $a == null or $b == null or $b == 0 then "-"
                       else ($a / $b * 100 | round / 100 | tostring) end;
    . as $all
    | (["model", "mode", "gdqr img/s", "pytorch img/s", "gdqr/pt", "onnxrt img/s", "gdqr/ort",
        "ort-int8-qdq", "ort-int8-qop"] | @tsv),
      ( ($models | split(" ") | map(select(. != ""))[]) as $m
        | ("train", "train-fq4", "infer") as $mode
        | ($all | ips("gdqr"; $m; $mode)) as $g
        | ($all | ips("pytorch"; $m; $mode)) as $p
        | (if $mode == "infer" then ($all | ips("onnxruntime"; $m; "infer")) else null end) as $o
        | [ $m, $mode,
            (if $g == null then "gdqr: not available" else ($g | num) end),
            ($p | num), ratio($g; $p),
            (if $mode == "infer" then ($o | num) else "" end),
            (if $mode == "infer" then ratio($g; $o) else "" end),
            (if $mode == "infer" then ($all | ips("onnxruntime-int8-qdq"; $m; "infer") | num) else "" end),
            (if $mode == "infer" then ($all | ips("onnxruntime-int8-qop"; $m; "infer") | num) else "" end)
          ] | @tsv )
  ' "$OUT" | column -t -s $'\t'
else
  "$PY" - "$OUT" "$MODELS" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
models = sys.argv[2].split()
def ips(fw, m, mode):
    v = [r["images_per_s"] for r in recs
         if r.get("framework") == fw and r.get("model") == m and r.get("mode") == mode]
    return sum(v) / len(v) if v else None
num = lambda x: "-" if x is None else f"{x:.1f}"
ratio = lambda a, b: "-" if a is None or not b else f"{a / b:.2f}"
rows = [["model", "mode", "gdqr img/s", "pytorch img/s", "gdqr/pt", "onnxrt img/s",
         "gdqr/ort", "ort-int8-qdq", "ort-int8-qop"]]
for m in models:
    for mode in ("train", "train-fq4", "infer"):
        g, p = ips("gdqr", m, mode), ips("pytorch", m, mode)
        row = [m, mode, "gdqr: not available" if g is None else num(g), num(p), ratio(g, p)]
        if mode == "infer":
            o = ips("onnxruntime", m, mode)
            row += [num(o), ratio(g, o), num(ips("onnxruntime-int8-qdq", m, mode)),
                    num(ips("onnxruntime-int8-qop", m, mode))]
        else:
            row += ["", "", "", ""]
        rows.append(row)
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
EOF
fi
