# translator-speech-shim: the drop-in Translator Speech API v1.0 server, with real offline
# engines for its embedded local Speech service. Every RUN step also works on a plain
# Debian bookworm machine (the tests run the image's command line there).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    SHIM_ENGINE=auto

# ffmpeg: MP3 output (pydub). libssl3, ca-certificates: the Speech SDK's TLS to Azure.
# espeak-ng and the Apertium pairs: the local engine's synthesis and text translation.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ffmpeg libssl3 ca-certificates espeak-ng \
      apertium apertium-eng-spa apertium-fr-es apertium-spa-ita \
      apertium-eng-cat apertium-fra-cat apertium-cat-ita \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY shim ./shim
RUN pip install ".[local]"

RUN useradd --create-home --uid 10001 shim
USER shim

EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, sys, urllib.request; port = os.environ.get('SHIM_PORT', '5000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"

# Bound to every interface, serve wants an --auth choice: set SHIM_AUTH (keys, passthrough or
# open) and its settings, e.g. SHIM_AUTH=keys SHIM_CLIENT_KEYS=..., as in the README's table.
ENTRYPOINT ["translator-speech-shim", "serve", "--host", "0.0.0.0"]
