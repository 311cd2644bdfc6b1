# docloop's two images, from one file:
#   docloop-api      serve, OCR, predict and the review app on ONNX Runtime (no PyTorch)
#   docloop-trainer  the same plus PyTorch, for training workers (CPU build; CUDA by build arg)
#
#   docker build --target docloop-api -t docloop-api .
#   docker build --target docloop-trainer -t docloop-trainer .
#   docker build --target docloop-trainer --build-arg TORCH_VARIANT=cu128 -t docloop-trainer:cuda .
#
# BASE_IMAGE is any Debian-like image with Python 3.11 and its venv module (python:3.11-slim-bookworm,
# or a bookworm root with python3 and python3-venv, as scripts/image_test.sh makes offline).
# Wheels put in wheelhouse/ are used first; --build-arg PIP_INSTALL_ARGS=--no-index builds
# from them alone, without reaching a package index.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python-base
# No .pyc in the image (a tenth of its size): Python compiles into /tmp, a writable
# emptyDir/tmpfs beside the read-only root, once per container.
ENV PYTHONUNBUFFERED=1 \
    PYTHONPYCACHEPREFIX=/tmp/pycache \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_COMPILE=1 \
    PIP_FIND_LINKS=/wheels

# Dependencies before the source: these layers are reused while only src/ changes.
FROM python-base AS deps
ARG PIP_INSTALL_ARGS=""
WORKDIR /build
COPY wheelhouse/ /wheels/
COPY pyproject.toml deploy/docker/requirements.py ./
RUN python3 requirements.py pyproject.toml > requirements.txt \
 && python3 -m venv /opt/docloop \
 && /opt/docloop/bin/pip install ${PIP_INSTALL_ARGS} -r requirements.txt

FROM deps AS deps-train
ARG PIP_INSTALL_ARGS=""
# cpu, or a CUDA build of the pinned PyTorch (cu126, cu128, ...) from PyTorch's own index.
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
RUN python3 requirements.py pyproject.toml --only-extras --extra train \
      --torch-variant "${TORCH_VARIANT}" > requirements-train.txt \
 && /opt/docloop/bin/pip install ${PIP_INSTALL_ARGS} --extra-index-url "${TORCH_INDEX_URL}" \
      -r requirements-train.txt

# docloop itself, as a wheel built in a throwaway environment (its build tools stay here).
FROM python-base AS wheel
ARG PIP_INSTALL_ARGS=""
WORKDIR /build
COPY wheelhouse/ /wheels/
COPY pyproject.toml README.md ./
COPY src/ src/
RUN python3 -m venv /tmp/build \
 && /tmp/build/bin/pip install ${PIP_INSTALL_ARGS} "setuptools>=77" wheel \
 && /tmp/build/bin/pip wheel ${PIP_INSTALL_ARGS} --no-deps --no-build-isolation -w /dist .

# docloop into the environment, then what a running server never uses out of it: pip,
# setuptools and the packages' own test suites.
FROM deps AS venv-api
COPY --from=wheel /dist/ /dist/
COPY deploy/docker/finish-venv.sh /build/
RUN sh /build/finish-venv.sh /opt/docloop /dist

FROM deps-train AS venv-trainer
COPY --from=wheel /dist/ /dist/
COPY deploy/docker/finish-venv.sh /build/
RUN sh /build/finish-venv.sh /opt/docloop /dist

# What both images share: a non-root user, the home folder, the health check. No compilers.
FROM python-base AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/docloop --create-home docloop
ENV PATH=/opt/docloop/bin:${PATH} \
    HOME=/var/lib/docloop \
    DOCLOOP_HOME=/var/lib/docloop \
    DOCLOOP_PORT=8000
WORKDIR /var/lib/docloop
VOLUME ["/var/lib/docloop"]
USER 10001:10001
EXPOSE 8000
# Alive, not ready: /readyz (database, store, OCR) is for load balancers, not for restarts.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['DOCLOOP_PORT']}/healthz\", timeout=4)"]
ENTRYPOINT ["docloop"]

FROM runtime AS docloop-trainer
# Fonts for synthetic line images (docloop.ml.synthetic.line_images draws with whatever is here).
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends fontconfig fonts-dejavu-core fonts-liberation \
    fonts-freefont-ttf \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001
COPY --from=venv-trainer /opt/docloop /opt/docloop
CMD ["worker"]

# Last, so that a plain `docker build .` makes the API image.
FROM runtime AS docloop-api
COPY --from=venv-api /opt/docloop /opt/docloop
CMD ["serve", "--no-worker", "--host", "0.0.0.0", "--port", "8000"]
