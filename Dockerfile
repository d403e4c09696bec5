# The trainer image: one file, two variants (roles/image builds only what hosts need, with the build args of
# roles/image/defaults/main.yml; `make image` and `make image-gpu` build the same by hand):
#   CPU hosts: a slim Python base plus the small CPU torch wheel (no CUDA libraries).
#   GPU hosts: the same base plus torch's CUDA build, whose nvidia-* wheels bring the CUDA libraries.
# Where no registry or index is reachable, build/wheelhouse/ holds every wheel and installs stay offline.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- Stage 1: the dependency venv. The wheelhouse is copied only here, so it never ends up in a layer
# of the final image (the legacy builder has no RUN --mount).
FROM ${BASE_IMAGE} AS deps
ARG TORCH_SPEC=""
# Installed beside torch: numpy, which torch's object collectives need and the CPU wheel does not bring.
ARG EXTRA_REQUIREMENTS=""
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
COPY build/wheelhouse/ /tmp/wheelhouse/
RUN set -eu; \
    python3 -m venv --system-site-packages /opt/hetero; \
    if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then src="--no-index --find-links /tmp/wheelhouse"; \
    else src="--extra-index-url ${TORCH_INDEX_URL}"; fi; \
    reqs="${TORCH_SPEC} ${EXTRA_REQUIREMENTS}"; \
    if [ -n "${reqs# }" ]; then /opt/hetero/bin/pip install --no-cache-dir $src $reqs; fi; \
    /opt/hetero/bin/python -c "import torch; print('torch', torch.__version__)"

# --- Stage 2: the image hosts receive. Layers from the least to the most often changed, so a code change
# rebuilds only the small last layers.
FROM ${BASE_IMAGE}
ENV PATH=/opt/hetero/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# An unprivileged user; experiments/ is the volume the trainer role mounts (host dir owned by uid 1000).
RUN useradd --create-home --uid 1000 hetero && mkdir -p /workspace/experiments && chown -R hetero /workspace
COPY --from=deps /opt/hetero /opt/hetero
# README.md stays out (pyproject names it, so an empty one stands in): editing the docs must not change the
# image id, or every host would receive the whole image again.
COPY pyproject.toml /src/
COPY hetero_train /src/hetero_train
RUN touch /src/README.md && /opt/hetero/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src \
    && rm -rf /src
USER hetero
WORKDIR /workspace
ENTRYPOINT ["hetero-train"]
