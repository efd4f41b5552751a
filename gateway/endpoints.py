"""The OpenAI endpoints the gateway meters: a closed vocabulary (the ledger's `endpoint` field)."""

from __future__ import annotations

from enum import StrEnum


class Endpoint(StrEnum):
    CHAT = "chat.completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    AUDIO_TRANSCRIPTIONS = "audio.transcriptions"  # multipart in, metered by audio duration
    RESPONSES = "responses"
    TRACK = "carbon.track"  # usage made elsewhere, booked through /v1/carbon/track

    @property
    def path(self) -> str:
        """The upstream path under its base URL, e.g. `/chat/completions`."""
        return "/" + self.value.replace(".", "/")

    @property
    def generates(self) -> bool:
        """Whether the endpoint produces completion tokens."""
        return self is not Endpoint.EMBEDDINGS
