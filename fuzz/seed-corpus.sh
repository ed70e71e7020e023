#!/usr/bin/env bash
# Seeds the load_case target's corpus with every checked-in case.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/load_case
find ../cases -name '*.yaml' -exec cp {} corpus/load_case/ \;
echo "seeded corpus/load_case with $(ls corpus/load_case | wc -l) cases"
