# translator-speech-shim: the drop-in Translator Speech API v1.0 server.
#
# Two images from one file (sizes in docs/deployment.md):
#   default (target "server"): for Azure Speech or any Speech host; the embedded local Speech
#       service runs its scripted engine. No Debian packages beyond the Python base.
#   --target offline: adds the offline engines (Whisper, Piper, Apertium, espeak-ng) so the
#       embedded local Speech service recognises, translates and speaks without Azure.
# Packages come from constraints.txt (pinned; `make lock` rewrites it). BASE may name any image
# with what python:3.11-slim has (python3.11, pip, venv, ca-certificates): `make image-test`
# builds one with debootstrap when no registry is reachable.
ARG BASE=python:3.11-slim-bookworm

# ---- build: a virtualenv in /opt/shim; pip, its cache and the sources stay in these stages ------
FROM ${BASE} AS build-base
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY contracts ./contracts
COPY shim ./shim
RUN python3 -m venv /opt/shim

FROM build-base AS build
RUN /opt/shim/bin/pip install --constraint constraints.txt . \
 && /opt/shim/bin/pip uninstall --yes pip setuptools

FROM build-base AS build-offline
RUN /opt/shim/bin/pip install --constraint constraints.txt ".[local]" \
 && /opt/shim/bin/pip uninstall --yes pip setuptools

# ---- runtime: what every image shares ------------------------------------------------------------
FROM ${BASE} AS runtime
ENV PATH=/opt/shim/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    SHIM_ENGINE=auto
# libssl3, ca-certificates: the Speech SDK's TLS to Azure (already in python:3.11-slim).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && useradd --uid 10001 --user-group --home-dir /tmp --no-create-home --shell /usr/sbin/nologin shim
WORKDIR /tmp
EXPOSE 5000
# Liveness, not readiness: a draining or full server is healthy and must not be restarted.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, sys, urllib.request; port = os.environ.get('SHIM_PORT', '5000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/livez', timeout=4).status == 200 else 1)"
# Bound to every interface, serve wants an --auth choice: set SHIM_AUTH (keys, passthrough or
# open) and its settings, e.g. SHIM_AUTH=keys SHIM_CLIENT_KEYS=..., as in the README's table.
ENTRYPOINT ["translator-speech-shim", "serve", "--host", "0.0.0.0"]

# ---- offline: the embedded local Speech service with the real offline engines -----------------
FROM runtime AS offline
# espeak-ng and the Apertium pairs: the local engine's synthesis and text translation.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      espeak-ng \
      apertium apertium-eng-spa apertium-fr-es apertium-spa-ita \
      apertium-eng-cat apertium-fra-cat apertium-cat-ita \
      apertium-es-pt apertium-por-cat apertium-spa-cat \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
COPY --from=build-offline /opt/shim /opt/shim
USER 10001:10001

# ---- server (the default target, last in the file) ----------------------------------------------
FROM runtime AS server
COPY --from=build /opt/shim /opt/shim
USER 10001:10001
