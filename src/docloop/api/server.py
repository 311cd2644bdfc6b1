"""uvicorn's server with docloop's way of stopping, for `docloop serve`.

First SIGTERM (or SIGINT): uvicorn stops accepting connections and drains in-flight requests
for up to ``Settings.shutdown_grace_s``; the in-process worker is told to stop at once, so it
starts no new job while requests drain (a short job finishes, a training hands its job back).
A second signal stops without waiting (uvicorn itself forces only on a second SIGINT).
"""

from __future__ import annotations

from types import FrameType

import uvicorn


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        else:
            workers = getattr(self.config.app.state, "workers", None)
            if workers is not None:
                workers.stop()
        super().handle_exit(sig, frame)
