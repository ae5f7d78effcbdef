"""A minimal loopback SMTP server that accepts every mail, and on its first ``stalls``
connections never answers QUIT: a server (or a middlebox) that stalls after ``250`` to
DATA for a while."""

from __future__ import annotations

import asyncio
import contextlib


class QuitStallingSmtp:
    def __init__(self, stalls: int = 1) -> None:
        self.stalls = stalls
        self.messages: list[bytes] = []
        self.quits = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> QuitStallingSmtp:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(b"220 stall.test ESMTP\r\n")
            await writer.drain()
            while line := await reader.readline():
                command = line.decode("ascii", "replace").strip().upper()
                if command == "QUIT":
                    self.quits += 1
                    if self.quits <= self.stalls:
                        await reader.read()  # never answers; waits for the client to give up
                    else:
                        writer.write(b"221 bye\r\n")
                        await writer.drain()
                    break
                if command == "DATA":
                    writer.write(b"354 end with <CRLF>.<CRLF>\r\n")
                    await writer.drain()
                    body = bytearray()
                    while (data := await reader.readline()) not in (b".\r\n", b""):
                        body += data
                    self.messages.append(bytes(body))
                    writer.write(b"250 2.0.0 accepted\r\n")
                else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        writer.close()
        self._writers.discard(writer)
