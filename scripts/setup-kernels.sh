#!/usr/bin/env bash
# Idempotent set-up for `make test-kernels`: QEMU + virtme-ng, and Debian's
# packaged 6.1 and 6.12 kernels (the newest of each family in apt) where the
# guest finds them. The guest shares this root filesystem over 9p, so "where it
# finds them" is simply /boot/{vmlinuz,config}-<release> and /lib/modules/<release>.
#
# The kernel .debs are unpacked with `dpkg -x` instead of installed: installing
# them pulls in initramfs-tools and runs boot-loader hooks this VM has no use
# for (and which fail without a /boot/grub). Nothing is mounted on the host.
# Each step checks before it acts. Prints the releases, one a line, on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-system-x86 kmod busybox-static)
# Kernel families: a regex over package names; the newest match (sort -V) wins.
KERNEL_FAMILIES=('^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$'
                 '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$')
CACHE=${BPFNB_KERNEL_CACHE:-/var/cache/bpfnb-kernels}
VIRTME_NG=virtme-ng==1.42

log() { echo "setup-kernels: $*" >&2; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
newest() { apt-cache search --names-only "$1" | cut -d' ' -f1 | sort -V | tail -1; }

if [ "$(id -u)" != 0 ]; then
    log "needs root: it installs ${APT_PACKAGES[*]} and unpacks kernels into /boot and /lib/modules."
    log "as root run: apt-get install ${APT_PACKAGES[*]} && bash scripts/setup-kernels.sh"
    exit 1
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/vng ]; then
    log "installing $VIRTME_NG into .venv"
    .venv/bin/python -m pip install -q "$VIRTME_NG"
fi

mkdir -p "$CACHE"
for family in "${KERNEL_FAMILIES[@]}"; do
    pkg=$(newest "$family")
    [ -n "$pkg" ] || { apt-get update -qq; pkg=$(newest "$family"); }
    [ -n "$pkg" ] || { log "no package matches $family"; exit 1; }
    release=${pkg#linux-image-}; release=${release%-unsigned}
    if [ ! -f "/boot/vmlinuz-$release" ] || [ ! -f "/lib/modules/$release/modules.dep" ]; then
        log "unpacking $pkg"
        (cd "$CACHE" && ls "${pkg}"_*.deb >/dev/null 2>&1 || apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
        rm -rf "$CACHE/$release" && mkdir -p "$CACHE/$release"
        dpkg -x "$CACHE/${pkg}"_*.deb "$CACHE/$release"
        install -D -m 0644 -t /boot "$CACHE/$release/boot/"*"-$release"
        mkdir -p /lib/modules
        rm -rf "/lib/modules/$release"
        cp -a "$CACHE/$release/lib/modules/$release" "/lib/modules/$release"
        depmod -a "$release"
        rm -rf "$CACHE/$release"
    fi
    echo "$release"
done
