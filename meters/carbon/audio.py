"""Audio input, metered by its duration: how long the audio is, and what that costs in the model's own factors.

Scaleway footprints and prices speech-to-text (whisper-large-v3, voxtral-small-24b-2507) per second of audio
input (Product Catalog token types `input_duration` / `input_audio`); no per-second factor is in the shipped
supplier snapshot (config/carbon/scaleway_products-*.yaml leaves those products out), so the figure is the
model's own method (energy or coefficient) applied to the audio's **input-token equivalents**:

- Whisper (Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision", arXiv:2212.04356, 2022,
  section 2.2, read 2026-12-01): audio is cut into 30-second windows, each padded to 30 s, each 1,500 encoder
  positions (log-Mel at 100 frames/s, a stride-2 convolution). `whisper*`: 1,500 tokens per started window.
- Voxtral (Mistral, "Voxtral", arXiv:2507.13264, 2025; mistralai/Voxtral-*-2507 config.json: a Whisper-style
  encoder, `max_source_positions: 1500` per 30-s chunk, and a 4x projector, read 2026-12-01): 375 audio tokens
  per started 30-s chunk (12.5 per second) reach the language model. The encoder's own pass (~0.6B parameters
  over 1,500 positions, about a tenth of the 24B decoder's prefill) is not added.
- Any other model: Whisper's rule, labelled as assumed.

The duration, in order of preference (`duration_source`): the upstream's answer (`duration` of verbose_json, or
`usage: {type: "duration", seconds}`), labelled `upstream`; a WAV file's header (exact: data bytes / byte rate),
`wav_header`; the file size over a typical bitrate of its format, with a range from the format's lowest to its
highest common bitrate, `bitrate_estimate`; for a format not recognised, the size over a generic bitrate with the
widest range, `fallback`. Never 0: at least `MIN_SECONDS`.
"""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

from meters.carbon.estimate import Estimate
from meters.carbon.factors import ModelFactors

WINDOW_S = 30.0
MIN_SECONDS = 0.1
UPSTREAM = "upstream"
WAV_HEADER = "wav_header"
BITRATE_ESTIMATE = "bitrate_estimate"
FALLBACK = "fallback"


class AudioRule(NamedTuple):
    tokens_per_window: int
    basis: str


WHISPER = AudioRule(
    1500, "Whisper encoder: 1,500 positions per 30-s window, each window padded (arXiv:2212.04356)"
)
VOXTRAL = AudioRule(375, "Voxtral: 375 audio tokens per 30-s chunk, 12.5/s (arXiv:2507.13264; config.json)")
ASSUMED = AudioRule(WHISPER.tokens_per_window, "assumed Whisper-like: " + WHISPER.basis)


def audio_rule(model: str) -> AudioRule:
    name = model.lower()
    if "voxtral" in name:
        return VOXTRAL
    if "whisper" in name:
        return WHISPER
    return ASSUMED


class Bitrate(NamedTuple):
    """kbit/s: typical, lowest and highest common for the format (what a duration estimate divides by)."""

    typical: float
    low: float
    high: float
    note: str


# MPEG-1/2 Layer III and AAC: 32-320 kbit/s (ISO/IEC 11172-3, 13818-7 bitrate tables), 128 typical; Opus and
# Vorbis (ogg, webm): 16-128 kbit/s for speech and music (opus-codec.org "Recommended settings"), 48 typical;
# FLAC: lossless, about half of 16-bit PCM (256 kbit/s for 16 kHz mono ... 1,411 for CD stereo), 700 typical.
BITRATES: dict[str, Bitrate] = {
    "mp3": Bitrate(128, 32, 320, "MPEG audio 32-320 kbit/s"),
    "m4a": Bitrate(128, 32, 320, "AAC 32-320 kbit/s"),
    "mp4": Bitrate(128, 32, 320, "AAC 32-320 kbit/s"),
    "mpeg": Bitrate(128, 32, 320, "MPEG audio 32-320 kbit/s"),
    "mpga": Bitrate(128, 32, 320, "MPEG audio 32-320 kbit/s"),
    "ogg": Bitrate(48, 16, 128, "Opus/Vorbis 16-128 kbit/s"),
    "webm": Bitrate(48, 16, 128, "Opus/Vorbis 16-128 kbit/s"),
    "flac": Bitrate(700, 128, 1411, "FLAC, about half of 16-bit PCM"),
}
UNKNOWN_FORMAT = Bitrate(
    128, 16, 1536, "format not recognised: 16 kbit/s (speech Opus) to 1,536 (48 kHz PCM)"
)
_CONTENT_TYPES = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "m4a",
    "audio/ogg": "ogg",
    "audio/webm": "webm",
    "video/webm": "webm",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
}


class AudioDuration(NamedTuple):
    seconds: float
    low: float
    high: float
    source: str  # UPSTREAM, WAV_HEADER, BITRATE_ESTIMATE or FALLBACK
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "seconds_min": round(self.low, 3),
            "seconds_max": round(self.high, 3),
            "duration_source": self.source,
            "duration_note": self.note,
        }


def known_duration(seconds: float, note: str) -> AudioDuration:
    seconds = max(seconds, MIN_SECONDS)
    return AudioDuration(seconds, seconds, seconds, UPSTREAM, note)


def wav_seconds(data: bytes) -> float | None:
    """A RIFF/WAVE file's duration from its header: the `data` chunk's bytes over the `fmt ` byte rate. None when
    the bytes are not such a file. A streamed WAV whose sizes are unset (0 or 0xFFFFFFFF) counts the bytes it has."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            byte_rate = struct.unpack_from("<I", data, body + 8)[0]
        elif chunk_id == b"data":
            if byte_rate <= 0:
                return None
            available = len(data) - body
            length = available if size in (0, 0xFFFFFFFF) or size > available else size
            return length / byte_rate
        offset = body + size + (size & 1)  # chunks are word-aligned
    return None


def _format(filename: str | None, content_type: str | None, data: bytes) -> str | None:
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[4:8] == b"ftyp":
        return "m4a"
    if content_type and content_type.split(";")[0].strip().lower() in _CONTENT_TYPES:
        return _CONTENT_TYPES[content_type.split(";")[0].strip().lower()]
    extension = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else None
    return extension if extension in BITRATES else None


def file_duration(data: bytes, filename: str | None = None, content_type: str | None = None) -> AudioDuration:
    """The duration read (WAV) or estimated (anything else) from the uploaded file itself."""
    seconds = wav_seconds(data)
    if seconds is not None:
        seconds = max(seconds, MIN_SECONDS)
        return AudioDuration(
            seconds, seconds, seconds, WAV_HEADER, "RIFF/WAVE header: data bytes / byte rate"
        )
    kind = _format(filename, content_type, data)
    bitrate = BITRATES[kind] if kind is not None else UNKNOWN_FORMAT
    kbits = len(data) * 8 / 1000

    def over(rate: float) -> float:
        return max(kbits / rate, MIN_SECONDS)

    return AudioDuration(
        over(bitrate.typical),
        over(bitrate.high),
        over(bitrate.low),
        BITRATE_ESTIMATE if kind is not None else FALLBACK,
        f"{len(data)} bytes / {bitrate.typical:g} kbit/s ({kind or 'unknown'}; {bitrate.note})",
    )


def token_equivalents(seconds: float, rule: AudioRule) -> int:
    """Input-token equivalents of `seconds` of audio: every started 30-s window counts whole."""
    return max(1, math.ceil(seconds / WINDOW_S - 1e-9)) * rule.tokens_per_window


def audio_estimate(
    factors: ModelFactors,
    duration: AudioDuration,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    latency_s: float | None,
    tokens_from_upstream: bool = False,
) -> Estimate:
    """The model's figure for the audio's token equivalents plus the text prompt and the transcript; min/max
    also span the duration's range. The source says how the audio was counted. `tokens_from_upstream`: the
    upstream counted the audio in `prompt_tokens` itself (its `usage.input_tokens`): no equivalents are added."""
    if tokens_from_upstream:
        figure = factors.estimate(prompt_tokens, completion_tokens, latency_s)
        note = f"audio: {duration.seconds:.3g} s ({duration.source}), counted in the upstream's input tokens"
        return figure._replace(source=f"{figure.source}; {note}", audio=duration.as_dict())
    rule = audio_rule(factors.model)
    central_tokens = token_equivalents(duration.seconds, rule)
    central = factors.estimate(central_tokens + prompt_tokens, completion_tokens, latency_s)
    low = factors.estimate(
        token_equivalents(duration.low, rule) + prompt_tokens, completion_tokens, latency_s
    )
    high = factors.estimate(
        token_equivalents(duration.high, rule) + prompt_tokens, completion_tokens, latency_s
    )
    audio = {**duration.as_dict(), "token_equivalents": central_tokens, "token_basis": rule.basis}
    note = f"audio: {duration.seconds:.3g} s ({duration.source}) as {central_tokens} input-token equivalents ({rule.basis})"
    return central._replace(
        gco2e_min=min(low.gco2e_min, central.gco2e_min),
        gco2e_max=max(high.gco2e_max, central.gco2e_max),
        source=f"{central.source}; {note}",
        audio=audio,
    )
