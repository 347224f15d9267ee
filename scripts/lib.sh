# Shell helpers shared by the project's scripts (sourced, not run).

# Installs Debian packages, refreshing the package lists only when the first try fails.
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

# Installs the Debian packages among "$@" that are not installed yet.
apt_ensure() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# Installs PyPI packages; a distribution's own Python refuses system-wide installs (PEP 668), so
# fall back to the user site.
pip_install() {
    export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
    python3 -m pip install --quiet "$@" || python3 -m pip install --quiet --user --break-system-packages "$@"
}
