"""labstack_proxy.flow: what a slow side of a websocket may make Jupyter hold, and a terminal's pty paused
for a slow browser (a real pty and Tornado's IOLoop; the containers' tests drive it end to end)."""
import asyncio
from types import SimpleNamespace

import pytest

pytest.importorskip("jupyter_server_proxy", reason="pip install -r requirements-dev.txt")
from labstack_proxy import flow, upstream  # noqa: E402


def test_below_the_limit_the_next_message_is_read_at_once(monkeypatch):
    monkeypatch.setattr(flow, "LIMIT", 100)

    async def main():
        held = flow.Held()
        held.wrote(asyncio.get_running_loop().create_future(), 100)
        assert held.wait() is None  # at the limit, not past it

    asyncio.run(main())


def test_past_the_limit_it_waits_until_half_is_taken(monkeypatch):
    monkeypatch.setattr(flow, "LIMIT", 100)

    async def main():
        loop = asyncio.get_running_loop()
        held, writes = flow.Held(), [loop.create_future() for _ in range(3)]
        for write in writes:
            held.wrote(write, 40)
        waiting = asyncio.ensure_future(held.wait())
        for taken in writes[:2]:
            await asyncio.sleep(0.01)
            assert not waiting.done()  # 120, then 80 held: more than half of the limit
            taken.set_result(None)
        await asyncio.wait_for(waiting, 1)  # 40 held
        assert held.bytes == 40

    asyncio.run(main())


def test_a_side_that_closes_ends_the_wait(monkeypatch):
    monkeypatch.setattr(flow, "LIMIT", 10)

    async def main():
        from tornado.iostream import StreamClosedError

        write = asyncio.get_running_loop().create_future()
        held = flow.Held()
        held.wrote(write, 100)
        waiting = asyncio.ensure_future(held.wait())
        write.set_exception(StreamClosedError())
        await asyncio.wait_for(waiting, 1)

    asyncio.run(main())


def test_a_terminal_is_not_read_while_its_browser_holds_too_much(monkeypatch):
    """A real pty running seq: while the one browser's writes are not taken, reading stops at the limit
    (the program waits); once they are, it reads on to the end and nothing is lost."""
    from terminado.management import NamedTermManager, TermManagerBase

    monkeypatch.setattr(flow, "LIMIT", 64 << 10)
    monkeypatch.setitem(upstream.UPSTREAM, "pty_read", TermManagerBase.pty_read)
    monkeypatch.setattr(TermManagerBase, "pty_read", flow.pty_read)

    async def main():
        loop = asyncio.get_running_loop()
        writes, received = [], []

        def on_pty_read(text):  # a browser that takes nothing until told to
            write = loop.create_future()
            writes.append(write)
            received.append(text)
            flow.held(browser).wrote(write, len(text))

        browser = SimpleNamespace(on_pty_read=on_pty_read, on_pty_died=lambda: None)
        manager = NamedTermManager(shell_command=["sh", "-c", "seq 1 100000; sleep 30"])
        name, terminal = manager.new_named_terminal()
        terminal.clients.append(browser)
        try:
            await asyncio.sleep(0.4)
            stalled = sum(map(len, received))
            assert flow.LIMIT < stalled < flow.LIMIT + (64 << 10)  # stopped one read past the limit
            await asyncio.sleep(0.2)
            assert sum(map(len, received)) == stalled  # and stays stopped
            for _ in range(600):  # the browser takes everything, as it comes, for 30 s at most
                for write in writes:
                    if not write.done():
                        write.set_result(None)
                if "100000" in "".join(received[-2:]):
                    break
                await asyncio.sleep(0.05)
            lines = "".join(received).split()
            assert lines == [str(n) for n in range(1, 100001)]
            assert sum(map(len, terminal.read_buffer)) <= flow.REPLAY_CHARS
        finally:
            await manager.terminate(name, force=True)
            await manager.shutdown()

    asyncio.run(main())
