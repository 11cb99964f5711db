"""The pages of `referralctl report --html` and `replay --html` as a person
sees them (tools.md, "HTML output"): a sample page with every element of
lib/html and lib/svgchart (tests/html_sample.c writes it) is self-contained,
renders in a real headless Chromium without a console error and without a
network request, on screen and in print, with every chart, its figures in a
table, and no chart label on top of another or outside its chart.

The labels are measured by the browser itself: a copy of the page, with a
policy that lets one inline script run, asks each <text> for its box (after
its rotation and translation) and writes what overlaps into the DOM. The
page itself runs no script.

Skipped, with the reason, only where chromium is not installed; with CI set
a missing chromium fails instead. HTML_RENDER_SCREENSHOTS=DIR keeps the
sample and its screenshots (screen.png, print.png) there for a person to
look at.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import htmlcheck  # noqa: E402  (tests/htmlcheck.py)

SOURCE_DIR = os.environ.get(
    "RD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
HTML_SAMPLE = os.environ.get("HTML_SAMPLE") or os.path.join(SOURCE_DIR, "build", "tests",
                                                            "html_sample")
CSP = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
       "form-action 'none'")

# What the sample draws (tests/html_sample.c): 6 charts of one svg and one
# of 8 panels; 4 tables of its own and one per chart, 3 of them folded.
CHARTS = 7
SVGS = 6 + 8
TABLES = 4 + CHARTS
SERIES_PATHS = 8 + 2 + 2          # panels, waitlist, starts per week
BARS = 4 + 8 * 2 + 3 * 2 + 8 * 2  # forwards, load and capacity, percentiles, histogram
LEGENDS = 2 + 2 + 2 + 2 + 2      # every chart of more than one series
LIMITS = 8                        # capacity in each panel

# Measures every <text> of every svg in the svg's own units and writes
# {"texts": n, "overlaps": [[svg, a, b, depth]], "outside": [[svg, text]]}
# into body's data-labels. Two boxes overlap when they are not apart along
# any of their edges' normals (separating axes) by more than SLACK.
MEASURE = """<script>
(function () {
  var SLACK = 1.0, out = {texts: 0, overlaps: [], outside: []};
  function corners(svg, t) {
    var b = t.getBBox(), m = svg.getScreenCTM().inverse().multiply(t.getScreenCTM());
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height],
            [b.x, b.y + b.height]].map(function (p) {
      var q = svg.createSVGPoint(); q.x = p[0]; q.y = p[1]; q = q.matrixTransform(m);
      return [q.x, q.y];
    });
  }
  function depth(a, b) {  /* how far A and B go into each other; <= 0: apart */
    var least = Infinity;
    [a, b].forEach(function (poly) {
      for (var i = 0; i < 2; i++) {
        var p = poly[i], q = poly[i + 1], nx = q[1] - p[1], ny = p[0] - q[0];
        var len = Math.hypot(nx, ny) || 1, lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
        [a, b].forEach(function (pp, k) {
          pp.forEach(function (c) {
            var d = (c[0] * nx + c[1] * ny) / len;
            lo[k] = Math.min(lo[k], d); hi[k] = Math.max(hi[k], d);
          });
        });
        least = Math.min(least, Math.min(hi[0], hi[1]) - Math.max(lo[0], lo[1]));
      }
    });
    return least;
  }
  document.querySelectorAll("svg").forEach(function (svg, s) {
    var vb = svg.viewBox.baseVal, boxes = [];
    svg.querySelectorAll("text").forEach(function (t) {
      var c = corners(svg, t);
      out.texts++;
      if (c.some(function (p) { return p[0] < -SLACK || p[1] < -SLACK ||
                                       p[0] > vb.width + SLACK || p[1] > vb.height + SLACK; }))
        out.outside.push([s, t.textContent]);
      boxes.push([t.textContent, c]);
    });
    for (var i = 0; i < boxes.length; i++)
      for (var j = i + 1; j < boxes.length; j++) {
        var d = depth(boxes[i][1], boxes[j][1]);
        if (d > SLACK) out.overlaps.push([s, boxes[i][0], boxes[j][0], Math.round(d * 10) / 10]);
      }
  });
  document.body.setAttribute("data-labels", JSON.stringify(out));
})();
</script>
"""


class HtmlRenderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if htmlcheck.find_chromium() is None:
            if os.environ.get("CI"):
                raise AssertionError("chromium is not installed, and CI must run this test: "
                                     "tools/do test installs it")
            raise unittest.SkipTest("chromium is not installed (tools/do deps installs it)")
        cls.dir = tempfile.mkdtemp(prefix="test_html_render-")
        cls.keep = os.environ.get("HTML_RENDER_SCREENSHOTS")
        cls.path = os.path.join(cls.dir, "sample.html")
        subprocess.run([HTML_SAMPLE, cls.path], check=True, timeout=60)
        with open(cls.path, encoding="utf-8") as f:
            cls.text = f.read()
        if cls.keep:
            os.makedirs(cls.keep, exist_ok=True)
            shutil.copyfile(cls.path, os.path.join(cls.keep, "sample.html"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def render(self, media, **kw):
        """check_html of the sample in MEDIA, A4 wide for print; the
        screenshot kept when asked for."""
        shot = os.path.join(self.dir, media + ".png")
        window = (1024, 768) if media == "screen" else (718, 1016)  # A4 less 15 mm margins
        r = htmlcheck.check_html(self.path, screenshot=shot, media=media, window=window, **kw)
        if self.keep:
            shutil.copyfile(shot, os.path.join(self.keep, media + ".png"))
        return r

    def test_the_sample_is_self_contained_with_a_policy_that_forbids_the_network(self):
        self.assertEqual(htmlcheck.check_self_contained(self.text), [])
        self.assertEqual(self.text.count('<meta http-equiv="Content-Security-Policy"'), 1)
        self.assertIn('content="%s"' % CSP, self.text)
        self.assertEqual(htmlcheck.csp_problems(CSP), [])
        self.assertNotIn("<script", self.text)

    def check_dom(self, r):
        self.assertEqual(r.problems(), [])
        self.assertEqual(r.console, [])
        self.assertEqual(r.requests, [])
        dom = r.dom
        self.assertEqual(dom.count('<figure class="chart">'), CHARTS)
        self.assertEqual(dom.count("<svg "), SVGS)
        self.assertEqual(dom.count('role="img"'), SVGS)
        self.assertEqual(len(re.findall(r'<title id="c\d+-t">', dom)), SVGS)
        self.assertEqual(len(re.findall(r'<desc id="c\d+-d">', dom)), SVGS)
        self.assertEqual(dom.count("<table>"), TABLES)
        self.assertEqual(dom.count("<details>"), 3)
        self.assertEqual(dom.count('<path class="series"'), SERIES_PATHS)
        self.assertEqual(dom.count('<rect class="bar"'), BARS)
        self.assertEqual(dom.count('<g class="legend"'), LEGENDS)
        self.assertEqual(dom.count('<line class="limit"'), LIMITS)
        self.assertIn(">2026-07-01</text>", dom)
        self.assertIn(">capacity 12</text>", dom)
        # text that looks like markup stays text
        self.assertIn("e.g. \"r&amp;d &lt;pilot&gt;\".", dom)
        self.assertNotIn("<pilot>", dom)

    def test_on_screen_the_sample_renders_every_chart_without_an_error_or_a_request(self):
        self.check_dom(self.render("screen"))

    def test_in_print_the_sample_renders_every_chart_without_an_error_or_a_request(self):
        self.check_dom(self.render("print"))

    def measure(self, media):
        measured = os.path.join(self.dir, "measured-%s.html" % media)
        text = self.text.replace('content="%s"' % CSP,
                                 'content="%s; script-src \'unsafe-inline\'"' % CSP, 1)
        with open(measured, "w", encoding="utf-8") as f:
            f.write(text.replace("</body>", MEASURE + "</body>", 1))
        r = htmlcheck.check_html(measured, media=media)
        self.assertEqual(r.problems(), [])
        m = re.search(r'<body data-labels="([^"]*)"', r.dom)
        self.assertIsNotNone(m, "the measuring script did not run")
        return json.loads(html.unescape(m.group(1)))

    def test_the_measure_catches_labels_on_each_other_or_outside(self):
        # Level boxes on each other, tilted ones that cross, one past the
        # right edge; tilted ones side by side and level ones apart pass.
        svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100" '
               'viewBox="0 0 400 100">'
               '<text x="10" y="20">alpha</text><text x="14" y="24">beta</text>'
               '<text x="10" y="60">gamma</text><text x="10" y="90">delta</text>'
               '<text x="150" y="55" transform="rotate(-20 150 55)">one tilted</text>'
               '<text x="150" y="55" transform="rotate(20 150 55)">crossing</text>'
               '<text x="300" y="90" transform="rotate(-35 300 90)">side</text>'
               '<text x="330" y="90" transform="rotate(-35 330 90)">by side</text>'
               '<text x="380" y="30">far out</text></svg>')
        page = self.text[:self.text.index("<body>")] + "<body>" + svg + "</body></html>"
        saved = self.text
        try:
            self.text = page
            labels = self.measure("screen")
        finally:
            self.text = saved
        self.assertEqual(labels["texts"], 9)
        self.assertEqual([o[1:3] for o in labels["overlaps"]],
                         [["alpha", "beta"], ["one tilted", "crossing"]])
        self.assertEqual(labels["outside"], [[0, "far out"]])

    def test_no_chart_label_overlaps_another_or_leaves_its_chart(self):
        for media in ("screen", "print"):
            with self.subTest(media=media):
                labels = self.measure(media)
                self.assertEqual(labels["texts"], self.text.count("<text "))  # every one
                self.assertEqual(labels["overlaps"], [])
                self.assertEqual(labels["outside"], [])


if __name__ == "__main__":
    unittest.main()
