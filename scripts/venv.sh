# Sourced by the benchmark and cross-check scripts: one virtual environment, .bench/venv, with
# the Python packages they compare against, installed from PyPI on first use.
#
#   need_python_packages MODULE=PACKAGE ...    e.g. sklearn=scikit-learn fairlearn=fairlearn

venv=.bench/venv

need_python_packages() {
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  local spec module package
  for spec in "$@"; do
    module=${spec%%=*}
    package=${spec#*=}
    if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
      echo "installing $package into $venv ..."
      "$venv/bin/pip" install --quiet "$package"
    fi
  done
}
