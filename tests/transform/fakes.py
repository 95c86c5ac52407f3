"""A stand-in for generate.Engine that records what the transform asks of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeResult:
    texts: list[str]
    generated_tokens: int


class FakeEngine:
    is_seq2seq = True
    tokenizer = None

    def __init__(self, fail_on: tuple[str, ...] = (), reply=None) -> None:
        self.calls: list[tuple[list[str], object, int | None]] = []
        self.fail_on = fail_on
        self.reply = reply or (lambda prompt, k: f"out:{prompt}:{k}")

    def generate(self, prompts, params, chat=False, batch_size=None):
        self.calls.append((list(prompts), params, batch_size))
        for p in prompts:
            if p in self.fail_on:
                raise RuntimeError(f"cannot generate for {p!r}")
        n = params.num_return_sequences
        return [FakeResult([self.reply(p, k) for k in range(n)], 2 * n) for p in prompts]

    @property
    def prompts_seen(self) -> list[str]:
        return [p for call in self.calls for p in call[0]]


@dataclass(frozen=True)
class RecordingEngineFactory:
    """A picklable engine factory for worker processes (pool or Spark): each load and every
    prompt generated is appended to files under `log_dir`, named by process id."""

    log_dir: str
    fail_on: tuple[str, ...] = ()
    delay: float = 0.0  # seconds per engine call

    def __call__(self):
        import os
        from pathlib import Path

        Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        Path(self.log_dir, f"load-{os.getpid()}").write_text("loaded")
        return _RecordingEngine(self.log_dir, self.fail_on, self.delay)

    def prompts(self) -> list[str]:
        from pathlib import Path

        return [p for f in sorted(Path(self.log_dir).glob("prompts-*")) for p in f.read_text().splitlines()]

    def loads(self) -> int:
        from pathlib import Path

        return len(list(Path(self.log_dir).glob("load-*")))


class _RecordingEngine(FakeEngine):
    def __init__(self, log_dir: str, fail_on: tuple[str, ...], delay: float) -> None:
        super().__init__(fail_on=fail_on)
        self.log_dir = log_dir
        self.delay = delay

    def generate(self, prompts, params, chat=False, batch_size=None):
        import os
        import time
        from pathlib import Path

        time.sleep(self.delay)
        with open(Path(self.log_dir, f"prompts-{os.getpid()}"), "a") as f:
            f.write("".join(p + "\n" for p in prompts))
        return super().generate(prompts, params, chat, batch_size)
