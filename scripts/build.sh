#!/usr/bin/env bash
# Builds wahealth's Function Compute code packages: for each function, a Linux x86-64 binary
# named like the function's `handler` in s.yaml, plus the wahealth configuration when one is
# given, zipped with both at the zip's root:
#
#   dist/checker/checker         dist/checker.zip   = checker, wahealth.yaml
#   dist/ondemand/ondemand       dist/ondemand.zip  = ondemand, wahealth.yaml
#
# s.yaml deploys the zips (code: ./dist/<fn>.zip) and points WAHEALTH_CONFIG at
# /code/wahealth.yaml, where FC unpacks the zip.
#
# Usage: scripts/build.sh [--config FILE] [FUNCTION...]
#        scripts/build.sh --list              print "function binary zip config" lines, build nothing
#        scripts/build.sh --verify [FUNCTION...]
#                                             fail unless the packages are built with a config
#                                             (s.yaml runs this before every `s deploy`)
#
#   --config FILE           the wahealth configuration to ship (or WAHEALTH_CONFIG_FILE=FILE);
#                           without one the packages are built but cannot run on FC
#   FUNCTION...             build only these (default: all)
#
# Environment: DIST_DIR (default dist) is where the packages go; ZIP_TOOL=zip|go forces the
# zipper (default: zip when installed, else the Go program in scripts/zipdir, which needs
# nothing but Go). Works from any directory; running it twice gives the same result.
set -euo pipefail

# The functions: each is built from ./functions/<fn> into a binary named <fn>, which is the
# handler s.yaml declares for it.
FUNCTIONS=(checker ondemand)
# The name of the configuration inside each package (s.yaml: WAHEALTH_CONFIG=/code/<this>).
CONFIG_NAME=wahealth.yaml

caller=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

usage() { sed -n '2,/^set -euo/p' "$root/scripts/build.sh" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "build.sh: $*" >&2; exit 2; }

mode=build
config=${WAHEALTH_CONFIG_FILE:-}
selected=()
while (($#)); do
  case $1 in
    --config) (($# >= 2)) || die "--config needs a file"; config=$2; shift 2 ;;
    --config=*) config=${1#--config=}; shift ;;
    --list) mode=list; shift ;;
    --verify) mode=verify; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      known=0
      for fn in "${FUNCTIONS[@]}"; do [[ $1 == "$fn" ]] && known=1; done
      ((known)) || die "unknown function $1 (have: ${FUNCTIONS[*]})"
      selected+=("$1"); shift ;;
  esac
done
((${#selected[@]})) || selected=("${FUNCTIONS[@]}")

dist=${DIST_DIR:-dist}
case $dist in /*) ;; *) dist=$root/$dist ;; esac
# rel prints a path under the repository relative to it, as s.yaml writes it.
rel() { case $1 in "$root"/*) echo "${1#"$root"/}" ;; *) echo "$1" ;; esac; }

if [[ $mode == list ]]; then
  for fn in "${selected[@]}"; do
    echo "$fn $(rel "$dist/$fn/$fn") $(rel "$dist/$fn.zip") $CONFIG_NAME"
  done
  exit 0
fi

if [[ $mode == verify ]]; then
  bad=0
  for fn in "${selected[@]}"; do
    for f in "$dist/$fn.zip" "$dist/$fn/$fn" "$dist/$fn/$CONFIG_NAME"; do
      if [[ ! -f $f ]]; then
        echo "build.sh: $(rel "$f") is missing: run scripts/build.sh --config YOUR_CONFIG.yaml first" >&2
        bad=1
      fi
    done
  done
  exit "$bad"
fi

if [[ -n $config ]]; then
  case $config in /*) ;; *) config=$caller/$config ;; esac
  [[ -f $config ]] || die "configuration file $config not found"
fi

zip_tool=${ZIP_TOOL:-}
if [[ -z $zip_tool ]]; then
  if command -v zip >/dev/null 2>&1; then zip_tool=zip; else zip_tool=go; fi
fi
case $zip_tool in
  zip) command -v zip >/dev/null 2>&1 || die "ZIP_TOOL=zip but zip is not installed" ;;
  go) ;;
  *) die "ZIP_TOOL must be zip or go, not $zip_tool" ;;
esac

# size prints a file's size in a readable unit.
size() { awk -v b="$(wc -c <"$1")" 'BEGIN { if (b >= 1048576) printf "%.1f MiB", b/1048576; else printf "%.1f KiB", b/1024 }'; }

mkdir -p "$dist"
for fn in "${selected[@]}"; do
  dir=$dist/$fn
  zipfile=$dist/$fn.zip
  rm -rf "$dir" "$zipfile"
  mkdir -p "$dir"

  GOOS=linux GOARCH=amd64 CGO_ENABLED=0 \
    go build -trimpath -ldflags='-s -w' -o "$dir/$fn" "./functions/$fn"
  chmod 0755 "$dir/$fn"

  if [[ -n $config ]]; then
    cp "$config" "$dir/$CONFIG_NAME"
    chmod 0644 "$dir/$CONFIG_NAME"
  fi

  # Fixed timestamps make the zip depend on the contents only, so an unchanged build gives the
  # same zip and `s deploy` skips uploading it.
  TZ=UTC touch -t 198001010000.00 "$dir"/*
  if [[ $zip_tool == zip ]]; then
    (cd "$dir" && TZ=UTC zip -q -X -D "$zipfile" -- *)
  else
    go run ./scripts/zipdir "$dir" "$zipfile"
  fi

  echo "$fn: $(rel "$dir/$fn") $(size "$dir/$fn"), $(rel "$zipfile") $(size "$zipfile")"
done

if [[ -z $config ]]; then
  echo "build.sh: warning: no configuration shipped (--config FILE or WAHEALTH_CONFIG_FILE=FILE);" >&2
  echo "build.sh: warning: on FC the functions read WAHEALTH_CONFIG=/code/$CONFIG_NAME and will fail to start" >&2
fi
