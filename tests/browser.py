"""The demo page in a real browser: headless Debian Chromium through selenium (a test helper; the page itself
is built by paperlib.demo)."""
from __future__ import annotations

from pathlib import Path


def check_in_browser(demo_dir: Path, screenshot: Path | None = None, min_audio: int = 72) -> dict:
    """Open the page in headless Debian Chromium (selenium), check that every <audio> loads and decodes and
    that the first row's "Play all" plays its methods in order; optionally save a screenshot."""
    import shutil as _shutil
    import socket
    import tempfile
    import threading
    import time
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(QuietHandler, directory=str(demo_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="chrome-")
    opts = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.binary_location = _shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(_shutil.which("chromedriver")), options=opts)
    try:
        driver.set_window_size(1600, 1100)
        driver.get(f"http://127.0.0.1:{port}/index.html")
        n_audio = len(driver.find_elements(By.TAG_NAME, "audio"))
        if n_audio < min_audio:
            raise AssertionError(f"expected >= {min_audio} audio elements, found {n_audio}")
        durations = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const els = Array.from(document.querySelectorAll('audio'));
            Promise.all(els.map(a => new Promise(res => {
                a.addEventListener('loadedmetadata', () => res(a.duration), {once: true});
                a.addEventListener('error', () => res(-1), {once: true});
                a.load();
            }))).then(done);""")
        row = driver.find_elements(By.CSS_SELECTOR, "#samples tr[data-emotion]")[0]
        expected = [a.get_attribute("src").split(f"{port}/")[-1] for a in row.find_elements(By.TAG_NAME, "audio")]
        driver.execute_script("document.querySelectorAll('audio').forEach(a => a.playbackRate = 16);")
        row.find_element(By.CSS_SELECTOR, "button.playall").click()
        deadline = time.time() + 90
        while time.time() < deadline and "done" not in driver.execute_script("return window.playLog"):
            time.sleep(0.5)
        play_log = driver.execute_script("return window.playLog")
        if screenshot is not None:
            driver.execute_script("window.scrollTo(0, 0);")
            driver.save_screenshot(str(screenshot))
        return {"n_audio": n_audio, "durations": durations, "expected_order": expected, "play_log": play_log}
    finally:
        driver.quit()
        server.shutdown()
        _shutil.rmtree(profile, ignore_errors=True)
