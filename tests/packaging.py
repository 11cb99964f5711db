#!/usr/bin/python3
"""Checks of what referrald installs besides its binaries (daemon.md "systemd
units"): the unit, the journal catalog, the man pages.

    packaging.py unit-verify   SOURCE_DIR REFERRALD
    packaging.py unit-security SOURCE_DIR
    packaging.py catalog       SOURCE_DIR
    packaging.py man           VERSION PAGE...

Each prints what it checked and closes with "N passed, N failed"; exit 0 only
when every check passed. Any warning from the tools counts as a failure.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 1.5
UNIT = "systemd/referrald.service"
CATALOG = "systemd/referrald.catalog"
LOG_C = "daemon/log.c"

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s: %s%s" % ("ok" if ok else "FAIL", name, (": " + detail) if detail else ""))
    sys.stdout.flush()


def run(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def need(tool):
    path = shutil.which(tool)
    if not path:
        check("%s is installed" % tool, False, "install it (tools/do deps)")
    return path


def unit_verify(src, referrald):
    """systemd-analyze verify on a copy of the unit whose ExecStart= names the
    built binary (the installed one is /usr/sbin/referrald): no output at all."""
    if not need("systemd-analyze"):
        return
    with open(os.path.join(src, UNIT)) as f:
        text = f.read()
    check("ExecStart= runs /usr/sbin/referrald",
          re.search(r"^ExecStart=/usr/sbin/referrald ", text, re.M) is not None)
    with tempfile.TemporaryDirectory(prefix="rdunit-") as tmp:
        copy = os.path.join(tmp, "referrald.service")
        with open(copy, "w") as f:
            f.write(text.replace("/usr/sbin/referrald", os.path.abspath(referrald)))
        rc, out, err = run(["systemd-analyze", "verify", "--man=no", copy])
        check("systemd-analyze verify", rc == 0 and not out.strip() and not err.strip(),
              "exit %d\n%s%s" % (rc, out, err) if rc or out.strip() or err.strip() else "")
    for key in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                "StateDirectory=referrald", "ConfigurationDirectory=referrald",
                "DynamicUser=yes", "LoadCredential=server.key:", "LogRateLimitIntervalSec=0"):
        check("the unit has %s" % key, re.search(r"^" + re.escape(key), text, re.M) is not None)


def unit_security(src):
    """systemd-analyze security --offline: at most 1.5."""
    if not need("systemd-analyze"):
        return
    unit = os.path.join(src, UNIT)
    rc, out, err = run(["systemd-analyze", "security", "--offline=true",
                        "--threshold=%d" % int(MAX_EXPOSURE * 10), "--no-pager", unit])
    m = re.search(r"Overall exposure level for referrald\.service: ([0-9.]+)", out + err)
    score = float(m.group(1)) if m else None
    bad = [l for l in out.splitlines() if l.startswith("\u2717")]
    print("exposure %s; not hardened:\n  %s" % (score, "\n  ".join(bad)))
    check("exposure parsed", score is not None, out + err if score is None else "")
    check("exposure %s <= %.1f" % (score, MAX_EXPOSURE),
          score is not None and score <= MAX_EXPOSURE)
    check("systemd-analyze security --threshold=%d exits 0" % int(MAX_EXPOSURE * 10), rc == 0,
          "exit %d\n%s" % (rc, err) if rc else "")


def catalog(src):
    """Every MESSAGE_ID of daemon/log.c has a catalog entry and vice versa;
    journalctl builds a catalog database from the file without a word."""
    with open(os.path.join(src, LOG_C)) as f:
        log_ids = set(re.findall(r'"([0-9a-f]{32})"', f.read()))
    with open(os.path.join(src, CATALOG)) as f:
        text = f.read()
    entries = re.findall(r"^-- ([0-9a-f]{32})\s*$", text, re.M)
    cat_ids = set(entries)
    check("log.c has message ids", len(log_ids) >= 20, "%d ids" % len(log_ids))
    check("each id once in the catalog", len(entries) == len(cat_ids))
    check("every MESSAGE_ID of log.c is in the catalog", not (log_ids - cat_ids),
          " ".join(sorted(log_ids - cat_ids)))
    check("every catalog entry is a MESSAGE_ID of log.c", not (cat_ids - log_ids),
          " ".join(sorted(cat_ids - log_ids)))
    for block in re.split(r"^-- ", text, flags=re.M)[1:]:
        mid = block.split("\n", 1)[0].strip()
        head = block.split("\n\n", 1)[0]
        body = block.split("\n\n", 1)[1].strip() if "\n\n" in block else ""
        ok = ("\nSubject: " in head and "\nDefined-By: referrald" in head and len(body) > 80)
        if not ok:
            check("catalog entry %s has Subject, Defined-By and a text" % mid, False)
    check("every entry has Subject, Defined-By and a text", all(results))
    if not need("journalctl"):
        return
    with tempfile.TemporaryDirectory(prefix="rdcatalog-") as root:
        d = os.path.join(root, "usr/lib/systemd/catalog")
        os.makedirs(d)
        shutil.copy(os.path.join(src, CATALOG), d)
        rc, out, err = run(["journalctl", "--root", root, "--update-catalog"])
        check("journalctl --update-catalog", rc == 0 and not (out + err).strip(),
              "exit %d: %s%s" % (rc, out, err) if rc or (out + err).strip() else "")
        rc, out, err = run(["journalctl", "--root", root, "--list-catalog", "--no-pager"])
        listed = set(re.findall(r"^([0-9a-f]{32}) referrald: ", out, re.M))
        check("journalctl --list-catalog shows every id", rc == 0 and listed == log_ids,
              "missing %s" % " ".join(sorted(log_ids - listed)) if listed != log_ids else "")


def man(version, *pages):
    """mandoc -Tlint -Wwarning: no output; the page names referrald VERSION."""
    if not need("mandoc"):
        return
    for page in pages:
        rc, out, err = run(["mandoc", "-Tlint", "-Wwarning", page])
        msg = (out + err).strip()
        check("mandoc -Tlint -Wwarning %s" % os.path.basename(page), rc == 0 and not msg, msg)
        # it renders, and the NAME section names the page
        rc, out, err = run(["mandoc", "-Tascii", page])
        out = re.sub(".\b", "", out)  # overstrike (bold, underline)
        name = os.path.basename(page).rsplit(".", 1)[0]
        check("%s renders with its NAME" % os.path.basename(page),
              rc == 0 and re.search(r"^NAME\n\s+%s" % re.escape(name), out, re.M) is not None)
        # the footer: the version of the build that installs it
        footer = out.rstrip("\n").rsplit("\n", 1)[-1]
        says = re.match(r"referrald %s\s" % re.escape(version), footer) is not None
        check("%s says referrald %s" % (os.path.basename(page), version), says,
              "" if says else "footer: " + footer)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    what, args = argv[1], argv[2:]
    if what == "unit-verify":
        unit_verify(*args)
    elif what == "unit-security":
        unit_security(*args)
    elif what == "catalog":
        catalog(*args)
    elif what == "man":
        man(*args)
    else:
        sys.stderr.write(__doc__)
        return 2
    passed = sum(1 for r in results if r)
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed))
    return 0 if results and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
