# Sourced by scripts/test.sh and scripts/run.sh: makes sure the system packages the build needs
# are present. Oxigraph's RocksDB binding (oxrocksdb-sys) runs bindgen, which needs libclang.
# As root with apt, missing packages are installed; otherwise the exact command is printed.

# bindgen loads libclang.so or libclang-<version>.so (not libclang-cpp, which other packages bring).
seam_have_libclang() {
    ldconfig -p 2>/dev/null | grep -Eq 'libclang(-[0-9.]+)?\.so' && return 0
    compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/llvm-*/lib/libclang-[0-9]*.so*" >/dev/null 2>&1 && return 0
    [ -n "${LIBCLANG_PATH:-}" ] && compgen -G "${LIBCLANG_PATH}/libclang*.so*" >/dev/null 2>&1
}

# seam_apt_install PACKAGE WHY: installs a Debian package as root, else says what to run.
seam_apt_install() {
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $1 ($2)..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "$1" >&2
    else
        echo "error: $1 is missing ($2)." >&2
        echo "  run: sudo apt-get install -y $1" >&2
        exit 1
    fi
}

if ! seam_have_libclang; then
    seam_apt_install libclang-dev "needed to build Oxigraph's RocksDB binding; or set LIBCLANG_PATH"
fi

# The LwM2M server speaks DTLS through the system's OpenSSL (the openssl crate links libssl and
# finds it with pkg-config).
if ! pkg-config --exists openssl 2>/dev/null; then
    command -v pkg-config >/dev/null 2>&1 || seam_apt_install pkg-config "finds OpenSSL for the DTLS build"
    pkg-config --exists openssl 2>/dev/null || seam_apt_install libssl-dev "OpenSSL's headers, for LwM2M over DTLS"
fi
