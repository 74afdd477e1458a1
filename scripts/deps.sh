# Sourced by scripts/quickstart.sh and scripts/test.sh: the one place that
# installs what libipc needs on Debian 12, and only what is missing.

IPC_DEPS="meson ninja-build check pkg-config mandoc libzmq3-dev libnng-dev iproute2 valgrind libssl-dev openssl socat python3-dev"
# Only for the real fuzzers of tests/fuzz (scripts/test.sh skips them without).
IPC_FUZZ_DEPS="clang libclang-rt-14-dev"

# Run a command as root: directly, or through sudo when we are not root.
ipc_as_root()
{
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo > /dev/null 2>&1; then
		sudo "$@"
	else
		echo "deps: need root (or sudo) for: $*" >&2
		return 1
	fi
}

# Install the packages of IPC_DEPS, and any named as arguments, that dpkg
# does not list as installed (plus build-essential if there is no C compiler
# or make): `apt-get update` once, then one `apt-get install -y`. Nothing at
# all when all are present.
ipc_deps_install()
{
	missing=""
	for p in $IPC_DEPS "$@"; do
		case $(dpkg-query -W -f='${Status}' "$p" 2> /dev/null) in
		"install ok installed") ;;
		*) missing="$missing $p" ;;
		esac
	done
	if ! command -v cc > /dev/null 2>&1 || ! command -v make > /dev/null 2>&1; then
		missing="$missing build-essential"
	fi
	if [ -z "$missing" ]; then
		echo "deps: all present ($IPC_DEPS${*:+ $*})"
		return 0
	fi
	echo "deps: installing$missing"
	ipc_as_root env DEBIAN_FRONTEND=noninteractive apt-get update &&
	ipc_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
}

# meson setup that also works on a rerun: --wipe an existing build dir
# (fresh configuration, no stale options or objects), plain setup otherwise.
ipc_meson_setup()
{
	dir=$1
	shift
	if [ -d "$dir/meson-private" ]; then
		meson setup --wipe "$dir" "$@"
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}
