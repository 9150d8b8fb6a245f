"""The WebShop web site: Flask pages over the same state machine as the text env.

Every shopping session (one per episode) lives on the server as a `ShopState`; the pages only send
actions to it: the search form posts `search[query]`, buttons, product links and option radios send
`click[x]`, and the server answers with a redirect to the session's page (post/redirect/get). So a
browser and the text env that send the same actions go through the same states and get the same reward.

Routes: `/start?task=<id|index>&split=test` (new session, random goal when no task is given),
`/s/<sid>` (the current page), `POST /s/<sid>/search`, `GET|POST /s/<sid>/click`, `/s/<sid>/status`
(JSON). Sessions are kept apart by id, each behind its own lock.

Session limits (so that anonymous traffic cannot push out anyone's episode): a session made by an
anonymous `/start` is *fresh* until its first search or click, and at most `max_fresh` fresh sessions
exist (past that, the oldest fresh one goes). A session that has acted is *live*; it is only dropped
when the store holds `max_sessions` and it has been idle (no request) for `idle_s` seconds, least
recently used first. Sessions made in process (`new_session`, e.g. by the browser env) are live from
the start. When the store is full of live, recently used sessions, `/start` answers 503 with
Retry-After instead of evicting one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, abort, jsonify, redirect, render_template, request, url_for

from agentgym.core.task import Task
from agentgym.envs.webshop.engine import MAX_QUERY_CHARS, Shop, ShopState


@dataclass
class Session:
    state: ShopState
    task_id: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    actions: int = 0
    #: made by an anonymous /start and not acted on yet: the first to go when room is needed
    fresh: bool = False
    #: `SessionStore.clock()` at the last request for this session
    last_used: float = 0.0


class StoreFull(RuntimeError):
    """Every session in the store is live and recently used: a new one is refused, none is evicted."""


class SessionStore:
    """Sessions by id, bounded without letting new sessions push out live ones (see the module docstring);
    safe across server threads. `clock` is injectable for tests."""

    def __init__(self, max_sessions: int = 10_000, *, max_fresh: int = 1_000, idle_s: float = 1_800.0,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        if max_sessions < 1 or max_fresh < 1 or idle_s <= 0:
            raise ValueError("max_sessions and max_fresh must be >= 1 and idle_s > 0")
        self.max_sessions = max_sessions
        self.max_fresh = min(max_fresh, max_sessions)
        self.idle_s = idle_s
        self.clock = clock
        self._d: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self._fresh: OrderedDict[str, None] = OrderedDict()  # fresh sessions, oldest first
        self._lock = threading.Lock()
        self.evicted = 0

    def add(self, session: Session, sid: str | None = None, *, fresh: bool = False) -> str:
        """Store `session` under a new id (or `sid`); raise `StoreFull` rather than evict a live session."""
        sid = sid or secrets.token_hex(8)
        with self._lock:
            now = self.clock()
            self._discard(sid)
            if fresh:
                while len(self._fresh) >= self.max_fresh:
                    self._drop_locked(next(iter(self._fresh)))
            while len(self._d) >= self.max_sessions:
                victim = self._victim(now)
                if victim is None:
                    raise StoreFull(f"all {len(self._d)} sessions are in use; try again later")
                self._drop_locked(victim)
            session.fresh, session.last_used = fresh, now
            self._d[sid] = session
            if fresh:
                self._fresh[sid] = None
        return sid

    def _victim(self, now: float) -> str | None:
        """The session to drop for room: the least recently used idle one, else the oldest fresh one."""
        lru_sid, lru = next(iter(self._d.items()))
        if now - lru.last_used >= self.idle_s:
            return lru_sid
        return next(iter(self._fresh), None)

    def _drop_locked(self, sid: str) -> None:
        self._discard(sid)
        self.evicted += 1

    def _discard(self, sid: str) -> None:
        self._d.pop(sid, None)
        self._fresh.pop(sid, None)

    def get(self, sid: str) -> Session | None:
        """The session (marked used now), or None."""
        with self._lock:
            s = self._d.get(sid)
            if s is not None:
                self._d.move_to_end(sid)
                s.last_used = self.clock()
            return s

    def acted(self, sid: str) -> None:
        """The session took an action: from now on it is live (no longer among the fresh ones)."""
        with self._lock:
            s = self._d.get(sid)
            if s is not None and s.fresh:
                s.fresh = False
                self._fresh.pop(sid, None)

    def drop(self, sid: str) -> None:
        with self._lock:
            self._discard(sid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._d)

    @property
    def fresh_count(self) -> int:
        with self._lock:
            return len(self._fresh)


class WebShopSite:
    """The shop behind the site plus its sessions. `pick_task(spec, split)` resolves /start's task."""

    def __init__(self, shop: Shop, pick_task: Callable[[str | None, str | None], Task], *, human: bool = False,
                 max_sessions: int = 10_000, max_fresh: int = 1_000, idle_s: float = 1_800.0):  # fmt: skip
        self.shop = shop
        self.pick_task = pick_task
        self.human = human
        self.sessions = SessionStore(max_sessions, max_fresh=max_fresh, idle_s=idle_s)

    def new_session(self, task: Task, sid: str | None = None, *, fresh: bool = False) -> str:
        """A session for `task`. `fresh=True` (anonymous web starts) makes it one of the capped fresh
        sessions until it acts; may raise `StoreFull`."""
        return self.sessions.add(Session(self.shop.new_state(dict(task.data)), task.task_id), sid, fresh=fresh)

    def apply(self, sid: str, action: str) -> bool:
        s = self.sessions.get(sid)
        if s is None:
            return False
        with s.lock:
            self.shop.step(s.state, action)
            s.actions += 1
        self.sessions.acted(sid)
        return True

    def render(self, sid: str, session: Session) -> str:
        shop, st = self.shop, session.state
        ctx: dict[str, Any] = {
            "sid": sid,
            "instruction": st.instruction,
            "human": self.human,
            "human_note": f"task {session.task_id} | {session.actions} actions so far",
        }
        if st.page == "search":
            return render_template("search_page.html", **ctx)
        if st.page == "results":
            return render_template(
                "results_page.html", page_no=st.page_no, total=len(st.results), has_prev=st.page_no > 1,
                has_next=shop.has_next(st), products=shop.page_products(st), **ctx,
            )  # fmt: skip
        if st.page == "item":
            return render_template(
                "item_page.html", product=shop.product(st), selected=st.options, sub_pages=shop.sub_pages(), **ctx
            )
        if st.page == "sub":
            p = shop.product(st)
            assert p is not None
            lines = [x for x in shop.sub_page_content(p, st.sub_page or "") if x and x.strip()]
            return render_template("sub_page.html", sub_page=st.sub_page, lines=lines, **ctx)
        return render_template("done_page.html", reward=repr(float(st.reward or 0.0)), **ctx)


def create_app(site: WebShopSite) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.extensions["webshop"] = site

    @app.route("/")
    def home():
        return redirect(url_for("start"))

    @app.route("/start")
    def start():
        try:
            task = site.pick_task(request.args.get("task"), request.args.get("split"))
        except (KeyError, ValueError, IndexError) as e:
            abort(404, description=str(e))
        try:
            sid = site.new_session(task, fresh=True)
        except StoreFull as e:
            return app.response_class(f"{e}\n", status=503, mimetype="text/plain", headers={"Retry-After": "30"})
        return redirect(url_for("page", sid=sid), code=303)

    @app.route("/s/<sid>")
    def page(sid: str):
        s = site.sessions.get(sid)
        if s is None:
            return render_template("missing.html", human=site.human), 404
        with s.lock:
            html = site.render(sid, s)
        resp = app.make_response(html)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.route("/s/<sid>/search", methods=["POST"])
    def search(sid: str):
        query = str(request.form.get("search_query", ""))[:MAX_QUERY_CHARS]
        if not site.apply(sid, f"search[{query}]"):
            abort(404)
        return redirect(url_for("page", sid=sid), code=303)

    @app.route("/s/<sid>/click", methods=["GET", "POST"])
    def click(sid: str):
        target = str(request.values.get("target", ""))[:MAX_QUERY_CHARS]
        if not site.apply(sid, f"click[{target}]"):
            abort(404)
        return redirect(url_for("page", sid=sid), code=303)

    @app.route("/s/<sid>/status")
    def status(sid: str):
        s = site.sessions.get(sid)
        if s is None:
            abort(404)
        with s.lock:
            st = s.state
            return jsonify(
                task_id=s.task_id, page=st.page, done=st.done, reward=st.reward, actions=s.actions,
                instruction=st.instruction, asin=st.asin, options=st.options, keywords=st.keywords,
            )  # fmt: skip

    return app
