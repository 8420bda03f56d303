#!/bin/sh
# Prints, one per line, the Debian packages that ship the shared libraries the given ELF binaries load. The image's
# runtime stage installs exactly these, so it holds what the build linked against and nothing else.
#
#   deploy/runtime-packages.sh BINARY...
#
# Fails when a library is missing or belongs to no package (a broken build should not become an image).
set -eu

[ "$#" -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for binary in "$@"; do
  ldd "$binary" >"$work/ldd" || { echo "runtime-packages: ldd $binary failed" >&2; exit 1; }
  if grep 'not found' "$work/ldd" >&2; then
    echo "runtime-packages: $binary needs libraries that are not installed" >&2
    exit 1
  fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 }' "$work/ldd" >>"$work/libraries"
done
sort -u "$work/libraries" -o "$work/libraries"

# With merged /usr, ldd may print /lib/... while dpkg records /usr/lib/... (or the reverse), and a name may be a
# symlink to the file dpkg knows: each library is looked up under all of those spellings, in one dpkg call.
while read -r library; do
  for path in "$library" "$(readlink -f "$library")"; do
    case "$path" in
      /usr/*) printf '%s %s\n%s %s\n' "$library" "$path" "$library" "${path#/usr}" ;;
      *) printf '%s %s\n%s %s\n' "$library" "$path" "$library" "/usr$path" ;;
    esac
  done
done <"$work/libraries" >"$work/candidates"
cut -d' ' -f2 "$work/candidates" | sort -u | xargs dpkg-query --search >"$work/owners" 2>/dev/null || true

# owners: "package[:arch]: /path" (also "pkg1, pkg2: /path" for shared folders, and diversion notes).
awk '
  FNR == NR {
    if ($0 ~ /^diversion/) next
    split($0, parts, ": ")
    sub(/:.*/, "", parts[1])
    owner[parts[2]] = parts[1]
    next
  }
  !($1 in found) && ($2 in owner) { found[$1] = owner[$2] }
  { libraries[$1] = 1 }
  END {
    for (library in libraries) {
      if (!(library in found)) { print "runtime-packages: no Debian package ships " library > "/dev/stderr"; failed = 1 }
      else print found[library]
    }
    exit failed
  }
' "$work/owners" "$work/candidates" >"$work/packages"
sort -u "$work/packages"
