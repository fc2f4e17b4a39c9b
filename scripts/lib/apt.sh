# Sourced by the check and packaging scripts that install the Debian packages they need.
#
#   apt_install [APT-GET OPTIONS] PACKAGE...
#
# Runs `apt-get update`, then `apt-get install -y` with the given arguments, as root or through
# sudo (never waiting for a password: in CI there is nobody to type it).
apt_install() {
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  local packages=()
  local a
  for a in "$@"; do [[ $a == -* ]] || packages+=("$a"); done
  echo "installing ${packages[*]} ..."
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
