#!/bin/sh
# Install docloop's wheel (from DIST) into the environment VENV, then remove what a running
# docloop never uses from it: pip and setuptools (the image is rebuilt, never upgraded in
# place) and the test suites that packages ship inside themselves.
set -eu
venv=$1
dist=$2
"$venv/bin/pip" install --no-index --no-deps "$dist"/*.whl
"$venv/bin/pip" uninstall -y -q pip setuptools
find "$venv/lib" -depth -type d \( -name tests -o -name test \) -path '*/site-packages/*' \
  -exec rm -rf {} +
find "$venv" -name __pycache__ -type d -prune -exec rm -rf {} +
