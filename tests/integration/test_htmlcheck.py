"""tests/htmlcheck.py can fail: the checker that the tests of `referralctl
report --html` and `replay --html` will use (tools.md, "HTML output").

Each page here is written to a temporary folder and rendered by a real
headless Chromium (Debian's `chromium`, installed by tools/do for the
tests). A clean page with an inline SVG chart passes; an image from the
network, console.error, an uncaught exception each make it fail; Chromium's
own background traffic does not count; a page that never finishes is killed
with its browser at the deadline. The static check rejects references to
outside the file and accepts namespace declarations.

Skipped, with the reason, only where chromium is not installed; with CI set
(as .ci/run runs) a missing chromium fails instead. HTMLCHECK_SCREENSHOT=FILE
keeps the clean page's screenshot there for a person to look at.
"""

import os
import shutil
import struct
import sys
import tempfile
import time
import unittest
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import htmlcheck  # noqa: E402  (tests/htmlcheck.py)

CSP = ("<meta http-equiv=\"Content-Security-Policy\" "
       "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">")
BAR = (0x1f, 0x77, 0xb4)  # the chart's bar colour, looked for in the screenshot
DOT_RGB = (0xd6, 0x27, 0x28)  # a 1x1 PNG of this colour, as a data: URL
DOT = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4"
       "nGO4pq4BAAL8ASYfsMx+AAAAAElFTkSuQmCC")


def page(body, head=CSP, title="check"):
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">%s"
            "<title>%s</title></head>\n<body>%s</body></html>\n" % (head, title, body))


# A report as the spec asks for one: CSP, inline SVG chart drawn by the
# program (xmlns, a gradient by #fragment, a data: image), the figures in a
# table, print styles.
CLEAN = page("""
<style>
  body { font-family: sans-serif; margin: 24px; color: #222; }
  table { border-collapse: collapse; margin-top: 12px; }
  th, td { border: 1px solid #999; padding: 2px 8px; text-align: right; }
  @media print { body { margin: 0; } svg { max-width: 100%; } }
</style>
<h1>Load per connector</h1>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="420" height="220" viewBox="0 0 420 220" role="img" aria-labelledby="chart-title">
  <title id="chart-title">Open referrals per connector</title>
  <defs>
    <linearGradient id="fade"><stop offset="0" stop-color="#1f77b4"/>
      <stop offset="1" stop-color="#aec7e8"/></linearGradient>
    <rect id="bar" width="80" height="10"/>
  </defs>
  <rect x="30" y="40" width="80" height="160" fill="#1f77b4"/>
  <rect x="150" y="100" width="80" height="100" fill="url(#fade)"/>
  <use xlink:href="#bar" x="270" y="190" fill="#ff7f0e"/>
  <line x1="20" y1="200" x2="400" y2="200" stroke="#222"/>
  <text x="70" y="215" text-anchor="middle" font-size="12">c-1</text>
  <text x="190" y="215" text-anchor="middle" font-size="12">c-2</text>
  <text x="310" y="215" text-anchor="middle" font-size="12">c-3</text>
</svg>
<table>
  <tr><th>connector</th><th>open</th></tr>
  <tr><td>c-1</td><td>16</td></tr><tr><td>c-2</td><td>10</td></tr>
  <tr><td>c-3</td><td>1</td></tr>
</table>
<p><img alt="" width="8" height="8" src="@DOT@"> figures from the daemon's stats</p>
""".replace("@DOT@", DOT), title="Load per connector")


def png_pixels(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG,
    as Chromium writes them."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride, prev, rows = zlib.decompress(idat), width * bpp, bytearray(width * bpp), []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


class BrowserCheckTest(unittest.TestCase):
    """check_html in a real headless Chromium."""
    timings = []

    @classmethod
    def setUpClass(cls):
        if htmlcheck.find_chromium() is None:
            if os.environ.get("CI"):
                raise AssertionError("chromium is not installed, and CI must run this test: "
                                     "tools/do test installs it")
            raise unittest.SkipTest("chromium is not installed (tools/do deps installs it)")

    @classmethod
    def tearDownClass(cls):
        if cls.timings:
            t = sorted(cls.timings)
            print("\nhtmlcheck: %d checks, first %.2f s, fastest %.2f s, median %.2f s, "
                  "slowest %.2f s" % (len(t), cls.timings[0], t[0], t[len(t) // 2], t[-1]))

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test_htmlcheck-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def check(self, name, text, **kw):
        r = htmlcheck.check_html(self.write(name, text), **kw)
        self.timings.append(r.seconds)
        return r

    def test_a_clean_page_with_an_inline_svg_chart_passes_and_shows_its_chart(self):
        shot = os.path.join(self.dir, "clean.png")
        r = self.check("clean.html", CLEAN, screenshot=shot, window=(800, 600))
        self.assertEqual(r.problems(), [])
        self.assertEqual(r.console, [])
        self.assertEqual(r.requests, [])
        self.assertEqual(r.dom.count("<rect "), 3, r.dom)
        self.assertIn("<svg ", r.dom)
        self.assertIn("<use ", r.dom)
        self.assertIn("<td>16</td>", r.dom)
        width, height, rows = png_pixels(shot)
        self.assertEqual(width, 800)
        self.assertGreaterEqual(height, 600)
        bar = sum(row.count(BAR) for row in rows)
        # The first bar is 80 x 160 CSS pixels at scale 1; its edges may be
        # blended where the layout puts it between pixels.
        self.assertGreaterEqual(bar, 0.9 * 80 * 160, "the chart's bar is not in the screenshot")
        dot = sum(row.count(DOT_RGB) for row in rows)  # 8 x 8, from the data: URL
        self.assertGreaterEqual(dot, 0.9 * 8 * 8, "the data: image is not in the screenshot")
        if os.environ.get("HTMLCHECK_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["HTMLCHECK_SCREENSHOT"])

    def test_an_empty_page_has_no_request_and_no_console_message(self):
        # Chromium's own traffic (component updater, accounts, time) and its
        # D-Bus complaints on stderr are not the page's.
        r = self.check("empty.html", page(""))
        self.assertEqual(r.console, [])
        self.assertEqual(r.requests, [])
        self.assertRegex(r.dom, r"<title>check</title></head>\s*<body>\s*</body></html>$")

    def test_the_dom_is_read_after_the_page_s_scripts_ran(self):
        csp = ("<meta http-equiv=\"Content-Security-Policy\" "
               "content=\"default-src 'none'; script-src 'unsafe-inline'\">")
        r = self.check("script.html", page(
            "<script>var p = document.createElement('p'); p.id = 'made';"
            "p.textContent = 'made by script'; document.body.appendChild(p);</script>",
            head=csp))
        self.assertEqual(r.problems(), [])
        self.assertIn('<p id="made">made by script</p>', r.dom)

    def test_print_media_is_what_the_page_sees_when_asked_for(self):
        csp = ("<meta http-equiv=\"Content-Security-Policy\" "
               "content=\"default-src 'none'; script-src 'unsafe-inline'\">")
        r = self.check("media.html", page(
            "<script>document.body.dataset.media = "
            "matchMedia('print').matches ? 'print' : 'screen';</script>", head=csp),
            media="print")
        self.assertEqual(r.problems(), [])
        self.assertIn('<body data-media="print">', r.dom)

    def test_an_image_from_the_network_is_caught_as_a_request(self):
        # Without a CSP Chromium sends it: a network request (the closed
        # network fails it, which also logs a network error).
        url = "http://example.invalid/x.png"
        r = self.check("img.html", page('<img src="%s">' % url, head=""))
        self.assertEqual([(q.url, q.kind, q.blocked) for q in r.requests],
                         [(url, "Image", "")])
        self.assertIn("request Image %s" % url, r.problems())
        self.assertTrue(any(m.source == "network" and m.level == "error" and url in m.url
                            for m in r.console), r.console)

    def test_an_image_from_the_network_under_the_csp_is_caught_as_a_csp_error(self):
        # With the CSP Chromium never sends it: a console error from the
        # security source, and the request listed as blocked by the CSP.
        url = "http://example.invalid/x.png"
        r = self.check("img-csp.html", page('<img src="%s">' % url))
        self.assertEqual([(q.url, q.blocked) for q in r.requests], [(url, "csp")])
        csp = [m for m in r.errors() if m.source == "security"]
        self.assertEqual(len(csp), 1, r.console)
        self.assertIn("Content Security Policy", csp[0].text)
        self.assertIn(url, csp[0].text)

    def test_console_error_from_a_script_is_caught_with_its_level(self):
        csp = ("<meta http-equiv=\"Content-Security-Policy\" "
               "content=\"default-src 'none'; script-src 'unsafe-inline'\">")
        r = self.check("console.html", page(
            "<script>console.log('just saying'); console.warn('careful');"
            "console.error('chart data missing');</script>", head=csp))
        self.assertEqual([(m.level, m.source, m.text) for m in r.console],
                         [("info", "console-api", "just saying"),
                          ("warning", "console-api", "careful"),
                          ("error", "console-api", "chart data missing")])
        self.assertEqual(r.requests, [])
        self.assertEqual(len(r.problems()), 1)
        self.assertIn("chart data missing", r.problems()[0])

    def test_an_uncaught_exception_is_caught_as_an_error(self):
        csp = ("<meta http-equiv=\"Content-Security-Policy\" "
               "content=\"default-src 'none'; script-src 'unsafe-inline'\">")
        r = self.check("exception.html", page(
            "<script>function draw() { return chart.width; } draw();</script>", head=csp))
        errors = r.errors()
        self.assertEqual([m.source for m in errors], ["exception"], r.console)
        self.assertIn("ReferenceError: chart is not defined", errors[0].text)

    def test_a_page_that_never_settles_is_killed_with_its_browser_at_the_deadline(self):
        path = self.write("loop.html", page("<script>for (;;) {}</script>", head=""))
        t0 = time.monotonic()
        with self.assertRaises(htmlcheck.HtmlCheckTimeout) as cm:
            htmlcheck.check_html(path, timeout=4)
        self.assertLess(time.monotonic() - t0, 4 + 2)
        with self.assertRaises(ProcessLookupError):  # nothing left in its group
            os.killpg(cm.exception.pgid, 0)


class StaticCheckTest(unittest.TestCase):
    """check_self_contained, which needs no browser."""

    def test_the_static_check_accepts_the_clean_page_with_xmlns_fragments_and_data(self):
        self.assertEqual(htmlcheck.check_self_contained(CLEAN), [])

    def test_the_static_check_rejects_an_external_stylesheet(self):
        problems = htmlcheck.check_self_contained(page(
            '<link rel="stylesheet" href="https://cdn.example.invalid/report.css">'))
        self.assertEqual(problems, ["<link href> points outside the file: "
                                    "'https://cdn.example.invalid/report.css'"])

    def test_the_static_check_rejects_every_reference_to_outside_the_file(self):
        cases = {
            '<img src="chart.png">': "<img src>",
            '<img srcset="data:image/png;base64,AA 1x, big.png 2x">': "<img srcset>",
            '<script src="report.js"></script>': "<script src>",
            '<svg><image href="file:///etc/x.png"/></svg>': "<image href>",
            '<svg><use xlink:href="other.svg#bar"/></svg>': "<use xlink:href>",
            '<svg><rect fill="url(pattern.svg#p)"/></svg>': "<rect fill> url()",
            '<p style="background: url(\'//example.invalid/bg.png\')">x</p>': "<p style> url()",
            '<style>@import "print.css";</style>': "<style> @import",
            '<style>@font-face { src: url(https://example.invalid/f.woff2) }</style>':
                "<style> url()",
            '<form action="https://example.invalid/post"></form>': "<form action>",
        }
        for body, where in cases.items():
            with self.subTest(body=body):
                problems = htmlcheck.check_self_contained(page(body))
                self.assertEqual(len(problems), 1, problems)
                self.assertTrue(problems[0].startswith(where + " points outside the file"),
                                problems)

    def test_the_static_check_wants_a_csp_in_the_head_that_forbids_network(self):
        def meta(policy):
            return '<meta http-equiv="Content-Security-Policy" content="%s">' % policy
        cases = {
            "": "no Content-Security-Policy meta in the head",
            meta("default-src 'self'"): "the CSP has no default-src 'none'",
            meta("img-src data:"): "the CSP has no default-src 'none'",
            meta("default-src 'none'; img-src https:"): "the CSP's img-src allows https:",
            meta("default-src 'none'; style-src 'unsafe-inline' *"):
                "the CSP's style-src allows *",
            meta("default-src 'none'; connect-src http://127.0.0.1:5570"):
                "the CSP's connect-src allows http://127.0.0.1:5570",
            meta("default-src 'none'; report-uri /csp"): "the CSP sends reports (report-uri)",
        }
        for head, want in cases.items():
            with self.subTest(head=head):
                problems = htmlcheck.check_self_contained(page("<p>x</p>", head=head))
                self.assertEqual(len(problems), 1, problems)
                self.assertTrue(problems[0].startswith(want), problems)
        in_body = page("<p>x</p>" + meta("default-src 'none'"), head="")
        self.assertEqual(htmlcheck.check_self_contained(in_body), [
            "a Content-Security-Policy meta stands after the head (ignored there)",
            "no Content-Security-Policy meta in the head"])


if __name__ == "__main__":
    unittest.main()
