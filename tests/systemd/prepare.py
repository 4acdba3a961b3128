#!/usr/bin/env python3
"""The systemd suite's fixture: a Debian 12 root file system with this build installed in it,
the way a package installs it, ready to boot under systemd-nspawn.

1. The base tree comes from debootstrap once and is kept as a zstd tarball in the build folder,
   named after what it contains; later runs unpack it in seconds.
2. It is unpacked afresh, `cmake --install` puts this build tree into it (DESTDIR), the test
   handler goes next to it (outside the installed plugin folder), sysusers runs on it.
3. One boot proves that nspawn works here. Where it cannot (not root, no systemd-nspawn, no
   cgroups, the container does not boot) every test of the suite reports itself skipped, unless
   GATIO_REQUIRE_SYSTEMD=1 (set by .ci/run) makes that a failure.

Writes STATE/state.json for systemd_tests.py.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

import nspawn

SUITE = "bookworm"
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "procps"]
# Where the test handler goes inside the root; root-owned like the installed plugin folder.
TEST_PLUGIN_DIR = "/usr/local/lib/gatio-tests"


def debian_mirror():
    """The Debian archive apt on this machine already uses for the main suite (never the
    security archive), from sources.list lines or deb822 .sources files."""
    candidates = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            with open(path) as f:
                for line in f:
                    m = re.match(r"\s*deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
                    if m:
                        candidates.append((m.group(2), [m.group(3)]))
        except OSError:
            pass
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for stanza in f.read().split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        k, v = line.split(":", 1)
                        fields[k.strip().lower()] = v.split()
                if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                    for uri in fields.get("uris", []):
                        candidates.append((uri, fields.get("suites", [])))
    for uri, suites in candidates:
        if SUITE in suites and "security" not in uri:
            return uri
    raise SystemExit(f"no apt source for Debian {SUITE} in /etc/apt/sources.list*: debootstrap needs a mirror")


def runtime_packages(binaries):
    """The Debian packages holding the shared libraries gatiod and the plugins load."""
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", b], capture_output=True, text=True, check=True).stdout
        libs |= {m.group(1) for m in re.finditer(r"=>\s+(/\S+)", out)}
    # Each library under every name dpkg may know it by (merged /usr: /lib and /usr/lib are one),
    # asked in one dpkg-query: each call reads the whole file list database.
    names = {}
    for lib in libs:
        for path in {lib, os.path.realpath(lib)}:
            for alias in (path, path[4:] if path.startswith("/usr/") else "/usr" + path):
                names[alias] = lib
    out = subprocess.run(["dpkg-query", "-S", *sorted(names)], capture_output=True, text=True).stdout
    packages, owned = set(), set()
    for line in out.splitlines():
        owners, _, path = line.partition(": ")
        if path in names:
            owned.add(names[path])
            packages |= {o.strip().split(":")[0] for o in owners.split(",")}
    if libs - owned:
        raise SystemExit(f"no Debian package owns {', '.join(sorted(libs - owned))}: it cannot be installed in the root")
    return sorted(packages)


def build_base(cache, packages, work):
    tmp = os.path.join(work, "debootstrap")
    shutil.rmtree(tmp, ignore_errors=True)
    mirror = debian_mirror()
    print(f"debootstrap {SUITE} from {mirror}: {' '.join(packages)}", flush=True)
    subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(packages), SUITE, tmp, mirror],
                   check=True, timeout=1800)
    # The downloaded packages and indexes are not needed in the root: the tarball stays small.
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for p in glob.glob(os.path.join(tmp, leftover, "*")):
            if os.path.isfile(p):
                os.remove(p)
    partial = cache + ".partial"
    subprocess.run(["tar", "-C", tmp, "--numeric-owner", "--xattrs", "-I", "zstd -T0 -3", "-cf", partial, "."],
                   check=True, timeout=600)
    os.rename(partial, cache)
    shutil.rmtree(tmp)


START = time.monotonic()


def step(what):
    print(f"[{time.monotonic() - START:6.1f} s] {what}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary-dir", required=True)
    ap.add_argument("--work", required=True, help="the suite's folder in the build tree")
    ap.add_argument("--cmake", required=True)
    ap.add_argument("--gatiod", required=True)
    ap.add_argument("--plugin", action="append", default=[], help="a built plugin (for its libraries)")
    ap.add_argument("--test-plugin", required=True)
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    state_path = os.path.join(args.work, "state.json")
    if os.path.exists(state_path):
        os.remove(state_path)

    def unavailable(reason):
        with open(state_path, "w") as f:
            json.dump({"unavailable": reason}, f)
        if os.environ.get("GATIO_REQUIRE_SYSTEMD") == "1":
            sys.exit(f"GATIO_REQUIRE_SYSTEMD=1 but the systemd suite cannot run: {reason}")
        print(f"skipped: {reason}", flush=True)
        sys.exit(nspawn.SKIP)

    try:
        nspawn.check_host()
    except nspawn.Unavailable as e:
        unavailable(str(e))
    for tool in ("zstd", "tar", "dpkg-query"):
        if nspawn.which(tool) is None:
            unavailable(f"{tool} not found")

    step("finding the runtime libraries' packages")
    packages = sorted(set(BASE_PACKAGES) | set(runtime_packages([args.gatiod, args.test_plugin, *args.plugin])))
    key = hashlib.sha256(f"{SUITE} minbase {' '.join(packages)}".encode()).hexdigest()[:16]
    cache = os.path.join(args.work, f"rootfs-{SUITE}-{key}.tar.zst")
    if not os.path.exists(cache):
        if nspawn.which("debootstrap") is None:
            unavailable("debootstrap not found and no cached root file system")
        build_base(cache, packages, args.work)

    root = os.path.join(args.work, "root")
    step(f"unpacking {cache}")
    nspawn.reap_stale(args.work)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    subprocess.run(["tar", "-C", root, "--numeric-owner", "--xattrs", "-I", "zstd", "-xf", cache], check=True,
                   timeout=600)

    step("cmake --install")
    env = dict(os.environ, DESTDIR=root)
    subprocess.run([args.cmake, "--install", args.binary_dir], check=True, env=env, timeout=600,
                   stdout=subprocess.DEVNULL)
    test_dir = root + TEST_PLUGIN_DIR
    os.makedirs(test_dir, mode=0o755)
    shutil.copyfile(args.test_plugin, os.path.join(test_dir, "service.so"))
    os.chmod(os.path.join(test_dir, "service.so"), 0o644)

    # The gatio user, as a package's postinst creates it, by the root's own systemd-sysusers
    # (tmpfiles.d applies at boot: it only makes /run/gatio); a fixed machine id, and the
    # journal kept on disk, so it can be read from outside while the container runs.
    subprocess.run(["chroot", root, "systemd-sysusers"], check=True, timeout=120)
    subprocess.run(["chroot", root, "systemd-machine-id-setup"], check=True, timeout=60, stdout=subprocess.DEVNULL)
    os.makedirs(os.path.join(root, "var/log/journal"), exist_ok=True)

    step("booting it once")
    try:
        with nspawn.Container(root, args.work) as c:
            print(f"{c.name}: booted, systemd {c.run(['systemctl', '--version']).stdout.split()[1]}", flush=True)
    except RuntimeError as e:
        unavailable(f"the container does not boot: {e}")

    with open(state_path, "w") as f:
        json.dump({"root": root, "test_plugin_dir": TEST_PLUGIN_DIR, "packages": packages}, f)
    print(f"root file system ready: {root} ({' '.join(packages)})", flush=True)


if __name__ == "__main__":
    main()
