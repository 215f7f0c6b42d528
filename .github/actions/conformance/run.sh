#!/usr/bin/env bash
# Runs conformance for the action with its inputs; an empty input adds nothing. Writes
# `exit-code=N` to $GITHUB_OUTPUT and always ends 0 (a later step fails the job), so that
# the reports are uploaded either way.
set -uo pipefail

mkdir -p "$REPORTS"
args=(run --junit "$REPORTS/junit.xml" --report-json "$REPORTS/report.json"
    --report-md "$REPORTS/conformance.md" --report-badge "$REPORTS/badge.json")
[[ "${STRICT:-}" == "true" ]] && args+=(--strict)
[[ -n "${EXPECTATIONS:-}" ]] && args+=(--expectations "$EXPECTATIONS")
[[ -n "${SNAPSHOTS:-}" ]] && args+=(--snapshots "$SNAPSHOTS")
if [[ -n "${ARGS:-}" ]]; then
    # Split as a shell would, quotes included, without evaluating anything.
    mapfile -t extra < <(printf '%s' "$ARGS" | xargs -n1 printf '%s\n')
    args+=("${extra[@]}")
fi
"$CONFORMANCE" "${args[@]}"
echo "exit-code=$?" >> "$GITHUB_OUTPUT"
