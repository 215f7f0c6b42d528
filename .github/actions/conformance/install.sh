#!/usr/bin/env bash
# Installs conformance for the action: the release binary of the tag in VERSION (or in
# ACTION_REF, the ref of `uses:`), checked against its .sha256; built from source with cargo
# only when there is no release for it. Writes `bin=PATH` to $GITHUB_OUTPUT.
# CONFORMANCE_RELEASES overrides where releases are downloaded from (a file:// URL in tests).
set -euo pipefail

repository="${REPOSITORY:-${ACTION_REPOSITORY:-}}"
tag="${VERSION:-${ACTION_REF:-}}"
releases="${CONFORMANCE_RELEASES:-https://github.com/$repository/releases/download}"
into="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/conformance-tool"
mkdir -p "$into"

case "${RUNNER_OS:-$(uname -s)}-${RUNNER_ARCH:-$(uname -m)}" in
    Linux-X64 | Linux-x86_64) platform=x86_64-unknown-linux-musl ;;
    Linux-ARM64 | Linux-aarch64) platform=aarch64-unknown-linux-musl ;;
    macOS-ARM64 | Darwin-arm64) platform=aarch64-apple-darwin ;;
    macOS-X64 | Darwin-x86_64) platform=x86_64-apple-darwin ;;
    Windows-X64) platform=x86_64-pc-windows-msvc ;;
    *) platform="" ;;
esac

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi |
        cut -d' ' -f1
}

# Answers 0 with the binary in $into, or 1 when there is no release to use.
download() {
    [[ "$tag" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ && -n "$platform" ]] || return 1
    local archive="conformance-$tag-$platform.tar.gz"
    [[ "$platform" == *windows* ]] && archive="conformance-$tag-$platform.zip"
    echo "downloading $releases/$tag/$archive"
    curl --fail --silent --show-error --location --retry 3 \
        --output "$into/$archive" "$releases/$tag/$archive" || return 1
    curl --fail --silent --show-error --location --retry 3 \
        --output "$into/$archive.sha256" "$releases/$tag/$archive.sha256" || return 1
    local expected actual
    expected="$(cut -d' ' -f1 < "$into/$archive.sha256")"
    actual="$(sha256 "$into/$archive")"
    if [[ "$expected" != "$actual" ]]; then
        # A release that does not match its checksum is never run, nor replaced by a build.
        echo "::error::$archive: SHA-256 $actual does not match the published $expected"
        exit 2
    fi
    if [[ "$archive" == *.zip ]]; then
        unzip -o -q "$into/$archive" -d "$into"
    else
        tar -xzf "$into/$archive" -C "$into"
    fi
}

if download; then
    bin="$into/conformance"
    [[ "$platform" == *windows* ]] && bin="$into/conformance.exe"
else
    echo "no release binary of conformance for '${tag:-?}' on ${platform:-this platform}: building it from source"
    source="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
    if [[ -n "${VERSION:-}" && "${VERSION:-}" != "${ACTION_REF:-}" ]]; then
        # Another version than this action's copy: cargo fetches it.
        cargo install --locked --root "$into" --git "https://github.com/$repository" --tag "$VERSION" openai-conformance
    else
        cargo install --locked --root "$into" --path "$source"
    fi
    # --root fixes where the binary lands, whatever the user's cargo configuration says.
    bin="$into/bin/conformance"
fi
"$bin" --version
echo "bin=$bin" >> "$GITHUB_OUTPUT"
