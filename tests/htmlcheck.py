"""htmlcheck: check an HTML file the project writes (tools.md, "HTML output").

Two checks, for the tests of `referralctl report --html` and `replay --html`:

  check_html(path)            renders the file in headless Chromium (Debian's
                              `chromium`, tools/do installs it for the tests)
                              and returns what a person's browser would see:
                              the DOM after scripts ran, every console message
                              with its level, every request the page made, and
                              optionally a PNG screenshot.
  check_self_contained(text)  reads the text without a browser: a
                              Content-Security-Policy meta tag that forbids
                              network access, and no src, href, url() or
                              @import that points outside the file.

How the browser is driven: the DevTools protocol over --remote-debugging-pipe
(JSON messages separated by NUL on fds 3 and 4), attached to the one page
target. Chosen over the command line's --dump-dom with --enable-logging,
which on Chromium 156 from Debian 12 logs console.log and console.error alike
as "INFO:CONSOLE" (the level is lost), and over --log-net-log, which also
holds Chromium's own requests to Google's hosts (accounts, component updater,
time) even with --disable-background-networking and --disable-component-update.
The protocol reports only what the page and its child targets (frames,
workers) did, so the browser's own background traffic never counts.

Command line, for looking at a generated report by hand:

    python3 tests/htmlcheck.py FILE.html [--screenshot OUT.png] [--print]

prints what was found and exits 1 if the page made a request, logged an
error or is not self-contained.
"""

import base64
import ctypes
import dataclasses
import fcntl
import html.parser
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# The binary itself, not /usr/bin/chromium: Debian's wrapper script sources
# /etc/chromium.d (it adds --enable-remote-extensions, --load-extension and
# Google API keys) so the flags would not be only ours.
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium",)
CHROMIUM_NAMES = ("chromium", "chromium-browser")

DEFAULT_TIMEOUT = 30.0   # seconds for one check_html, start to exit
DEFAULT_SETTLE = 0.3     # quiet seconds after the load event before reading
DEFAULT_WINDOW = (1024, 768)
MAX_SCREENSHOT_HEIGHT = 16384

FLAGS = (
    "--headless",
    "--no-sandbox",          # tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--remote-debugging-pipe",
)

# Loads that are not requests to anything outside the page.
_INTERNAL_SCHEMES = ("data:", "blob:", "about:")

# Runtime.consoleAPICalled type -> level (the levels of Log.entryAdded).
_CONSOLE_LEVELS = {"error": "error", "assert": "error", "warning": "warning",
                   "debug": "verbose"}


def find_chromium():
    """The path of the Chromium binary, or None when it is not installed."""
    for p in CHROMIUM_PATHS:
        if os.access(p, os.X_OK):
            return p
    for n in CHROMIUM_NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


class HtmlCheckError(Exception):
    """The browser could not check the page (did not start, crashed, hung).
    pgid: the browser's process group, already killed."""

    def __init__(self, message, pgid=None):
        super().__init__(message)
        self.pgid = pgid


class HtmlCheckTimeout(HtmlCheckError, TimeoutError):
    """The check did not finish before its deadline; the browser's whole
    process group was killed."""


@dataclasses.dataclass
class Message:
    """One console message. level: error, warning, info or verbose. source:
    console-api (console.*), exception (uncaught), dialog (alert, confirm,
    prompt), crash, or Chromium's own for Log entries (security for a CSP
    violation, network for a failed load, javascript, violation, ...)."""
    level: str
    source: str
    text: str
    url: str = ""
    line: int = None

    def __str__(self):
        where = ""
        if self.url:
            where = " (%s%s)" % (self.url, "" if self.line is None else ":%d" % (self.line + 1))
        return "%s %s: %s%s" % (self.level, self.source, self.text, where)


@dataclasses.dataclass
class Request:
    """One request the page made or tried. kind: the protocol's resource type
    (Image, Stylesheet, Fetch, ..., WebSocket). blocked: why Chromium did not
    send it (csp, ...) or "" when it went out."""
    url: str
    kind: str = ""
    blocked: str = ""

    def __str__(self):
        s = "request %s %s" % (self.kind or "?", self.url)
        return s + (" (blocked: %s)" % self.blocked if self.blocked else "")


@dataclasses.dataclass
class Result:
    """What check_html saw. dom: the serialized document after scripts ran
    and the load settled (with its doctype, like --dump-dom). console: every
    message in order. requests: every load other than the file itself and
    data:, blob:, about: URLs, blocked ones included. screenshot: the PNG's
    path or None. seconds: wall time of the check."""
    url: str
    dom: str
    console: list
    requests: list
    screenshot: str
    seconds: float

    def errors(self):
        """The console messages of level error."""
        return [m for m in self.console if m.level == "error"]

    def problems(self):
        """What fails "renders without a console error and without a network
        request", one line each; empty when it passes."""
        return [str(m) for m in self.errors()] + [str(r) for r in self.requests]


class _Pipe:
    """The DevTools protocol over a pair of pipes. call() pumps messages
    until its reply arrives; events go to on_event, which may send()."""

    def __init__(self, wfd, rfd, on_event):
        self.wfd, self.rfd, self.on_event = wfd, rfd, on_event
        self.buf = b""
        self.next_id = 0
        self.failed = {}

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.wfd, data):]
        return self.next_id

    def call(self, method, params=None, session=None, deadline=None):
        want = self.send(method, params, session)
        while True:
            msg = self.read(deadline, "the reply to " + method)
            if msg.get("id") == want:
                if "error" in msg:
                    raise HtmlCheckError("%s: %s" % (method, msg["error"].get("message")))
                return msg.get("result", {})
            self._dispatch(msg)

    def pump(self, until, deadline, step=0.05):
        """Dispatch events until until() is true (asked at least every STEP
        seconds); False at the deadline."""
        while not until():
            now = time.monotonic()
            if now >= deadline:
                return False
            try:
                msg = self.read(min(deadline, now + step), None)
            except HtmlCheckTimeout:
                continue
            self._dispatch(msg)
        return True

    def read(self, deadline, what):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            ready = select.select([self.rfd], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                raise HtmlCheckTimeout("timed out waiting for %s" % (what or "the page"))
            data = os.read(self.rfd, 1 << 20)
            if not data:
                raise HtmlCheckError("the browser closed its DevTools pipe")
            self.buf += data
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def _dispatch(self, msg):
        if "method" in msg:
            self.on_event(msg)
        elif "error" in msg:  # a reply to a send() nobody waits for
            self.failed[msg.get("id")] = msg["error"].get("message")


def _high_fd(fd):
    """FD moved to 10 or above (close-on-exec), so that dup2 onto 3 and 4 in
    the child can not clobber it."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def _subreaper(on):
    """Make this process the child subreaper (prctl PR_SET_CHILD_SUBREAPER)
    when ON, or not; returns the previous setting. Orphans of the browser
    then come to us instead of PID 1."""
    libc = ctypes.CDLL(None, use_errno=True)
    was = ctypes.c_int(0)
    libc.prctl(37, ctypes.byref(was), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    if libc.prctl(36, int(on), 0, 0, 0) != 0:   # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    return bool(was.value)


class _Browser:
    """One headless Chromium in its own process group with a fresh profile."""

    def __init__(self, binary):
        self.tmp = tempfile.mkdtemp(prefix="htmlcheck-")
        self.stderr_path = os.path.join(self.tmp, "stderr.txt")
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        cmd_r, cmd_w, res_r, res_w = map(_high_fd, (cmd_r, cmd_w, res_r, res_w))

        def child_fds():  # runs in the child before exec; close_fds=False
            os.dup2(cmd_r, 3)  # keeps only 3 and 4 (Python's fds are CLOEXEC)
            os.dup2(res_w, 4)

        args = [binary, *FLAGS, "--user-data-dir=" + os.path.join(self.tmp, "profile"),
                "about:blank"]
        # Its home too is ours: the crash handler's database (~/.config/
        # chromium/Crash Reports) and caches go into the folder removed after.
        env = dict(os.environ, HOME=self.tmp, XDG_CONFIG_HOME=os.path.join(self.tmp, "config"),
                   XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        try:
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    env=env, close_fds=False, preexec_fn=child_fds, start_new_session=True)
        except BaseException:
            for fd in (cmd_r, cmd_w, res_r, res_w):
                os.close(fd)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        os.close(cmd_r)
        os.close(res_w)
        self.wfd, self.rfd = cmd_w, res_r
        self.pgid = self.proc.pid  # start_new_session: the group is the browser's pid

    def _reap_crash_handlers(self):
        """Kill and reap chrome_crashpad_handler: the browser starts it in a
        session of its own (outside the group) and, through _subreaper, it
        is our child. Found as our children whose command line names our
        folder, or, when they already exited, by name."""
        me = os.getpid()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid, "rb") as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            comm = stat[stat.index(b"(") + 1:stat.rindex(b")")]
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            if ppid != me or not (self.tmp.encode() in cmdline
                                  or (not cmdline and comm.startswith(b"chrome_crashpad"))):
                continue
            try:
                os.kill(int(pid), signal.SIGKILL)
                os.waitpid(int(pid), 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def stderr_tail(self, n=1500):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""

    def close(self):
        """Kill the browser's whole process group, reap every process of it
        and remove the profile. Nothing of the profile is wanted, so there
        is no Browser.close (it costs about 0.4 s). The leader is not reaped
        before the kill, so the group id is still ours."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        # The zygote and renderers were reparented to us (_subreaper): reap
        # them, or they stay zombies where PID 1 reaps nothing.
        try:
            while True:
                os.waitpid(-self.pgid, 0)
        except ChildProcessError:
            pass
        self._reap_crash_handlers()
        os.close(self.wfd)
        os.close(self.rfd)
        shutil.rmtree(self.tmp, ignore_errors=True)


class _Page:
    """What the page target and its children report, collected from events."""

    def __init__(self, pipe, session, url):
        self.pipe = pipe
        self.session = session
        self.url = url
        self.console = []
        self.requests = {}   # requestId -> Request, in order of arrival
        self.in_flight = set()
        self.loaded = False
        self.last_event = time.monotonic()

    def on_event(self, msg):
        self.last_event = time.monotonic()
        method, p, session = msg["method"], msg.get("params", {}), msg.get("sessionId")
        handler = getattr(self, "_on_" + method.replace(".", "_"), None)
        if handler:
            handler(p, session)

    def _on_Target_attachedToTarget(self, p, _session):
        # A frame or worker of the page: watch it too, then let it run.
        child = p["sessionId"]
        for m in ("Runtime.enable", "Log.enable", "Network.enable"):
            self.pipe.send(m, None, child)
        self.pipe.send("Target.setAutoAttach",
                       {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
                       child)
        self.pipe.send("Runtime.runIfWaitingForDebugger", None, child)

    def _on_Page_loadEventFired(self, _p, session):
        if session == self.session:
            self.loaded = True

    def _on_Page_javascriptDialogOpening(self, p, session):
        self.console.append(Message("warning", "dialog", "%s: %s" % (p.get("type"),
                                                                     p.get("message", ""))))
        self.pipe.send("Page.handleJavaScriptDialog", {"accept": False}, session)

    def _on_Runtime_consoleAPICalled(self, p, _session):
        frame = (p.get("stackTrace") or {}).get("callFrames") or [{}]
        text = " ".join(_remote_text(a) for a in p.get("args", []))
        self.console.append(Message(_CONSOLE_LEVELS.get(p.get("type"), "info"), "console-api",
                                    text, frame[0].get("url", ""), frame[0].get("lineNumber")))

    def _on_Runtime_exceptionThrown(self, p, _session):
        d = p.get("exceptionDetails", {})
        exc = d.get("exception") or {}
        text = exc.get("description") or d.get("text", "exception")
        self.console.append(Message("error", "exception", text, d.get("url", ""),
                                    d.get("lineNumber")))

    def _on_Log_entryAdded(self, p, _session):
        e = p.get("entry", {})
        self.console.append(Message(e.get("level", "info"), e.get("source", "other"),
                                    e.get("text", ""), e.get("url", ""), e.get("lineNumber")))

    def _on_Inspector_targetCrashed(self, _p, _session):
        self.console.append(Message("error", "crash", "the page's renderer crashed"))

    def _on_Network_requestWillBeSent(self, p, _session):
        url = p["request"]["url"]
        if p.get("type") == "Document" and url == self.url:
            return  # the file itself
        if url.startswith(_INTERNAL_SCHEMES):
            return
        self.requests.setdefault(p["requestId"], Request(url, p.get("type", "")))
        self.in_flight.add(p["requestId"])

    def _on_Network_loadingFinished(self, p, _session):
        self.in_flight.discard(p["requestId"])

    def _on_Network_loadingFailed(self, p, _session):
        self.in_flight.discard(p["requestId"])
        r = self.requests.get(p["requestId"])
        if r is not None:
            r.kind = r.kind or p.get("type", "")
            r.blocked = p.get("blockedReason") or p.get("corsErrorStatus", {}).get(
                "corsError", "")

    def _on_Network_webSocketCreated(self, p, _session):
        self.requests.setdefault(p["requestId"], Request(p["url"], "WebSocket"))

    def _on_Network_webTransportCreated(self, p, _session):
        self.requests.setdefault(p["transportId"], Request(p["url"], "WebTransport"))

    def settled(self, settle):
        return (self.loaded and not self.in_flight
                and time.monotonic() - self.last_event >= settle)


def _remote_text(obj):
    """A console argument (a Runtime.RemoteObject) as text."""
    if "value" in obj:
        v = obj["value"]
        return v if isinstance(v, str) else json.dumps(v)
    return obj.get("unserializableValue") or obj.get("description") or obj.get("type", "")


def check_html(path, screenshot=None, window=DEFAULT_WINDOW, media="screen",
               timeout=DEFAULT_TIMEOUT, settle=DEFAULT_SETTLE):
    """Render the local HTML file PATH in a fresh headless Chromium and return
    a Result. SCREENSHOT: a PNG path to write (the whole page, WINDOW wide).
    WINDOW: (width, height) in CSS pixels. MEDIA: "screen" or "print" (CSS
    media emulated for the DOM and the screenshot). TIMEOUT: the deadline in
    seconds for the whole check; past it the browser's process group is
    killed and HtmlCheckTimeout raised. SETTLE: quiet seconds after the load
    event (no event, no request in flight) before the DOM is read. Raises
    HtmlCheckError when Chromium is missing or fails; FileNotFoundError when
    PATH is not a file."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    binary = find_chromium()
    if binary is None:
        raise HtmlCheckError("chromium is not installed (tools/do deps installs it)")
    was_subreaper = _subreaper(True)
    try:
        browser = _Browser(binary)
    except BaseException:
        _subreaper(was_subreaper)
        raise
    try:
        result = _check(browser, "file://" + path, screenshot, window, media, deadline, settle)
    except HtmlCheckError as e:
        e.pgid = browser.pgid
        if isinstance(e, HtmlCheckTimeout):
            raise HtmlCheckTimeout("%s after %.1f s; killed the browser's process group %d"
                                   % (e, time.monotonic() - t0, browser.pgid),
                                   browser.pgid) from None
        raise HtmlCheckError("%s\nchromium's stderr ends:\n%s" % (e, browser.stderr_tail()),
                             browser.pgid) from None
    finally:
        browser.close()
        _subreaper(was_subreaper)
    result.seconds = time.monotonic() - t0
    return result


def _check(browser, url, screenshot, window, media, deadline, settle):
    page = None
    pipe = _Pipe(browser.wfd, browser.rfd, lambda m: page and page.on_event(m))
    targets = pipe.call("Target.getTargets", deadline=deadline)["targetInfos"]
    pages = [t for t in targets if t["type"] == "page"]
    if not pages:
        raise HtmlCheckError("the browser opened no page")
    session = pipe.call("Target.attachToTarget", {"targetId": pages[0]["targetId"],
                                                  "flatten": True}, deadline=deadline)["sessionId"]
    page = _Page(pipe, session, url)
    for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
        pipe.call(m, None, session, deadline)
    pipe.call("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True,
                                       "flatten": True}, session, deadline)
    pipe.call("Emulation.setDeviceMetricsOverride",
              {"width": window[0], "height": window[1], "deviceScaleFactor": 1,
               "mobile": False}, session, deadline)
    pipe.call("Emulation.setEmulatedMedia", {"media": media}, session, deadline)
    nav = pipe.call("Page.navigate", {"url": url}, session, deadline)
    if nav.get("errorText"):
        raise HtmlCheckError("could not open %s: %s" % (url, nav["errorText"]))
    if not pipe.pump(lambda: page.settled(settle), deadline):
        if any(m.source == "crash" for m in page.console):
            raise HtmlCheckError("the page's renderer crashed")
        raise HtmlCheckTimeout("timed out waiting for the page to load and settle")
    doc = pipe.call("DOM.getDocument", {"depth": 0}, session, deadline)
    dom = pipe.call("DOM.getOuterHTML", {"nodeId": doc["root"]["nodeId"]}, session,
                    deadline)["outerHTML"]
    if screenshot:
        _screenshot(pipe, session, screenshot, window, deadline)
    # Messages that arrived while the DOM and the picture were taken count too.
    pipe.pump(lambda: time.monotonic() - page.last_event >= 0.05, deadline)
    return Result(url, dom, page.console, list(page.requests.values()), screenshot, 0.0)


def _screenshot(pipe, session, out, window, deadline):
    size = pipe.call("Page.getLayoutMetrics", None, session, deadline)["cssContentSize"]
    height = min(MAX_SCREENSHOT_HEIGHT, max(window[1], int(size["height"] + 0.999)))
    shot = pipe.call("Page.captureScreenshot",
                     {"format": "png", "captureBeyondViewport": True,
                      "clip": {"x": 0, "y": 0, "width": window[0], "height": height, "scale": 1}},
                     session, deadline)
    with open(out, "wb") as f:
        f.write(base64.b64decode(shot["data"]))


# --- The static check --------------------------------------------------------

# Attributes whose value is a URL the browser may load or navigate to.
_URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "poster", "data",
              "background", "manifest", "longdesc", "lowsrc", "dynsrc", "codebase",
              "icon", "profile"}
_SRCSET_ATTRS = {"srcset", "imagesrcset"}
_URL_LIST_ATTRS = {"ping", "archive"}  # URLs separated by white space
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?["']?([^"')\s;]*)""", re.I)
_REFRESH_URL = re.compile(r"url\s*=", re.I)
# Tags that may stand before <body> without opening it (where a CSP meta counts).
_HEAD_TAGS = {"html", "head", "meta", "title", "style", "link", "base", "script",
              "noscript", "template"}
# CSP sources that reach nothing outside the page.
_LOCAL_SOURCES = re.compile(
    r"^('none'|'unsafe-inline'|'unsafe-eval'|'unsafe-hashes'|'wasm-unsafe-eval'|"
    r"'nonce-[^']+'|'sha(256|384|512)-[^']+'|data:|blob:)$", re.I)
# CSP directives whose value is a source list; the rest (sandbox, ...) reach nothing.
_SOURCE_DIRECTIVE = re.compile(r"^([a-z-]+-src(-elem|-attr)?|base-uri|form-action|"
                               r"frame-ancestors|navigate-to)$")


def _srcset_urls(value):
    """The URLs of a srcset value: "URL [descriptors], ...", where a data:
    URL may itself hold commas (HTML's parsing of srcset, without the
    descriptors' meaning)."""
    urls, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        j = i
        while j < n and not value[j].isspace():
            j += 1
        url = value[i:j]
        if url.endswith(","):  # no descriptors: the comma ends the candidate
            url, i = url.rstrip(","), j
        else:
            comma = value.find(",", j)
            i = n if comma < 0 else comma + 1
        if url:
            urls.append(url)
    return urls


def is_local_reference(value):
    """True when the URL VALUE stays inside the file: a #fragment or a data:
    URL."""
    v = value.strip()
    return v.startswith("#") or v.lower().startswith("data:")


def csp_problems(policy):
    """Why the Content-Security-Policy text POLICY does not forbid network
    access (empty when it does): it must have default-src 'none', no
    directive may allow a source outside the page ('self', a host, a scheme
    other than data: and blob:, *), and no report-uri or report-to."""
    problems = []
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    if [s.lower() for s in directives.get("default-src", [])] != ["'none'"]:
        problems.append("the CSP has no default-src 'none' (%r)" % policy)
    for name, sources in directives.items():
        if name == "default-src":
            continue  # 'none' or already reported
        if name in ("report-uri", "report-to"):
            problems.append("the CSP sends reports (%s)" % name)
        elif _SOURCE_DIRECTIVE.match(name):
            wide = [s for s in sources if not _LOCAL_SOURCES.match(s)]
            if wide:
                problems.append("the CSP's %s allows %s" % (name, " ".join(wide)))
    return problems


class _Scanner(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.policies = []       # CSP metas before <body>
        self.late_policies = 0   # CSP metas in the body: browsers ignore them
        self.in_body = False
        self.in_style = False

    def _ref(self, where, value):
        if not is_local_reference(value):
            self.problems.append("%s points outside the file: %r" % (where, value.strip()))

    def _css(self, where, text):
        for m in _CSS_URL.finditer(text):
            self._ref(where + " url()", next(g for g in m.groups() if g is not None))
        for m in _CSS_IMPORT.finditer(text):
            self._ref(where + " @import", m.group(1))

    def handle_starttag(self, tag, attrs):
        if tag not in _HEAD_TAGS:
            self.in_body = True
        attrs = [(k.lower(), v or "") for k, v in attrs]
        for name, value in attrs:
            where = "<%s %s>" % (tag, name)
            if name in _URL_ATTRS:
                self._ref(where, value)
            elif name in _SRCSET_ATTRS or name in _URL_LIST_ATTRS:
                urls = _srcset_urls(value) if name in _SRCSET_ATTRS else value.split()
                for url in urls:
                    self._ref(where, url)
            elif name == "style" or "url(" in value.lower():
                self._css(where, value)
        self._meta(tag, dict(attrs))
        if tag == "style":
            self.in_style = True

    def _meta(self, tag, attrs):
        if tag != "meta":
            return
        equiv = attrs.get("http-equiv", "").lower()
        if equiv == "content-security-policy":
            if self.in_body:
                self.late_policies += 1
            else:
                self.policies.append(attrs.get("content", ""))
        elif equiv == "refresh" and _REFRESH_URL.search(attrs.get("content", "")):
            self.problems.append("<meta http-equiv=refresh> navigates away: %r"
                                 % attrs.get("content"))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self.in_style = False

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False
        elif tag == "head":
            self.in_body = True

    def handle_data(self, data):
        if self.in_style:
            self._css("<style>", data)


def check_self_contained(html_text):
    """Read HTML_TEXT without a browser and return what makes it not
    self-contained, one line each (empty when it is): no
    Content-Security-Policy meta in the head that forbids network access (see
    csp_problems: one such policy is enough, as browsers enforce every policy
    given), or a src, href, srcset, action, poster, data, url() (in a style
    attribute, a <style> or any attribute such as SVG's fill) or @import that
    points outside the file. A #fragment and a data: URL stay inside;
    namespace declarations (xmlns, xmlns:xlink) are not references."""
    s = _Scanner()
    s.feed(html_text)
    s.close()
    problems = list(s.problems)
    if s.late_policies:
        problems.append("a Content-Security-Policy meta stands after the head (ignored there)")
    verdicts = [csp_problems(p) for p in s.policies]
    if not verdicts:
        problems.append("no Content-Security-Policy meta in the head")
    elif all(verdicts):
        problems.extend(verdicts[0])
    return problems


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--screenshot", metavar="OUT.png")
    ap.add_argument("--print", action="store_true", help="emulate print media")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    a = ap.parse_args(argv)
    with open(a.file, encoding="utf-8") as f:
        static = check_self_contained(f.read())
    r = check_html(a.file, screenshot=a.screenshot, media="print" if a.print else "screen",
                   timeout=a.timeout)
    for m in r.console:
        print("console:", m)
    for q in r.requests:
        print(q)
    for p in static:
        print("static:", p)
    print("%.2f s, %d console messages (%d errors), %d requests, %d static problems"
          % (r.seconds, len(r.console), len(r.errors()), len(r.requests), len(static)))
    return 1 if r.problems() or static else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
