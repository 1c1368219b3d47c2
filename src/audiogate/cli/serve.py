"""`audiogate serve`: an embedded CPU model behind OpenAI-compatible endpoints."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from audiogate.errors import RegistryError, UsageError

EMBEDDED = ("whisper-cpu", "tts-cpu")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "serve", help="serve a whisper-cpu model over /v1/audio/transcriptions and "
                      "/v1/chat/completions, or a tts-cpu model over /v1/audio/speech "
                      "(127.0.0.1 only by default)",
    )
    p.add_argument("--model", default="whisper-tiny.en",
                   help="a whisper-cpu or tts-cpu registry entry")
    p.add_argument("--speak-with", default=None, metavar="MODEL",
                   help="a tts-cpu entry that speaks the answers of chat requests asked in "
                        "speech (modalities text + audio) and serves /v1/audio/speech")
    p.add_argument("--models-file", type=Path, default=None,
                   help="extra model registry YAML (adds or overrides entries)")
    p.add_argument("--served-model-name", default=None,
                   help="the `model` name clients send (default: the registry name)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed)")
    p.set_defaults(func=run)


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """Why the server could not bind ``host:port``, and what to do instead."""
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use: pass another --port (0 picks a "
                "free one) or stop what holds it")
    if exc.errno == errno.EACCES:
        return (f"not allowed to listen on port {port} on {host} (ports below 1024 need "
                "privileges): pass another --port (0 picks a free one)")
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops serve_forever cleanly, like Ctrl-C


def run(args: argparse.Namespace) -> int:
    from audiogate.engines import EngineContext, make_engine
    from audiogate.engines.embedded_server import make_server
    from audiogate.registry.load import model as lookup

    spec = lookup(args.model, args.models_file)
    if spec.engine not in EMBEDDED:
        raise RegistryError(
            f"`audiogate serve` serves embedded CPU models (engine whisper-cpu or tts-cpu); "
            f"{spec.name!r} is engine {spec.engine!r}"
        )
    speaker_spec = lookup(args.speak_with, args.models_file) if args.speak_with else None
    if speaker_spec is not None and speaker_spec.engine != "tts-cpu":
        raise RegistryError(f"--speak-with {speaker_spec.name}: a tts-cpu entry is needed, not "
                            f"engine {speaker_spec.engine!r}")
    started: list[Any] = []
    try:
        # a text-to-speech model only speaks; a transcriber may also speak its answers
        engine: Any = None if spec.engine == "tts-cpu" else make_engine(spec, EngineContext())
        started.append(engine)
        voice = spec if spec.engine == "tts-cpu" else speaker_spec
        speaker: Any = None if voice is None else make_engine(voice, EngineContext())
        started.append(speaker)
    except BaseException:
        for one in started:
            if one is not None:
                one.close()
        raise
    name = args.served_model_name or spec.name
    try:
        server = make_server(engine, name, spec.languages[0], args.host, args.port,  # type: ignore[arg-type]
                             root=str(getattr(engine, "model_dir", "")), speaker=speaker)
    except OSError as exc:
        for one in started:
            if one is not None:
                one.close()
        raise UsageError(cannot_listen(args.host, args.port, exc)) from exc
    host, port = str(server.server_address[0]), int(server.server_address[1])
    signal.signal(signal.SIGTERM, _terminate)
    print(f"listening on http://{host}:{port} (model {name})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("shutting down", flush=True)
    finally:
        server.server_close()
        for one in started:
            if one is not None:
                one.close()
    sys.stdout.flush()
    return 0
