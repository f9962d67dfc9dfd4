#!/usr/bin/env bash
# Bad inputs as a new user would make them: broken configs, flags, data files,
# model, checkpoint and safetensors files, scene images, COCO and VOC training sets,
# each run against the built binaries. For each: the exit status and the message. Fails when any
# input crashes a binary (killed by a signal), hangs it (timeout), is accepted
# (exit 0 where a refusal is due), or is refused with a message that does not
# name the file, key, flag or byte at fault (a per-case pattern). Writes the
# table to docs/bad-inputs.md (or $BAD_INPUTS_DOC).
#
#   Cluster/bad-inputs.sh                 binaries of .build/release
#   GDQR_BIN_DIR=DIR Cluster/bad-inputs.sh
#   BAD_INPUTS_TIMEOUT=S                  per-input limit (default 60 s)
#
# About 50 s on 2 cores (most of it the tiny training runs that make the good
# model, checkpoint and safetensors files the broken ones are made from).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${GDQR_BIN_DIR:-$root/.build/release}
gdqr=${GDQR_BIN:-$bin_dir/gdqr}
train=${GDQR_TRAIN_BIN:-$bin_dir/gdqr-train}
doc=${BAD_INPUTS_DOC:-$root/docs/bad-inputs.md}
limit=${BAD_INPUTS_TIMEOUT:-60}
for b in "$gdqr" "$train"; do [ -x "$b" ] || { echo "bad-inputs: $b not built" >&2; exit 1; }; done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdqr-bad-inputs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cfg=$root/configs/fashion-mnist-resnet20-w4a4.yaml
fm=/usr/share/datasets/fashion-mnist
tiny=(--quiet --set data.train_limit=256 --set data.test_limit=128 --set quant.fp32_phase_epochs=1
      --set train.epochs=1)

# --- good files, made here, that the broken ones are copies of -----------------------
"$train" --config "$cfg" "${tiny[@]}" --set checkpoint.every_steps=1 --out "$tmp/run" > "$tmp/run.log" 2>&1 \
    || { echo "bad-inputs: the tiny training run failed: $(tail -3 "$tmp/run.log")" >&2; exit 1; }
"$gdqr" export "$tmp/run" --quiet
model=$tmp/run/model-w4a4.gdqr
st=$tmp/run/model-w4a4.safetensors
ckpt=$tmp/run/checkpoints/$(cat "$tmp/run/checkpoints/latest")
d=$tmp/in; mkdir -p "$d"

# flip FILE OFFSET: xor one byte (the middle of the file when OFFSET is "mid").
flip() {
    local f=$1 at=$2 size
    size=$(stat -c %s "$f"); [ "$at" = mid ] && at=$((size / 2))
    local byte; byte=$(od -An -tu1 -j "$at" -N1 "$f" | tr -d ' ')
    printf "$(printf '\\%03o' $((byte ^ 0xff)))" | dd of="$f" bs=1 seek="$at" conv=notrunc status=none
}
# idx_header TYPE DIMS...: an IDX header (u8 type code, dims big-endian u32) on stdout.
idx_header() {
    local type=$1 dim; shift
    printf '\x00\x00'; printf "$(printf '\\x%02x\\x%02x' "$type" $#)"
    for dim in "$@"; do
        printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((dim >> 24 & 255)) $((dim >> 16 & 255)) $((dim >> 8 & 255)) $((dim & 255)))"
    done
}

rows=()
bad=0
n=0
# case KIND "INPUT" WANT_EXIT PATTERN COMMAND...: run it, record it, judge it.
# WANT_EXIT: "fail" (any status 1..125) or a number. PATTERN: an extended regular
# expression the output must match (the name of what is wrong).
case_() {
    local kind=$1 input=$2 want=$3 pattern=$4; shift 4
    n=$((n + 1))
    local code=0
    timeout -k 5 "$limit" "$@" > "$tmp/out" 2>&1 < /dev/null || code=$?
    local msg verdict=ok
    msg=$(grep -m1 -iE 'error|fail|refus|invalid|cannot|corrupt|unknown|missing|no such|skipping|expected|truncated|not ' "$tmp/out" \
          || tail -1 "$tmp/out" || true)
    msg=$(echo "$msg" | sed -e "s#$tmp/##g" -e "s#$root/##g" | cut -c1-220)
    if [ "$code" = 124 ] || [ "$code" = 137 ] && [ "$want" != 137 ]; then verdict="HANG (no exit within $limit s)"
    elif [ "$code" -ge 128 ] && [ "$code" != "$want" ]; then verdict="CRASH (signal $((code - 128)))"
    elif [ "$want" = fail ] && [ "$code" = 0 ]; then verdict="ACCEPTED (exit 0)"
    elif [ "$want" != fail ] && [ "$code" != "$want" ]; then verdict="exit $code, expected $want"
    elif ! grep -qE -- "$pattern" "$tmp/out"; then verdict="UNCLEAR (lacks /$pattern/)"
    fi
    [ "$verdict" = ok ] || { bad=$((bad + 1)); echo "FAIL $n $kind: $input: $verdict: $msg"; }
    [ "$verdict" = ok ] && echo "ok   $n $kind: $input: exit $code: $msg"
    local cmd
    cmd=$(echo "$*" | sed -e "s#$bin_dir/##g" -e "s#$tmp/##g" -e "s#$root/configs/fashion-mnist-resnet20-w4a4.yaml#W4A4#g" \
          -e "s#$root/##g" -e "s#${tiny[*]}#TINY#g" | cut -c1-160)
    rows+=("| $n | $kind | $input | \`${cmd//|/\\|}\` | $code | ${msg//|/\\|} | $verdict |")
}

# --- configs ---------------------------------------------------------------------------
case_ config "missing config file" 2 "no-such.yaml" "$train" --config "$d/no-such.yaml" --out "$d/o1"
printf ':\n  - [unclosed\n\t{{' > "$d/garbage.yaml"
case_ config "garbage YAML" 2 "garbage.yaml" "$train" --config "$d/garbage.yaml" --out "$d/o2"
echo 'just a sentence' > "$d/scalar.yaml"
case_ config "a YAML scalar, not a mapping" 2 "scalar.yaml" "$train" --config "$d/scalar.yaml" --out "$d/o3"
printf -- '- a\n- b\n' > "$d/list.yaml"
case_ config "YAML list instead of a mapping" 2 "list.yaml" "$train" --config "$d/list.yaml" --out "$d/o4"
sed 's/^train:/trian:/' "$cfg" > "$d/typo.yaml"
case_ config "unknown section 'trian' in the file" 2 "trian" "$train" --config "$d/typo.yaml" --out "$d/o5"
case_ config "wrong type: train.epochs=abc" 2 "train.epochs" "$train" --config "$cfg" --set train.epochs=abc --out "$d/o6"
case_ config "out of range: train.batch_size=0" 2 "train.batch_size" "$train" --config "$cfg" --set train.batch_size=0 --out "$d/o7"
case_ config "out of range: optim.lr=-1" 2 "optim.lr" "$train" --config "$cfg" --set optim.lr=-1 --out "$d/o8"
case_ config "quant.groups=5 does not divide the channels" 2 "quant.groups" "$train" --config "$cfg" --set quant.groups=5 --out "$d/o9"
case_ config "unknown key optim.lrr" 2 "optim.lrr" "$gdqr" config check "$cfg" --set optim.lrr=0.1
case_ config "--set without '='" 2 "train.epochs" "$train" --config "$cfg" --set train.epochs --out "$d/o10"
case_ config "missing data root" fail "/nonexistent/fmnist" "$train" --config "$cfg" --set data.root=/nonexistent/fmnist --out "$d/o11"

# --- flags -----------------------------------------------------------------------------
case_ flag "unknown flag --bogus" 2 "'--bogus'" "$train" --config "$cfg" --bogus
case_ flag "gdqr eval --limit abc" 2 "limit" "$gdqr" eval "$model" --limit abc
case_ flag "gdqr eval --arithmetic int64" 2 "arithmetic" "$gdqr" eval "$model" --arithmetic int64
case_ flag "--resume of a missing file" fail "no-such.gdqrckpt" "$train" --config "$cfg" "${tiny[@]}" --resume "$d/no-such.gdqrckpt" --out "$d/o12"

# --- data files ------------------------------------------------------------------------
head -c 5000 "$(ls $fm/t10k-images-idx3-ubyte* | head -1)" > "$d/trunc-images.gz"
case_ data "truncated gzip IDX images" 1 "trunc-images.gz" "$gdqr" infer "$model" --images "$d/trunc-images.gz"
zcat "$fm/t10k-images-idx3-ubyte.gz" > "$d/full-images"   # (no pipe into head: pipefail and SIGPIPE)
head -c 20000 "$d/full-images" > "$d/trunc-images-idx3-ubyte"
case_ data "truncated IDX images (plain)" 1 "trunc-images-idx3-ubyte" "$gdqr" infer "$model" --images "$d/trunc-images-idx3-ubyte"
printf 'this is not an idx file at all' > "$d/notidx-idx3-ubyte"
case_ data "IDX with a wrong magic" 1 "notidx-idx3-ubyte" "$gdqr" infer "$model" --images "$d/notidx-idx3-ubyte"
idx_header 8 4000000000 28 28 > "$d/huge-idx3-ubyte"
case_ data "IDX header claiming 4e9 images" 1 "huge-idx3-ubyte" "$gdqr" infer "$model" --images "$d/huge-idx3-ubyte"
{ idx_header 8 2 32 32; head -c 2048 /dev/zero; } > "$d/size32-idx3-ubyte"
case_ data "32x32 images for a 28x28 model" 1 "32" "$gdqr" infer "$model" --images "$d/size32-idx3-ubyte"
: > "$d/empty-idx3-ubyte"
case_ data "empty images file" 1 "empty-idx3-ubyte" "$gdqr" infer "$model" --images "$d/empty-idx3-ubyte"
mkdir -p "$d/badlabels"
for f in train-images-idx3-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do ln -s "$fm/$f" "$d/badlabels/$f"; done
zcat "$fm/train-labels-idx1-ubyte.gz" > "$d/labels"
{ head -c 107 "$d/labels"; printf '\xc8'; tail -c +109 "$d/labels"; } | gzip -1 > "$d/badlabels/train-labels-idx1-ubyte.gz"
case_ data "label 200 at index 99 (10 classes)" fail "train-labels.*(99|200)|(99|200).*train-labels" \
    "$train" --config "$cfg" "${tiny[@]}" --set data.root="$d/badlabels" --out "$d/o13"
printf 'plain text, not gzip' > "$d/notgzip-idx3-ubyte.gz"
case_ data "a .gz that is not gzip" 1 "notgzip-idx3-ubyte.gz" "$gdqr" infer "$model" --images "$d/notgzip-idx3-ubyte.gz"

# --- model files -----------------------------------------------------------------------
cp "$model" "$d/flipped.gdqr"; flip "$d/flipped.gdqr" mid
case_ model "model file, one byte flipped" 1 "flipped.gdqr.*(corrupt|checksum)" "$gdqr" inspect "$d/flipped.gdqr"
head -c $(( $(stat -c %s "$model") / 2 )) "$model" > "$d/truncated.gdqr"
case_ model "model file cut in half" 1 "truncated.gdqr.*(truncated|bytes)" "$gdqr" infer "$d/truncated.gdqr" --images "$fm/t10k-images-idx3-ubyte.gz"
: > "$d/empty.gdqr"
case_ model "empty model file" 1 "empty.gdqr" "$gdqr" eval "$d/empty.gdqr" --limit 16
cp "$ckpt" "$d/checkpoint-as-model.gdqr"
case_ model "a checkpoint given as the model" 1 "checkpoint-as-model.gdqr" "$gdqr" infer "$d/checkpoint-as-model.gdqr" --images "$fm/t10k-images-idx3-ubyte.gz"
case_ model "missing model file" 1 "no-such.gdqr" "$gdqr" eval "$d/no-such.gdqr" --limit 16

# --- checkpoints -----------------------------------------------------------------------
cp "$ckpt" "$d/flipped.gdqrckpt"; flip "$d/flipped.gdqrckpt" mid
case_ checkpoint "checkpoint, one byte flipped in a section" 1 "flipped.gdqrckpt: corrupt" "$gdqr" inspect "$d/flipped.gdqrckpt"
case_ checkpoint "--resume of that checkpoint" fail "flipped.gdqrckpt: corrupt" \
    "$train" --config "$cfg" "${tiny[@]}" --resume "$d/flipped.gdqrckpt" --out "$d/o14"
head -c 3000 "$ckpt" > "$d/truncated.gdqrckpt"
case_ checkpoint "checkpoint cut at 3000 bytes" 1 "truncated.gdqrckpt.*truncated" "$gdqr" inspect "$d/truncated.gdqrckpt"
cp -r "$tmp/run" "$d/run-corrupt-latest"
latest=$d/run-corrupt-latest/checkpoints/$(cat "$d/run-corrupt-latest/checkpoints/latest")
flip "$latest" mid
case_ checkpoint "latest checkpoint corrupt, --resume auto" 0 "skipping .*$(basename "$latest").*corrupt" \
    "$train" --config "$cfg" "${tiny[@]}" --set checkpoint.every_steps=1 --resume auto --out "$d/run-corrupt-latest"

# --- safetensors -----------------------------------------------------------------------
{ printf '\x10\x00\x00\x00\x00\x00\x00\x00'; printf '{"a": [1, 2, 3'; printf '\x00'; } > "$d/garbage.safetensors"
cp "$tmp/run/config.yaml" "$d/config.yaml"
case_ safetensors "garbage JSON header" 1 "garbage.safetensors" "$gdqr" export "$d/garbage.safetensors" --config "$d/config.yaml" --out "$d/x1.gdqr"
{ printf '\xff\xff\xff\xff\x00\x00\x00\x00'; printf '{}'; } > "$d/hugeheader.safetensors"
case_ safetensors "header length 4 GiB in a 10-byte file" 1 "hugeheader.safetensors" "$gdqr" export "$d/hugeheader.safetensors" --config "$d/config.yaml" --out "$d/x2.gdqr"
head -c $(( $(stat -c %s "$st") - 1000 )) "$st" > "$d/truncated.safetensors"
case_ safetensors "safetensors missing its last 1000 bytes" 1 "truncated.safetensors" "$gdqr" export "$d/truncated.safetensors" --config "$d/config.yaml" --out "$d/x3.gdqr"
cp "$tmp/run/model-fp32.safetensors" "$d/fp32-for-w4a4.safetensors"
case_ safetensors "an FP32 model's tensors for a W4A4 export" 1 "fp32-for-w4a4.safetensors|missing|not found" "$gdqr" export "$d/fp32-for-w4a4.safetensors" --config "$d/config.yaml" --out "$d/x4.gdqr"

# --- scene images and annotations --------------------------------------------------------
"$train" --config "$root/configs/fashion-scenes-det-w4a4.yaml" --quiet --out "$tmp/det" --set data.scene_size=32 \
    --set model.image_size=32 --set model.head_channels=16 --set data.train_scenes=128 --set data.test_scenes=16 \
    --set quant.fp32_phase_epochs=1 --set train.epochs=1 --set schedule.warmup_epochs=0 > "$tmp/det.log" 2>&1 \
    || { echo "bad-inputs: the tiny detection run failed: $(tail -3 "$tmp/det.log")" >&2; exit 1; }
"$gdqr" export "$tmp/det" --quiet
det=$tmp/det/model-w4a4.gdqr
scenes() { "$gdqr" scenes write --out "$1" --split test --count 4 --seed 0 --size 32 > /dev/null; }
scenes "$d/sc1"; head -c 20 "$d/sc1/images/000002.pgm" > "$d/t.pgm"; mv "$d/t.pgm" "$d/sc1/images/000002.pgm"
case_ image "truncated PGM scene image" 1 "000002.pgm" "$gdqr" eval "$det" --scenes "$d/sc1"
scenes "$d/sc2"; printf 'P5\n32 32\n255\n' > "$d/sc2/images/000003.pgm"
case_ image "PGM header without pixels" 1 "000003.pgm" "$gdqr" eval "$det" --scenes "$d/sc2"
scenes "$d/sc3"; printf 'P2\n99999 99999\n65535\n' > "$d/sc3/images/000001.pgm"
case_ image "PGM claiming 99999x99999 (ASCII P2)" 1 "000001.pgm" "$gdqr" eval "$det" --scenes "$d/sc3"
scenes "$d/sc4"; printf '{"images": [{"id": 1, "file_name": ' > "$d/sc4/instances.json"
case_ image "truncated COCO instances.json" 1 "instances.json" "$gdqr" eval "$det" --scenes "$d/sc4"
scenes "$d/sc5"; sed -i 's/"category_id": *[0-9]*/"category_id": 77/' "$d/sc5/instances.json"
case_ image "COCO category 77 of 10" 1 "instances.json.*77|77.*instances.json" "$gdqr" eval "$det" --scenes "$d/sc5"
case_ image "scenes folder missing" 1 "no-scenes" "$gdqr" eval "$det" --scenes "$d/no-scenes"

# --- COCO and VOC training sets (data.dataset coco / voc) ---------------------------------
# annotated FORMAT DIR [SIZE]: 8 training and 4 validation scenes in that layout.
annotated() {
    local s
    for s in train test; do
        "$gdqr" scenes write --format "$1" --split $s --count $([ $s = train ] && echo 8 || echo 4) --seed 0 \
            --size "${3:-32}" --out "$2" > /dev/null
    done
}
files=(--quiet --set model.image_size=32 --set model.width=8 --set model.head_channels=16 --set train.epochs=1
       --set train.batch_size=4 --set train.threads=1)
cocoset() {
    echo --config "$root/configs/coco-scenes-det-fp32.yaml" --set "data.train_annotations=$1/annotations/instances_train.json" \
        --set "data.train_images=$1/train" --set "data.val_annotations=$1/annotations/instances_val.json" \
        --set "data.val_images=$1/val"
}
annotated coco "$d/coco1"; sed -i '0,/"bbox": \[[^]]*\]/s//"bbox": [30, 30, 10, 10]/' "$d/coco1/annotations/instances_train.json"
# shellcheck disable=SC2046
case_ coco "a box outside its image" 1 "instances_train.json: annotations\[0\]: bbox .* is outside image" "$train" $(cocoset "$d/coco1") "${files[@]}" --out "$d/c1"
annotated coco "$d/coco2"; sed -i '0,/"category_id": [0-9]*/s//"category_id": 77/' "$d/coco2/annotations/instances_train.json"
# shellcheck disable=SC2046
case_ coco "an unknown category id" 1 "instances_train.json: annotations\[0\]: category_id 77 is not in categories" "$train" $(cocoset "$d/coco2") "${files[@]}" --out "$d/c2"
annotated coco "$d/coco3"; rm "$d/coco3/train/000002.png"
# shellcheck disable=SC2046
case_ coco "a missing image" 1 "000002.png: cannot open" "$train" $(cocoset "$d/coco3") "${files[@]}" --out "$d/c3"
annotated voc "$d/voc1"; annotated voc "$d/voc16" 16; cp "$d/voc16/SegmentationClass/train-000002.png" "$d/voc1/SegmentationClass/"
case_ voc "a mask of the wrong size" 1 "train-000002.png: mask is 16x16, its image .* is 32x32" "$train" \
    --config "$root/configs/voc-scenes-seg-fp32.yaml" --set "data.root=$d/voc1" "${files[@]}" --out "$d/v1"

# --- the table ---------------------------------------------------------------------------
{
    echo "# Bad inputs"
    echo
    cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    case "$flags " in *" avx512f "*) isa="AVX-512" ;; *" avx2 "*) isa="AVX2 + FMA, no AVX-512" ;; *) isa="no AVX2" ;; esac
    echo "Produced by \`Cluster/bad-inputs.sh\` ($(date -u +%Y-%m-%d), $("$gdqr" --version), on $cpu, $isa)."
    echo "Each input is one mistake a user could make; the script fails on a crash (signal), a"
    echo "hang (no exit within ${limit} s), an accepted bad input, or a message that does not name"
    echo "the file, key, flag or byte at fault (the pattern each case checks). Exit status 2 is a"
    echo "usage or config error, 1 a runtime failure. Paths are shown relative to the script's"
    echo "scratch folder; W4A4 stands for configs/fashion-mnist-resnet20-w4a4.yaml and TINY for"
    echo "\`${tiny[*]}\`."
    echo
    echo "| # | kind | bad input | command | exit | message | verdict |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} > "$doc"
echo "bad-inputs: $((n - bad)) passed, $bad failed (table: ${doc#$root/})"
[ "$bad" -eq 0 ]
