"""web-fetch / web-download / SSRF guard against a loopback server (never the internet)."""

from __future__ import annotations

import ipaddress

import pytest
from lye_loopback import LoopbackServer

from lye import WEB_TOOLS, BlockedAddressError, FetchError, FileToolError, WorkspaceEscapeError, tool_names
from lye._net import blocked_reason, checked_addresses, host_allowed
from lye.web import WebSettings, download_file, fetch_page, make_web_tools


def _impl(tools: list[dict], name: str):
    return next(t["implementation"] for t in tools if t["definition"]["function"]["name"] == name)


def test_tool_set_shape() -> None:
    assert tool_names(WEB_TOOLS) == ["web-search", "web-fetch", "web-download"]
    for tool in WEB_TOOLS:
        fn = tool["definition"]["function"]
        assert tool["definition"]["type"] == "function"
        assert fn["parameters"]["type"] == "object"
        assert set(fn["parameters"]["required"]) <= set(fn["parameters"]["properties"])
        assert callable(tool["implementation"])


# ---------------------------------------------------------------------------------------- SSRF guard


async def test_loopback_refused_by_default(server: LoopbackServer) -> None:
    with pytest.raises(BlockedAddressError, match="loopback"):
        await fetch_page(f"{server.url}/page")
    assert server.seen == []  # refused before any connection


async def test_localhost_name_refused_after_resolution(server: LoopbackServer) -> None:
    with pytest.raises(BlockedAddressError, match=r"localhost \((127\.0\.0\.1|::1)\)"):
        await fetch_page(f"http://localhost:{server.port}/page")
    assert server.seen == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.2:1/", "http://[::1]:1/", "http://0.0.0.0:1/", "http://[::ffff:127.0.0.1]:1/"]
)
async def test_loopback_literals_refused(url: str) -> None:
    with pytest.raises(BlockedAddressError):
        await fetch_page(url)


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "fd00:ec2::254", "10.0.0.1", "192.168.1.1", "172.16.0.1", "::ffff:10.1.2.3"]
)
async def test_private_and_metadata_literals_refused(host: str) -> None:
    # Checked without fetching: these tests must never send traffic off the loopback interface,
    # not even if the guard were broken.
    with pytest.raises(BlockedAddressError):
        await checked_addresses(host, 80, allow_private=False)


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("127.0.0.1", True),
        ("169.254.169.254", True),
        ("172.16.5.4", True),
        ("100.64.0.1", True),
        ("224.0.0.1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),
        ("2002:7f00:1::", True),
    ],
)
def test_blocked_reason_classification(address: str, blocked: bool) -> None:
    assert (blocked_reason(ipaddress.ip_address(address)) is not None) is blocked


async def test_non_http_schemes_refused() -> None:
    with pytest.raises(BlockedAddressError, match="only http and https"):
        await fetch_page("file:///etc/passwd")


async def test_malformed_urls_are_fetch_errors(server: LoopbackServer, allow_private: None) -> None:
    with pytest.raises(FetchError, match="invalid URL 'http://0177.0.0.1/'"):
        await fetch_page("http://0177.0.0.1/")  # octal is refused by httpx itself, never resolved
    with pytest.raises(FetchError, match="Invalid port"):
        await fetch_page(f"{server.url}/redirect?to=http://a:b/")


async def test_redirect_to_private_address_is_checked_on_every_hop(server: LoopbackServer) -> None:
    # The first host is explicitly allowed; the redirect targets must pass the guard on their own.
    tools = make_web_tools(allowed_hosts=[f"127.0.0.1:{server.port}"])
    fetch = _impl(tools, "web-fetch")
    assert "Quantum computing" in await fetch(url=f"{server.url}/page")
    for target in (
        "http://127.0.0.2:1/latest/meta-data/",
        "http://[::1]:1/",
        f"http://localhost:{server.port}/page",
        "http://127.0.0.2/",
    ):
        with pytest.raises(BlockedAddressError):
            await fetch(url=f"{server.url}/redirect?to={target}")
    assert server.paths().count("/page") == 1  # no refused hop reached the server


async def test_env_opt_out_read_at_call_time(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fetch = _impl(WEB_TOOLS, "web-fetch")  # built at import time, before the variable is set
    monkeypatch.setenv("LYE_ALLOW_PRIVATE_NETWORK", "1")
    assert "Quantum computing" in await fetch(url=f"{server.url}/page")


async def test_connects_to_checked_address_keeping_host_header(server: LoopbackServer, allow_private: None) -> None:
    text = await fetch_page(f"http://localhost:{server.port}/host", output_format="raw")
    assert text.endswith(f"localhost:{server.port}")


# ------------------------------------------------------------------------------------------- fetch


async def test_html_becomes_markdown(server: LoopbackServer, allow_private: None) -> None:
    text = await fetch_page(f"{server.url}/page")
    assert text.startswith(f"URL: {server.url}/page")
    assert "# Quantum computing breakthroughs" in text
    assert "**logical qubit**" in text
    assert f"[Read more]({server.url}/more)" in text
    assert "do-not-show" not in text and "color: red" not in text


async def test_plain_text_output(server: LoopbackServer, allow_private: None) -> None:
    text = await fetch_page(f"{server.url}/page", output_format="text")
    assert "logical qubit" in text and "**" not in text and "/more" not in text


async def test_redirects_followed_and_bounded(server: LoopbackServer, allow_private: None) -> None:
    text = await fetch_page(f"{server.url}/chain/3")
    assert text.startswith(f"URL: {server.url}/page")
    with pytest.raises(FetchError, match="too many redirects"):
        await fetch_page(f"{server.url}/chain/9")
    assert "/chain/4" in server.paths() and "/chain/3" in server.paths()
    assert sum(p.startswith("/chain/") for p in server.paths()) == 4 + 6  # 5 redirects max, then stop


async def test_huge_body_is_cut_with_a_note(
    server: LoopbackServer, allow_private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYE_FETCH_MAX_BYTES", str(256 * 1024))
    text = await fetch_page(f"{server.url}/huge?mb=50")
    assert "[body cut at 256.0 KB" in text
    assert "[truncated: showing characters 0-20000 of 262144]" in text
    assert len(text) < 21_000


async def test_slow_response_times_out(
    server: LoopbackServer, allow_private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYE_HTTP_TIMEOUT", "1")
    with pytest.raises(FetchError, match="took longer than 1 s|timed out"):
        await fetch_page(f"{server.url}/slow")


async def test_bad_encodings(server: LoopbackServer, allow_private: None) -> None:
    assert "Café crème à Paris" in await fetch_page(f"{server.url}/latin1")
    assert "naïve text" in await fetch_page(f"{server.url}/bogus-charset")
    broken = await fetch_page(f"{server.url}/bad-utf8")
    assert broken.count("\ufffd") == 1 and "ünïcödé text" in broken and "( byte" in broken
    assert "Déjà vu – no charset" in await fetch_page(f"{server.url}/cp1252")
    assert "日本語のページ" in await fetch_page(f"{server.url}/meta-charset")  # <meta charset> honoured


async def test_json_binary_pdf_and_errors(server: LoopbackServer, allow_private: None) -> None:
    assert '{"answer": 42}' in await fetch_page(f"{server.url}/json")
    binary = await fetch_page(f"{server.url}/binary")
    assert "binary content (application/octet-stream, 4.0 KB) not shown" in binary
    assert "Hello PDF world" in await fetch_page(f"{server.url}/doc.pdf")
    with pytest.raises(FetchError, match="HTTP 404"):
        await fetch_page(f"{server.url}/status/404")


async def test_unresolvable_and_refused_connections(allow_private: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"no-such-host.test": None})  # no real DNS query leaves the machine
    with pytest.raises(FetchError, match="cannot resolve host 'no-such-host.test'"):
        await fetch_page("http://no-such-host.test/")
    with pytest.raises(FetchError, match="could not fetch"):
        await fetch_page("http://127.0.0.1:1/")  # nothing listens on port 1


# ---------------------------------------------------------------------------------------- download


class _Progress:
    def __init__(self) -> None:
        self.calls: list[tuple[float, float | None, str | None]] = []

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.calls.append((progress, total, message))


async def test_download_into_workspace(server: LoopbackServer, tmp_path, allow_private: None) -> None:
    download = _impl(make_web_tools(workspace=tmp_path), "web-download")
    result = await download(url=f"{server.url}/files/data.csv")
    assert "to data.csv" in result
    assert (tmp_path / "data.csv").read_text() == "name,score\nada,10\nbob,7\n"
    with pytest.raises(FileToolError, match="already exists"):
        await download(url=f"{server.url}/files/data.csv")
    progress = _Progress()
    await download(url=f"{server.url}/huge?mb=2", path="big/huge.txt", ctx=progress)
    assert (tmp_path / "big/huge.txt").stat().st_size == 2 * 1024 * 1024
    assert progress.calls and progress.calls[-1][1] == 2 * 1024 * 1024


async def test_download_guards(server: LoopbackServer, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYE_WORKSPACE", str(tmp_path))
    with pytest.raises(BlockedAddressError):
        await download_file(f"{server.url}/files/data.csv")
    monkeypatch.setenv("LYE_ALLOW_PRIVATE_NETWORK", "1")
    with pytest.raises(WorkspaceEscapeError):
        await download_file(f"{server.url}/files/data.csv", path="../escape.csv")
    monkeypatch.setenv("LYE_DOWNLOAD_MAX_BYTES", str(1024 * 1024))
    with pytest.raises(FetchError, match="over the 1.0 MB download limit"):
        await download_file(f"{server.url}/huge?mb=3")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no partial files left behind


async def test_download_server_file_names_stay_in_the_workspace(
    server: LoopbackServer, tmp_path, allow_private: None
) -> None:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    download = _impl(make_web_tools(workspace=root), "web-download")
    # A Content-Disposition name of ".." or "." must not make the target the root or its parent
    # (the temporary file would then be written outside the workspace).
    await download(url=f"{server.url}/named?n=..", path="sub", overwrite=True)
    await download(url=f"{server.url}/named?n=.", overwrite=True)
    await download(url=f"{server.url}/named?n=../../evil.txt")
    assert (root / "sub/download").read_bytes() == b"named body"
    assert (root / "download").read_bytes() == b"named body"
    assert (root / "evil.txt").read_bytes() == b"named body"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str] | None]) -> None:
    """Answer getaddrinfo for made-up names (.test is reserved, never resolvable for real)."""
    import asyncio
    import socket

    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host, port, *args, **kwargs):
        if host in answers and answers[host] is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if host in answers:
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in answers[host]
            ]
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


async def test_any_private_answer_refuses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"mixed.test": ["93.184.216.34", "127.0.0.1"], "meta.test": ["169.254.169.254"]})
    # Checked without fetching: even a broken guard must not open a connection to a public address.
    with pytest.raises(BlockedAddressError, match=r"mixed\.test \(127\.0\.0\.1\): loopback"):
        await checked_addresses("mixed.test", 80, allow_private=False)
    assert len(await checked_addresses("mixed.test", 80, allow_private=True)) == 2
    with pytest.raises(BlockedAddressError, match="cloud metadata address"):
        await fetch_page("http://meta.test/latest/meta-data/")


async def test_connection_goes_to_the_checked_address(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The name is resolved once, by the guard; the connection uses that answer (the system resolver
    # could not resolve "site.test" at all), so a second, different DNS answer cannot be slipped in.
    _fake_dns(monkeypatch, {"site.test": ["127.0.0.1"]})
    tools = make_web_tools(allowed_hosts=[f"site.test:{server.port}"])
    text = await _impl(tools, "web-fetch")(url=f"http://site.test:{server.port}/host", output_format="raw")
    assert text.endswith(f"site.test:{server.port}")  # Host header kept for virtual hosting


def test_allow_list_entries_for_ipv6_hosts() -> None:
    # httpx gives the host unbracketed; users write IPv6 with a port the URL way, bracketed.
    assert host_allowed("::1", 8080, frozenset({"[::1]:8080"}))
    assert not host_allowed("::1", 8081, frozenset({"[::1]:8080"}))
    assert host_allowed("::1", 9, frozenset({"::1"})) and host_allowed("::1", 9, frozenset({"[::1]"}))
    assert host_allowed("127.0.0.1", 80, frozenset({"127.0.0.1:80"}))
    assert not host_allowed("127.0.0.1", 81, frozenset({"127.0.0.1:80"}))


# ------------------------------------------------------------------------------- proxies (issue 14)


async def test_web_fetch_goes_through_http_proxy_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured (the custom transport used to ignore it), and the proxy is asked for
    the address the guard checked, never for a name it could resolve differently."""
    import asyncio

    lines: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head.split(b"\r\n", 1)[0].decode())
        body = b"<html><body><p>served by the proxy</p></body></html>"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        monkeypatch.setenv("NO_PROXY", "")
        # 127.0.0.2: nothing listens there, so without the proxy this fetch fails (and stays on loopback).
        text = await fetch_page("http://127.0.0.2:9/page", settings=WebSettings(allow_private=True))
    finally:
        server.close()
        await server.wait_closed()
    assert "served by the proxy" in text
    assert lines == ["GET http://127.0.0.2:9/page HTTP/1.1"]
    with pytest.raises(BlockedAddressError):  # the guard still applies behind a proxy
        await fetch_page("http://127.0.0.2:9/page")
