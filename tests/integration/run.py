#!/usr/bin/python3
"""Run one integration test file with unittest (verbose) and close with the
line "N passed, N failed" that ctest and CI read. Exit 0 only if every test
passed.

    python3 tests/integration/run.py tests/integration/test_protocol.py [-k PATTERN]
"""

import importlib.util
import os
import sys
import time
import unittest


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: run.py TEST_FILE.py [-k PATTERN]...\n")
        return 2
    path = os.path.abspath(argv[1])
    patterns = []
    rest = argv[2:]
    while rest:
        if rest[0] == "-k" and len(rest) > 1:
            patterns.append(rest[1])
            rest = rest[2:]
        else:
            sys.stderr.write("run.py: unknown argument %r\n" % rest[0])
            return 2
    here = os.path.dirname(path)
    if here not in sys.path:
        sys.path.insert(0, here)
    name = os.path.splitext(os.path.basename(path))[0]

    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = ["*%s*" % p if "*" not in p else p for p in patterns]
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        suite = loader.loadTestsFromModule(module)
    except Exception:
        import traceback
        traceback.print_exc()
        print("0 passed, 1 failed")
        return 1

    run_ids = _run_ids(suite)  # before running: the suite drops its tests as it goes
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, buffer=False)
    t0 = time.monotonic()
    result = runner.run(suite)
    elapsed = time.monotonic() - t0

    def case_id(test):
        # A failing subTest counts against its test, once.
        parent = getattr(test, "test_case", None)
        return (parent or test).id()

    failed = {case_id(t) for t, _ in result.failures + result.errors}
    failed |= {t.id() for t in result.unexpectedSuccesses}
    skipped = len(result.skipped)
    # Errors in setUpClass/tearDownClass appear as pseudo tests that were
    # never "run"; they count as failures above.
    passed = max(0, result.testsRun - len(failed & run_ids) - skipped
                 - len(result.expectedFailures))
    sys.stdout.flush()
    line = "%d passed, %d failed" % (passed, len(failed))
    if skipped:
        line += ", %d skipped" % skipped
    print("(%s: %.1fs)" % (name, elapsed))
    print(line)
    ok = not failed and result.testsRun > 0
    return 0 if ok else 1


def _run_ids(suite):
    ids = set()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            ids |= _run_ids(t)
        elif t is not None:
            ids.add(t.id())
    return ids


if __name__ == "__main__":
    sys.exit(main(sys.argv))
