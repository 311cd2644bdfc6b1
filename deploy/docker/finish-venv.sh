#!/bin/sh
# Install docloop's wheel (from DIST) into the environment VENV, then remove what a running
# docloop never uses from it:
# - pip and setuptools: the image is rebuilt, never upgraded in place;
# - the test suites and type stubs (.pyi) that packages ship inside themselves;
# - ONNX Runtime's C library for native programs (capi/libonnxruntime.so.*): its Python binding
#   has the runtime built in and never loads that file; and its offline model tools
#   (transformers, quantization, tools), which only their own command lines import.
set -eu
venv=$1
dist=$2
"$venv/bin/pip" install --no-index --no-deps "$dist"/*.whl
"$venv/bin/pip" uninstall -y -q pip setuptools
site=$(echo "$venv"/lib/python3.*/site-packages)
find "$site" -depth -type d \( -name tests -o -name test \) -exec rm -rf {} +
find "$site" -name '*.pyi' -delete
rm -rf "$site"/onnxruntime/capi/libonnxruntime.so.* "$site"/onnxruntime/transformers \
  "$site"/onnxruntime/quantization "$site"/onnxruntime/tools
find "$venv" -name __pycache__ -type d -prune -exec rm -rf {} +
