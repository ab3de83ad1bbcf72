"""The README's console screenshots: the overview on a phone (390 px) and a desktop (1280 px), from the demo.

    python -m tests.console.browser.screenshots [--out docs/screenshots] [--path /console/overview]

The same setup as the browser tests (tests/console/browser/conftest.py): `salesbot demo`'s organisation and
60 workdays of history in a temporary SQLite database, the app on uvicorn on a loopback port with the demo's
clock (Monday 2026-11-23, after the evening post), Debian's Chromium through Playwright, signed in as the
demo's regional manager (陈经理, chenjl) with the link the real /看板 chat command gives. Each picture is the
top of the page at the device's width (down to the goal tree, HEIGHTS), saved as a PNG with a
256-colour palette to keep the repository small. Look at them before committing them.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.types import Inbound, InboundKind
from bot.platforms.console import ConsolePort
from bot.wiring import App
from tests.conftest import make_settings
from tests.console.browser import conftest as browser_setup
from tests.console.conftest import LINK

SIZES = {"phone": browser_setup.PHONE, "desktop": browser_setup.DESKTOP}
# How much of the page each picture shows: the cards, the trend and the top of the goal tree.
HEIGHTS = {"phone": 1500, "desktop": 1150}


def _optimise(path: Path) -> None:
    """Re-save as a 256-colour palette PNG (text and flat colours survive; about a third of the size)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _sign_in(context: Any, app: App, console: io.StringIO, who: str, port: int) -> None:
    """Ask for a link with the real /看板 chat command (the reply may be delivered by the outbox worker a
    moment later), then press the sign-in page's button."""
    code = browser_setup.ROLES.get(who, who)
    start = len(console.getvalue())
    app.dispatch(Inbound("console", f"shots-{time.monotonic_ns()}", code, InboundKind.COMMAND, text="/看板"))
    deadline = time.monotonic() + 10
    while not (found := LINK.search(console.getvalue()[start:])) and time.monotonic() < deadline:
        time.sleep(0.05)
    if found is None:
        raise SystemExit(f"no sign-in link for {code}: {console.getvalue()[start:]!r}")
    page = context.new_page()
    page.goto(found[1])
    page.get_by_role("button").click()
    page.wait_for_url(f"http://127.0.0.1:{port}/console/**")
    page.close()


def take(out: Path, path: str, who: str = "manager", *, dark: bool = False) -> list[Path]:
    """Seed the demo, serve it, and write console-phone.png and console-desktop.png of `path` into `out`."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    from bot.demo import run_demo
    from bot.http import create_asgi_app

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="salesbot-shots-") as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        port = browser_setup._free_port()
        settings = make_settings(url, server={"public_url": f"http://127.0.0.1:{port}"})
        clock = FixedClock(browser_setup.NOW)
        run_demo(App(settings, db=Database(url), clock=clock, ports={"console": ConsolePort(io.StringIO())}))
        console = io.StringIO()
        app = App(settings, db=Database(url), clock=clock, ports={"console": ConsolePort(console)}, migrate=False)
        app.out = console  # type: ignore[attr-defined]
        server = uvicorn.Server(uvicorn.Config(create_asgi_app(app), host="127.0.0.1", port=port, log_config=None,
                                               lifespan="on", access_log=False))
        thread = threading.Thread(target=server.run, name="shots-uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise SystemExit("uvicorn did not start")
        written = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=browser_setup.CHROMIUM, args=browser_setup.LAUNCH_ARGS,
                                            headless=True)
                for size, viewport in SIZES.items():
                    context = browser.new_context(viewport=viewport, locale="zh-CN",
                                                  color_scheme="dark" if dark else "light",
                                                  device_scale_factor=1)
                    _sign_in(context, app, console, who, port)
                    page = context.new_page()
                    response = page.goto(f"http://127.0.0.1:{port}{path}")
                    if response is None or not response.ok:
                        raise SystemExit(f"{path}: {response and response.status}")
                    page.evaluate("document.fonts.ready")
                    target = out / f"console-{size}{'-dark' if dark else ''}.png"
                    height = min(HEIGHTS[size], page.evaluate("document.documentElement.scrollHeight"))
                    page.screenshot(path=target, full_page=True,
                                    clip={"x": 0, "y": 0, "width": viewport["width"], "height": height})
                    _optimise(target)
                    written.append(target)
                    context.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            app.handling.close()
            app.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--path", default="/console/overview?region=huadong", help="the console page to take")
    parser.add_argument("--who", default="manager", help="a role of the browser tests' ROLES or a demo person's code")
    parser.add_argument("--dark", action="store_true")
    args = parser.parse_args()
    for path in take(args.out, args.path, args.who, dark=args.dark):
        print(f"{path}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
