"""Make sure the Debian packages the tests drive are installed: ``chromium`` (the browser
tests; Playwright gets ``executable_path`` and never downloads a browser of its own) and
``nginx`` (the load balancer of the no-sticky-sessions tests).

    python tests/tools/system_deps.py          # install what is missing (as root), else explain

Exit status: 0 when every package is there (or was installed); when one is missing and cannot
be installed, 1 if ``CI=true`` (CI must not silently skip those tests), else 0 after printing
how to install it. Importable too: ``ensure(name)`` says whether a package's binary is usable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# package -> the binary the tests run
BINARIES = {"chromium": "/usr/bin/chromium", "nginx": "/usr/sbin/nginx"}
CHROMIUM = BINARIES["chromium"]
NGINX = BINARIES["nginx"]
INSTALL_HINT = "sudo apt-get update && sudo apt-get install -y --no-install-recommends " + " ".join(BINARIES)

# apt on a cold mirror can be slow, but never let it hang a CI run forever.
APT_UPDATE_TIMEOUT = 300
APT_INSTALL_TIMEOUT = 900


def installed(package: str) -> bool:
    path = Path(BINARIES[package])
    return path.is_file() and os.access(path, os.X_OK)


def chromium_installed() -> bool:
    return installed("chromium")


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _apt(args: list[str], timeout: float) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("+", " ".join(args), flush=True)
    try:
        result = subprocess.run(args, env=env, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"system_deps: {' '.join(args[:2])} failed: {exc}", file=sys.stderr)
        return False
    return result.returncode == 0


def install(packages: list[str]) -> bool:
    """``apt-get install`` when running as root on a Debian-like system."""
    if shutil.which("apt-get") is None:
        print("system_deps: apt-get not found: not a Debian-like system", file=sys.stderr)
        return False
    if os.geteuid() != 0:
        print("system_deps: not root: cannot apt-get install", file=sys.stderr)
        return False
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    # Try without an update first (fast when the lists are fresh), then update and retry.
    if _apt(command, APT_INSTALL_TIMEOUT) and all(installed(p) for p in packages):
        return True
    return (
        _apt(["apt-get", "update"], APT_UPDATE_TIMEOUT)
        and _apt(command, APT_INSTALL_TIMEOUT)
        and all(installed(p) for p in packages)
    )


def ensure(package: str) -> bool:
    """Whether the package's binary is usable, installing it first when possible."""
    return installed(package) or install([package])


def main() -> int:
    missing = [package for package in BINARIES if not installed(package)]
    if not missing or install(missing):
        print(f"system_deps: OK ({', '.join(BINARIES.values())})")
        return 0
    still_missing = [package for package in BINARIES if not installed(package)]
    if running_in_ci():
        print(f"system_deps: missing and not installable: {', '.join(still_missing)}", file=sys.stderr)
        return 1
    print(
        f"system_deps: missing {', '.join(still_missing)}; the tests that need them will be skipped.\n"
        f"Install with:\n    {INSTALL_HINT}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
