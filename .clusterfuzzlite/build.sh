#!/usr/bin/env bash
# Builds gradfuzz's cargo-fuzz targets the way ClusterFuzzLite (and OSS-Fuzz) expect:
# every target binary in $OUT, with `<target>_seed_corpus.zip` and, where a target has one,
# `<target>.options` and its dictionary beside it.
#
# Inside ClusterFuzzLite's image, $SRC/gradfuzz is the checkout (see Dockerfile), SANITIZER
# is set by the action (address, or coverage for the coverage report: the image's cargo
# wrapper adds its flags) and the toolchain is a nightly.
#
# Outside Docker (how .ci/run uses it): set SRC to a folder holding the checkout as
# `gradfuzz` (a symbolic link will do) and OUT to an empty folder; SANITIZER defaults to
# address (or none). On a stable toolchain the sanitizer's -Z flags need RUSTC_BOOTSTRAP=1,
# which this script sets when rustc is not a nightly.
set -euo pipefail
: "${SRC:?set SRC to the folder that holds the gradfuzz checkout as SRC/gradfuzz}"
: "${OUT:?set OUT to the folder the fuzz targets are written to}"
project="$SRC/gradfuzz"
if [ ! -f "$project/fuzz/Cargo.toml" ]; then
  echo "build.sh: no $project/fuzz/Cargo.toml (SRC=$SRC)" >&2
  exit 2
fi
sanitizer="${SANITIZER:-address}"
mkdir -p "$OUT"

if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

# -O with debug assertions: release speed, and overflow checks and debug_assert! still armed.
flags=(-O --debug-assertions)
case "$sanitizer" in
  address | none) flags+=(--sanitizer "$sanitizer") ;;
  # Any other sanitizer (coverage) is the image's business: its cargo wrapper adds the flags.
  *) ;;
esac

cd "$project/fuzz"
cargo fuzz build "${flags[@]}"

host="$(rustc -vV | sed -n 's/^host: //p')"
built="${CARGO_TARGET_DIR:-$project/fuzz/target}/$host/release"
targets=$(cargo fuzz list)

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
./seed-corpus.sh "$corpus" > /dev/null

for target in $targets; do
  cp "$built/$target" "$OUT/"
  if [ -n "$(ls -A "$corpus/$target" 2>/dev/null)" ]; then
    rm -f "$OUT/${target}_seed_corpus.zip"
    (cd "$corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
  if [ -f "$target.options" ]; then
    cp "$target.options" "$OUT/"
  fi
  if [ -f "$target.dict" ]; then
    cp "$target.dict" "$OUT/"
  fi
  echo "build.sh: $OUT/$target ($sanitizer)"
done
