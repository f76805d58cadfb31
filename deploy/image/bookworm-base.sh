#!/usr/bin/env bash
# Build a stand-in for python:3.11-slim-bookworm with debootstrap, for machines that reach
# Debian's package mirror but no container registry. It holds what the real image provides
# to the Dockerfile: python3.11 (as python3 and python), pip, venv, ca-certificates; like
# debian:bookworm-slim it keeps no documentation, man pages or locales, nor apt's caches.
#   deploy/image/bookworm-base.sh TAG
set -euo pipefail
tag=${1:?usage: bookworm-base.sh TAG}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
work=$(mktemp -d /var/tmp/shim-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "image-test: debootstrap bookworm (minbase + python3.11, pip, venv) from $mirror"
debootstrap --variant=minbase \
  --include=python3.11,python3-pip,python3-venv,python-is-python3,ca-certificates \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }

# What debian:bookworm-slim configures: later apt-get installs skip docs, man pages, locales.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/lib/apt/lists/* \
  "$root"/var/cache/apt/* "$root"/var/log/* "$root"/var/cache/debconf/*-old
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# apt inside the image: the release, its updates and security updates, as in the real image.
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
  "$mirror" "$mirror" "$security" >"$root/etc/apt/sources.list"

tar -C "$root" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "image-test: base image $tag ($(podman image inspect --format '{{.Size}}' "$tag" | numfmt --to=iec))"
