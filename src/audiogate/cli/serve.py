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
        "serve", help="serve a whisper-cpu model (or recorded predictions, --replay) over "
                      "/v1/audio/transcriptions and /v1/chat/completions, or a tts-cpu model "
                      "over /v1/audio/speech (127.0.0.1 only by default)",
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
    p.add_argument("--delay", type=_seconds, default=0.0, metavar="SECONDS",
                   help="add this many seconds to every answer, before its first word (a "
                        "server slower by a known amount, to prove a speed gate)")
    p.add_argument("--token-delay", type=_seconds, default=0.0, metavar="SECONDS",
                   help="add this many seconds between two words of an answer")
    p.add_argument("--replay", type=Path, default=None, metavar="PREDICTIONS.jsonl",
                   help="answer with recorded predictions ({id, prediction} lines) instead "
                        "of a model: each recording of --dataset is known by its audio")
    p.add_argument("--dataset", default=None, help="with --replay: the dataset whose "
                   "recordings the predictions answer")
    p.add_argument("--datasets-file", type=Path, default=None,
                   help="with --replay: extra dataset registry YAML")
    p.add_argument("--data-root", type=Path, default=None,
                   help="with --replay: folder holding the datasets (default: as `audiogate "
                        "data` finds it)")
    p.set_defaults(func=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 3600.0 or value != value:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, not {text!r}")
    return value


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


def _replayed(args: argparse.Namespace) -> Any:
    """The --replay transcriber (its recordings read now) and the name it is served as."""
    from audiogate.engines.replay_server import ReplayTranscriber
    from audiogate.paths import default_data_root
    from audiogate.registry.load import datasets
    from audiogate.results.store import audio_hash

    if not args.dataset:
        raise UsageError("--replay needs --dataset: the dataset whose recordings the "
                         "predictions answer")
    known = datasets(args.datasets_file)
    if args.dataset not in known:
        raise UsageError(f"--dataset {args.dataset}: unknown dataset; registered: "
                         f"{', '.join(sorted(known))}")
    root = args.data_root.expanduser() if args.data_root else default_data_root(Path.cwd())
    return ReplayTranscriber(args.replay.expanduser(), known[args.dataset], root, audio_hash)


def _close(started: list[Any]) -> None:
    for one in started:
        if one is not None and hasattr(one, "close"):
            one.close()


def run(args: argparse.Namespace) -> int:
    from audiogate.engines import EngineContext, make_engine
    from audiogate.engines.embedded_server import make_server
    from audiogate.registry.load import model as lookup

    speaker_spec = lookup(args.speak_with, args.models_file) if args.speak_with else None
    if speaker_spec is not None and speaker_spec.engine != "tts-cpu":
        raise RegistryError(f"--speak-with {speaker_spec.name}: a tts-cpu entry is needed, not "
                            f"engine {speaker_spec.engine!r}")
    started: list[Any] = []
    engine: Any = None
    if args.replay is not None:
        engine = _replayed(args)
        started.append(engine)
        name = args.served_model_name or "replay"
        language, root = "en", f"replay:{engine.identity['predictions']}"
        voice = speaker_spec
    else:
        spec = lookup(args.model, args.models_file)
        if spec.engine not in EMBEDDED:
            raise RegistryError(
                f"`audiogate serve` serves embedded CPU models (engine whisper-cpu or "
                f"tts-cpu); {spec.name!r} is engine {spec.engine!r}"
            )
        name = args.served_model_name or spec.name
        voice = spec if spec.engine == "tts-cpu" else speaker_spec
    try:
        if args.replay is None:
            # a text-to-speech model only speaks; a transcriber may also speak its answers
            engine = None if spec.engine == "tts-cpu" else make_engine(spec, EngineContext())
            started.append(engine)
            language, root = spec.languages[0], str(getattr(engine, "model_dir", ""))
        speaker: Any = None if voice is None else make_engine(voice, EngineContext())
        started.append(speaker)
    except BaseException:
        _close(started)
        raise
    try:
        server = make_server(engine, name, language, args.host, args.port, root=root,
                             speaker=speaker, delay=args.delay, token_delay=args.token_delay)
    except OSError as exc:
        _close(started)
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
        _close(started)
    sys.stdout.flush()
    return 0
