# The trainer image: one file, two variants chosen by BASE_IMAGE.
#   GPU hosts (default): the official PyTorch CUDA runtime image, which already carries torch.
#   CPU hosts: a plain Python base plus the small CPU torch wheel (no CUDA libraries):
#     --build-arg BASE_IMAGE=hetero-base:bookworm --build-arg TORCH_SPEC=torch==2.13.0
# Where no registry or index is reachable, build/wheelhouse/ holds every wheel and installs stay offline.
ARG BASE_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
FROM ${BASE_IMAGE}

ARG TORCH_SPEC=""
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PATH=/opt/hetero/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, so a code change rebuilds only the small layer below.
COPY build/wheelhouse/ /tmp/wheelhouse/
RUN set -eu; \
    python3 -m venv --system-site-packages /opt/hetero; \
    if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then src="--no-index --find-links /tmp/wheelhouse"; \
    else src="--extra-index-url ${TORCH_INDEX_URL}"; fi; \
    if [ -n "${TORCH_SPEC}" ]; then /opt/hetero/bin/pip install --no-cache-dir $src "${TORCH_SPEC}"; fi; \
    /opt/hetero/bin/python -c "import torch; print('torch', torch.__version__)"; \
    rm -rf /tmp/wheelhouse

COPY pyproject.toml README.md /src/
COPY hetero_train /src/hetero_train
RUN /opt/hetero/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src && rm -rf /src

# An unprivileged user; experiments/ is the volume the trainer role mounts.
RUN useradd --create-home --uid 1000 hetero && mkdir -p /workspace/experiments && chown -R hetero /workspace
USER hetero
WORKDIR /workspace
ENTRYPOINT ["hetero-train"]
