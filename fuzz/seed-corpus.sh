#!/usr/bin/env bash
# The seed corpus of each cargo-fuzz target, one folder per target under DIR (default:
# fuzz/corpus, where `cargo fuzz run TARGET` looks): the checked-in cases for load_case (not
# the benchmark graphs, which are megabytes of numbers), and the kept crash inputs under
# tests/data/ for the targets that read bytes as a recipe. .clusterfuzzlite/build.sh zips the
# same folders for ClusterFuzzLite.
set -euo pipefail
fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz")"
out="${1:-$fuzz/corpus}"
mkdir -p "$out/load_case" "$out/check_reference" "$out/build_invariants"
find "$root/cases" -name '*.yaml' -not -path '*/bench/*' -exec cp {} "$out/load_case/" \;
# A crash input of either recipe target is a recipe, so it seeds both.
for target in check_reference build_invariants; do
  find "$root/tests/data" -name 'check_reference-*' -o -name 'build_invariants-*' \
    | while read -r file; do cp "$file" "$out/$target/"; done
done
for target in load_case check_reference build_invariants; do
  echo "seeded $out/$target with $(find "$out/$target" -type f | wc -l) files"
done
