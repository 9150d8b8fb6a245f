"""`agentgym/WebShop-Browser-v0`: WebShop driven through a real headless Chromium.

The env starts the WebShop site on 127.0.0.1 (a werkzeug server in a background thread) and a
Chromium through Selenium + chromedriver. `reset` opens a new shopping session in the browser;
`search[q]` types q into the search box and presses Search; `click[x]` clicks the button, product link
or option radio whose text (or value) is x. Observations, clickables and the final score are read from
the rendered page (its visible text nodes joined with " [SEP] "), so they are what a person sees.

Because the site runs the same state machine as the text env, the same actions give the same pages and
the same reward in both modes. If the browser or its driver dies mid-episode, it is restarted and the
episode ends as truncated (`info["browser_restarted"] = True`); the next `reset` works as usual.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import weakref
from typing import Any

from urllib3.exceptions import HTTPError

from agentgym.core.env import ADMISSIBLE, Transition
from agentgym.core.errors import AgentGymError
from agentgym.core.task import Task
from agentgym.envs.webshop.app import WebShopSite
from agentgym.envs.webshop.engine import SEARCH_PLACEHOLDER, SEP, ShopState, parse_action
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.expert import expert_action
from agentgym.envs.webshop.profile import BROWSER_PROFILE
from agentgym.envs.webshop.server import ShopServer, panel_picker

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1200,900",
)  # fmt: skip

# One round trip reads everything the env needs from the page.
READ_PAGE_JS = r"""
const segs = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let n;
while ((n = walker.nextNode())) {
  const p = n.parentElement;
  if (!p || p.closest('script, style, noscript, .human')) continue;
  const t = n.nodeValue.trim();
  if (t) segs.push(t);
}
const clickables = [];
for (const e of document.querySelectorAll('.btn, a.product-link, input[type=radio]')) {
  if (e.classList.contains('btn-search')) continue;
  const key = e.tagName === 'INPUT' ? e.value : e.textContent.trim().toLowerCase();
  if (key && !clickables.includes(key)) clickables.push(key);
}
const reward = document.getElementById('reward');
return {segments: segs, clickables: clickables,
        has_search_bar: !!document.getElementById('search_input'),
        reward: reward ? reward.textContent.trim() : null};
"""

MARK_PAGE_JS = "window.__agentgymOldPage = true;"
NEW_PAGE_JS = "return !window.__agentgymOldPage && document.readyState === 'complete';"
_FATAL_WORDS = ("not reachable", "session deleted", "disconnected", "invalid session", "no such window",
                "target window already closed", "crashed", "session not created")  # fmt: skip


def _fatal(err: BaseException) -> bool:
    """A driver error that means the browser is gone (not a page that is merely in between loads)."""
    msg = str(getattr(err, "msg", "") or err).lower()
    return type(err).__name__ in ("InvalidSessionIdException", "NoSuchWindowException") or any(
        w in msg for w in _FATAL_WORDS
    )


FIND_JS = r"""
const want = arguments[0];
for (const e of document.querySelectorAll('.btn, a.product-link, input[type=radio]')) {
  if (e.classList.contains('btn-search')) continue;
  const key = e.tagName === 'INPUT' ? e.value : e.textContent.trim().toLowerCase();
  if (key === want) return e;
}
return null;
"""


class BrowserCrashed(RuntimeError):
    """The browser or chromedriver stopped answering."""


def _cleanup(driver: Any, procs: list[tuple[int, float]], profile: str | None) -> None:
    """Quit the driver, then kill those of our chromedriver/chromium processes still alive. A process is
    only killed if its pid still has the start time recorded at launch (so a reused pid is left alone)."""
    with contextlib.suppress(Exception):
        driver.quit()
    try:
        import psutil
    except ImportError:  # pragma: no cover
        psutil = None
    if psutil is not None:
        for pid, started in procs:
            with contextlib.suppress(Exception):
                p = psutil.Process(pid)
                if abs(p.create_time() - started) < 1e-3:
                    p.kill()
                    p.wait(timeout=5)
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


class Browser:
    """One headless Chromium + chromedriver, with a fresh profile; restartable."""

    def __init__(self, *, page_timeout_s: float = 20.0, command_timeout_s: float = 30.0):
        self.page_timeout_s = page_timeout_s
        self.command_timeout_s = command_timeout_s
        self.driver: Any = None
        self._profile: str | None = None
        self._pids: list[int] = []
        self._procs: list[tuple[int, float]] = []
        self._finalizer: weakref.finalize | None = None
        self.restarts = 0

    def start(self) -> None:
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as e:  # pragma: no cover
            raise AgentGymError(f"selenium is not installed ({e}); install agentgym[browser]") from None
        if not shutil.which(CHROMEDRIVER) or not shutil.which(CHROMIUM):
            raise AgentGymError(f"the browser env needs {CHROMIUM} and {CHROMEDRIVER} (Debian: chromium chromium-driver)")
        self._profile = tempfile.mkdtemp(prefix="agentgym-chrome-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for f in CHROME_FLAGS:
            opts.add_argument(f)
        opts.add_argument(f"--user-data-dir={self._profile}")
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        with contextlib.suppress(AttributeError):  # bound every driver command, not selenium's 120 s
            self.driver.command_executor._client_config.timeout = self.command_timeout_s
        self.driver.set_page_load_timeout(self.page_timeout_s)
        self.driver.set_script_timeout(self.page_timeout_s)
        self._pids = self._process_ids()
        # an env that is never closed still takes its browser down when collected or at exit
        self._finalizer = weakref.finalize(self, _cleanup, self.driver, self._procs, self._profile)

    def _process_ids(self) -> list[int]:
        """chromedriver and the browser processes it started (ours, to clean up after a crash)."""
        self._procs = []
        try:
            import psutil

            root = psutil.Process(self.driver.service.process.pid)
            procs = [root] + root.children(recursive=True)
            self._procs = [(p.pid, p.create_time()) for p in procs]
            return [p.pid for p in procs]
        except Exception:
            proc = getattr(getattr(self.driver, "service", None), "process", None)
            return [proc.pid] if proc is not None else []

    @property
    def driver_pid(self) -> int | None:
        return self._pids[0] if self._pids else None

    @property
    def browser_pids(self) -> list[int]:
        return self._pids[1:]

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # quit the driver, kill what is left of our processes, drop the profile
            self._finalizer = None
        self.driver = None
        self._pids = []
        self._profile = None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def ensure(self) -> None:
        if self.driver is None:
            self.start()

    # ---- page operations ---------------------------------------------------------------------------
    def open(self, url: str) -> None:
        self.driver.get(url)

    def read(self) -> dict[str, Any]:
        return self.driver.execute_script(READ_PAGE_JS)

    def _new_page_ready(self) -> bool:
        """Has the marked document been replaced by a fully loaded new one? (no element references, so
        no race with chromedriver's bookkeeping of nodes from the old document)"""
        from selenium.common.exceptions import WebDriverException

        try:
            return bool(self.driver.execute_script(NEW_PAGE_JS))
        except WebDriverException as e:  # mid-navigation; fatal ones (dead browser) are raised
            if _fatal(e):
                raise
            return False

    def _navigate(self, do) -> None:
        """Run `do` (a click that loads a new page) and wait until the new page has loaded."""
        from selenium.common.exceptions import WebDriverException

        self.driver.execute_script(MARK_PAGE_JS)
        try:
            do()
        except WebDriverException as err:
            # A click that submits a form can navigate before chromedriver is done with the clicked node
            # ("Node ... does not belong to the document"); if a new page comes, the click worked.
            if _fatal(err) or not self._wait(min(5.0, self.page_timeout_s)):
                raise
        if not self._wait(self.page_timeout_s):
            raise TimeoutError(f"no new page within {self.page_timeout_s:.0f} s")

    def _wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self._new_page_ready():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def click(self, key: str) -> bool:
        el = self.driver.execute_script(FIND_JS, key)
        if el is None:
            return False
        self._navigate(el.click)
        return True

    def search(self, text: str) -> bool:
        from selenium.webdriver.common.by import By

        boxes = self.driver.find_elements(By.ID, "search_input")
        buttons = self.driver.find_elements(By.CSS_SELECTOR, "button.btn-search")
        if not boxes or not buttons:
            return False
        # Set the value directly: chromedriver's send_keys cannot type characters outside the BMP.
        self.driver.execute_script("arguments[0].value = arguments[1];", boxes[0], text)
        self._navigate(buttons[0].click)
        return True


_CRASH_ERRORS: tuple[type[BaseException], ...] = (OSError, BrowserCrashed)  # OSError covers TimeoutError


def _crash_errors() -> tuple[type[BaseException], ...]:
    try:
        from selenium.common.exceptions import WebDriverException

        return (WebDriverException, HTTPError) + _CRASH_ERRORS
    except ImportError:  # pragma: no cover
        return _CRASH_ERRORS


class WebShopBrowserEnv(WebShopEnv):
    """WebShop through headless Chromium. Same kwargs as WebShopEnv, plus `page_timeout_s`."""

    profile = BROWSER_PROFILE  # how agentgym prompts, rewards and warm-starts it (also for an env made directly)

    env_id = "agentgym/WebShop-Browser-v0"

    def __init__(self, split: str | None = None, max_steps: int | None = None, render_mode: str | None = None, *,
                 page_timeout_s: float = 20.0, **kwargs: Any):  # fmt: skip
        super().__init__(split=split, max_steps=max_steps, render_mode=render_mode, **kwargs)
        self.browser = Browser(page_timeout_s=page_timeout_s)
        self._server: ShopServer | None = None
        self._site: WebShopSite | None = None
        self._sid: str | None = None
        self._page: dict[str, Any] = {}
        self._crashed = False

    # ---- lifecycle -------------------------------------------------------------------------------
    def _ensure_server(self) -> WebShopSite:
        if self._server is None:
            panels = {s: self.panel(s) for s in self.splits}
            self._site = WebShopSite(self.shop, panel_picker(panels, self.split))
            self._server = ShopServer(self._site)
        assert self._site is not None
        return self._site

    @property
    def url(self) -> str:
        if self._server is None:
            self._ensure_server()
        assert self._server is not None
        return self._server.url

    def close(self) -> None:
        self.browser.stop()
        if self._server is not None:
            self._server.close()
            self._server = None
        super().close()

    # ---- hooks -----------------------------------------------------------------------------------
    def begin(self, task: Task) -> tuple[str, dict[str, Any]]:
        site = self._ensure_server()
        if self._sid is not None:
            site.sessions.drop(self._sid)
        self._sid = site.new_session(task)
        self._crashed = False
        errors = _crash_errors()
        for attempt in range(2):
            try:
                self.browser.ensure()
                self.browser.open(f"{self.url}/s/{self._sid}")
                self._page = self.browser.read()
                break
            except errors:
                if attempt == 1:
                    raise
                self.browser.restart()
        return self._observation(), self._extra()

    def act(self, action: str) -> Transition:
        name, arg = parse_action(action)
        page = self._page
        valid = (name == "search" and bool(arg) and page.get("has_search_bar")) or (
            name == "click" and arg in page.get("clickables", [])
        )
        if not valid:
            extra = self._extra()
            extra["feedback"] = "not an action on this page"
            return Transition(self._observation(), valid=False, info=extra)
        try:
            ok = self.browser.search(arg) if name == "search" else self.browser.click(arg)
            if not ok:
                raise BrowserCrashed(f"page lost its {name} target {arg!r}")
            self._page = self.browser.read()
        except _crash_errors() as e:
            return self._after_crash(e)
        extra = self._extra()
        reward_text = self._page.get("reward")
        if reward_text is None:
            return Transition(self._observation(), valid=True, info=extra)
        reward = float(reward_text)
        st = self._server_state()
        if st is not None:
            extra["reward_info"] = st.reward_info
        return Transition(self._observation(), reward=reward, done=True, won=reward == 1.0, score=reward,
                          valid=True, info=extra)  # fmt: skip

    def step(self, action: str):
        obs, reward, terminated, truncated, info = super().step(action)
        if self._crashed:
            self._crashed = False
            self.done = True
            return obs, reward, False, True, info
        return obs, reward, terminated, truncated, info

    def _after_crash(self, err: BaseException) -> Transition:
        self._crashed = True
        restart_error = ""
        try:
            self.browser.restart()
        except Exception as e:  # the next reset tries again
            restart_error = f"{type(e).__name__}: {e}"
            self.browser.stop()
        self._page = {"segments": [], "clickables": [], "has_search_bar": False, "reward": None}
        info = {"browser_restarted": True, "browser_error": f"{type(err).__name__}: {str(err)[:200]}",
                "available_actions": {"has_search_bar": False, "clickables": []}, ADMISSIBLE: [], "page": "crashed"}  # fmt: skip
        if restart_error:
            info["restart_error"] = restart_error
        return Transition("The browser stopped responding and was restarted; this episode is over.", valid=False, info=info)

    def expert_action(self) -> str:
        st = self._server_state()
        if st is None:
            raise RuntimeError("call reset() before expert_action()")
        return expert_action(self.shop, st)

    # ---- page reading ----------------------------------------------------------------------------
    def _server_state(self) -> ShopState | None:
        if self._site is None or self._sid is None:
            return None
        s = self._site.sessions.get(self._sid)
        return s.state if s is not None else None

    @property
    def state(self) -> ShopState | None:  # type: ignore[override]
        return self._server_state()

    @state.setter
    def state(self, value: ShopState | None) -> None:  # the text env's attribute; unused here
        pass

    def _observation(self) -> str:
        return SEP.join(self._page.get("segments", []))

    def _extra(self) -> dict[str, Any]:
        clickables = list(self._page.get("clickables", []))
        has_bar = bool(self._page.get("has_search_bar"))
        st = self._server_state()
        return {
            "available_actions": {"has_search_bar": has_bar, "clickables": clickables},
            ADMISSIBLE: ([SEARCH_PLACEHOLDER] if has_bar else []) + [f"click[{c}]" for c in clickables],
            "page": st.page if st is not None else "unknown",
        }
