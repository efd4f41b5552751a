"""meters/carbon/audio.py: audio durations (WAV header exactly, labelled bitrate estimates, a fallback, never 0) and
the figure for a duration (token equivalents per Whisper window or Voxtral chunk, min/max over the range)."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from meters.carbon import CarbonEngine
from meters.carbon.audio import (
    ASSUMED,
    MIN_SECONDS,
    VOXTRAL,
    WHISPER,
    audio_estimate,
    audio_rule,
    file_duration,
    known_duration,
    token_equivalents,
    wav_seconds,
)


def wav(seconds: float, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(channels)
        audio.setsampwidth(width)
        audio.setframerate(rate)
        audio.writeframes(b"\x00" * int(rate * seconds) * channels * width)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("seconds", "rate", "channels", "width"), [(1, 16000, 1, 2), (2.5, 44100, 2, 2), (7, 8000, 1, 1)]
)
def test_wav_duration_is_exact(seconds: float, rate: int, channels: int, width: int) -> None:
    assert wav_seconds(wav(seconds, rate, channels, width)) == pytest.approx(seconds)


def test_wav_chunks_before_data_and_a_streamed_size_are_read() -> None:
    plain = wav(3)
    fmt_end = plain.index(b"data")
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # odd size: padded to a word
    assert wav_seconds(plain[:fmt_end] + extra + plain[fmt_end:]) == pytest.approx(3)
    streamed = plain[: fmt_end + 4] + struct.pack("<I", 0xFFFFFFFF) + plain[fmt_end + 8 :]
    assert wav_seconds(streamed) == pytest.approx(3)
    truncated = plain[
        : len(plain) // 2
    ]  # a header promising more than the upload holds: what is there counts
    assert wav_seconds(truncated) == pytest.approx((len(truncated) - fmt_end - 8) / 32000)


@pytest.mark.parametrize(
    "data", [b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd", b"ID3" + bytes(100)]
)
def test_not_a_readable_wav_is_none(data: bytes) -> None:
    assert wav_seconds(data) is None


def test_a_wav_upload_is_labelled_wav_header() -> None:
    duration = file_duration(wav(12), "x.bin", "application/octet-stream")
    assert (duration.seconds, duration.low, duration.high, duration.source) == (12, 12, 12, "wav_header")


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "kind"),
    [
        (b"ID3" + bytes(159_997), None, None, "mp3"),
        (b"\xff\xfb" + bytes(159_998), None, None, "mp3"),
        (bytes(4) + b"ftyp" + bytes(159_992), None, None, "m4a"),
        (bytes(160_000), "talk.m4a", None, "m4a"),
        (bytes(160_000), None, "audio/mpeg", "mp3"),
    ],
)
def test_compressed_formats_get_a_bitrate_estimate(
    data: bytes, filename: str | None, content_type: str | None, kind: str
) -> None:
    duration = file_duration(data, filename, content_type)
    assert duration.source == "bitrate_estimate" and f"({kind};" in duration.note
    assert duration.seconds == pytest.approx(10)  # 160 kB at 128 kbit/s
    assert (duration.low, duration.high) == pytest.approx((4, 40))  # at 320 and 32 kbit/s


def test_opus_and_flac_have_their_own_bitrates() -> None:
    assert file_duration(b"OggS" + bytes(59_996)).seconds == pytest.approx(10)  # 48 kbit/s
    assert file_duration(b"fLaC" + bytes(874_996)).seconds == pytest.approx(10)  # 700 kbit/s


def test_an_unknown_format_is_a_labelled_fallback_never_zero() -> None:
    duration = file_duration(bytes(16_000), "blob.xyz")
    assert duration.source == "fallback" and "not recognised" in duration.note
    assert duration.low < duration.seconds < duration.high
    tiny = file_duration(b"\x01")
    assert tiny.seconds == tiny.low == MIN_SECONDS > 0


def test_token_equivalents_count_every_started_window() -> None:
    assert token_equivalents(0.1, WHISPER) == 1500
    assert token_equivalents(30, WHISPER) == 1500
    assert token_equivalents(30.01, WHISPER) == 3000
    assert token_equivalents(95.5, VOXTRAL) == 4 * 375
    assert audio_rule("whisper-large-v3") is WHISPER and audio_rule("Voxtral-Small-24B-2507") is VOXTRAL
    assert audio_rule("some-asr") is ASSUMED and "assumed" in ASSUMED.basis


def test_the_figure_is_the_models_own_for_the_equivalents_labelled() -> None:
    factors = CarbonEngine.load().factors_for("whisper-large-v3", provider="scaleway")
    duration = file_duration(b"ID3" + bytes(159_997))  # 10 s, 4 to 40 s
    figure = audio_estimate(factors, duration, prompt_tokens=3, completion_tokens=20, latency_s=None)
    assert figure.gco2e == factors.estimate(1500 + 3, 20, None).gco2e
    assert figure.gco2e_max >= factors.estimate(3000 + 3, 20, None).gco2e_max  # 40 s: two windows
    assert figure.gco2e_min <= figure.gco2e <= figure.gco2e_max
    assert figure.method == factors.method and "audio: 10 s (bitrate_estimate) as 1500" in figure.source
    assert figure.audio is not None and figure.audio["token_equivalents"] == 1500
    assert figure.as_dict()["audio"]["duration_source"] == "bitrate_estimate"
    assert "audio" not in factors.estimate(1, 1, None).as_dict()  # chat figures are unchanged


def test_tokens_counted_by_the_upstream_are_not_added_to() -> None:
    factors = CarbonEngine.load().factors_for("voxtral-small-24b-2507", provider="scaleway")
    duration = known_duration(12.0, "the upstream's usage.seconds")
    figure = audio_estimate(
        factors, duration, prompt_tokens=120, completion_tokens=5, latency_s=None, tokens_from_upstream=True
    )
    assert figure.gco2e == factors.estimate(120, 5, None).gco2e
    assert figure.audio is not None and figure.audio["duration_source"] == "upstream"
