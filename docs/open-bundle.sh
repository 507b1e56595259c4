#!/bin/sh
# Opens one artifact of a Coffer bundle with standard tools only: minisign,
# sha256sum, age and gunzip (plus POSIX sh, awk, cat, wc). For the day Coffer
# itself is not at hand. Works on a local repository, or on one downloaded
# with `aws s3 cp --recursive s3://BUCKET/PREFIX DIR`.
#
#   sh docs/open-bundle.sh REPOSITORY_DIR ENV BUNDLE_ID ARTIFACT IDENTITY_FILE SIGNING_PUB > OUT
#
# SIGNING_PUB: keys/signing.pub, or a key from keys/trusted-signers (RW...)
# for a bundle signed before a signing-key rotation.
#
# 1. verifies the manifest's signature with minisign (a copy, so what is
#    checked is what is read);
# 2. checks every object the artifact is made of with sha256sum, before any
#    byte is written;
# 3. writes `cat HEADER PAYLOAD | age -d | gunzip` of each chunk, in order, to
#    standard output, each checked against the size the manifest lists.
# Exits non-zero, saying why on standard error, when any check fails (then
# discard OUT). Format v2 (coffer/2: chunks under chunks/ENV/) and v1
# (coffer/1: one age file in the bundle's folder) are both read.
set -eu

if [ "$#" -ne 6 ]; then
    echo "usage: sh open-bundle.sh REPOSITORY_DIR ENV BUNDLE_ID ARTIFACT IDENTITY_FILE SIGNING_PUB > OUT" >&2
    exit 2
fi
repository=$1 environment=$2 bundle=$3 artifact=$4 identity=$5 public_key=$6

fail() {
    echo "open-bundle: $*" >&2
    exit 1
}
for tool in minisign sha256sum age gunzip awk; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (Debian: apt install minisign age coreutils gzip gawk)"
done

folder="$repository/bundles/$environment/$bundle"
[ -f "$folder/manifest.json" ] || fail "$folder/manifest.json does not exist (wrong repository, environment or bundle id?)"
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT INT TERM
cp "$folder/manifest.json" "$work/manifest.json"
cp "$folder/manifest.json.minisig" "$work/manifest.json.minisig" 2>/dev/null || fail "$folder/manifest.json.minisig is missing"
# SIGNING_PUB is a minisign public key file, or the key itself (its last line, RW...).
if [ -f "$public_key" ]; then set -- -p "$public_key"; else set -- -P "$public_key"; fi
minisign -Vq -m "$work/manifest.json" -x "$work/manifest.json.minisig" "$@" >&2 \
    || fail "the manifest's signature does not verify with $public_key: do not trust this bundle"

# The manifest is canonical JSON (sorted keys, two-space indentation), so its
# fields sit at fixed depths. One line per object to open, in order:
#   HEADER_KEY HEADER_SHA256 PAYLOAD_KEY PAYLOAD_SHA256 PLAIN_BYTES
# and a last line "total PLAIN_BYTES" for the artifact.
awk -v want="$artifact" -v env="$environment" -v id="$bundle" '
    function value(line) { sub(/^ *"[a-z0-9_]*" : /, "", line); sub(/,$/, "", line); gsub(/"/, "", line); return line }
    /^  "format" : / { format = value($0) }
    /^  "environment" : / { manifest_env = value($0) }
    /^  "id" : / { manifest_id = value($0) }
    /^    \{$/ { name = ""; count = 0; path = ""; hobj = ""; pobj = ""; total = "" }
    /^      "name" : / { name = value($0) }
    /^      "path" : / { path = value($0) }
    /^      "plain_bytes" : / { total = value($0) }
    /^      "header_object" : / { hobj = value($0) }
    /^      "payload_object" : / { pobj = value($0) }
    /^      "header" : \{/ { part = "h" }
    /^      "payload" : \{/ { part = "p" }
    /^        "sha256" : / { if (part == "h") vh = value($0); else vp = value($0) }
    /^          "header" : \{/ { part = "h" }
    /^          "payload" : \{/ { part = "p" }
    /^            "sha256" : / { if (part == "h") ch = value($0); else cp = value($0) }
    /^          "id" : / { cid = value($0) }
    /^          "plain_bytes" : / { cplain = value($0) }
    /^        \}/ { if (cid != "") { count++; line[count] = sprintf("chunks/%s/%s/%s-%s.age-header %s chunks/%s/%s/%s-%s.age-payload %s %s", env, substr(cid, 1, 2), cid, substr(ch, 1, 16), ch, env, substr(cid, 1, 2), cid, substr(cp, 1, 16), cp, cplain); cid = "" } }
    /^    \},?$/ {
        if (name == want) {
            found = 1
            if (hobj == "") hobj = path "-header"
            if (pobj == "") pobj = path "-payload"
            single = sprintf("bundles/%s/%s/%s %s bundles/%s/%s/%s %s %s", env, id, hobj, vh, env, id, pobj, vp, total)
            chunks = count
            for (i = 1; i <= count; i++) out[i] = line[i]
            artifact_total = total
        }
    }
    END {
        if (format != "coffer/1" && format != "coffer/2") { print "error format " format; exit }
        if (manifest_env != env) { print "error environment " manifest_env; exit }
        if (manifest_id != id) { print "error id " manifest_id; exit }
        if (!found) { print "error artifact " want; exit }
        if (format == "coffer/1") print single
        else for (i = 1; i <= chunks; i++) print out[i]
        print "total " artifact_total
    }
' "$work/manifest.json" > "$work/objects"

if grep -q '^error ' "$work/objects"; then
    set -- $(grep '^error ' "$work/objects")
    case "$2" in
        artifact) fail "bundle $bundle has no artifact '$artifact' (see the \"name\" fields of its manifest)" ;;
        format) fail "unknown bundle format '${3:-}': this script reads coffer/1 and coffer/2" ;;
        *) fail "the manifest names $2 '${3:-}', not '$environment/$bundle': it was moved or swapped" ;;
    esac
fi

# Every object checked before anything is written.
grep -v '^total ' "$work/objects" | while read -r header header_sha payload payload_sha plain; do
    printf '%s  %s\n%s  %s\n' "$header_sha" "$repository/$header" "$payload_sha" "$repository/$payload"
done > "$work/sums"
sha256sum --quiet --strict -c "$work/sums" >&2 || fail "an object is missing or does not match the manifest's SHA-256 (altered, truncated or swapped)"

expected_total=$(sed -n 's/^total //p' "$work/objects")
written=0
grep -v '^total ' "$work/objects" > "$work/list"
while read -r header header_sha payload payload_sha plain; do
    cat "$repository/$header" "$repository/$payload" > "$work/chunk.age"
    age -d -i "$identity" -o "$work/chunk.gz" "$work/chunk.age" || fail "$payload does not decrypt with $identity"
    gunzip -c "$work/chunk.gz" > "$work/chunk" || fail "$payload does not decompress"
    size=$(wc -c < "$work/chunk")
    [ "$size" -eq "$plain" ] || fail "$payload holds $size bytes, the manifest says $plain"
    cat "$work/chunk"
    rm -f "$work/chunk" "$work/chunk.gz"
    written=$((written + size))
done < "$work/list"
[ "$written" -eq "$expected_total" ] || fail "wrote $written bytes, the manifest says $expected_total"
