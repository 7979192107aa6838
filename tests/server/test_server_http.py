"""Bad input, auth, CORS and limits: each answered in the endpoint's own error shape, nothing stored lost."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import openai
import pytest
import websockets

from conftest import LiveServer
from tyler.testing import FakeModelServer, Turn

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]


def post(live: LiveServer, path: str, body: object = None, **kwargs: object) -> httpx.Response:
    return httpx.post(live.url + path, json=body, timeout=30, **kwargs)  # type: ignore[arg-type]


def openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "tyler", "messages": "hi"}, "messages"),
    ({"model": "tyler", "messages": []}, "messages"),
    ({"model": "tyler", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "tyler", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "tyler", "messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
    ({"model": "tyler", "messages": USER, "stream": "yes"}, "stream"),
    ({"messages": USER}, "model"),
    ({"model": "tyler", "messages": USER, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
     "tools[0]"),
    ({"model": "tyler", "messages": USER, "tools": [{"type": "function", "function": {"name": "get_weather"}}]},
     "tools"),
    ({"model": "tyler", "messages": [*USER, {"role": "tool", "tool_call_id": "call_nope", "content": "x"}]},
     "tool_call_id"),
    ({"model": "tyler", "messages": USER, "thread_id": "a\x00b"}, "thread_id"),
    ({"model": "tyler", "messages": USER, "thread_id": "x" * 300}, "thread_id"),
])
def test_bad_chat_bodies_are_400_with_param(live: LiveServer, body: dict, param: str) -> None:
    error = openai_error(post(live, CHAT, body), 400)
    assert error["param"] == param
    assert live.state.registry._runs == {}


def test_malformed_json_unknown_model_and_sdk_errors(live: LiveServer) -> None:
    response = httpx.post(live.url + CHAT, content=b"{not json", headers={"content-type": "application/json"})
    assert "not valid JSON" in openai_error(response, 400)["message"]
    assert openai_error(post(live, CHAT, ["a list"]), 400)["code"] == "invalid_type"
    api = openai.OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="unknown model 'nope'"):
        api.chat.completions.create(model="nope", messages=USER)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        api.chat.completions.create(model="tyler", messages=[])


def test_body_over_limit_is_413(serve) -> None:
    live = serve(max_body=2000)
    big = {"model": "tyler", "messages": [{"role": "user", "content": "x" * 5000}]}
    assert openai_error(post(live, CHAT, big), 413)["code"] == "body_too_large"
    chunked = httpx.post(live.url + CHAT, content=iter([b'{"model": "tyler", "x": "', b"y" * 4000, b'"}']))
    assert openai_error(chunked, 413)["code"] == "body_too_large"


def test_bad_request_loses_nothing_stored(live: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="First answer."))
    post(live, CHAT, {"model": "tyler", "messages": USER, "thread_id": "keep-me"}).raise_for_status()
    before = httpx.get(f"{live.url}/v1/threads/keep-me").json()["messages"]
    bad = {"model": "tyler", "thread_id": "keep-me",
           "messages": [*USER, {"role": "tool", "tool_call_id": "call_x", "content": "?"}]}
    openai_error(post(live, CHAT, bad), 400)
    assert httpx.get(f"{live.url}/v1/threads/keep-me").json()["messages"] == before
    assert len(env.requests) == 1


def test_unknown_thread_and_route_are_404(live: LiveServer) -> None:
    response = httpx.get(f"{live.url}/v1/threads/missing")
    assert response.status_code == 404 and response.json()["error"]["type"] == "thread_not_found"
    assert httpx.delete(f"{live.url}/v1/threads/missing").status_code == 404
    assert httpx.post(f"{live.url}/v1/runs/run_x/cancel").json()["error"]["type"] == "run_not_found"
    assert httpx.get(f"{live.url}/nowhere").status_code == 404
    assert httpx.get(f"{live.url}/v1/threads?limit=abc").status_code == 400


ENDPOINTS = [
    ("GET", "/v1/models", None),
    ("POST", CHAT, {"model": "tyler", "messages": USER}),
    ("GET", "/v1/threads", None),
    ("GET", "/v1/threads/t1", None),
    ("DELETE", "/v1/threads/t1", None),
    ("POST", "/v1/threads/t1/runs", {"input": "hi"}),
    ("POST", "/v1/runs/run_1/cancel", None),
]


def test_api_key_required_on_every_endpoint(serve, env: FakeModelServer) -> None:
    live = serve(api_keys=["k-one", "k-two"])
    assert httpx.get(live.url + "/health").status_code == 200
    for method, path, body in ENDPOINTS:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic k-one"}):
            response = httpx.request(method, live.url + path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            error = response.json()["error"]
            assert error.get("code", error.get("type")) == "invalid_api_key"  # OpenAI shape or the plain one
            assert response.headers["www-authenticate"] == "Bearer"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live.url + "/v1", api_key="wrong", max_retries=0).models.list()
    good = openai.OpenAI(base_url=live.url + "/v1", api_key="k-two", max_retries=0)
    assert [m.id for m in good.models.list().data] == ["tyler"]
    assert good.chat.completions.create(model="tyler", messages=USER).choices[0].message.content

    async def websocket(headers: dict[str, str]) -> str:
        async with websockets.connect(live.url.replace("http", "ws") + "/v1/ws", additional_headers=headers) as ws:
            await ws.send('{"content": "hi"}')
            return str(await ws.recv())

    with pytest.raises(websockets.exceptions.WebSocketException):
        asyncio.run(websocket({}))
    assert '"iteration_start"' in asyncio.run(websocket({"authorization": "Bearer k-one"}))


def test_every_route_of_the_app_needs_the_key(serve, env: FakeModelServer) -> None:
    # From the app's own route table, so an endpoint added later cannot be left open by mistake.
    from starlette.routing import Route

    live = serve(api_keys=["k-one"], runs="memory")
    public = {"/health", "/"}  # the chat page asks for the key itself; its assets are static files
    checked = []
    for route in live.app.routes:
        if not isinstance(route, Route) or route.path in public:
            continue
        path = re.sub(r"\{\w+\}", "x1", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            response = httpx.request(method, live.url + path, json={} if method == "POST" else None)
            assert response.status_code == 401, (method, route.path, response.text)
            error = response.json()["error"]
            assert error.get("code", error.get("type")) == "invalid_api_key" and error["message"], route.path
            checked.append((method, route.path))
    assert {("POST", "/v1/responses"), ("POST", "/api/chat"), ("POST", "/ag-ui"), ("GET", "/v1/runs/{run_id}/events"),
            ("GET", "/api/chat/{chat_id}/stream"), ("POST", "/v1/threads/{thread_id}/runs")} <= set(checked)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live.url + "/v1", api_key="wrong", max_retries=0).responses.create(
            model="tyler", input="hi")
    assert env.requests == []


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/responses", {"model": "tyler", "input": "x", "stream": True}),
    ("/api/chat", {"id": "hb-ai", "messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "x"}]}]}),
    ("/ag-ui", {"threadId": "hb-agui", "runId": "r1", "messages": [{"id": "u", "role": "user", "content": "x"}]}),
    ("/v1/threads/hb-native/runs", {"input": "x"}),
])
def test_every_stream_pings_and_is_not_buffered(live: LiveServer, env: FakeModelServer, path: str, body: dict) -> None:
    # The rule for all streaming endpoints (Chat Completions: test_server_chat).
    env.enqueue(Turn(text="Late reply.", first_byte_delay=1.5))
    with httpx.stream("POST", live.url + path, json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache" and response.headers["x-accel-buffering"] == "no"
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    first_content = next(i for i, line in enumerate(lines) if "Late" in line)
    assert ": ping" in lines[:first_content], lines[:first_content]


def test_cors_only_for_configured_origins(serve) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization"}
    closed = serve()
    response = httpx.options(closed.url + CHAT, headers={"origin": "https://app.example", **preflight})
    assert "access-control-allow-origin" not in response.headers
    live = serve(cors_origins=["https://app.example"], api_keys=["k"])
    response = httpx.options(live.url + CHAT, headers={"origin": "https://app.example", **preflight})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.options(live.url + CHAT, headers={"origin": "https://evil.example", **preflight})
    assert other.headers.get("access-control-allow-origin") is None
    headers = {"origin": "https://app.example", "authorization": "Bearer k"}
    response = httpx.get(live.url + "/v1/models", headers=headers)
    assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_concurrent_run_limit_per_key_is_429(serve, env: FakeModelServer) -> None:
    live = serve(max_runs_per_key=1)
    env.enqueue(Turn(text=" ".join(["slow"] * 200), delay=0.02))
    body = {"model": "tyler", "messages": USER, "stream": True}
    with httpx.stream("POST", live.url + CHAT, json=body, timeout=30) as first:
        lines = first.iter_lines()
        while "slow" not in next(lines):  # the run is under way upstream
            pass
        api = openai.OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError, match="too many concurrent runs"):
            api.chat.completions.create(model="tyler", messages=USER)
    assert env.wait_for_disconnect(timeout=10)
    for _ in range(200):  # the slot is released once the first stream's response ends
        if not live.state.registry._runs:
            break
        time.sleep(0.05)
    assert post(live, CHAT, {"model": "tyler", "messages": USER}).status_code == 200
