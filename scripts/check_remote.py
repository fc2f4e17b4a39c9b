"""Kiln Remote, the Tauri client, as a user drives it: its real window (WebKitGTK) under Xvfb,
driven through WebDriver (WebKitWebDriver, which starts the app) with nothing but the standard
library.

Against a `kiln serve` whose reads need a token, it adds the server by pasting the URL kiln
printed and sees the dashboard load the runs; a study started on the server raises a desktop
notification when it finishes (seen on the session bus); the app is started again and opens the
remembered server with its saved token; then it serves a project on this machine through its own
`kiln serve` and shows it, and that server stops when the app goes.

    python3 scripts/check_remote.py KILN KILN_REMOTE PROJECT.kiln OTHER.kiln OUT_DIR

Run it inside a display and a D-Bus session (check-remote.sh uses xvfb-run and dbus-run-session).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from check_dashboard import WebDriver, free_port, serve, wait, _up

TOKEN = "remote-check-token-0123456789"
ROWS = "return document.querySelectorAll('#runs tbody tr').length"


def post(url, path, token, body):
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def refusal(app):
    """The error the server list shows, once it shows one."""
    return wait("the refusal", lambda: app.js(
        "const e = document.querySelector('#error'); return !e.hidden && e.textContent"), 60)


def main():
    kiln, remote, project, other, out = sys.argv[1:6]
    os.makedirs(out, exist_ok=True)
    home = tempfile.mkdtemp()
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
               KILN_REMOTE_KILN=kiln, TAURI_WEBVIEW_AUTOMATION="true")
    # Notifications as the desktop gets them: every Notify call on the session bus.
    bus_log = open(os.path.join(out, "notifications.log"), "w")
    monitor = subprocess.Popen(["dbus-monitor", "--session",
                                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"],
                               stdout=bus_log, stderr=subprocess.STDOUT)
    daemon = subprocess.Popen(["dunst"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
        if shutil.which("dunst") else None
    server, printed = serve(kiln, project, "--allow-writes", "--token", TOKEN)
    base = printed.split("#", 1)[0]
    port = free_port()
    app_log = open(os.path.join(out, "kiln-remote.log"), "w")
    driver = subprocess.Popen(["WebKitWebDriver", f"--port={port}"], env=env,
                              stdout=app_log, stderr=subprocess.STDOUT)
    app = WebDriver(f"http://127.0.0.1:{port}")
    caps = {"capabilities": {"alwaysMatch": {
        "webkitgtk:browserOptions": {"binary": os.path.abspath(remote), "args": []}}}}
    checks = []
    sidecar_url = None
    try:
        wait("WebKitWebDriver", lambda: _up(port), 30)
        app.open(caps)
        wait("the server list", lambda: app.js("return document.querySelector('#add') !== null"), 60)
        wait("the empty list to say so", lambda: app.js(
            "return document.querySelector('#no-servers').hidden === false"), 30)
        app.screenshot(os.path.join(out, "remote-servers-empty.png"))

        # A wrong token is refused by name, and nothing is remembered.
        app.js("""
            const f = document.querySelector('#add');
            f.address.value = arguments[0]; f.token.value = 'not-the-token-0000000000';
        """, base)
        app.click("#connect")
        error = refusal(app)
        assert "refused this token" in error, error
        assert app.js("return document.querySelectorAll('#servers li').length") == 0
        checks.append(f"a wrong token is refused in words and not remembered ({error[:70]}...)")

        # Add the server by pasting the whole line kiln serve printed, and name it.
        app.js("""
            const f = document.querySelector('#add');
            f.address.value = arguments[0]; f.token.value = ''; f.label.value = 'Workshop GPU';
        """, printed)
        app.click("#connect")
        wait("the dashboard", lambda: app.js("return location.href").startswith(base), 60)
        wait("the runs, read with the token", lambda: app.js(ROWS) >= 2, 60)
        assert "token" not in app.js("return location.href"), "the token stayed in the address"
        checks.append("a server added by pasting kiln serve's URL opens its dashboard, reads with the token")

        # The page from the network has no way into the app's commands.
        answer = app.s("/execute/async", {"script": """
            const done = arguments[arguments.length - 1];
            const ipc = window.__TAURI_INTERNALS__;
            if (!ipc) { done('no ipc'); return; }
            ipc.invoke('listing').then(() => done('answered'), (e) => done('refused: ' + e));
        """, "args": []})
        assert answer != "answered", answer
        checks.append(f"the server's page cannot call the app's commands ({answer[:60]})")

        # A study started on the server: a notification when it finishes.
        ticket = post(base, "api/projects/class/studies", TOKEN, {
            "dataset": "penguins", "device": "cpu",
            "space": "learning_rate = [0.05]\nepochs = 20\nbatch_size = 32\nhidden = [8]"})["ticket"]
        def notified():
            with open(os.path.join(out, "notifications.log")) as f:
                text = f.read()
            return "finished" in text and "Study" in text and text
        text = wait("the notification of the finished study", notified, 180)
        assert "Project class on Workshop GPU" in text, text
        checks.append(f"a study started on the server (job {ticket}) raised a desktop notification when it finished")
        app.screenshot(os.path.join(out, "remote-dashboard.png"))
        app.quit()

        # Started again: the server is remembered, token included.
        app.open(caps)
        wait("the remembered server", lambda: app.js(
            "return document.querySelectorAll('#servers li').length") == 1, 60)
        saved = app.js("return document.querySelector('#servers li').textContent")
        assert "Workshop GPU" in saved and "token saved" in saved, saved
        app.screenshot(os.path.join(out, "remote-servers.png"))
        app.click("#servers li button[data-url]")
        wait("the runs, with the saved token", lambda: app.js(ROWS) >= 2, 60)
        checks.append("started again, the app lists the server and opens it with its saved token")
        # Ctrl+L, pressed as a user does (an X key event to the window), comes back to the list.
        subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "Kiln Remote", "windowfocus",
                        "key", "--clearmodifiers", "ctrl+l"], check=True, timeout=30)
        wait("the server list after Ctrl+L", lambda: app.js(
            "return location.protocol === 'tauri:' && document.querySelectorAll('#servers li').length === 1"), 30)
        shot = os.path.join(out, "remote-window.xwd")
        subprocess.run(["xwd", "-root", "-silent", "-out", shot], check=True, timeout=30)
        with open(os.path.join(out, "remote-window.png"), "wb") as png:
            pnm = subprocess.run(["xwdtopnm", shot], check=True, capture_output=True, timeout=30).stdout
            png.write(subprocess.run(["pnmtopng"], input=pnm, check=True, capture_output=True, timeout=30).stdout)
        os.remove(shot)
        checks.append("Ctrl+L, a real key press in the window, comes back to the server list")
        saved_list = os.path.join(home, ".config", "org.kiln.remote", "servers.json")
        with open(saved_list) as f:
            assert TOKEN in f.read()
        mode = os.stat(saved_list).st_mode
        assert mode & 0o077 == 0, oct(mode)
        checks.append("the list is kept in the user's configuration, readable by its owner only")

        # A project on this machine, through the app's own kiln serve.
        app.quit()
        app.open(caps)
        wait("the server list again", lambda: app.js("return document.querySelector('#serve') !== null"), 60)
        # A file that is not a project: kiln serve's own refusal is shown, naming the file.
        notes = os.path.join(home, "notes.kiln")
        with open(notes, "w") as f:
            f.write("not a project\n")
        for path, said in ((os.path.join(home, "missing.kiln"), "is not a file"), (notes, "notes.kiln")):
            app.js("document.querySelector('#serve').path.value = arguments[0]", path)
            app.js("document.querySelector('#error').hidden = true")
            app.click("#start-local")
            error = refusal(app)
            assert said in error, error
        checks.append(f"a path that is not a project is refused in words ({error[:70]}...)")
        app.js("document.querySelector('#serve').path.value = arguments[0]", other)
        app.click("#start-local")
        wait("the local dashboard", lambda: app.js("return location.port") not in ("", str(base.split(':')[-1].strip('/'))), 90)
        wait("the local project's runs", lambda: app.js(ROWS) >= 2, 60)
        sidecar_url = app.js("return location.origin")
        assert sidecar_url.startswith("http://127.0.0.1:"), sidecar_url
        checks.append(f"a project on this machine is served by the app's own kiln serve ({sidecar_url}) and shown")
        app.quit()
        def sidecar_gone():
            try:
                urllib.request.urlopen(sidecar_url + "/api/projects", timeout=2)
                return False
            except Exception:
                return True
        wait("the local kiln serve to stop with the app", sidecar_gone, 30)
        checks.append("the local kiln serve stops when the app goes")
    finally:
        app.quit()
        driver.terminate()
        server.terminate()
        server.wait(timeout=60)
        monitor.terminate()
        if daemon:
            daemon.terminate()
        shutil.rmtree(home, ignore_errors=True)
    for c in checks:
        print("ok:", c)
    print(f"{len(checks)} passed, 0 failed")


if __name__ == "__main__":
    main()
