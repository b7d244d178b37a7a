"""Open a page in a real headless Chromium (Debian's) and report what a reader would see.

Speaks the DevTools protocol over a websocket (``websockets``, already a Prefect dependency):
collects console errors, uncaught exceptions and failed loads, and the state of every ``<img>``
after the load event.  Chromium is installed by ``scripts/test-deps``.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from websockets.sync.client import connect


@dataclass
class PageReport:
    images: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    title: str = ""
    table_ids: list[str] = field(default_factory=list)
    screenshot: bytes = b""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_page(path: Path, timeout_s: float = 60.0, screenshot: bool = False) -> PageReport:
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium not found: run scripts/test-deps")
    profile = tempfile.mkdtemp(prefix="mpflow-chromium-")
    proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--no-first-run", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = _devtools_port(proc, timeout_s)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout_s) as ws:
            return _inspect(ws, path, timeout_s, screenshot)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(proc, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"chromium exited ({proc.returncode}): {''.join(seen)[-2000:]}")
            continue
        seen.append(line)
        m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if m:
            return int(m.group(1))
    raise TimeoutError("chromium did not open its DevTools port")


def _inspect(ws, path: Path, timeout_s: float, screenshot: bool) -> PageReport:
    ids = itertools.count(1)
    report = PageReport()
    pending: dict[int, dict] = {}

    def handle(msg: dict) -> None:
        method = msg.get("method")
        params = msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            report.errors.append("exception: " + json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            report.errors.append("console: " + json.dumps(params.get("args", []))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            report.errors.append("log: " + params["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            report.errors.append("load failed: " + params.get("errorText", ""))

    def call(method: str, **params) -> dict:
        i = next(ids)
        ws.send(json.dumps({"id": i, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=timeout_s))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "id" in msg:
                pending[msg["id"]] = msg
            handle(msg)
        raise TimeoutError(method)

    def wait_event(name: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=timeout_s))
            handle(msg)
            if msg.get("method") == name:
                return
        raise TimeoutError(name)

    for domain in ("Runtime", "Log", "Page", "Network"):
        call(f"{domain}.enable")
    call("Page.navigate", url=path.resolve().as_uri())
    wait_event("Page.loadEventFired")
    js = ("JSON.stringify({title: document.title, tables: [...document.querySelectorAll('table')].map(t => t.id),"
          " images: [...document.images].map(i => ({alt: i.alt, complete: i.complete,"
          " width: i.naturalWidth, height: i.naturalHeight, external: !i.src.startsWith('data:')}))})")
    res = call("Runtime.evaluate", expression=js, returnByValue=True)
    value = json.loads(res["result"]["value"])
    report.title, report.images, report.table_ids = value["title"], value["images"], value["tables"]
    if screenshot:
        import base64

        shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        report.screenshot = base64.b64decode(shot["data"])
    return report
