#!/usr/bin/env bash
# pip-audit of requirements.txt. It asks an online vulnerability service (PyPI's JSON API);
# where that service cannot be reached (no network, a proxy's certificate, a mirror without
# the per-release API) the audit did not happen: this says so loudly, on stderr, and does not
# fail the build for the network. A known vulnerability found fails it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(timeout 120 .venv/bin/pip-audit -r requirements.txt --progress-spinner off 2>&1)
rc=$?
if echo "$out" | grep -qE "^Found [0-9]+ known vulnerabilit"; then
  echo "$out"
  exit 1
fi
if [ "$rc" = 124 ]; then
  echo "pip-audit: no answer from the vulnerability service in 120 s; dependencies NOT audited" >&2
  exit 0
fi
if echo "$out" | grep -qE "ConnectionError|SSLError|MaxRetryError|NameResolutionError"; then
  echo "pip-audit: the vulnerability service could not be reached ($(echo "$out" | grep -oE "(ConnectionError|SSLError|NameResolutionError)" | head -1)); dependencies NOT audited" >&2
  exit 0
fi
if echo "$out" | grep -q "could not be audited"; then
  echo "$out" | grep -v "could not be audited"
  echo "pip-audit: $(echo "$out" | grep -c 'could not be audited') packages could not be looked up (the index has no per-release vulnerability data here); the audit is incomplete" >&2
  exit "$rc"
fi
echo "$out"
exit "$rc"
