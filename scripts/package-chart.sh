#!/usr/bin/env bash
# Packages charts/parkbase for a chart repository with the metadata Artifact Hub shows (home, sources, icon,
# maintainers). Those name where *your* build of Parkbase is published and who answers for it, which the
# repository cannot know, so they are given here, at release time, instead of being invented in Chart.yaml.
#
#   scripts/package-chart.sh --home URL --source URL [--source URL ...] --icon URL \
#       --maintainer 'Name <email>' [--maintainer ...] [--out DIR]
#
# Writes DIR/parkbase-<version>.tgz (DIR defaults to .) after `helm lint --strict` of the completed chart. URLs must
# be https://. Exit 2 on a usage error.
set -euo pipefail
PB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:$HOME/go/bin"

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  echo "package-chart: $*" >&2
  exit 2
}

home="" icon="" out="."
sources=() maintainers=()
while (($#)); do
  case "$1" in
    --home) home="${2:-}"; shift 2 || usage "--home needs a URL" ;;
    --source) sources+=("${2:-}"); shift 2 || usage "--source needs a URL" ;;
    --icon) icon="${2:-}"; shift 2 || usage "--icon needs a URL" ;;
    --maintainer) maintainers+=("${2:-}"); shift 2 || usage "--maintainer needs 'Name <email>'" ;;
    --out) out="${2:-}"; shift 2 || usage "--out needs a folder" ;;
    *) usage "unknown argument $1" ;;
  esac
done

https_url() { [[ "$1" =~ ^https://[^[:space:]\"]+$ ]]; }
https_url "$home" || usage "--home: want an https:// URL, got '$home'"
https_url "$icon" || usage "--icon: want an https:// URL, got '$icon'"
((${#sources[@]})) || usage "--source: at least one (the source repository's URL)"
for url in "${sources[@]}"; do https_url "$url" || usage "--source: want an https:// URL, got '$url'"; done
((${#maintainers[@]})) || usage "--maintainer: at least one, 'Name <email>'"
maintainer_lines=""
for entry in "${maintainers[@]}"; do
  [[ "$entry" =~ ^([^<>\"]+[^<>\"[:space:]])[[:space:]]*\<([^<>@[:space:]\"]+@[^<>[:space:]\"]+)\>$ ]] ||
    usage "--maintainer: want 'Name <email>', got '$entry'"
  maintainer_lines+="  - name: \"${BASH_REMATCH[1]}\""$'\n'"    email: \"${BASH_REMATCH[2]}\""$'\n'
done
command -v helm >/dev/null || usage "helm is not installed (scripts/install-tools.sh)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$PB_ROOT/charts/parkbase" "$work/parkbase"
chart="$work/parkbase/Chart.yaml"
if grep -qE '^(home|sources|icon|maintainers):' "$chart"; then
  echo "package-chart: charts/parkbase/Chart.yaml already sets Artifact Hub metadata; remove it there" >&2
  exit 1
fi
{
  echo "home: \"$home\""
  echo "icon: \"$icon\""
  echo "sources:"
  for url in "${sources[@]}"; do echo "  - \"$url\""; done
  echo "maintainers:"
  printf '%s' "$maintainer_lines"
} >>"$chart"
helm lint --strict "$work/parkbase" >"$work/lint.log" 2>&1 || { cat "$work/lint.log" >&2; exit 1; }
mkdir -p "$out"
helm package "$work/parkbase" --destination "$out"
