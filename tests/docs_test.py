#!/usr/bin/python3
"""The documentation stands alone and names what the code has.

    docs_test.py SOURCE_DIR

Reads the tables of the code (the ops of daemon/ops.c and the keys each
takes, the event types and fields of lib/event.c, the error codes of
lib/error.c, the referral's keys, the keys of referrald.yaml, the routing
language's keys, referralctl's commands and options) and requires each to
be documented on its page under docs/, and referralctl's commands and
options, the routing keys and the daemon's lock file in the manual pages
under man/. Requires too that no page sends a
reader to a text they do not have: every `NAME.md` named in README.md,
docs/*.md and man/*.in is a page of the project, nothing points at the
shared specification, and every page is installed with the package.
"""

import glob
import os
import re
import sys
import unittest

SRC = None
unittest.TestCase.longMessage = False  # a failure says what is missing, not the whole page


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def c_strings(text):
    """The string literals of a piece of C, adjacent ones joined."""
    return [m for m in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]


def c_array(rel, name):
    """The strings of the array NAME (`static const char *const NAME[] = {...}`)
    of the C file REL, in order."""
    m = re.search(r"\b%s\[\]\s*=\s*\{(.*?)\};" % re.escape(name), read(rel), re.S)
    if not m:
        raise AssertionError("%s: no array %s" % (rel, name))
    return c_strings(m.group(1))


def c_arrays(rel, suffix):
    """Every array of strings in REL whose name ends with SUFFIX: name -> strings."""
    text = read(rel)
    out = {}
    for m in re.finditer(r"static const char \*const (\w*%s)\[\]\s*=\s*\{(.*?)\};" % suffix,
                         text, re.S):
        out[m.group(1)] = c_strings(m.group(2))
    return out


def section(md, heading_re):
    """The text of the section of MD whose heading matches HEADING_RE, up to
    the next heading of the same or a higher level."""
    lines = md.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) ", line)
        if m and re.search(heading_re, line):
            level = len(m.group(1))
            body = []
            for rest in lines[i + 1:]:
                n = re.match(r"(#+) ", rest)
                if n and len(n.group(1)) <= level:
                    break
                body.append(rest)
            return "\n".join(body)
    return None


def backticked(md):
    """Every `...` span of MD."""
    return set(re.findall(r"`([^`\n]+)`", md))


def row_keys(md):
    """The first cells of the table rows of MD, without their backticks."""
    keys = set()
    for line in md.splitlines():
        m = re.match(r"\|\s*`([^`]+)`", line)
        if m:
            keys.add(m.group(1))
    return keys


def long_options(rel):
    """The long options of the getopt tables of the C file REL."""
    return re.findall(r'\{"([a-z-]+)",\s*(?:no|required)_argument', read(rel))


def assert_key_arrays_named(test, rel, first, page, named):
    """Every string of every `*_keys` array of the C file REL (FIRST among
    them) is NAMED(key) on the doc PAGE."""
    arrays = c_arrays(rel, "_keys")
    test.assertIn(first, arrays, "%s: no array %s" % (rel, first))
    for name, keys in arrays.items():
        for key in keys:
            test.assertTrue(named(key), "%s does not name `%s` (%s of %s)" %
                            (page, key, name, rel))


def documented_key(rows, key):
    """Is KEY the first cell of a row, alone or as the last part of a dotted
    path (`security.clients[].id`)?"""
    return any(r == key or re.search(r"[.\]]%s$" % re.escape(key), r) for r in rows)


def ctl_commands(test):
    """referralctl's commands, as the table of tools/ctl/main.c names them
    (`rules check` and the other subcommands each on their own)."""
    text = read("tools/ctl/main.c")
    table = re.search(r"commands\[\]\s*=\s*\{(.*?)\n\};", text, re.S).group(1)
    out = []
    for m in re.finditer(r'\{"(\w+)",\s*cmd_\w+,\s*((?:"(?:[^"\\]|\\.)*"\s*)+),', table):
        name = m.group(1)
        synopsis = "".join(c_strings(m.group(2)))
        subs = set()
        for alt in synopsis.split("|"):
            words = alt.split()
            if len(words) >= 2 and words[0] == name and re.fullmatch(r"[a-z]+", words[1]):
                subs.add(words[1])
        out += ["%s %s" % (name, s) for s in sorted(subs)] or [name]
    test.assertIn("submit", out)
    return out


class Pages(unittest.TestCase):
    """What every page may and may not point at."""

    def pages(self):
        files = ["README.md"] + sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))
        files += sorted(glob.glob(os.path.join(SRC, "man", "*.in")))
        return [os.path.relpath(os.path.join(SRC, f), SRC) for f in files]

    def test_no_page_points_at_the_shared_specification(self):
        files = ["README.md"] + sorted(glob.glob(os.path.join(SRC, "man", "*.in")))
        for root, _, names in os.walk(os.path.join(SRC, "docs")):
            files += [os.path.join(root, n) for n in names if n.endswith(".md")]
        for f in files:
            rel = os.path.relpath(os.path.join(SRC, f), SRC)
            text = read(rel)
            for bad in ("shared/spec", "shared/design"):
                self.assertNotIn(bad, text, "%s sends the reader to %s, which a user of the "
                                 "package does not have" % (rel, bad))

    def test_every_page_a_page_names_exists(self):
        docs = {os.path.basename(p) for p in glob.glob(os.path.join(SRC, "docs", "*.md"))}
        for rel in self.pages():
            for name in re.findall(r"(?<![\w/.-])((?:docs/)?[\w-]+\.md)\b", read(rel)):
                base = os.path.basename(name)
                ok = base in docs or (base == "README.md" and not name.startswith("docs/"))
                self.assertTrue(ok, "%s names %s, which is not a page of the project" %
                                (rel, name))

    def test_every_page_is_installed_and_in_the_package_test(self):
        cmake = read("CMakeLists.txt")
        pkg = read("tests/package_test.py")
        for path in glob.glob(os.path.join(SRC, "docs", "*.md")):
            base = os.path.basename(path)
            self.assertRegex(cmake, r"install\(FILES[^)]*docs/%s\b" % re.escape(base),
                             "CMakeLists.txt does not install docs/%s" % base)
            self.assertIn('"%s"' % base, pkg, "tests/package_test.py does not expect %s" % base)


class Protocol(unittest.TestCase):
    """docs/protocol.md names every op, field, error code and event type."""

    @classmethod
    def setUpClass(cls):
        cls.md = read("docs/protocol.md")

    def ops(self):
        table = re.search(r"ops_table\[\]\s*=\s*\{(.*?)\};", read("daemon/ops.c"), re.S).group(1)
        ops = re.findall(r'\{"(\w+)",\s*rd_op_(\w+)', table)
        self.assertTrue(ops, "no ops found in daemon/ops.c")
        return ops

    def test_every_op_of_the_ops_table_has_its_section(self):
        for op, _ in self.ops():
            self.assertIsNotNone(section(self.md, r"^#+ `%s`$" % op),
                                 "docs/protocol.md has no section \"### `%s`\"" % op)

    def test_every_key_an_op_takes_is_in_its_section(self):
        ops = {handler: op for op, handler in self.ops()}
        for rel in glob.glob(os.path.join(SRC, "daemon", "ops_*.c")):
            text = read(os.path.relpath(rel, SRC))
            funcs = [(m.start(), m.group(1))
                     for m in re.finditer(r"^(?:static )?json_t \*(\w+)\(", text, re.M)]
            for m in re.finditer(r"\bkeys\[\]\s*=\s*\{(.*?)\};", text, re.S):
                owner = [name for at, name in funcs if at < m.start()][-1]
                handler = re.sub(r"^(rd_op_|read_)", "", owner)
                op = ops.get(handler)
                self.assertIsNotNone(op, "%s: keys of %s belong to no op" % (rel, owner))
                body = section(self.md, r"^#+ `%s`$" % op) or ""
                for key in c_strings(m.group(1)):
                    self.assertIn(key, backticked(body),
                                  "docs/protocol.md, `%s`, does not name the key `%s`" % (op, key))

    def test_every_error_code_has_its_row(self):
        codes = [c for c in c_array("lib/error.c", "code_names") if c != "ok"]
        self.assertIn("malformed", codes)
        rows = row_keys(section(self.md, r"^#+ Error codes$") or "")
        for code in codes:
            self.assertIn(code, rows, "docs/protocol.md, \"Error codes\", has no row for `%s`"
                          % code)

    def test_every_event_type_has_its_row(self):
        types = c_array("lib/event.c", "type_names")
        self.assertIn("referral.received", types)
        rows = row_keys(section(self.md, r"^#+ The events$") or "")
        for t in types:
            self.assertIn(t, rows, "docs/protocol.md, \"The events\", has no row for `%s`" % t)

    def test_every_field_of_an_event_has_its_row(self):
        fields = re.findall(r'rd_jw_(?:str|str_set|time_set|member_int)\(w, "(\w+)"',
                            read("lib/event.c"))
        self.assertIn("seq", fields)
        rows = section(self.md, r"^#+ The events$") or ""
        cells = set()
        for line in rows.splitlines():
            if line.startswith("| `"):
                cells |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
        for f in fields:
            self.assertIn(f, cells, "docs/protocol.md, \"The events\", does not describe the "
                          "event field `%s`" % f)

    def test_every_key_of_a_referral_has_its_row(self):
        rows = row_keys(section(self.md, r"^#+ `submit`$") or "")
        for key in c_array("lib/referral.c", "referral_keys"):
            self.assertIn(key, rows, "docs/protocol.md, `submit`, has no row for `%s`" % key)
        body = section(self.md, r"^#+ `submit`$")
        for key in c_array("lib/referral.c", "family_keys"):
            self.assertIn(key, backticked(body), "docs/protocol.md, `submit`, does not name "
                          "the family key `%s`" % key)

    def test_every_role_has_its_row(self):
        rows = row_keys(section(self.md, r"^#+ Security$") or "")
        for role in c_array("daemon/config.c", "role_names"):
            self.assertIn(role, rows, "docs/protocol.md, \"Security\", has no row for `%s`"
                          % role)


class Configuration(unittest.TestCase):
    """docs/configuration.md names every key of referrald.yaml and every
    option of referrald."""

    def test_every_key_the_config_reader_accepts_has_its_row(self):
        rows = row_keys(read("docs/configuration.md"))
        assert_key_arrays_named(self, "daemon/config.c", "top_keys",
                                "docs/configuration.md (a table row)",
                                lambda key: documented_key(rows, key))

    def test_every_option_of_referrald_is_described(self):
        md = read("docs/configuration.md")
        for opt in long_options("daemon/main.c"):
            self.assertIn("--" + opt, md, "docs/configuration.md does not describe --%s" % opt)


class Routing(unittest.TestCase):
    """docs/routing-reference.md names every key of the routing language."""

    def test_every_key_the_rules_loader_accepts_is_named(self):
        md = backticked(read("docs/routing-reference.md"))
        assert_key_arrays_named(self, "lib/rules_load.c", "assign_keys",
                                "docs/routing-reference.md", lambda key: key in md)

    def test_every_reason_a_candidate_is_passed_over_is_named(self):
        md = row_keys(read("docs/protocol.md"))
        for why in set(c_array("lib/route_trace.c", "why_names")) - {"chosen"}:
            self.assertIn(why, md, "docs/protocol.md has no row for passed_over `%s`" % why)


class Tools(unittest.TestCase):
    """docs/tools.md has a section for every referralctl command and names
    every option."""

    @classmethod
    def setUpClass(cls):
        cls.md = read("docs/tools.md")

    def commands(self):
        return ctl_commands(self)

    def test_every_command_has_its_section(self):
        for cmd in self.commands():
            self.assertIsNotNone(section(self.md, r"^#+ `referralctl %s`$" % re.escape(cmd)),
                                 "docs/tools.md has no section \"### `referralctl %s`\"" % cmd)

    def test_every_option_is_named(self):
        for path in sorted(glob.glob(os.path.join(SRC, "tools", "ctl", "*.[ch]"))):
            for opt in long_options(os.path.relpath(path, SRC)):
                self.assertIn("--" + opt, self.md, "docs/tools.md does not name --%s (%s)" %
                              (opt, os.path.relpath(path, SRC)))

    def test_every_key_of_a_cases_file_and_a_model_has_its_row(self):
        rows = row_keys(self.md)
        for rel, name in (("lib/cases.c", "case_keys"), ("lib/cases.c", "expect_keys"),
                          ("lib/synth.c", "synth_keys")):
            for key in c_array(rel, name):
                self.assertTrue(key in rows or "`%s`" % key in self.md,
                                "docs/tools.md does not name `%s` (%s of %s)" % (key, name, rel))


class ManPages(unittest.TestCase):
    """The manual pages name what the code has: every referralctl command
    and option, every key of the routing language, the daemon's lock."""

    def test_every_command_of_referralctl_has_its_item_in_referralctl_1(self):
        man = read("man/referralctl.1.in")
        for cmd in ctl_commands(self):
            self.assertRegex(man, r"(?m)^\.It Cm %s\b" % re.escape(cmd).replace(r"\ ", " "),
                             "man/referralctl.1.in has no item \".It Cm %s\"" % cmd)

    def test_every_option_of_referralctl_is_named_in_referralctl_1(self):
        man = read("man/referralctl.1.in")
        for path in sorted(glob.glob(os.path.join(SRC, "tools", "ctl", "*.[ch]"))):
            for opt in long_options(os.path.relpath(path, SRC)):
                self.assertRegex(man, r"Fl -%s\b" % re.escape(opt),
                                 "man/referralctl.1.in does not name --%s (%s)" %
                                 (opt, os.path.relpath(path, SRC)))

    def test_every_key_the_rules_loader_accepts_is_in_routing_yaml_5(self):
        words = set(re.findall(r"[\w-]+", read("man/routing.yaml.5.in")))
        assert_key_arrays_named(self, "lib/rules_load.c", "assign_keys",
                                "man/routing.yaml.5.in", lambda key: key in words)

    def test_referrald_8_names_the_lock_beside_the_database(self):
        self.assertIn(".lock", read("daemon/dbfile.c"))
        man = read("man/referrald.8.in")
        self.assertIn("Pa /var/lib/referrald/referrald.db.lock", man,
                      "man/referrald.8.in, FILES, does not name the daemon's lock file")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: docs_test.py SOURCE_DIR\n")
        sys.exit(2)
    SRC = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
