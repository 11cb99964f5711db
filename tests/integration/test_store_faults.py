"""Faults of the store as a client and an operator meet them (protocol.md
"Durability" and "erase" rev 2, daemon.md "Faults of the store" and the
database file, rev 2): a disk that fills up in the middle of a pipelined
burst, a read transaction of another process while erasing, an empty
database file, and a backup of a busy database.

Black-box: sockets, files on disk, the daemon's stderr log. The full disk
is a small tmpfs mounted for the test (root only; skipped with the reason
where mounting is not allowed, and unmounted in every case).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import zmq

import rdtest
from rdrouting import ROUTING_ROOMY
from rdtest import referral, submit_req, wait_until

REFERRALCTL = os.environ.get("REFERRALCTL") or os.path.join(rdtest.SOURCE_DIR, "build",
                                                             "referralctl")

FILL = "x" * 2000  # a note at its limit: large referrals fill a disk fast


def big_referral(tag):
    return referral(note=FILL, family={"name": "N" * 256, "address": "A" * 256,
                                       "phone": tag, "email": "e@example.org"})


def file_bytes(path):
    """The bytes of the database file PATH and its write-ahead log."""
    out = b""
    for suffix in ("", "-wal"):
        try:
            with open(path + suffix, "rb") as f:
                out += f.read()
        except FileNotFoundError:
            pass
    return out


# Every event type but referral.received (protocol.md "Events")
OTHER_TYPES = ("referral.assigned", "referral.accepted", "referral.declined",
               "referral.offer_expired", "referral.started", "referral.closed",
               "referral.withdrawn", "referral.waitlisted", "referral.forwarded",
               "referral.window_at_risk", "referral.window_missed", "referral.erased",
               "referral.needs_attention", "config.reloaded", "config.rejected")


class Subscriber(threading.Thread):
    """Every event the daemon publishes with one of TOPICS, collected on a
    thread of its own. A subscription queues at most 1000 messages on the
    daemon's side (ZeroMQ's high-water mark: beyond it a slow subscriber
    loses events, by design, and fills the gap with `events`); a burst
    publishes up to two events per referral at once, so the test splits
    them over two subscriptions, each under the mark."""

    def __init__(self, d, topics):
        super().__init__(daemon=True)
        self.sock = rdtest.zsock(zmq.SUB, d.curve)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        for t in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sock.connect(d.events)
        self.seqs = []
        self.stopping = False
        self.start()
        wait_until(lambda: d.submit(referral(urgency="crisis")) and self.seqs, timeout=10,
                   interval=0.2, what="the subscription to work")

    def run(self):
        while not self.stopping:
            if self.sock.poll(50):
                ev = json.loads(self.sock.recv_multipart()[-1])
                self.seqs.append(ev["seq"])

    def stop(self):
        self.stopping = True
        self.join()
        self.sock.close(0)


class FullDisk(rdtest.TestCase):
    """The database on a small tmpfs that a pipelined burst of large
    referrals fills up; then room is made, and the same daemon serves on."""

    SIZE = "24m"

    def mount(self):
        self.mnt = tempfile.mkdtemp(prefix="rdtest-tmpfs-")
        self.addCleanup(shutil.rmtree, self.mnt, True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % self.SIZE,
                            "tmpfs", self.mnt], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here (root is needed): %s"
                          % (p.stderr.strip() or p.returncode))
        self.addCleanup(self.unmount)

    def unmount(self):
        if subprocess.run(["umount", self.mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)

    def free_bytes(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def ballast(self, leave):
        """Fill the tmpfs but LEAVE bytes; returns the ballast's path."""
        path = os.path.join(self.mnt, "ballast")
        with open(path, "wb") as f:
            f.write(b"\0" * max(0, self.free_bytes() - leave))
        return path

    def burst(self, d, n, tag):
        """Send N large submits pipelined on one DEALER, then read every
        reply: [(referral, reply)] in the order sent."""
        s = d.dealer()
        refs = [big_referral("%s-%d" % (tag, i)) for i in range(n)]
        try:
            for i, r in enumerate(refs):
                req = submit_req(r, corr="%s-%d" % (tag, i))
                s.send(json.dumps(req).encode())
            replies = {}
            deadline = time.monotonic() + 60
            while len(replies) < n and time.monotonic() < deadline:
                if s.poll(1000):
                    rep = json.loads(s.recv())
                    replies[rep["corr"]] = rep
            self.assertEqual(len(replies), n, "every request gets exactly one reply")
            return [(r, replies["%s-%d" % (tag, i)]) for i, r in enumerate(refs)]
        finally:
            s.close(0)

    def test_a_full_disk_stores_exactly_what_was_acknowledged_and_serving_resumes(self):
        self.mount()
        d = self.daemon(routing=ROUTING_ROOMY, database=os.path.join(self.mnt, "referrald.db"))
        subs = [Subscriber(d, ["referral.received"]), Subscriber(d, OTHER_TYPES)]
        for sub in subs:
            self.addCleanup(sub.stop)
        first = d.last_seq()
        ballast = self.ballast(leave=8 * 1024 * 1024)
        answered = []
        for rnd in range(30):  # until the disk is full, then once more
            answered += self.burst(d, 500, "b%d" % rnd)
            if sum(rep["ok"] is not True for _, rep in answered) >= 1000:
                break
        failed = [rep for _, rep in answered if rep["ok"] is not True]
        self.assertTrue(failed, "the disk never filled up: the test proves nothing")
        for rep in failed:
            self.assertIn(rep["error"]["code"], ("internal", "unavailable"), rep)
        self.assertIn("database or disk is full", d.log())

        os.unlink(ballast)  # room again; the same daemon, no restart
        after = d.submit(big_referral("after"))
        self.assertEqual(after["duplicate"], False)

        for r, rep in answered:
            got = d.request({"op": "get", "partner": r["partner"], "ref": r["ref"]})
            if rep["ok"] is True:
                self.assertIs(got["ok"], True, "acknowledged, then lost: %r" % (rep,))
                self.assertEqual(got["id"], rep["id"])
                self.assertEqual(got["referral"]["note"], FILL)
            elif rep["error"].get("outcome") == "unknown":
                # stored or not: the same request again says which
                again = d.submit(r)
                self.assertEqual(again["id"], got.get("id", again["id"]))
            else:
                self.assertEqual(got.get("error", {}).get("code"), "not_found",
                                 "answered %s, yet stored: %r" % (rep["error"]["code"], got))

        # seq runs without a gap, and what is stored is what was published
        evs = d.all_events()
        last = d.last_seq()
        self.assertEqual([e["seq"] for e in evs], list(range(1, last + 1)))
        # a last referral: once both of its events came, every event
        # published before them came too (one subscription keeps order)
        d.submit(referral())
        wait_until(lambda: subs[0].seqs[-1:] == [last + 1] and subs[1].seqs[-1:] == [last + 2],
                   timeout=10, what="the subscribers to catch up")
        published = sorted(s for s in subs[0].seqs + subs[1].seqs if first < s <= last)
        self.assertEqual(published, list(range(first + 1, last + 1)),
                         "events published must be exactly the events stored")


class EraseWhileAnotherProcessReads(rdtest.TestCase):
    """protocol.md "erase" rev 2: a read transaction elsewhere (a backup,
    `sqlite3`, a report) never makes the daemon wait."""

    NOTE = "Vertrouwelijk-Wis-Mij-4471"

    def reader(self, d):
        """Another process's read transaction on the database: BEGIN, a read."""
        con = sqlite3.connect("file:%s?mode=ro" % d.database_path, uri=True,
                              isolation_level=None)
        con.execute("BEGIN")
        con.execute("SELECT count(*) FROM referrals").fetchall()
        return con

    def timed(self, d, req):
        t = time.monotonic()
        rep = d.request(req)
        return rep, time.monotonic() - t

    def test_erase_is_answered_at_once_and_the_log_wiped_once_the_reader_ends(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        a = d.submit(referral(note=self.NOTE))
        con = self.reader(d)
        try:
            rep, took = self.timed(d, {"op": "erase", "id": a["id"]})
            self.assertOk(rep)
            self.assertLess(took, 1.0, "the erase waited on the database lock")
            self.assertIs(rep["wiped"], False)
            self.assertIn(self.NOTE.encode(), file_bytes(d.database_path),
                          "the reader did not keep the log: the test proves nothing")
            for req in ({"op": "ping"}, submit_req(referral())):
                rep, took = self.timed(d, req)
                self.assertOk(rep)
                self.assertLess(took, 1.0)
            again = d.ok({"op": "erase", "id": a["id"]})
            self.assertIs(again["wiped"], False, "erasing again answers the current state")
        finally:
            con.execute("COMMIT")
            con.close()
        wait_until(lambda: self.NOTE.encode() not in file_bytes(d.database_path), timeout=1.0,
                   interval=0.02, what="the wipe within a second of the reader ending")
        self.assertIs(d.ok({"op": "erase", "id": a["id"]})["wiped"], True)
        self.assertIn("another process holds a read transaction on the database", d.log())
        self.assertIn("the write-ahead log is wiped", d.log())

    def test_retention_waits_for_the_reader_the_same_way(self):
        d = self.daemon(routing=ROUTING_ROOMY, extra_yaml="retention: 1s")
        a = d.submit(referral(note=self.NOTE))
        con = self.reader(d)
        try:
            d.ok({"op": "update", "id": a["id"], "status": "withdrawn"})
            wait_until(lambda: "referral.erased" in [e["type"] for e in d.all_events()],
                       timeout=10, interval=0.1, what="the retention erase")
            wait_until(lambda: "another process holds a read transaction" in d.log(),
                       timeout=2, what="the wait in the log")
            self.assertIn(self.NOTE.encode(), file_bytes(d.database_path))
            rep, took = self.timed(d, {"op": "ping"})
            self.assertLess(took, 1.0)
        finally:
            con.execute("COMMIT")
            con.close()
        wait_until(lambda: self.NOTE.encode() not in file_bytes(d.database_path), timeout=1.0,
                   interval=0.02, what="the wipe within a second of the reader ending")


class DatabaseFile(rdtest.TestCase):
    """daemon.md rev 2: a database is created only where no file is, and
    an empty file is refused."""

    def test_an_empty_database_file_is_refused_and_left_as_it_is(self):
        d = self.daemon(routing=ROUTING_ROOMY, start=False)
        open(d.database_path, "wb").close()
        d.start(wait=False)
        self.assertEqual(d.wait_exit(10), 1)
        lines = [l for l in d.log().splitlines() if "empty (0 bytes)" in l]
        self.assertEqual(len(lines), 1, d.log())
        # an error line that names the file and says what to do
        self.assertTrue(lines[0].startswith("referrald: error: "), lines[0])
        self.assertIn(d.database_path, lines[0])
        self.assertIn("remove it", lines[0])
        self.assertEqual(os.path.getsize(d.database_path), 0)
        for suffix in ("-wal", "-shm", ".new"):
            self.assertFalse(os.path.exists(d.database_path + suffix), suffix)

    def test_a_first_start_leaves_the_database_and_nothing_beside_it(self):
        d = self.daemon()
        self.assertGreater(os.path.getsize(d.database_path), 0)
        self.assertEqual(os.stat(d.database_path).st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(d.database_path + ".new"))


class Backup(rdtest.TestCase):
    """referralctl backup reads a live database in one transaction, as long
    as the copy takes (the other tools read through a copy made the same
    way: test_coordinator_tools.py)."""

    def test_backup_of_a_busy_database_ends_and_the_log_is_wiped_after(self):
        d = self.daemon(routing=ROUTING_ROOMY)
        s = d.dealer()
        self.addCleanup(s.close, 0)
        for i in range(1500):  # a database of a few MiB
            s.send(json.dumps(submit_req(big_referral("fill-%d" % i))).encode())
        for _ in range(1500):
            self.assertTrue(s.poll(30000))
            s.recv()
        stop = threading.Event()

        def load():  # the daemon writes all along
            c = d.dealer()
            while not stop.is_set():
                c.send(json.dumps(submit_req(referral())).encode())
                c.poll(2000) and c.recv()
            c.close(0)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        out = os.path.join(d.dir, "backup.db")
        try:
            p = subprocess.run([REFERRALCTL, "backup", d.database_path, out],
                               capture_output=True, text=True, timeout=60)
        finally:
            stop.set()
            t.join()
        self.assertEqual(p.returncode, 0, p.stderr)
        con = sqlite3.connect("file:%s?mode=ro" % out, uri=True)
        self.assertGreaterEqual(con.execute("SELECT count(*) FROM referrals").fetchone()[0],
                                1500)
        con.close()
        # the backup read no longer than it copied: an erase now is wiped at once
        a = d.submit(referral())
        self.assertIs(d.ok({"op": "erase", "id": a["id"]})["wiped"], True)
