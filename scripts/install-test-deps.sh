#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, when missing:
#   - boto3 and the AWS CLI (tests/clients, driven by kmsgov-e2e/tests/clients.rs);
#   - the Python MCP SDK, whose stdio client drives `kmsgov mcp`
#     (kmsgov-e2e/tests/mcp.rs);
#   - Chromium, for the decision-path viewer's browser tests
#     (kmsgov-e2e/tests/viewer.rs), from Debian's packages.
# Safe to run again: it only installs what is not there.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 --version
if python3 -c 'import boto3, awscli, mcp' >/dev/null 2>&1; then
    echo "boto3, awscli and mcp are installed"
else
    python3 -m pip install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
fi

if command -v chromium >/dev/null 2>&1 || [[ -n "${KMSGOV_CHROMIUM:-}" ]]; then
    echo "chromium is installed"
elif [[ "${KMSGOV_SKIP_BROWSER_TESTS:-}" == "1" ]]; then
    echo "browser tests are skipped (KMSGOV_SKIP_BROWSER_TESTS=1)"
else
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        sudo="sudo"
    fi
    echo "installing chromium from Debian's packages"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null ||
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }
    chromium --version
fi
