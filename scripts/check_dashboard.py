"""The web dashboard in real browsers: Debian's headless Chromium and Firefox ESR, driven
through WebDriver (chromedriver, geckodriver) with nothing but the standard library.

Starts `kiln serve --allow-writes` on a project, opens the dashboard with the token in the URL
fragment, checks that the runs table sorts, starts a study from the Live tab and watches its
curve grow while it trains, opens a model card, and takes screenshots (light and dark).

    python3 scripts/check_dashboard.py KILN PROJECT.kiln OUT_DIR [chromium|firefox]

Firefox is driven through geckodriver in the same way.
"""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few WebDriver commands this check needs."""

    def __init__(self, url):
        self.url = url
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.read().decode()[:500]}") from None

    def start(self, browser, profile):
        if browser == "firefox":
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": shutil.which("firefox-esr") or shutil.which("firefox"),
                    "args": ["-headless", "-profile", profile, "--width=1400", "--height=900"],
                    # No updates, telemetry or first-run pages on a closed network.
                    "prefs": {"app.update.disabledForTesting": True,
                              "datareporting.policy.dataSubmissionEnabled": False,
                              "browser.shell.checkDefaultBrowser": False}}}}}
        else:
            args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,900",
                    f"--user-data-dir={profile}"]
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": shutil.which("chromium") or "/usr/bin/chromium",
                                       "args": args}}}}
        self.open(caps)

    def open(self, capabilities):
        self.session = self.call("POST", "/session", capabilities)["sessionId"]

    def s(self, path, body=None, method=None):
        return self.call(method or ("GET" if body is None else "POST"),
                         f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("/url", {"url": url})

    def js(self, script, *args):
        return self.s("/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        found = self.s("/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def click(self, css):
        # The page redraws lists as events arrive: an element found just before may be gone.
        for attempt in range(5):
            try:
                self.s(f"/element/{self.find(css)}/click", {})
                return
            except RuntimeError as e:
                if "stale element" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.2)

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("/screenshot")))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", f"/session/{self.session}")
            except Exception:
                pass
            self.session = None


def wait(what, predicate, limit=60.0):
    deadline = time.time() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def serve(kiln, project, *options):
    """Starts `kiln serve` on a free loopback port; returns it and the URL it printed to open."""
    process = subprocess.Popen([kiln, "serve", project, "--bind", "127.0.0.1:0", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    for line in process.stdout:
        m = re.match(r"open: (http://\S+)", line)
        if m:
            url = m.group(1)
        if line.startswith("press Ctrl-C"):
            break
    assert url, "kiln serve printed no URL to open"
    return process, url


def main():
    kiln, project, out = sys.argv[1:4]
    name = sys.argv[4] if len(sys.argv) > 4 else "chromium"
    os.makedirs(out, exist_ok=True)
    server, url = serve(kiln, project, "--allow-writes")
    assert "#token=" in url, f"kiln serve printed no URL with a token (got {url})"
    port = free_port()
    driver_log = open(os.path.join(out, f"{name}-driver.log"), "w")
    command = ([shutil.which("geckodriver") or "geckodriver", f"--port={port}"]
               if name == "firefox" else
               [shutil.which("chromedriver") or "/usr/bin/chromedriver", f"--port={port}"])
    webdriver = subprocess.Popen(command, stdout=driver_log, stderr=subprocess.STDOUT)
    profile = tempfile.mkdtemp()
    browser = WebDriver(f"http://127.0.0.1:{port}")
    checks = []
    try:
        wait("the WebDriver server", lambda: _up(port), 30)
        browser.start(name, profile)
        browser.go(url)
        # The token left the address bar, and the runs arrived.
        wait("the runs table", lambda: browser.js(
            "return document.querySelectorAll('#runs tbody tr').length") >= 2)
        assert "token" not in browser.js("return location.href"), "the token stayed in the URL"
        checks.append("the dashboard loads the runs; the token leaves the address bar")

        # Sorting: by run number, descending by default, then ascending on a second click.
        ids = "return [...document.querySelectorAll('#runs tbody tr')].map(r => Number(r.dataset.run))"
        first = browser.js(ids)
        assert first == sorted(first, reverse=True), first
        browser.click("#runs th[data-key='id']")
        wait("ascending order", lambda: browser.js(ids) == sorted(first))
        metric = browser.js("return [...document.querySelectorAll('#runs th')].map(t => t.dataset.key).find(k => k.startsWith('metric:'))")
        browser.click(f"#runs th[data-key='{metric}']")
        col = browser.js("return [...document.querySelectorAll('#runs th')].findIndex(t => t.dataset.key === arguments[0])", metric)
        values = browser.js(
            "return [...document.querySelectorAll('#runs tbody tr')].map(r => r.children[arguments[0]].textContent)", col)
        numbers = [float(v.replace(",", "")) for v in values if v]
        assert numbers == sorted(numbers, reverse=True), (metric, values)
        checks.append(f"the runs table sorts by run and by {metric}")
        browser.screenshot(os.path.join(out, f"{name}-runs.png"))

        # Start a study from the Live tab and watch its curve grow while it trains.
        browser.click("button[data-tab='live']")
        browser.js("""
            const form = document.querySelector('#study-form');
            form.querySelector('[name=device]').value = 'cpu';
            form.querySelector('[name=space]').value = 'learning_rate = [0.01, 0.03]\\nepochs = 400\\nbatch_size = 16\\nhidden = [16]';
        """)
        studies_before = browser.js("return document.querySelectorAll('#study option').length")
        browser.click("#start-study")
        wait("the new study", lambda: browser.js(
            "return document.querySelectorAll('#study option').length") > studies_before)
        browser.js("const s = document.querySelector('#study'); s.value = s.options[0].value; s.dispatchEvent(new Event('change'));")
        wait("the batch loss to be offered", lambda: browser.js(
            "return [...document.querySelectorAll('#metric option')].some(o => o.value === 'train/batch_loss')"), 120)
        browser.js("const m = document.querySelector('#metric'); m.value = 'train/batch_loss'; m.dispatchEvent(new Event('change'));")
        points = "return Number(document.querySelector('#chart').dataset.points)"
        seen = wait("the first points", lambda: max(browser.js(points), 0), 120)
        grown = wait("the curve to grow", lambda: (lambda n: n > seen + 20 and n)(browser.js(points)), 120)
        # Only the new study's runs are drawn (the lab's study has the same name).
        drawn = browser.js("return Number(document.querySelector('#chart').dataset.series)")
        assert drawn <= 2, f"{drawn} runs drawn for a study of two trials"
        running = browser.js("return document.querySelector('#jobs tbody').textContent")
        checks.append(f"a study started from the dashboard charts live ({seen} then {grown} points drawn while it ran)")
        assert "running" in running, running
        browser.screenshot(os.path.join(out, f"{name}-live.png"))
        # Cancel it from the jobs table: it stops within a batch and keeps what finished.
        browser.click("#jobs tbody button")
        wait("the study to stop", lambda: "cancelled" in browser.js(
            "return document.querySelector('#jobs tbody').textContent"), 120)
        checks.append("the running study is cancelled from the jobs table")

        # Parallel coordinates draw one line per finished run.
        browser.click("button[data-tab='parallel']")
        lines = wait("parallel coordinates", lambda: int(browser.js(
            "return document.querySelector('#parallel').dataset.lines || '0'")))
        checks.append(f"parallel coordinates draw {lines} runs")

        # A model's card and evaluations; then the dark theme.
        browser.click("button[data-tab='models']")
        wait("the models", lambda: browser.js("return document.querySelectorAll('#model-list button').length") > 0)
        browser.click("#model-list button")
        wait("the card", lambda: "Intended use" in browser.js("return document.querySelector('#model-detail').textContent"))
        checks.append("a model version shows its card")
        browser.screenshot(os.path.join(out, f"{name}-model.png"))
        browser.click("#theme")
        assert browser.js("return document.documentElement.dataset.theme") == "dark"
        browser.click("button[data-tab='live']")
        time.sleep(0.5)
        browser.screenshot(os.path.join(out, f"{name}-dark.png"))
        checks.append("the dark theme applies")

        # A server whose reads need the token, opened without it: the page asks for it.
        guarded, printed = serve(kiln, project, "--token", "a-token-for-the-class-2026")
        try:
            browser.go(printed.split("#", 1)[0])
            wait("the token dialog", lambda: browser.js("return document.querySelector('#token-dialog').open"))
            browser.js("document.querySelector('#token-input').value = arguments[0]", "a-token-for-the-class-2026")
            browser.click("#token-save")
            wait("the runs behind the token", lambda: browser.js(
                "return document.querySelectorAll('#runs tbody tr').length") >= 2)
            checks.append("a page opened without the token asks for it, then shows the runs")
        finally:
            guarded.terminate()
            guarded.wait(timeout=60)
    finally:
        browser.quit()
        webdriver.terminate()
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(profile, ignore_errors=True)
    for c in checks:
        print(f"ok ({name}):", c)
    print(f"{name}: {len(checks)} passed, 0 failed")


def _up(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
            return json.loads(r.read())["value"]["ready"]
    except Exception:
        return False


if __name__ == "__main__":
    main()
