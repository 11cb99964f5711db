"""protocol.md, "Transport" and "Requests and replies", plus ping and stats.

A partner system's developer reads the contract and expects: one reply per
request whatever it sends, the right error code, `corr` echoed verbatim,
no personal data echoed back, and ping/stats shaped as written.
"""

import json
import signal
import time

import zmq

import rdtest
from rdrouting import ROUTING_BASIC, ROUTING_ROOMY
from rdtest import DROP, referral, submit_req

KIB64 = 64 * 1024


def padded_ping(total_len):
    """A valid ping request of exactly TOTAL_LEN bytes (JSON whitespace)."""
    head, tail = b'{"op":"ping"', b"}"
    n = total_len - len(head) - len(tail)
    assert n >= 0
    return head + b" " * n + tail


class MalformedRequests(rdtest.TestCase):
    """Whatever arrives in a frame, the sender gets exactly one reply, and a
    frame that is not a JSON object is `malformed`."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def one_reply(self, frames):
        """Send FRAMES on a fresh DEALER; assert exactly one reply of one
        frame; return it decoded."""
        replies = self.d.raw(frames, timeout=5.0, extra_wait=0.2)
        self.assertEqual(len(replies), 1, "want exactly one reply to %r, got %r"
                         % ([rdtest._short(f) for f in frames], replies))
        self.assertEqual(len(replies[0]), 1, "reply must be one frame: %r" % (replies[0],))
        try:
            return json.loads(replies[0][0].decode("utf-8"))
        except ValueError:
            self.fail("reply is not JSON: %r" % (replies[0][0],))

    def test_not_json_is_malformed(self):
        for body in [b"hello", b'{"op":"ping"', b'{"op": ping}', b"{'op':'ping'}",
                     b'{"op":"ping"} trailing', b'{"op":"ping"}{"op":"ping"}',
                     b'{"op":"ping",}', b" ", b"\x00", b'{"op":"ping"}\x00']:
            with self.subTest(body=body):
                self.assertError(self.one_reply([body]), "malformed")

    def test_empty_frame_gets_one_malformed_reply(self):
        # An empty frame alone is no JSON object; whether the daemon reads it
        # as a REQ delimiter or as the body, the sender gets one reply.
        replies = self.d.raw([b""], timeout=5.0, extra_wait=0.2)
        self.assertEqual(len(replies), 1, replies)
        self.assertError(json.loads(replies[0][-1]), "malformed")

    def test_json_that_is_not_an_object_is_malformed(self):
        for body in [b"[]", b'["ping"]', b'"ping"', b"42", b"null", b"true",
                     b'[{"op":"ping"}]']:
            with self.subTest(body=body):
                self.assertError(self.one_reply([body]), "malformed")

    def test_invalid_utf8_is_malformed(self):
        for body in [b'{"op":"ping","corr":"\xff"}',
                     b'{"op":"ping","corr":"\xc3"}',            # truncated sequence
                     b'{"op":"ping","corr":"\xc0\xaf"}',        # overlong '/'
                     b'{"op":"ping","corr":"\xed\xa0\x80"}',    # encoded surrogate
                     b'{"op":"p\xe9ng"}']:                      # Latin-1, not UTF-8
            with self.subTest(body=body):
                self.assertError(self.one_reply([body]), "malformed")

    def test_duplicate_keys_are_malformed(self):
        r = json.dumps(referral())[:-1]  # drop the closing brace
        for body in [b'{"op":"ping","op":"ping"}',
                     b'{"op":"ping","corr":"a","corr":"a"}',
                     b'{"op":"ping","o\\u0070":"ping"}',  # the same key, escaped
                     # a duplicate deep inside the referral counts too
                     ('{"op":"submit","referral":%s,"note":"x","note":"y"}}' % r).encode()]:
            with self.subTest(body=body[:60]):
                self.assertError(self.one_reply([body]), "malformed")

    def test_duplicate_key_in_a_referral_stores_nothing(self):
        ref = referral()
        body = json.dumps(submit_req(ref))
        body = body.replace('"kind": "family_support"',
                            '"kind": "family_support", "kind": "first_line_psychology"')
        self.assertIn('"kind": "first_line_psychology"', body)
        self.assertError(self.one_reply([body.encode()]), "malformed")
        rep = self.d.request({"op": "get", "partner": ref["partner"], "ref": ref["ref"]})
        self.assertError(rep, "not_found")

    def test_number_the_decoder_cannot_hold_is_malformed(self):
        for body in [b'{"op":"events","since":123456789012345678901234567890}',
                     b'{"op":"events","since":-123456789012345678901234567890}',
                     b'{"op":"events","limit":1e999}',
                     b'{"op":"events","limit":-1e999}']:
            with self.subTest(body=body):
                self.assertError(self.one_reply([body]), "malformed")

    def test_deep_nesting_gets_one_reply_and_the_daemon_lives(self):
        for depth in (40, 1000, 30000):
            with self.subTest(depth=depth):
                body = b'{"op":"ping","corr":' + b"[" * depth + b"]" * depth + b"}"
                rep = self.one_reply([body])
                self.assertIs(rep.get("ok"), False)
                self.assertIn(rep["error"]["code"], ("malformed", "invalid"), rep)
        self.assertOk(self.d.request({"op": "ping"}))

    def test_frame_of_exactly_64_kib_is_served(self):
        body = padded_ping(KIB64)
        self.assertEqual(len(body), 65536)
        rep = self.one_reply([body])
        self.assertOk(rep)
        self.assertIn("version", rep)

    def test_frame_over_64_kib_is_malformed(self):
        for n in (KIB64 + 1, KIB64 + 100):
            with self.subTest(bytes=n):
                self.assertError(self.one_reply([padded_ping(n)]), "malformed")

    def test_frame_over_64_kib_with_a_submit_stores_nothing(self):
        ref = referral(note="x" * 1000)
        body = json.dumps(submit_req(ref)).encode()
        body = body[:-1] + b" " * (KIB64 + 1 - len(body)) + b"}"
        self.assertEqual(len(body), KIB64 + 1)
        self.assertError(self.one_reply([body]), "malformed")
        self.assertError(self.d.request({"op": "get", "partner": ref["partner"],
                                         "ref": ref["ref"]}), "not_found")

    def test_huge_frame_is_refused_and_the_daemon_lives(self):
        # Over ZMQ_MAXMSGSIZE (if set) the connection closes without a reply;
        # under it, the answer is malformed. Either way others are served.
        s = self.d.dealer()
        try:
            s.send(b'{"op":"ping","corr":"' + b"x" * (4 << 20) + b'"}')
            if s.poll(3000):
                self.assertError(json.loads(s.recv()), "malformed")
        finally:
            s.close(0)
        self.assertOk(self.d.request({"op": "ping"}))

    def test_client_that_leaves_before_its_replies_does_no_harm(self):
        s = self.d.dealer()
        refs = [referral() for _ in range(200)]
        for r in refs:
            s.send_json(submit_req(r))
        s.close(0)
        rdtest.wait_until(lambda: self.d.ok({"op": "ping"}), timeout=5)
        # whatever was processed is whole; resubmitting gives every one an answer
        for r in refs[::20]:
            rep = self.d.request(submit_req(r))
            self.assertOk(rep)

    def test_two_body_frames_are_malformed(self):
        ping = b'{"op":"ping"}'
        for frames in ([ping, ping], [ping, b"x"], [b"", ping, ping], [ping, b""]):
            with self.subTest(frames=frames):
                replies = self.d.raw(frames, timeout=5.0, extra_wait=0.2)
                self.assertEqual(len(replies), 1, "want one reply, got %r" % (replies,))
                rep = json.loads(replies[0][-1].decode("utf-8"))
                self.assertError(rep, "malformed")

    def test_two_body_frames_with_a_submit_store_nothing(self):
        ref = referral()
        body = json.dumps(submit_req(ref)).encode()
        replies = self.d.raw([body, body], timeout=5.0, extra_wait=0.2)
        self.assertEqual(len(replies), 1)
        self.assertError(json.loads(replies[0][-1]), "malformed")
        self.assertError(self.d.request({"op": "get", "partner": ref["partner"],
                                         "ref": ref["ref"]}), "not_found")

    def test_malformed_reply_keeps_the_connection_usable(self):
        s = self.d.dealer()
        try:
            s.send(b"not json")
            self.assertTrue(s.poll(5000))
            self.assertError(json.loads(s.recv()), "malformed")
            s.send(b'{"op":"ping","corr":"after"}')
            self.assertTrue(s.poll(5000))
            rep = json.loads(s.recv())
            self.assertOk(rep)
            self.assertEqual(rep["corr"], "after")
        finally:
            s.close(0)


class Clients(rdtest.TestCase):
    """DEALER and REQ clients both work, and a DEALER may pipeline."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def req(self):
        """A REQ client on the intake, closed when the test ends."""
        s = rdtest.zsock(zmq.REQ)
        s.connect(self.d.intake)
        self.addCleanup(s.close, 0)
        return s

    def test_req_client_with_empty_delimiter_gets_its_reply(self):
        s = self.req()
        for i in range(3):  # REQ enforces strict send/recv; three rounds
            s.send_json({"op": "ping", "corr": "req-%d" % i})
            self.assertTrue(s.poll(5000), "REQ client got no reply")
            rep = json.loads(s.recv())
            self.assertOk(rep)
            self.assertEqual(rep["corr"], "req-%d" % i)

    def test_req_client_submit(self):
        s = self.req()
        s.send_json(submit_req(referral(), corr="req-submit"))
        self.assertTrue(s.poll(5000))
        rep = json.loads(s.recv())
        self.assertOk(rep)
        self.assertEqual(rep["corr"], "req-submit")

    def test_req_client_gets_malformed_for_garbage(self):
        s = self.req()
        s.send(b"{{{")
        self.assertTrue(s.poll(5000), "REQ client got no reply to garbage")
        self.assertError(json.loads(s.recv()), "malformed")

    def test_dealer_with_explicit_empty_delimiter_gets_reply_on_same_envelope(self):
        replies = self.d.raw([b"", b'{"op":"ping","corr":"delim"}'], extra_wait=0.2)
        self.assertEqual(len(replies), 1)
        frames = replies[0]
        self.assertEqual(len(frames), 2, "reply must keep the empty delimiter: %r" % (frames,))
        self.assertEqual(frames[0], b"")
        rep = json.loads(frames[1])
        self.assertOk(rep)
        self.assertEqual(rep["corr"], "delim")

    def test_pipelining_1000_requests_on_one_dealer(self):
        s = self.d.dealer()
        try:
            n = 1000
            for i in range(n):
                s.send_json({"op": "ping", "corr": "pipe-%d" % i})
            got = []
            deadline = time.monotonic() + 30
            while len(got) < n and time.monotonic() < deadline:
                if s.poll(1000):
                    got.append(json.loads(s.recv()))
            self.assertEqual(len(got), n, "only %d of %d pipelined requests answered"
                             % (len(got), n))
            for rep in got:
                self.assertOk(rep)
            corrs = [rep["corr"] for rep in got]
            self.assertEqual(sorted(corrs), sorted("pipe-%d" % i for i in range(n)))
            self.assertFalse(s.poll(300), "more replies than requests")
        finally:
            s.close(0)

    def test_pipelined_mix_of_good_and_bad_requests(self):
        s = self.d.dealer()
        try:
            reqs = []
            for i in range(60):
                kind = i % 4
                corr = "mix-%d" % i
                if kind == 0:
                    body = json.dumps({"op": "ping", "corr": corr}).encode()
                elif kind == 1:
                    body = json.dumps({"op": "nope", "corr": corr}).encode()
                elif kind == 2:
                    body = json.dumps({"op": "ping", "corr": corr, "x": 1}).encode()
                else:
                    body = json.dumps(submit_req(referral(), corr=corr)).encode()
                reqs.append((corr, kind))
                s.send(body)
            got = {}
            deadline = time.monotonic() + 20
            while len(got) < len(reqs) and time.monotonic() < deadline:
                if s.poll(1000):
                    rep = json.loads(s.recv())
                    got[rep.get("corr")] = rep
            self.assertEqual(len(got), len(reqs))
            for corr, kind in reqs:
                rep = got[corr]
                if kind in (0, 3):
                    self.assertOk(rep)
                elif kind == 1:
                    self.assertError(rep, "unknown_op")
                else:
                    self.assertError(rep, "invalid", field="x")
        finally:
            s.close(0)

    def test_many_clients_each_get_their_own_replies(self):
        socks = [self.d.dealer() for _ in range(10)]
        try:
            for k, s in enumerate(socks):
                for i in range(20):
                    s.send_json({"op": "ping", "corr": "c%d-%d" % (k, i)})
            for k, s in enumerate(socks):
                corrs = []
                for i in range(20):
                    self.assertTrue(s.poll(5000), "client %d missing replies" % k)
                    corrs.append(json.loads(s.recv())["corr"])
                self.assertEqual(sorted(corrs), sorted("c%d-%d" % (k, i) for i in range(20)))
        finally:
            for s in socks:
                s.close(0)


class Corr(rdtest.TestCase):
    """`corr`: a string of at most 128 characters, echoed verbatim."""

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def test_corr_echoed_verbatim(self):
        for corr in ["c-1", "", " spaced  out ", "ünïcødé-Genk", "emoji-\U0001F600",
                     "quote\"backslash\\", "x" * 128, "\u00e9" * 128, "\U0001F600" * 128,
                     "line\nbreak"]:
            with self.subTest(corr=corr[:20]):
                rep = self.d.request({"op": "ping", "corr": corr})
                self.assertOk(rep)
                self.assertIn("corr", rep)
                self.assertEqual(rep["corr"], corr)

    def test_corr_with_escaped_characters_echoed_verbatim(self):
        # RFC 8259 strings: any code point may be escaped, U+0000 included.
        # Such a request is JSON, so it is not `malformed`; the corr is a
        # string of at most 128 characters, so it is echoed verbatim.
        for raw, want in [(b'"tab\\tquote\\"slash\\/"', 'tab\tquote"slash/'),
                          (b'"\\u00e9\\ud83d\\ude00"', "\u00e9\U0001F600"),
                          (b'"nul\\u0000byte"', "nul\u0000byte")]:
            with self.subTest(corr=want):
                rep = self.d.request(b'{"op":"ping","corr":' + raw + b'}')
                self.assertOk(rep)
                self.assertEqual(rep["corr"], want)

    def test_corr_echoed_in_error_replies(self):
        rep = self.d.request({"op": "nope", "corr": "err-1"})
        self.assertError(rep, "unknown_op")
        self.assertEqual(rep.get("corr"), "err-1")
        rep = self.d.request({"op": "submit", "corr": "err-2",
                              "referral": referral(kind="nope")})
        self.assertError(rep, "invalid")
        self.assertEqual(rep.get("corr"), "err-2")
        rep = self.d.request({"op": "get", "corr": "err-3", "id": "R-does-not-exist"})
        self.assertError(rep, "not_found")
        self.assertEqual(rep.get("corr"), "err-3")

    def test_corr_echoed_on_submit(self):
        rep = self.d.request(submit_req(referral(), corr="sub-\u00e9"))
        self.assertOk(rep)
        self.assertEqual(rep["corr"], "sub-\u00e9")

    def test_no_corr_in_reply_when_request_had_none(self):
        for req in [{"op": "ping"}, {"op": "stats"}, {"op": "nope"},
                    {"op": "get", "id": "R-nope"}, submit_req(referral())]:
            with self.subTest(op=req["op"]):
                rep = self.d.request(req)
                self.assertNotIn("corr", rep)

    def test_corr_not_a_string_is_invalid(self):
        for corr in [1, 0, None, True, [], ["c"], {}, {"c": 1}, 1.5]:
            with self.subTest(corr=corr):
                self.assertError(self.d.request({"op": "ping", "corr": corr}),
                                 "invalid", field="corr")

    def test_corr_over_128_characters_is_invalid(self):
        for corr in ["x" * 129, "\u00e9" * 129, "\U0001F600" * 129, "y" * 5000]:
            with self.subTest(n=len(corr)):
                self.assertError(self.d.request({"op": "ping", "corr": corr}),
                                 "invalid", field="corr")

    def test_bad_corr_on_submit_stores_nothing(self):
        ref = referral()
        rep = self.d.request({"op": "submit", "corr": 7, "referral": ref})
        self.assertError(rep, "invalid", field="corr")
        self.assertError(self.d.request({"op": "get", "partner": ref["partner"],
                                         "ref": ref["ref"]}), "not_found")


class OpsAndKeys(rdtest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def test_missing_op_is_unknown_op(self):
        for req in [{}, {"corr": "x"}]:
            with self.subTest(req=req):
                self.assertError(self.d.request(req), "unknown_op")

    def test_unknown_op_is_unknown_op(self):
        for op in ["nope", "PING", "Ping", "ping ", "", "submit2", "sub mit"]:
            with self.subTest(op=op):
                self.assertError(self.d.request({"op": op}), "unknown_op")

    def test_op_not_a_string_is_refused(self):
        # "Every request has op (string)": a non-string op is not a known
        # op; it must be refused with unknown_op (or invalid, field op).
        for op in [1, None, ["ping"], {"ping": 1}, True]:
            with self.subTest(op=op):
                rep = self.d.request({"op": op})
                self.assertIs(rep.get("ok"), False, rep)
                self.assertIn(rep["error"]["code"], ("unknown_op", "invalid"), rep)
                if rep["error"]["code"] == "invalid":
                    self.assertEqual(rep["error"].get("field"), "op")

    def test_unknown_top_level_key_is_invalid(self):
        for key in ["foo", "Op", "referral_extra", "family", "note"]:
            with self.subTest(key=key):
                self.assertError(self.d.request({"op": "ping", key: 1}), "invalid", field=key)

    def test_unknown_top_level_key_on_submit_is_invalid_and_stores_nothing(self):
        ref = referral()
        rep = self.d.request({"op": "submit", "referral": ref, "priority": "high"})
        self.assertError(rep, "invalid", field="priority")
        self.assertError(self.d.request({"op": "get", "partner": ref["partner"],
                                         "ref": ref["ref"]}), "not_found")

    def test_error_reply_shape(self):
        rep = self.d.request({"op": "submit", "corr": "shape",
                              "referral": referral(children=[{"age": 99}])})
        # (the daemon may add fields; these must be there)
        self.assertTrue({"ok", "corr", "error"} <= set(rep), rep)
        self.assertNotIn("id", rep, "a failed submit has no referral id")
        err = self.assertError(rep, "invalid", field="referral.children[0].age")
        # A sentence a person can act on: words, not a code.
        self.assertGreaterEqual(len(err["message"].split()), 3, err)

    def test_failure_changes_nothing(self):
        before = self.d.last_seq()
        for req in [{"op": "nope"}, {"op": "ping", "x": 1},
                    submit_req(referral(consent=False)),
                    {"op": "get", "id": "R-nope"}]:
            self.assertIs(self.d.request(req).get("ok"), False)
        self.assertEqual(self.d.last_seq(), before)


class NoPersonalDataInMessages(rdtest.TestCase):
    """An error `message` never contains personal data (nor does the log)."""

    MARK_NAME = "Zwartkopvlieger"
    MARK_PHONE = "+32 470 99 88 77"
    MARK_NOTE = "Vertrouwelijk-Geheim-Kindverhaal"
    MARK_ADDR = "Kastanjelaan 77b"

    @classmethod
    def setUpClass(cls):
        cls.d = cls.class_daemon(routing=ROUTING_BASIC)

    def marked(self, **kw):
        return referral(family={"name": self.MARK_NAME, "phone": self.MARK_PHONE,
                                "address": self.MARK_ADDR},
                        note=self.MARK_NOTE, **kw)

    def assertClean(self, text):
        for m in (self.MARK_NAME, self.MARK_PHONE, self.MARK_NOTE, self.MARK_ADDR,
                  "Zwartkop", "Geheim"):
            self.assertNotIn(m, text)

    def test_error_messages_do_not_quote_personal_data(self):
        long_name = self.MARK_NAME * 20  # > 256 characters
        cases = [
            self.marked(children=[{"age": 26}]),
            self.marked(consent=False),
            self.marked(kind="unknown"),
            referral(family={"name": long_name}),
            referral(family={"name": self.MARK_NAME, "ssn": self.MARK_NOTE}),
            referral(family={"name": 42, "phone": self.MARK_PHONE}),
            referral(note=self.MARK_NOTE * 100),
            referral(note=self.MARK_NOTE, passport=self.MARK_NAME),
            referral(family=self.MARK_NAME),
            referral(note=[self.MARK_NOTE]),
            referral(family={"name": self.MARK_NAME}, note=self.MARK_NOTE,
                     children=[{"age": 3, "name": self.MARK_NAME}]),
        ]
        for r in cases:
            with self.subTest(case=list(r)[-1]):
                rep = self.d.request(submit_req(r))
                self.assertIs(rep.get("ok"), False, rep)
                self.assertClean(json.dumps(rep, ensure_ascii=False))

    def test_malformed_messages_do_not_quote_input(self):
        body = ('{"op":"submit","referral":{"family":{"name":"%s","name":"%s"}}}'
                % (self.MARK_NAME, self.MARK_NOTE)).encode()
        for b in [body, body[:-5], body + b"\xff", b'{"note":"' + self.MARK_NOTE.encode() + b'"']:
            rep = self.d.request(b)
            self.assertError(rep, "malformed")
            self.assertClean(json.dumps(rep, ensure_ascii=False))

    def test_conflict_message_does_not_quote_personal_data(self):
        r = self.marked()
        self.d.submit(r)
        r2 = dict(r, note=self.MARK_NOTE + " changed")
        rep = self.d.request(submit_req(r2))
        self.assertError(rep, "conflict")
        self.assertClean(json.dumps(rep, ensure_ascii=False))

    def test_log_has_no_personal_data(self):
        # Successful and failing submits: the daemon's output (journal
        # fallback on stderr) must not carry family or note.
        self.d.submit(self.marked())
        self.d.request(submit_req(self.marked(children=[])))
        self.d.request(submit_req(self.marked(bogus=self.MARK_NAME)))
        self.assertClean(self.d.log())


class Ping(rdtest.TestCase):
    def test_ping_on_a_fresh_daemon(self):
        d = self.daemon(routing=ROUTING_BASIC)
        rep = d.request({"op": "ping", "corr": "p"})
        self.assertOk(rep)
        self.assertRegex(rep.get("version", ""), r"^\d+\.\d+\.\d+$")
        self.assertIsInstance(rep.get("uptime_s"), (int, float))
        self.assertNotIsInstance(rep["uptime_s"], bool)
        self.assertGreaterEqual(rep["uptime_s"], 0)
        self.assertLess(rep["uptime_s"], 60)
        self.assertIsInstance(rep.get("last_seq"), int)
        self.assertEqual(rep["last_seq"], 0, "no event yet: seq starts at 1")

    def test_last_seq_follows_events_and_uptime_grows(self):
        d = self.daemon(routing=ROUTING_BASIC)
        first = d.ok({"op": "ping"})
        d.submit(referral())
        rep = d.ok({"op": "ping"})
        self.assertEqual(rep["last_seq"], 2, "a submit emits received + decision")
        ev = d.ok({"op": "events"})
        self.assertEqual(rep["last_seq"], ev["last"])
        wait_s = 1.2
        rdtest.wait_until(lambda: d.ok({"op": "ping"})["uptime_s"] >= first["uptime_s"] + 1,
                          timeout=wait_s + 3, interval=0.2, what="uptime_s to grow")


class Stats(rdtest.TestCase):
    def test_stats_of_a_fresh_daemon_lists_teams_and_connectors(self):
        d = self.daemon(routing=ROUTING_BASIC)
        rep = d.ok({"op": "stats", "corr": "s"})
        self.assertEqual(rep["corr"], "s")
        self.assertIsInstance(rep.get("by_status"), dict)
        self.assertTrue(all(v == 0 for v in rep["by_status"].values()), rep["by_status"])
        teams = {t["id"]: t for t in rep["teams"]}
        self.assertEqual(set(teams), {"genk", "psy"})
        conns = {c["id"]: c for c in teams["genk"]["connectors"]}
        self.assertEqual(set(conns), {"kelly", "sophie"})
        self.assertEqual(conns["kelly"]["capacity"], 2)
        self.assertEqual(conns["kelly"]["load"], 0)
        self.assertEqual(conns["sophie"]["capacity"], 2)
        psy = {c["id"]: c for c in teams["psy"]["connectors"]}
        self.assertEqual(psy["psy-1"], {**psy["psy-1"], "capacity": 1, "load": 0})
        self.assertEqual(rep["window"]["started"], 0)
        self.assertEqual(rep["window"]["in_time"], 0)

    def test_stats_count_statuses_and_loads(self):
        d = self.daemon(routing=ROUTING_BASIC)
        a = d.submit(referral())
        self.assertEqual(a["status"], "assigned")
        d.submit(referral(urgency="crisis"))            # forwarded (crisis rule)
        d.submit(referral(postcode="9000"))             # forwarded (everything-else)
        rep = d.ok({"op": "stats"})
        self.assertEqual(rep["by_status"].get("assigned"), 1, rep["by_status"])
        self.assertEqual(rep["by_status"].get("forwarded"), 2, rep["by_status"])
        self.assertEqual(rep["by_status"].get("waitlisted", 0), 0)
        loads = {c["id"]: c["load"] for t in rep["teams"] for c in t["connectors"]}
        self.assertEqual(loads[a["connector"]], 1)
        self.assertEqual(sum(loads.values()), 1)

    def test_window_counts_started_and_in_time(self):
        d = self.daemon(routing=ROUTING_BASIC)
        a = d.submit(referral())
        d.ok({"op": "update", "id": a["id"], "status": "accepted", "connector": a["connector"]})
        d.ok({"op": "update", "id": a["id"], "status": "started", "connector": a["connector"]})
        rep = d.ok({"op": "stats"})
        self.assertEqual(rep["window"], {**rep["window"], "started": 1, "in_time": 1})
        self.assertEqual(rep["by_status"].get("started"), 1)
        loads = {c["id"]: c["load"] for t in rep["teams"] for c in t["connectors"]}
        self.assertEqual(loads[a["connector"]], 1, "a started referral still loads its connector")


CLIENTS = [("coord", "coordinator", "coordinator"),
           ("genk", "ocmw-genk", "partner"),
           ("hasselt", "ocmw-hasselt", "partner"),
           ("cgg", "cgg-limburg", "partner"),
           ("kelly", "kelly", "connector"),
           ("sophie", "sophie", "connector"),
           ("grafana", "grafana", "monitor")]


class Security(rdtest.SecuredCase):
    """protocol.md "Security": CURVE with a ZAP handler; each request judged
    by the client's id and role."""

    CLIENTS = CLIENTS
    ROUTING = ROUTING_ROOMY

    def no_answer(self, sock, wait=1.5):
        try:
            sock.send(b'{"op":"ping"}', zmq.NOBLOCK)
        except zmq.Again:
            return True  # not even connected
        return not sock.poll(int(wait * 1000))

    def test_unlisted_key_gets_no_answer(self):
        s = self.d.dealer(curve=self.keys.curve("stranger"))
        try:
            self.assertTrue(self.no_answer(s), "a client whose key is not listed was served")
        finally:
            s.close(0)

    def test_plain_client_gets_no_answer(self):
        s = self.d.dealer(plain=True)
        try:
            self.assertTrue(self.no_answer(s), "a client without CURVE was served")
        finally:
            s.close(0)

    def test_every_role_may_ping(self):
        for name, _, _ in CLIENTS:
            with self.subTest(client=name):
                self.assertOk(self.as_(name, {"op": "ping"}))

    def test_partner_submits_as_itself(self):
        r = referral(partner=DROP)
        rep = self.as_("genk", submit_req(r))
        self.assertOk(rep)
        got = self.d.ok({"op": "get", "id": rep["id"]})
        self.assertEqual(got["referral"]["partner"], "ocmw-genk")
        self.assertOk(self.as_("genk", submit_req(referral(partner="ocmw-genk"))))
        other = referral(partner="ocmw-hasselt")
        self.assertError(self.as_("genk", submit_req(other)), "forbidden")
        self.assertError(self.d.request({"op": "get", "partner": "ocmw-hasselt",
                                         "ref": other["ref"]}), "not_found")

    def test_partner_sees_only_its_own_referrals(self):
        a = self.as_("genk", submit_req(referral(partner=DROP)))
        b = self.as_("hasselt", submit_req(referral(partner=DROP)))
        self.assertOk(a)
        self.assertOk(b)
        self.assertOk(self.as_("genk", {"op": "get", "id": a["id"]}))
        self.assertError(self.as_("genk", {"op": "get", "id": b["id"]}), "not_found")
        lst = self.as_("genk", {"op": "list", "limit": 1000})
        self.assertOk(lst)
        self.assertIn(a["id"], [x["id"] for x in lst["referrals"]])
        self.assertTrue(all(x["partner"] == "ocmw-genk" for x in lst["referrals"]), lst)
        ev = self.as_("genk", {"op": "events", "limit": 10000})
        self.assertOk(ev)
        ids = {e.get("id") for e in ev["events"]}
        self.assertIn(a["id"], ids)
        self.assertNotIn(b["id"], ids)
        self.assertTrue(all(e.get("partner") == "ocmw-genk" for e in ev["events"]))
        self.assertEqual(ev["last"], self.d.last_seq(), "last still says how far the daemon is")
        # another partner cannot withdraw it; its own partner can
        self.assertError(self.as_("hasselt", {"op": "update", "id": a["id"],
                                              "status": "withdrawn"}), "not_found")
        rep = self.as_("genk", {"op": "update", "id": a["id"], "status": "withdrawn"})
        self.assertOk(rep)
        self.assertEqual(rep["status"], "withdrawn")

    def test_partner_may_not_do_what_is_not_its_role(self):
        a = self.as_("genk", submit_req(referral(partner=DROP)))
        self.assertError(self.as_("genk", {"op": "stats"}), "forbidden")
        self.assertError(self.as_("genk", {"op": "update", "id": a["id"], "status": "accepted",
                                           "connector": a["connector"]}), "forbidden")
        self.assertError(self.as_("genk", {"op": "erase", "id": a["id"]}), "forbidden")

    def test_forward_target_reads_what_is_forwarded_to_it(self):
        a = self.as_("genk", submit_req(referral(partner=DROP, urgency="crisis")))
        self.assertEqual(a["forward_to"], "cgg-limburg")
        got = self.as_("cgg", {"op": "get", "id": a["id"]})
        self.assertOk(got)
        self.assertEqual(got["status"], "forwarded")
        self.assertIn(a["id"], [x["id"] for x in self.as_("cgg", {"op": "list"})["referrals"]])
        b = self.as_("genk", submit_req(referral(partner=DROP)))
        self.assertError(self.as_("cgg", {"op": "get", "id": b["id"]}), "not_found")

    def test_connector_sees_its_offers_and_acts_as_itself(self):
        a = self.d.submit(referral())
        mine, other = a["connector"], "sophie" if a["connector"] == "kelly" else "kelly"
        self.assertOk(self.as_(mine, {"op": "get", "id": a["id"]}))
        self.assertIn(a["id"], [x["id"] for x in
                                self.as_(mine, {"op": "list", "status": "assigned",
                                                "limit": 1000})["referrals"]])
        self.assertError(self.as_(other, {"op": "get", "id": a["id"]}), "not_found")
        self.assertError(self.as_(other, {"op": "update", "id": a["id"], "status": "accepted"}),
                         "not_found")
        rep = self.as_(mine, {"op": "update", "id": a["id"], "status": "accepted"})
        self.assertOk(rep, "with security on, the connector's own id is used")
        self.assertEqual(rep["status"], "accepted")
        self.assertError(self.as_(mine, submit_req(referral())), "forbidden")
        self.assertError(self.as_(mine, {"op": "stats"}), "forbidden")

    def test_connector_keeps_reading_what_it_declined_but_may_not_act(self):
        a = self.d.submit(referral(language=DROP))
        first = a["connector"]
        rep = self.as_(first, {"op": "update", "id": a["id"], "status": "declined"})
        self.assertOk(rep)
        second = rep["connector"]
        self.assertNotEqual(second, first)
        self.assertOk(self.as_(first, {"op": "get", "id": a["id"]}),
                      "referrals ever offered to it stay visible")
        ev = self.as_(first, {"op": "events", "limit": 10000})
        self.assertIn(a["id"], {e.get("id") for e in ev["events"]})
        self.assertError(self.as_(first, {"op": "update", "id": a["id"], "status": "accepted"}),
                         "forbidden")
        self.assertOk(self.as_(second, {"op": "update", "id": a["id"], "status": "accepted"}))

    def test_connector_events_cover_only_its_offers(self):
        a = self.d.submit(referral(language=DROP))
        other = "sophie" if a["connector"] == "kelly" else "kelly"
        mine = self.as_(a["connector"], {"op": "events", "limit": 10000})
        self.assertIn(a["id"], {e.get("id") for e in mine["events"]})
        theirs = self.as_(other, {"op": "events", "limit": 10000})
        self.assertOk(theirs)
        self.assertNotIn(a["id"], {e.get("id") for e in theirs["events"]})
        self.assertEqual(theirs["last"], self.d.last_seq())

    def test_forward_target_events_include_what_was_forwarded_to_it(self):
        a = self.as_("genk", submit_req(referral(partner=DROP, urgency="crisis")))
        ev = self.as_("cgg", {"op": "events", "limit": 10000})
        self.assertOk(ev)
        self.assertIn(a["id"], {e.get("id") for e in ev["events"]})

    def test_monitor_reads_stats_and_events_only(self):
        self.d.submit(referral())
        self.assertOk(self.as_("grafana", {"op": "stats"}))
        ev = self.as_("grafana", {"op": "events", "limit": 10000})
        self.assertOk(ev)
        self.assertEqual([e["seq"] for e in ev["events"]], list(range(1, ev["last"] + 1)),
                         "a monitor sees all events")
        self.assertError(self.as_("grafana", submit_req(referral())), "forbidden")
        some = ev["events"][-1]["id"]
        self.assertError(self.as_("grafana", {"op": "get", "id": some}), "forbidden")

    def test_coordinator_submits_on_behalf_and_must_name_the_partner(self):
        self.assertError(self.d.request(submit_req(referral(partner=DROP))), "invalid",
                         field="referral.partner")
        self.assertOk(self.d.request(submit_req(referral(partner="ocmw-elders"))))

    def test_only_monitors_and_coordinators_receive_pub_events(self):
        mon = self.d.subscribe(curve=self.keys.curve("grafana"))
        partner = rdtest.zsock(zmq.SUB, self.keys.curve("genk"))
        partner.setsockopt(zmq.SUBSCRIBE, b"")
        partner.connect(self.d.events)
        self.addCleanup(partner.close, 0)
        base = self.d.last_seq()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            self.d.submit(referral(urgency="crisis"))
            if partner.poll(200):
                self.fail("a partner received PUB events")
        self.assertTrue(rdtest.recv_events(mon, 1, after_seq=base), "the monitor got nothing")


class SecurityReload(rdtest.TestCase):
    def test_client_removed_on_reload_is_refused_on_its_open_connection(self):
        keys = rdtest.Keys([c[0] for c in CLIENTS])
        d = self.daemon(routing=ROUTING_BASIC, keys=keys, curve=keys.curve("coord"),
                        extra_yaml=keys.yaml(CLIENTS))
        s = d.dealer(curve=keys.curve("hasselt"))
        self.addCleanup(s.close, 0)
        self.assertOk(d.request({"op": "ping"}, sock=s))
        base = d.last_seq()
        text = open(d.config_path).read()
        line = [l for l in text.splitlines() if "ocmw-hasselt" in l][0]
        with open(d.config_path, "w") as f:
            f.write(text.replace(line + "\n", ""))
        d.signal(signal.SIGHUP)
        rdtest.wait_until(lambda: any(e["type"] == "config.reloaded"
                                      for e in d.ok({"op": "events", "since": base})["events"]),
                          timeout=5, what="config.reloaded")
        self.assertError(d.request({"op": "ping"}, sock=s), "forbidden")
        self.assertError(d.request(submit_req(referral(partner=DROP)), sock=s), "forbidden")
        self.assertOk(d.request({"op": "ping"}, sock=d.dealer(curve=keys.curve("genk"))))


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
