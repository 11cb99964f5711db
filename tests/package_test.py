#!/usr/bin/python3
"""The Debian package (daemon.md "The Debian package", rev 2).

    package_test.py build-depends SOURCE_DIR
        debian/control's Build-Depends name what tools/do installs for the
        build, and the package's version is the project's.
    package_test.py deb SOURCE_DIR [--sanitize]
        In a copy of the tree: dpkg-buildpackage -us -uc -b, lintian (an
        error fails), the contents and conffiles; a second build of a higher
        version whose example config differs. Then on this machine: apt-get
        install of the first, referrald -t on the installed config, the
        installed daemon run once as its unit would (or, under systemd, the
        unit itself), an edit of routing.yaml, an upgrade to the second that
        keeps the edit (--force-confold), apt-get purge: the config is gone,
        the database is kept. Root only, since it installs; exit 77 (skipped)
        where it cannot run, with the reason. The system is left as found.

Each check prints a line; the last line is "N passed, N failed, N skipped"
(an expected failure counts as skipped and says so). Exit 0 only when no
check failed.
"""

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("rd_packaging", os.path.join(HERE, "packaging.py"))
pk = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pk)
run = pk.run


def check(name, ok, detail=""):
    """packaging.py's check, with the detail only when it failed."""
    pk.check(name, ok, "" if ok else detail)


SKIP = 77
CONF_DIR = "/etc/referrald"
CONF = CONF_DIR + "/referrald.yaml"
ROUTING = CONF_DIR + "/routing.yaml"
KEY, PUB = CONF_DIR + "/server.key", CONF_DIR + "/server.pub"
UNIT = "/lib/systemd/system/referrald.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/referrald.service"
CATALOG = "/usr/lib/systemd/catalog/referrald.catalog"
# Where the unit's StateDirectory= puts the database with DynamicUser=yes.
PRIVATE = "/var/lib/private"
STATE = PRIVATE + "/referrald"
STATE_LINK = "/var/lib/referrald"
DATABASE = STATE + "/referrald.db"
# The erase command that the purge prints and docs/operations.md gives.
ERASE = "rm -rf --one-file-system %s %s" % (STATE, STATE_LINK)
LOCK = "/run/lock/referrald-package-test.lock"
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
EDIT = "# edited by a coordinator (package test)\n"
SECOND = "# the example of the second build (package test)\n"

skipped = []
timings = []


def xfail(name, reason):
    skipped.append(name)
    print("XFAIL (expected to fail): %s: %s" % (name, reason))
    sys.stdout.flush()


def timed(label, t0):
    timings.append((label, time.monotonic() - t0))


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def sha256(path):
    return hashlib.sha256(read(path, "rb")).hexdigest()


# ---------------------------------------------------------------- build-depends


def bash_array(text, name):
    """The words of the bash array NAME=( ... ) in TEXT (comments dropped)."""
    m = re.search(r"^%s=\((.*?)\)" % re.escape(name), text, re.M | re.S)
    if not m:
        return None
    return set(re.sub(r"#[^\n]*", "", m.group(1)).split())


def control_field(text, field):
    """The package names of a relation field of debian/control."""
    m = re.search(r"^%s:(.*?)(?=^\S|\Z)" % re.escape(field), text, re.M | re.S)
    if not m:
        return None
    return {re.split(r"[\s(\[<]", d.strip(), 1)[0] for d in m.group(1).split(",") if d.strip()}


def build_depends(src):
    control = read(os.path.join(src, "debian/control"))
    do = read(os.path.join(src, "tools/do"))
    deps = control_field(control, "Build-Depends") or set()
    build, tests = bash_array(do, "build_packages"), bash_array(do, "test_packages")
    check("tools/do has build_packages and test_packages", build is not None and tests is not None)
    if build is None or tests is None:
        return
    check("Build-Depends has debhelper-compat (= 13)",
          re.search(r"^Build-Depends:.*debhelper-compat \(= 13\)", control, re.M | re.S) is not None)
    named = deps - {"debhelper-compat"}
    wanted = build - {"build-essential"}  # Debian takes build-essential for granted
    check("Build-Depends name exactly what tools/do installs for the build", named == wanted,
          "only in debian/control: %s; only in tools/do: %s"
          % (" ".join(sorted(named - wanted)) or "-", " ".join(sorted(wanted - named)) or "-"))
    check("tools/do installs build-essential", "build-essential" in build)
    need = {"debhelper", "dpkg-dev", "lintian"}
    check("tools/do installs what the package test needs (%s)" % " ".join(sorted(need)),
          need <= tests | build, " ".join(sorted(need - tests - build)))
    m = re.search(r"^project\(referrald VERSION ([0-9.]+)", read(os.path.join(src, "CMakeLists.txt")),
                  re.M)
    top = re.match(r"referrald \(([^)]+)\)", read(os.path.join(src, "debian/changelog")))
    check("debian/changelog's version is the project's (CMakeLists.txt)",
          m is not None and top is not None and top.group(1) == m.group(1),
          "changelog %s, CMakeLists.txt %s" % (top and top.group(1), m and m.group(1)))


# ---------------------------------------------------------------- building


def copy_tree(src, dst):
    """The source tree without .git and without CMake build folders."""
    def ignore(folder, names):
        return [n for n in names
                if n in (".git", "__pycache__")
                or os.path.isfile(os.path.join(folder, n, "CMakeCache.txt"))]
    shutil.copytree(src, dst, symlinks=True, ignore=ignore)


def dpkg_build(tree, label, extra=()):
    """dpkg-buildpackage -us -uc -b in TREE; True when it built."""
    t0 = time.monotonic()
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=1")
    rc, out, err = run(["dpkg-buildpackage", "-us", "-uc", "-b"] + list(extra), cwd=tree, env=env)
    timed(label, t0)
    with open(os.path.join(os.path.dirname(tree), label.replace(" ", "-") + ".log"), "w") as f:
        f.write(out + err)
    tail = "\n".join((out + err).splitlines()[-40:])
    check("%s: dpkg-buildpackage -us -uc -b %s" % (label, " ".join(extra)), rc == 0,
          "exit %d\n%s" % (rc, tail) if rc else "")
    check("%s: the package build does not run the test suite" % label,
          rc != 0 or not re.search(r"^(Test project|\s*ctest)", out, re.M))
    return rc == 0


def changelog_trailer(tree):
    m = re.search(r"^ -- .*$", read(os.path.join(tree, "debian/changelog")), re.M)
    return m.group(0)


def prepare_second(tree, version):
    """The same tree as a higher VERSION whose example config differs. Built
    with dpkg-buildpackage -nc, dh finds its build stamp and packages the
    first build's binaries again (the daemon's compiled-in example rules
    stay the first's): what the upgrade tests is the packaging."""
    path = os.path.join(tree, "debian/changelog")
    entry = ("referrald (%s) unstable; urgency=medium\n\n"
             "  * Package test: the same tree, a higher version, other example rules.\n\n"
             "%s\n\n" % (version, changelog_trailer(tree)))
    old = read(path)
    with open(path, "w") as f:
        f.write(entry + old)
    routing = os.path.join(tree, "config/routing.yaml")
    text = read(routing).replace("capacity: 6", "capacity: 7", 1)
    with open(routing, "w") as f:
        f.write(text + SECOND)
    with open(os.path.join(tree, "config/referrald.yaml"), "a") as f:
        f.write(SECOND)


def lintian(changes):
    """lintian on the first build: its whole output, and no error."""
    if not pk.need("lintian"):
        return
    t0 = time.monotonic()
    rc, out, err = run(["lintian", "--fail-on", "error", "--display-info", "--pedantic",
                        "--show-overrides", changes])
    timed("lintian", t0)
    print("---- lintian %s (exit %d)\n%s%s---- end of lintian" % (os.path.basename(changes), rc,
                                                                  out, err))
    errors = [l for l in out.splitlines() if l.startswith("E: ")]
    check("lintian reports no error", rc == 0 and not errors, "\n".join(errors))


# What the package ships (daemon.md): path -> mode; every file root's.
SHIPPED = {
    "/usr/sbin/referrald": "-rwxr-xr-x",
    "/usr/bin/referralctl": "-rwxr-xr-x",
    UNIT: "-rw-r--r--",
    CATALOG: "-rw-r--r--",
    CONF: "-rw-r--r--",
    ROUTING: "-rw-r--r--",
    "/usr/share/man/man8/referrald.8.gz": "-rw-r--r--",
    "/usr/share/man/man1/referralctl.1.gz": "-rw-r--r--",
    "/usr/share/man/man5/referrald.yaml.5.gz": "-rw-r--r--",
    "/usr/share/man/man5/routing.yaml.5.gz": "-rw-r--r--",
    "/usr/share/doc/referrald/copyright": "-rw-r--r--",
    "/usr/share/doc/referrald/changelog.gz": "-rw-r--r--",
    "/usr/share/lintian/overrides/referrald": "-rw-r--r--",
}
DOCS = ["README.md", "operations.md", "security.md", "integration.md", "protocol.md",
        "routing.md", "routing-reference.md", "tools.md", "configuration.md", "architecture.md",
        "performance.md"]
for _d in DOCS:
    SHIPPED["/usr/share/doc/referrald/%s.gz" % _d] = "-rw-r--r--"
SHIPPED["/usr/share/doc/referrald/img/report.png"] = "-rw-r--r--"  # routing.md shows it


def contents(deb):
    """The files of DEB and the conffiles."""
    rc, out, err = run(["dpkg-deb", "-c", deb])
    check("dpkg-deb -c lists the package", rc == 0, err)
    files = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and not f[0].startswith("d"):
            files[f[5].lstrip(".")] = (f[0], f[1])
    print("contents of %s:\n  %s" % (os.path.basename(deb), "\n  ".join(
        "%s %s %s" % (v[0], v[1], k) for k, v in sorted(files.items()))))
    missing = [p for p in SHIPPED if p not in files]
    check("the package has the daemon, referralctl, the unit, the catalog, the four man pages, "
          "the docs and the example config", not missing, " ".join(missing))
    wrong = [p for p in SHIPPED if p in files and files[p] != (SHIPPED[p], "root/root")]
    check("their modes are as installed, owned by root", not wrong,
          " ".join("%s %s %s" % ((p,) + files[p]) for p in wrong))
    extra = [p for p in files if p not in SHIPPED and not p.startswith("/usr/share/doc/referrald/")]
    check("nothing else (no benchmarks: referral-bench, referral-floor, referral-route-bench)",
          not extra, " ".join(sorted(extra)))
    rc, out, err = run(["dpkg-deb", "--info", deb, "conffiles"])
    print("conffiles:\n  " + "\n  ".join(out.split()))
    ok = rc == 0 and sorted(out.split()) == sorted([CONF, ROUTING])
    check("the conffiles are %s and %s" % (CONF, ROUTING), ok, "" if ok else out + err)


# ---------------------------------------------------------------- on the machine


def apt(args, label):
    t0 = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    rc, out, err = run(APT + args, env=env, stdin=subprocess.DEVNULL)
    timed(label, t0)
    print("---- %s\n%s%s----" % (" ".join(["apt-get"] + args), out, err))
    check("%s exits 0" % label, rc == 0, "exit %d" % rc if rc else "")
    return out + err


def status():
    rc, out, err = run(["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", "referrald"])
    return out.strip() if rc == 0 else "not-installed"


def catalog_ids():
    """The MESSAGE_IDs that journalctl lists for referrald."""
    rc, out, err = run(["journalctl", "--list-catalog", "--no-pager"])
    return set(re.findall(r"^([0-9a-f]{32}) referrald: ", out, re.M))


def source_ids(src):
    return set(re.findall(r"^-- ([0-9a-f]{32})\s*$", read(os.path.join(src, "systemd/referrald.catalog")),
                          re.M))


def under_systemd():
    return os.path.isdir("/run/systemd/system")


def check_installed(src, version, said):
    check("dpkg says referrald %s is installed" % version, status() == "installed " + version,
          status())
    upstream = re.split(r"[+~-]", version)[0]
    rc, out, err = run(["/usr/sbin/referrald", "--version"])
    check("the installed referrald says its version", rc == 0 and upstream in out, out + err)
    for name in ("referrald.yaml", "routing.yaml"):
        check("%s/%s is the example of config/" % (CONF_DIR, name),
              read(os.path.join(CONF_DIR, name)) == read(os.path.join(src, "config", name)))
    check_key(said)
    check("the unit is enabled (multi-user.target wants it)", os.path.islink(WANTS))
    ids = source_ids(src)
    check("journalctl knows the catalog's %d messages (the systemd trigger ran "
          "journalctl --update-catalog)" % len(ids), bool(ids) and ids <= catalog_ids(),
          " ".join(sorted(ids - catalog_ids())))
    if pk.need("systemd-analyze"):
        rc, out, err = run(["systemd-analyze", "verify", "--man=no", "referrald.service"])
        check("systemd-analyze verify accepts the installed unit",
              rc == 0 and not (out + err).strip(), "exit %d: %s%s" % (rc, out, err))


def check_key(said):
    """The key pair that postinst made: the secret 0600 and root's, the
    public half its own."""
    ok = os.path.isfile(KEY) and os.path.isfile(PUB)
    check("postinst made the server key pair and said so", ok and PUB in said, said[-400:])
    if not ok:
        return
    st, sp = os.stat(KEY), os.stat(PUB)
    check("server.key is 0600 and root's, server.pub 0644",
          (st.st_mode & 0o777, st.st_uid, sp.st_mode & 0o777) == (0o600, 0, 0o644),
          "%o %d %o" % (st.st_mode & 0o777, st.st_uid, sp.st_mode & 0o777))
    import zmq
    secret, public = read(KEY).strip(), read(PUB).strip()
    check("server.pub is the public half of server.key",
          len(secret) == 40 and zmq.curve_public(secret.encode()).decode() == public)


def check_config_test(tmp):
    """daemon.md: referrald -t -c /etc/referrald/referrald.yaml exits 0 after
    the install, run by an operator outside systemd."""
    cred = os.path.join(tmp, "credentials")
    os.makedirs(cred, exist_ok=True)
    shutil.copy(KEY, cred)
    env = dict(os.environ, STATE_DIRECTORY=STATE_LINK, CREDENTIALS_DIRECTORY=cred)
    rc, out, err = run(["/usr/sbin/referrald", "-t", "-c", CONF], env=env)
    check("referrald -t -c %s exits 0 with the unit's environment" % CONF, rc == 0,
          "exit %d: %s%s" % (rc, out, err))
    env = {k: v for k, v in os.environ.items()
           if k not in ("STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")}
    rc, out, err = run(["/usr/sbin/referrald", "-t", "-c", CONF], env=env)
    check("referrald -t -c %s exits 0 outside systemd (daemon.md rev 2)" % CONF, rc == 0,
          "exit %d: %s%s" % (rc, out, err))
    return cred


REFERRAL = ('{"ref": "PKGTEST-0001", "partner": "ocmw-genk", "kind": "family_support", '
            '"postcode": "3600", "children": [{"age": 14}], "concerns": ["teen_conflict"], '
            '"language": "nl", "consent": true, "family": {"name": "Family name"}}')


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def serve_once(tmp, cred, made):
    """Without systemd as PID 1 the unit is not started: make its state
    folder as systemd would (DynamicUser=yes) and run the installed daemon
    once with the unit's command line and environment, so that the database
    is where the service keeps it. Submit one referral, stop it (SIGTERM)."""
    for path in (PRIVATE, STATE):
        if not os.path.exists(path):
            os.mkdir(path, 0o700)
            made.append(path)
    os.symlink("private/referrald", STATE_LINK)
    made.append(STATE_LINK)
    if not (port_free(5570) and port_free(5571)):
        check("127.0.0.1:5570 and :5571 (the example config's endpoints) are free", False,
              "another referrald runs here; stop it and run the test again")
        return
    env = dict(os.environ, STATE_DIRECTORY=STATE_LINK, CREDENTIALS_DIRECTORY=cred)
    log = open(os.path.join(tmp, "daemon.log"), "w+")
    proc = subprocess.Popen(["/usr/sbin/referrald", "-c", CONF], env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, up = time.monotonic() + 15, False
        while not up and proc.poll() is None and time.monotonic() < deadline:
            up = run(["referralctl", "-t", "500", "ping"])[0] == 0
        check("the installed daemon serves with the installed config", up and proc.poll() is None,
              "exit %s" % proc.poll())
        path = os.path.join(tmp, "referral.json")
        with open(path, "w") as f:
            f.write(REFERRAL)
        rc, out, err = run(["referralctl", "submit", path])
        check("referralctl submit stores a referral", rc == 0, out + err)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.seek(0)
        check("it stops on SIGTERM with exit 0", rc == 0, "exit %d\n%s" % (rc, log.read()[-2000:]))
        log.close()


def start_database(tmp, cred, made):
    """The database of the service, as the unit makes it."""
    if under_systemd():
        active = run(["systemctl", "is-active", "referrald"])[1].strip()
        # Type=notify: active once the database is open and the sockets bound
        check("the package started the service", active == "active", active)
    else:
        rc, out, err = run(["ps", "-o", "comm=", "-p", "1"])
        print("note: systemd is not PID 1 here (PID 1 is %s): the package enabled the unit but "
              "could not start it (deb-systemd-invoke starts units only under systemd); the "
              "test runs the installed daemon once by hand, as the unit would" % out.strip())
        serve_once(tmp, cred, made)
    st = os.stat(DATABASE) if os.path.exists(DATABASE) else None
    check("the database is %s, 0600" % DATABASE,
          st is not None and st.st_size > 0 and st.st_mode & 0o777 == 0o600)


def upgrade(deb2, src2, key_before, db_before):
    with open(ROUTING, "a") as f:
        f.write(EDIT)
    said = apt(["-o", "Dpkg::Options::=--force-confold", "install", "./" + os.path.basename(deb2)],
               "the upgrade")
    text = read(ROUTING)
    check("the coordinator's edit of routing.yaml survives the upgrade",
          text.endswith(EDIT) and SECOND not in text)
    dist = ROUTING + ".dpkg-dist"
    check("the new example rules are beside it as routing.yaml.dpkg-dist",
          os.path.isfile(dist) and read(dist) == read(os.path.join(src2, "config/routing.yaml")))
    check("the unedited referrald.yaml is the new example",
          read(CONF) == read(os.path.join(src2, "config/referrald.yaml")))
    check("the server key is kept as it was",
          (read(KEY), os.stat(KEY).st_mode & 0o777) == key_before and "server.pub" not in said)
    check("the database is untouched by the upgrade",
          under_systemd() or sha256(DATABASE) == db_before)
    check("the unit is still enabled", os.path.islink(WANTS))


def purge(src, db_before):
    said = apt(["purge", "referrald"], "the purge")
    check("dpkg says referrald is gone", status().split()[0] in ("not-installed", "unknown"),
          status())
    left = [p for p in ("/usr/sbin/referrald", "/usr/bin/referralctl", UNIT, CATALOG, WANTS)
            if os.path.lexists(p)]
    check("the binaries, the unit, its enablement and the catalog are gone", not left,
          " ".join(left))
    check("the configuration is gone: no %s" % CONF_DIR, not os.path.lexists(CONF_DIR),
          " ".join(os.listdir(CONF_DIR)) if os.path.isdir(CONF_DIR) else "")
    check("journalctl no longer lists referrald's messages",
          not (source_ids(src) & catalog_ids()))
    check("the database is kept, as it was",
          os.path.isfile(DATABASE) and (under_systemd() or sha256(DATABASE) == db_before))
    check("purge says where the database is and how to erase it",
          STATE in said and ERASE in said and "personal data" in said)
    check("docs/operations.md gives the same erase command",
          ERASE in read(os.path.join(src, "docs/operations.md")))


def erase(made):
    """The erase of the purge message, then what else the test made."""
    if os.path.lexists(STATE) or os.path.lexists(STATE_LINK):
        rc, out, err = run(ERASE.split())
        check("the erase command removes the database", rc == 0 and not os.path.lexists(STATE)
              and not os.path.lexists(STATE_LINK), out + err)
    for path in reversed(made):
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)


def cannot_run(argv):
    """Why the test can not run here at all, or None."""
    if "--sanitize" in argv:
        return ("a sanitizer build: dpkg-buildpackage builds the package with Debian's flags "
                "whatever the build folder, so the normal build's run covers it")
    if os.geteuid() != 0:
        return "not root: the test installs and purges a package (the CI machine is root)"
    for tool in ("dpkg-buildpackage", "apt-get"):
        if not shutil.which(tool):
            return "no %s (tools/do deps installs dpkg-dev)" % tool
    return None


def in_use():
    """Why the test must not touch this machine's referrald, or None."""
    if status() != "not-installed":
        return "referrald is installed here (%s): the test would replace and purge it" % status()
    for path in (CONF_DIR, STATE, STATE_LINK):
        if os.path.lexists(path):
            return ("%s exists: the test would change an installation's config or database; "
                    "remove it (see docs/operations.md, Remove) to run the test" % path)
    return None


def deb(src):
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rdpkg-") as tmp:
        os.chmod(tmp, 0o755)  # apt's _apt user reads the .deb files
        tree = os.path.join(tmp, "referrald")
        t0 = time.monotonic()
        copy_tree(src, tree)
        timed("copy", t0)
        if not dpkg_build(tree, "build 1"):
            return
        rc, version, err = run(["dpkg-parsechangelog", "-S", "Version"], cwd=tree)
        version = version.strip()
        arch = run(["dpkg", "--print-architecture"])[1].strip()
        deb1 = os.path.join(tmp, "referrald_%s_%s.deb" % (version, arch))
        lintian(os.path.join(tmp, "referrald_%s_%s.changes" % (version, arch)))
        contents(deb1)
        version2 = version + "+test2"
        prepare_second(tree, version2)
        src2 = os.path.join(tmp, "second")  # its example config, for the checks
        shutil.copytree(os.path.join(tree, "config"), os.path.join(src2, "config"))
        if not dpkg_build(tree, "build 2", ["-nc"]):
            return
        deb2 = os.path.join(tmp, "referrald_%s_%s.deb" % (version2, arch))
        check("the second build is a higher version",
              run(["dpkg", "--compare-versions", version2, "gt", version])[0] == 0)
        made = []
        try:
            os.chdir(tmp)
            said = apt(["install", "./" + os.path.basename(deb1)], "the install")
            check_installed(src, version, said)
            cred = check_config_test(tmp)
            start_database(tmp, cred, made)
            key_before = (read(KEY), os.stat(KEY).st_mode & 0o777)
            db_before = sha256(DATABASE) if os.path.isfile(DATABASE) else None
            upgrade(deb2, src2, key_before, db_before)
            check("dpkg says referrald %s is installed" % version2,
                  status() == "installed " + version2, status())
            purge(src, db_before)
        finally:
            os.chdir("/")
            if status() != "not-installed":
                apt(["purge", "referrald"], "the purge after a failure")
            erase(made)
    timed("total", t_all)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("build-depends", "deb"):
        sys.stderr.write(__doc__)
        return 2
    src = os.path.abspath(argv[2])
    if argv[1] == "build-depends":
        build_depends(src)
    else:
        reason = cannot_run(argv[3:])
        if reason:
            print("SKIP: %s\n0 passed, 0 failed, 1 skipped" % reason)
            return SKIP
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        lock = open(LOCK, "w")
        if not wait_for_lock(lock):
            check("another package test on this machine finishes within 10 minutes", False, LOCK)
        else:
            reason = in_use()
            if reason:
                print("SKIP: %s\n0 passed, 0 failed, 1 skipped" % reason)
                return SKIP
            deb(src)
            print("time: " + ", ".join("%s %.1f s" % t for t in timings))
    passed = sum(1 for r in pk.results if r)
    failed = len(pk.results) - passed
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(skipped)))
    return 0 if pk.results and not failed else 1


def wait_for_lock(lock):
    """One package test per machine at a time (they share dpkg and /etc)."""
    def give_up(signum, frame):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return True
    except TimeoutError:
        return False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
