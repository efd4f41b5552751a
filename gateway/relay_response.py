"""The streamed answer's response: Starlette's StreamingResponse, with a cheaper watch for a client that leaves.

Under uvicorn (ASGI spec 2.3) Starlette streams inside an anyio task group, with a second task waiting for
`http.disconnect` and a cancel scope between the two: per streamed request that machinery cost about a fifth of
the gateway's CPU in the SSE benchmark (py-spy, issue 15). Here the stream runs in the request's own task and one
plain task waits for the disconnect; when the client leaves, it cancels the stream where it waits (the relay's
`finally` still counts what was served, as a 499), and the cancellation ends here rather than reaching the server.
"""

from __future__ import annotations

import asyncio

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send


class RelayResponse(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        left = finished = False

        async def watch() -> None:
            nonlocal left
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    # The server also says "disconnect" once the answer is complete: that is not a client leaving.
                    if not finished:
                        left = True
                        task.cancel()
                    return

        async def sending(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        watcher = asyncio.create_task(watch())
        cancelling = task.cancelling()
        try:
            await self.stream_response(sending)
        except asyncio.CancelledError:
            if not left or task.uncancel() > cancelling:
                raise  # cancelled by someone else (the server stopping): not ours to absorb
        finally:
            watcher.cancel()
        if self.background is not None:
            await self.background()
