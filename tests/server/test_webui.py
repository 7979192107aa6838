"""The chat page at `/`, driven in a real browser: Debian's Chromium under Playwright for Python.

The server is `create_app` on a real uvicorn (the `serve` fixture), its agent on the fake model
server, so the page is tested as one more real client of the native events protocol. Set
`TYLER_SCREENSHOTS=<dir>` to save screenshots of the main states (docs/ holds the committed ones).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer, weather_agent
from tyler import Agent, ToolContext
from tyler.testing import FakeModelServer, FakeToolCall, Turn

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("TYLER_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 30_000  # generous: the machine may be loaded
SHOTS = os.environ.get("TYLER_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: the test setup (scripts/test.sh) installs it")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield instance
        instance.close()


class Page:
    """A browser tab on the server's page that records script errors and console errors."""

    def __init__(self, browser: Any, url: str, **context: Any) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.url = url

    def open(self, fragment: str = "") -> Page:
        self.page.goto(self.url + "/" + fragment)
        self.page.wait_for_selector("body[data-ready=true]")
        return self

    def send(self, text: str) -> None:
        self.page.fill("#input", text)
        self.page.keyboard.press("Enter")

    def wait_done(self, index: int = -1) -> Any:
        """The `index`th reply, once it is complete (no longer aria-busy)."""
        self.page.wait_for_function(
            "i => { const r = [...document.querySelectorAll('.msg.assistant')].at(i);"
            " return r && !r.hasAttribute('aria-busy'); }", arg=index)
        return self.page.locator(".msg.assistant").nth(index if index >= 0 else self.replies() + index)

    def replies(self) -> int:
        return int(self.page.locator(".msg.assistant").count())

    def shot(self, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


@pytest.fixture
def tab(browser: Any) -> Iterator[Callable[..., Page]]:
    pages: list[Page] = []

    def make(server: LiveServer, **context: Any) -> Page:
        page = Page(browser, server.url, **context)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.context.close()
        assert not page.errors, f"script errors on the page: {page.errors}"


def test_page_is_served_with_a_content_security_policy_and_needs_no_build(serve: Any) -> None:
    import httpx

    server = serve()
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset in ("ui/app.js", "ui/app.css", "ui/vendor/marked.umd.js", "ui/vendor/purify.min.js"):
        response = httpx.get(f"{server.url}/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["x-content-type-options"] == "nosniff"


def test_streams_a_reply_with_markdown_and_usage(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(chunks=["Here is ", "**bold** ", "code:\n\n```python\nprint('hi')\n```\n"]))
    page = tab(serve()).open()
    page.send("Show me code")
    reply = page.wait_done()
    assert reply.locator("strong").inner_text() == "bold"
    assert reply.locator("pre code").inner_text().strip() == "print('hi')"
    assert reply.locator("pre button.copy").count() == 1
    assert "tokens" in reply.locator(".meta").inner_text()
    assert page.page.locator(".msg.user .bubble").inner_text() == "Show me code"
    assert env.requests[-1].body["messages"][-1]["content"] == "Show me code"
    page.shot("reply")


def test_thinking_and_a_tool_card_with_progress_and_result(serve: Any, tab: Any, env: FakeModelServer) -> None:
    release = threading.Event()

    async def fetch_report(topic: str, ctx: ToolContext) -> str:
        """Fetch a report."""
        await ctx.report_progress(1, 3, "downloading")
        await asyncio.to_thread(release.wait, 60)  # the test releases it once it saw the progress
        return f"report on {topic}"

    env.enqueue(
        Turn(thinking="I should fetch the report first.",
             tool_calls=[FakeToolCall("fetch_report", {"topic": "tides"})]),
        Turn(text="The report says the tides are high."),
    )
    agent = Agent(name="tyler", model_name="gpt-4o", tools=[fetch_report], max_retries=0)
    page = tab(serve(agent)).open()
    page.send("Get the tides report")
    card = page.page.locator(".tool").first
    page.page.wait_for_selector(".tool progress")
    assert card.locator(".tool-name").inner_text() == "fetch_report"
    assert "downloading" in card.locator(".progress-text").inner_text()
    assert '"topic": "tides"' in card.locator(".tool-args").inner_text()
    page.shot("tool-running")
    release.set()
    reply = page.wait_done()
    assert reply.locator(".tool-result").inner_text() == "report on tides"
    assert "done" in reply.locator(".tool-status").inner_text()
    assert reply.locator("details.thinking .body").text_content() == "I should fetch the report first."
    reply.locator("details.thinking summary").click()  # collapsed once the tool started; opens on click
    assert reply.locator("details.thinking .body").inner_text() == "I should fetch the report first."
    assert "tides are high" in reply.locator(".md").inner_text()
    page.shot("tool-done")


def test_a_tool_error_is_shown_on_its_card(serve: Any, tab: Any, env: FakeModelServer) -> None:
    def lookup(key: str) -> str:
        """Look a key up."""
        raise ValueError(f"no such key: {key}")

    env.enqueue(Turn(tool_calls=[FakeToolCall("lookup", {"key": "k9"})]), Turn(text="Sorry, it failed."))
    page = tab(serve(Agent(name="tyler", model_name="gpt-4o", tools=[lookup], max_retries=0))).open()
    page.send("look up k9")
    reply = page.wait_done()
    assert "no such key: k9" in reply.locator(".tool-error").inner_text()
    assert "error" in reply.locator(".tool-status").inner_text()


def test_stop_cancels_the_run_on_the_server(serve: Any, tab: Any, env: FakeModelServer) -> None:
    # The model sends 20 words, then nothing until its client leaves: no race with the stream's end.
    env.enqueue(Turn(chunks=[f"word{i} " for i in range(100)], stall_after=20))
    server = serve()
    page = tab(server).open()
    page.send("Tell me a long story")
    page.page.wait_for_function(
        "() => (document.querySelector('.msg.assistant[aria-busy] .md')?.textContent || '').includes('word3')")
    page.page.click("#stop")
    reply = page.wait_done()
    assert env.wait_for_disconnect(timeout=30), "the upstream model request was not closed"
    assert "Stopped." in reply.inner_text()
    assert page.page.locator("#send").is_visible() and not page.page.locator("#stop").is_visible()
    # The partial reply was kept: opening the conversation again shows it.
    page.open()
    page.page.click(".threads li .open")
    stored = page.wait_done()
    assert "word3" in stored.inner_text()


def test_escape_stops_and_shift_enter_adds_a_newline(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(chunks=[f"w{i} " for i in range(100)], stall_after=20))
    page = tab(serve()).open()
    page.page.fill("#input", "line one")
    page.page.keyboard.press("Shift+Enter")
    page.page.keyboard.type("line two")
    assert page.page.input_value("#input") == "line one\nline two"
    page.page.keyboard.press("Enter")
    page.page.wait_for_function("() => (document.querySelector('.msg.assistant .md')?.textContent || '')"
                                ".includes('w3')")
    page.page.keyboard.press("Escape")
    page.wait_done()
    assert env.wait_for_disconnect(timeout=30)
    assert env.requests[-1].body["messages"][-1]["content"] == "line one\nline two"


def test_switch_and_delete_conversations(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="First answer."), Turn(text="Second answer."))
    page = tab(serve()).open()
    page.send("first question")
    page.wait_done()
    page.page.click("#new-chat")
    assert page.replies() == 0
    page.send("second question")
    page.wait_done()
    page.page.wait_for_function("() => document.querySelectorAll('.threads li').length === 2")
    first = page.page.locator(".threads li", has_text="first question")
    first.locator(".open").click()
    page.page.wait_for_function("() => document.querySelector('.msg.user')?.textContent === 'first question'")
    assert "First answer." in page.wait_done().inner_text()
    assert page.page.locator(".msg.user").count() == 1
    page.shot("conversations")
    first.locator(".delete").click()
    page.page.wait_for_function("() => document.querySelectorAll('.threads li').length === 1")
    assert page.page.locator(".threads li").inner_text().startswith("second question")
    assert page.replies() == 0  # the open conversation was the deleted one


def test_reload_mid_reply_shows_the_stored_partial_reply(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(chunks=[f"part{i} " for i in range(100)], stall_after=20))
    page = tab(serve()).open()
    page.send("Tell me everything")
    page.page.wait_for_function("() => (document.querySelector('.msg.assistant .md')?.textContent || '')"
                                ".includes('part5')")
    page.page.reload()
    page.page.wait_for_selector("body[data-ready=true]")
    page.page.wait_for_function("() => (document.querySelector('.msg.assistant')?.textContent || '').includes('part5')")
    assert page.page.locator(".msg.user .bubble").inner_text() == "Tell me everything"


def test_reload_mid_reply_resumes_the_run_on_a_resumable_server(serve: Any, tab: Any, env: FakeModelServer) -> None:
    release = threading.Event()

    async def slow_lookup(ctx: ToolContext) -> str:
        """Look something up slowly."""
        await ctx.report_progress(1, 2, "looking")
        await asyncio.to_thread(release.wait, 60)  # held until the reloaded page follows the run again
        return "found it"

    env.enqueue(Turn(text="Let me look that up.", tool_calls=[FakeToolCall("slow_lookup", {})]),
                Turn(text="Here is what I found."))
    agent = Agent(name="tyler", model_name="gpt-4o", tools=[slow_lookup], max_retries=0)
    page = tab(serve(agent, runs="memory")).open()
    page.send("Find it")
    page.page.wait_for_selector(".tool progress")
    page.page.reload()
    page.page.wait_for_selector("body[data-ready=true]")
    # The run went on without the page: replayed from its start, followed live, nothing twice.
    page.page.wait_for_selector(".msg.assistant[aria-busy] .tool progress")
    assert page.page.locator("#stop").is_visible()
    release.set()
    reply = page.wait_done()
    assert reply.locator(".tool-result").inner_text() == "found it"
    assert reply.inner_text().count("Let me look that up.") == 1
    assert "Here is what I found." in reply.inner_text()
    assert page.page.locator(".msg.user").count() == 1
    assert env.wait_for_requests(2, timeout=30)


def test_a_hostile_reply_cannot_run_script_or_load_anything(serve: Any, tab: Any, env: FakeModelServer) -> None:
    hostile = (
        'Hi <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>\n\n'
        "[click me](javascript:window.__pwned=3) <a href=\"javascript:window.__pwned=4\">raw</a>\n\n"
        '<iframe src="javascript:parent.__pwned=5"></iframe><svg onload="window.__pwned=6"></svg>\n\n'
        '![remote](http://127.0.0.1:9/tracker.png) <div style="background:url(http://127.0.0.1:9/x)">styled</div>'
    )
    env.enqueue(Turn(text=hostile))
    page = tab(serve()).open()
    requests: list[str] = []
    page.page.on("request", lambda r: requests.append(r.url))
    page.send("say something nasty")
    reply = page.wait_done()
    for link in reply.locator("a").all():
        link.click()
    assert page.page.evaluate("() => window.__pwned") is None
    assert reply.locator("img, script, iframe, svg").count() == 0
    assert all(link.get_attribute("href") is None for link in reply.locator("a").all())
    assert not [url for url in requests if ":9/" in url], requests
    assert "click me" in reply.inner_text() and "styled" in reply.inner_text()


def test_errors_are_shown_in_the_conversation(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(status=429, error_message="slow down", retry_after=0))
    page = tab(serve()).open()
    page.send("hello?")
    reply = page.wait_done()
    error = reply.locator(".error-box").inner_text()
    assert "rate limited" in error.lower() or "429" in error
    page.shot("error")
    # The page stays usable: the next message gets its answer.
    env.enqueue(Turn(text="Back again."))
    page.send("hello again")
    assert "Back again." in page.wait_done().inner_text()


def test_phone_viewport_dark_theme_and_labels(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Small screens work. " * 30))
    page = tab(serve(), viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True,
               has_touch=True).open()
    assert not page.page.locator("#sidebar").is_visible() or page.page.evaluate(
        "() => document.getElementById('sidebar').getBoundingClientRect().right <= 0")
    page.send("hi from a phone")
    page.wait_done()
    assert page.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    background = page.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 23, 26)"  # the dark palette
    page.shot("phone-dark")
    page.page.click("#open-sidebar")
    page.page.wait_for_function("() => document.getElementById('sidebar').getBoundingClientRect().left >= 0")
    for selector in ("#input", "#send", "#new-chat", "#theme"):
        assert page.page.locator(selector).get_attribute("aria-label") or page.page.locator(
            f"label[for={selector[1:]}]").count(), selector


def test_asks_for_the_api_key_once_and_keeps_it(serve: Any, tab: Any, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Authorized."))
    server = serve(api_keys=["s3cret"])
    page = tab(server)
    page.page.goto(server.url + "/")
    page.page.wait_for_selector("#key-dialog[open]")
    page.page.fill("#key-input", "wrong")
    page.page.click("#key-save")
    page.page.wait_for_selector("#key-error:not([hidden])")
    page.shot("api-key")
    page.page.fill("#key-input", "s3cret")
    page.page.click("#key-save")
    page.page.wait_for_selector("body[data-ready=true]")
    page.send("am I in?")
    assert "Authorized." in page.wait_done().inner_text()
    page.page.reload()
    page.page.wait_for_selector("body[data-ready=true]")
    assert not page.page.locator("#key-dialog").is_visible()
    assert page.page.evaluate("() => localStorage.getItem('tyler.apiKey')") == "s3cret"


def test_agent_selector_when_the_server_has_several(serve: Any, tab: Any, env: FakeModelServer) -> None:
    agents = [weather_agent("writer"), Agent(name="coder", model_name="gpt-4o-mini", max_retries=0)]
    env.enqueue(Turn(text="From the coder."))
    page = tab(serve(agents)).open()
    assert page.page.locator("#model option").all_inner_texts() == ["writer", "coder"]
    page.page.select_option("#model", "coder")
    page.send("which agent?")
    page.wait_done()
    assert env.requests[-1].body["model"] == "gpt-4o-mini"


def test_serve_open_opens_the_page_in_the_default_browser(fake_server: FakeModelServer, tmp_path: Path) -> None:
    import time

    from test_server_cli import Proc

    opened = tmp_path / "opened.txt"
    browser_cmd = tmp_path / "browser.sh"
    browser_cmd.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser_cmd.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "TYLER_"))}
    env.update(fake_server.env(), TYLER_DATA_DIR=str(tmp_path / "data"), NO_PROXY="127.0.0.1,localhost",
               BROWSER=str(browser_cmd))
    proc = Proc(["--model", "gpt-4o", "--open"], env)
    try:
        proc.wait_ready()
        deadline = time.monotonic() + 60
        while not (opened.exists() and opened.read_text().strip()) and time.monotonic() < deadline:
            assert proc.proc.poll() is None
            time.sleep(0.1)
        assert opened.read_text().strip() == f"{proc.url}/"
    finally:
        output = proc.stop()
    assert f"chat page: {proc.url}/" in output
