# Your code on top of a trainer image (roles/image, hetero_user_code). The controller prepares the context:
# requirements.txt (your requirements, torch left out), wheels/ (every wheel they need) and code/ (your
# project). Nothing is fetched: the build runs with no network and no package index.
ARG TRAINER_IMAGE

# --- Stage 1: your requirements into /opt/user-deps. pip's --prefix still sees what the image has (torch,
# numpy), so only what is new lands there, and the wheels never reach a layer of the final image.
FROM ${TRAINER_IMAGE} AS deps
USER root
COPY requirements.txt /tmp/user/requirements.txt
COPY wheels/ /tmp/user/wheels/
RUN set -eu; \
    site="/opt/user-deps/lib/python$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')/site-packages"; \
    mkdir -p "$site" && ln -s "$site" /opt/user-deps/site-packages; \
    if grep -q '[^[:space:]]' /tmp/user/requirements.txt; then \
        pip install --no-cache-dir --no-compile --no-index --find-links /tmp/user/wheels \
            --prefix /opt/user-deps -r /tmp/user/requirements.txt; \
    fi

# --- Stage 2: what the hosts run: the trainer image, your requirements, and your code as the last layer, so
# a code change rebuilds (and a registry sends) that one small layer. The project and its src/ are importable.
FROM ${TRAINER_IMAGE}
COPY --from=deps /opt/user-deps /opt/user-deps
ENV PYTHONPATH=/opt/user-code:/opt/user-code/src:/opt/user-deps/site-packages
COPY code/ /opt/user-code/
