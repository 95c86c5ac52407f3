"""Continuous batching (iteration-level scheduling) for causal models on the CPU.

One Scheduler per loaded engine runs one thread. Every step it
1. admits waiting rows (up to `max_batch` running) in prefill groups of similar prompt length,
   each left-padded, and runs a group's prompt through the model `prefill_chunk` columns at a time,
   one chunk per step, so a long prompt delays the running streams by one chunk, not by its whole
   length; a prompt prefix the group shares (a chat template's system prompt) comes from a small
   prefix cache of keys and values instead of being computed for every row;
2. runs one decode step for every running row: one forward pass over a [rows, 1] batch whose KV
   cache is one left-padded DynamicCache whose layers grow in place (generate/cpu.py);
3. hands each row its next token (logits processors, greedy or sampled with the row's own
   generator, so a seeded row does not depend on its neighbours), decodes it (RowDecoder: eos,
   stop sequences, limit) and drops finished or cancelled rows from the batch at once.
A prefill group that has read its whole prompt joins the running batch: both caches are
left-padded to the same length and concatenated; columns no running row uses are trimmed away.

transformers ships its own continuous batching (`generate_batch`, ContinuousBatchingManager, paged
attention); on this CPU it ran 4-5x slower than static `generate()` (42 s vs 11 s for 8 prompts
x 24 tokens of SmolLM2), so this scheduler drives the model's ordinary forward instead.

Rows that need what this loop does not do (beam search, encoder-decoder models, prompt
log-probabilities) stay on `Engine.generate_batch`; both take the engine's lock per pass."""

from __future__ import annotations

import inspect
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from springboard.generate.backends import Capabilities
from springboard.generate.decoding import FEATURES, generation_config
from springboard.generate.logprobs import sampled_token
from springboard.generate.prefill import PrefixCache, by_length
from springboard.generate.stopping import penalties
from springboard.generate.stream import TextStream

if TYPE_CHECKING:
    import torch

    from springboard.generate.engine import Engine

log = logging.getLogger("springboard.generate")


# Everything but beam search, several greedy sequences (beams' cousins) and prompt
# log-probabilities, on causal models; rows join the running batch.
CAPABILITIES = Capabilities("transformers-continuous",
                            FEATURES - {"beam_search", "several_greedy", "prompt_logprobs"}, seq2seq=False)


@dataclass
class _Row:
    stream: TextStream
    processors: Any
    generator: torch.Generator | None
    greedy: bool
    constraint: Any = None  # a RowConstraint when the request has a grammar
    history: list[int] = field(default_factory=list)  # prompt + generated, for processors


@dataclass
class _Prefill:
    rows: list[_Row]
    ids: torch.Tensor  # [rows, length], left-padded
    mask: torch.Tensor
    cache: Any
    done: int = 0  # columns read so far


@dataclass
class SchedulerStats:
    steps: int = 0
    prefill_chunks: int = 0
    rows: int = 0
    max_running: int = 0
    prefix_hits: int = 0


class Scheduler:
    """The transformers continuous-batching backend (generate/backends)."""

    capabilities = CAPABILITIES

    def __init__(self, engine: Engine, max_batch: int = 32, prefill_chunk: int = 256) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.prefill_chunk = prefill_chunk
        self.stats = SchedulerStats()
        self._waiting: deque[_Row] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._running: list[_Row] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None
        self._last: torch.Tensor | None = None  # each running row's newest token, not yet fed
        self._prefill: deque[_Prefill] = deque()  # admitted groups, prefilled one after the other
        self.prefixes = PrefixCache(self._compute_prefix)
        # transformers 5 renames the forward's `past_key_values` to `cache`
        params = inspect.signature(engine.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._thread = threading.Thread(target=self._loop, name="springboard-scheduler", daemon=True)
        self._thread.start()

    # -- requests --------------------------------------------------------------------------------

    def takes(self, requests: Any) -> bool:
        """Every request its capabilities cover: rows queue until the batch has room."""
        return True

    def submit(self, stream: TextStream) -> None:
        """Queues a row (a TextStream built with `feed=scheduler.submit`)."""
        import torch

        params = stream.params
        seed = params.seed
        generator = None
        if params.do_sample:
            generator = torch.Generator(device="cpu")
            generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
        config = generation_config(self.engine.model, self.engine.tokenizer, params, max(stream.limit, 1))
        processors = self.engine.model._get_logits_processor(
            generation_config=config, input_ids_seq_length=len(stream.prompt_ids), encoder_input_ids=None,
            prefix_allowed_tokens_fn=None, logits_processor=None, device="cpu", model_kwargs={},
        )
        constraint = None
        if params.grammar is not None:
            from springboard.generate.constrain import RowConstraint

            constraint = RowConstraint(self.engine.tokenizer, self.engine.eos, params.grammar)
        processors.extend(penalties(params, len(stream.prompt_ids)))
        greedy = not params.do_sample and len(processors) == 0 and constraint is None
        row = _Row(stream, processors, generator, greedy, constraint=constraint, history=list(stream.prompt_ids))
        with self._wake:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            self._waiting.append(row)
            self._wake.notify()

    def close(self, error: BaseException | None = None) -> None:
        with self._wake:
            self._closed = True
            self._close_error = error
            self._wake.notify()
        self._thread.join(timeout=30)

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        import torch

        while True:
            with self._wake:
                while not (self._waiting or self._running or self._prefill or self._closed):
                    self._wake.wait()
                if self._closed:
                    break
            try:
                with self.engine.lock, torch.inference_mode():
                    self._step()
            except BaseException as exc:  # a failed pass fails the rows in it, not the scheduler
                log.exception("generation step failed")
                for row in self._running + self._prefilling():
                    row.stream.end(exc)
                self._running, self._cache, self._mask, self._last = [], None, None, None
                self._prefill.clear()
        error = getattr(self, "_close_error", None) or RuntimeError("the scheduler stopped")
        for row in self._running + self._prefilling() + list(self._waiting):
            row.stream.end(error)

    def _step(self) -> None:
        self._drop_cancelled()
        if not self._prefill and self._waiting and len(self._running) < self.max_batch:
            self._start_prefill()
        if self._prefill:
            self._prefill_chunk()
        if self._running:
            self._decode()
        self.stats.max_running = max(self.stats.max_running, len(self._running))

    def _start_prefill(self) -> None:
        rows: list[_Row] = []
        with self._wake:
            while self._waiting and len(self._running) + len(rows) < self.max_batch:
                rows.append(self._waiting.popleft())
        rows = [r for r in rows if not self._ended_early(r)]
        if not rows:
            return
        self.stats.rows += len(rows)
        try:
            for group in by_length(rows):
                self._prefill.append(self._group(group))
        except BaseException as exc:  # rows no group holds yet would wait for ever
            held = {id(r) for r in self._prefilling()}
            for row in rows:
                if id(row) not in held:
                    row.stream.end(exc)
            raise

    def _group(self, rows: list[_Row]) -> _Prefill:
        """A prefill group: its rows left-padded to one length. When the rows share a long prompt
        prefix (a chat template's system prompt, a few-shot preamble), its keys and values come
        from the prefix cache (computed once, at one row) and only the rest is prefilled:
        columns [prefix][padding][row's own tokens], positions counted over real tokens only."""
        import torch
        from springboard.generate.cpu import growing_cache

        prompts = [r.stream.prompt_ids for r in rows]
        prefix = self.prefixes.shared([r.stream.params.adapter for r in rows], prompts)
        shared = len(prefix[0]) if prefix else 0
        length = shared + max(len(p) - shared for p in prompts)
        pad = self.engine.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), length), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        cache = growing_cache(self.engine.model.config)
        if prefix:
            tokens, kv, hits = prefix
            self.stats.prefix_hits += hits
            ids[:, :shared] = torch.tensor(tokens)
            mask[:, :shared] = 1
            for layer, (keys, values) in enumerate(kv):
                cache.update(keys, values, layer)
        for i, prompt in enumerate(prompts):
            n = len(prompt) - shared
            ids[i, length - n :] = torch.tensor(prompt[shared:])
            mask[i, length - n :] = 1
        return _Prefill(rows, ids, mask, cache, done=shared)

    def _compute_prefix(self, adapter: str | None, head: tuple[int, ...]) -> list:
        """A prefix's per-layer (keys, values), computed at one row with `adapter` (PrefixCache)."""
        import torch
        from springboard.generate.cpu import growing_cache

        cache = growing_cache(self.engine.model.config)
        self._forward([adapter], input_ids=torch.tensor([head]), **{self._cache_arg: cache}, use_cache=True,
                      logits_to_keep=1)
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _prefilling(self) -> list[_Row]:
        return [row for group in self._prefill for row in group.rows]

    def _ended_early(self, row: _Row) -> bool:
        if row.stream.cancelled or row.stream.decoder.done:  # the limit left no room
            row.stream.end()
            return True
        return False

    def _prefill_chunk(self) -> None:
        import torch

        pre = self._prefill[0]
        start, stop = pre.done, min(pre.done + self.prefill_chunk, pre.ids.shape[1])
        mask = pre.mask[:, :stop]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, start:stop]
        out = self._forward(
            [r.stream.params.adapter for r in pre.rows], input_ids=pre.ids[:, start:stop], attention_mask=mask,
            position_ids=positions, **{self._cache_arg: pre.cache}, cache_position=torch.arange(start, stop),
            use_cache=True, logits_to_keep=1,
        )
        pre.done = stop
        self.stats.prefill_chunks += 1
        if stop < pre.ids.shape[1]:
            return
        # the group leaves the prefill queue only once its rows are running (or ended): a failure
        # on the way ends them with the error, as it does the running ones
        logits = out.logits[:, -1, :].float()
        tokens = self._choose(pre.rows, logits)
        keep = [i for i, row in enumerate(pre.rows) if not self._advance(row, tokens[i], logits[i])]
        if keep:
            index = torch.tensor(keep)
            pre.cache.batch_select_indices(index)
            self._join(pre.cache, pre.mask[index], torch.tensor([tokens[i] for i in keep]),
                       [pre.rows[i] for i in keep])
        self._prefill.popleft()

    def _decode(self) -> None:
        import torch

        assert self._mask is not None and self._last is not None
        length = self._mask.shape[1]
        self._mask = torch.cat([self._mask, torch.ones((len(self._running), 1), dtype=torch.long)], dim=1)
        positions = self._mask.sum(-1, keepdim=True) - 1
        out = self._forward(
            [r.stream.params.adapter for r in self._running], input_ids=self._last[:, None],
            attention_mask=self._mask, position_ids=positions, **{self._cache_arg: self._cache},
            cache_position=torch.tensor([length]), use_cache=True,
        )
        self.stats.steps += 1
        logits = out.logits[:, -1, :].float()
        tokens = self._choose(self._running, logits)
        finished = {i for i, row in enumerate(self._running) if self._advance(row, tokens[i], logits[i])}
        self._last = torch.tensor(tokens)
        if finished:
            self._keep([i for i in range(len(self._running)) if i not in finished])

    def _forward(self, adapters: list[str | None], **kwargs: Any) -> Any:
        """One forward pass of the model; with LoRA adapters attached row i gets `adapters[i]`
        (generate/lora.py), None the base model."""
        lora = self.engine.lora
        if lora is None:
            return self.engine.model(**kwargs)
        with lora.rows(adapters):
            return self.engine.model(**kwargs)

    # -- rows ------------------------------------------------------------------------------------

    def _choose(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        """Each row's next token, from its own processors and generator."""
        import torch

        if all(r.greedy for r in rows):
            return logits.argmax(-1).tolist()
        chosen = []
        for i, row in enumerate(rows):
            scores = logits[i : i + 1]
            if row.constraint is not None:
                scores = row.constraint.mask(scores)
            if len(row.processors):
                scores = row.processors(torch.tensor([row.history]), scores)
            if row.stream.params.do_sample:
                probs = torch.softmax(scores, dim=-1)
                if not bool(torch.isfinite(probs).all()) or float(probs.sum()) <= 0:
                    # a degenerate distribution (say, logits / a vanishing temperature overflow):
                    # its limit is the most likely token
                    chosen.append(int(torch.nan_to_num(scores[0], nan=float("-inf")).argmax()))
                    continue
                chosen.append(int(torch.multinomial(probs[0], 1, generator=row.generator)))
            else:
                chosen.append(int(scores[0].argmax()))
        return chosen

    def _advance(self, row: _Row, token_id: int, logits: torch.Tensor) -> bool:
        """Feeds one token to a row (`logits`: the model's raw scores it came from); True when the
        row is finished (and ended)."""
        stream = row.stream
        token = sampled_token(self.engine.vocab, logits, token_id, stream.params.logprobs)
        row.history.append(token_id)
        if row.constraint is not None:
            row.constraint.consume(token_id)
        return stream.advance(token)

    # -- the running batch -----------------------------------------------------------------------

    def _drop_cancelled(self) -> None:
        gone = [i for i, row in enumerate(self._running) if row.stream.cancelled]
        if gone:
            for i in gone:
                self._running[i].stream.end()
            self._keep([i for i in range(len(self._running)) if i not in set(gone)])

    def _keep(self, keep: list[int]) -> None:
        import torch

        if not keep:
            self._running, self._cache, self._mask, self._last = [], None, None, None
            return
        assert self._mask is not None and self._last is not None
        index = torch.tensor(keep)
        self._cache.batch_select_indices(index)
        self._running = [self._running[i] for i in keep]
        self._mask, self._last = self._mask[index], self._last[index]
        used = self._mask.any(0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0:  # columns only finished rows used
            self._mask = self._mask[:, first:]
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:, :], layer.values[:, :, first:, :]

    def _join(self, cache: Any, mask: torch.Tensor, last: torch.Tensor, rows: list[_Row]) -> None:
        """Adds a prefilled group to the running batch (both left-padded to one length)."""
        import torch
        import torch.nn.functional as F

        if not self._running:
            self._cache, self._mask, self._last, self._running = cache, mask, last, rows
            return
        assert self._mask is not None and self._last is not None
        length = max(self._mask.shape[1], mask.shape[1])

        def left(t: torch.Tensor, n: int, dim_from_end: int) -> torch.Tensor:
            pad = [0, 0] * (dim_from_end - 1) + [n, 0]
            return F.pad(t, pad) if n else t

        grow_old, grow_new = length - self._mask.shape[1], length - mask.shape[1]
        for old, new in zip(self._cache.layers, cache.layers):
            old.keys = torch.cat([left(old.keys, grow_old, 2), left(new.keys, grow_new, 2)], dim=0)
            old.values = torch.cat([left(old.values, grow_old, 2), left(new.values, grow_new, 2)], dim=0)
        self._mask = torch.cat([left(self._mask, grow_old, 1), left(mask, grow_new, 1)], dim=0)
        self._last = torch.cat([self._last, last])
        self._running = self._running + rows
