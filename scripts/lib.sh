# Shared helpers for Swiftlet's scripts. Source it; do not run it.
set -euo pipefail

SWIFTLET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say()  { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else fail "need root to run: $* (install sudo or run as root)"; fi
}

# One release configuration for the binary and the tests, so neither rebuilds the other's
# artifacts. -enable-testing lets test targets use @testable imports in a release build.
SWIFT_RELEASE_FLAGS=(-c release -Xswiftc -enable-testing)

# Test targets run one test at a time (`--no-parallel`): their tests run the real models, each
# model with a compute pool as wide as the machine, and two pools at once on 2 cores spin against
# each other (measured in scripts/test's phase times). scripts/test and scripts/test-arm64.
SWIFTLET_SERIAL_TEST_TARGETS="${SWIFTLET_SERIAL_TEST_TARGETS-ModelsTests EngineTests EvaluationTests}"
# Prints --no-parallel for a target in SWIFTLET_SERIAL_TEST_TARGETS, nothing otherwise.
serial_flag() { case " $SWIFTLET_SERIAL_TEST_TARGETS " in *" $1 "*) echo --no-parallel ;; esac; }
