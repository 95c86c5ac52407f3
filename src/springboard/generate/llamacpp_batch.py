"""llama.cpp continuous batching: one context, many sequences (what llama-server's slots do).

Every row the llama.cpp backend takes becomes a sequence of one llama.cpp context (its own
`seq_id`, its own stream of KV cells). One thread runs the loop: each step
builds one `llama_batch` from the next token of every decoding row plus up to `prefill_chunk`
prompt tokens of rows still reading their prompt (chunked prefill: a long prompt does not stall
the others' decoding), calls `llama_decode` once, and samples each row that got logits with its
own parameters and its own seeded generator. A row ends (eos, stop sequence, token limit,
cancellation) through the same RowDecoder as every other stream, and its cells are freed.

Batch invariance, measured (SmolLM2 Q4_1, 2 cores, AVX2 build): with a unified KV cache
(`kv_unified`, all sequences in one pool of cells) a prompt's logits batched with three others
differed from alone by up to 0.8 and flipped greedy tokens; with a cache stream per sequence they
are equal bit for bit, with and without flash attention, for prefill, decode and mixed steps. So
each sequence has its own `cells_per_row` cells (SPRINGBOARD_LLAMACPP_CONTEXT, default the
model's context up to 2048): a row needing more is refused naming max_new_tokens, never run
differently.

Sampling follows transformers' order for the parameters GenerationParams holds: greedy is the
argmax (first of equal maxima, as torch's); sampling applies temperature, then top-k, then
top-p (the generation config's top_k / top_p where the request leaves them unset), over float64
probabilities, drawn from numpy's generator seeded with the request's seed."""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from springboard.errors import DataError, SpringboardError
from springboard.generate.backends import Capabilities

if TYPE_CHECKING:
    from collections.abc import Sequence

    from springboard.generate.engine import Engine, GenerationRequest
    from springboard.generate.stream import TextStream

log = logging.getLogger("springboard.generate")

# What llama.cpp runs the way the reference would (never a silently different meaning): the core
# fields (decoding.CORE_FIELDS: limits, greedy or temperature/top-k/top-p sampling, seeds, stop
# sequences), several sampled sequences (rows of their own, seed + j) and the generated tokens'
# log-probabilities (log-softmax of the logits each token was drawn from, as the scheduler's).
# The prompt's log-probabilities, grammars, adapters, beam search, penalties, watermark... stay on
# transformers.
CAPABILITIES = Capabilities("llamacpp", frozenset({"several_sampled", "logprobs"}), seq2seq=False)


class _Row:
    def __init__(self, stream: TextStream, seq: int, sampler: Any) -> None:
        self.stream, self.seq, self.sampler = stream, seq, sampler
        self.pending = list(stream.prompt_ids)  # prompt tokens not yet decoded
        self.pos = 0  # next position
        self.next_token: int | None = None  # sampled, to decode next step


class LlamaCppBackend:
    """The llama.cpp backend of an Engine: `submit(stream)` queues a TextStream's row."""

    capabilities = CAPABILITIES

    def __init__(self, engine: Engine, threads: int | None = None, gguf: Path | None = None,
                 max_seqs: int | None = None, prefill_chunk: int = 256) -> None:
        import llama_cpp as C

        from springboard.generate.llamacpp import ensure_gguf

        self.engine = engine
        self.gguf = Path(gguf) if gguf else ensure_gguf(engine.model_dir)
        self.threads = threads or int(os.environ.get("SPRINGBOARD_LLAMACPP_THREADS", 0)) or (os.cpu_count() or 1)
        self.max_seqs = max_seqs or int(os.environ.get("SPRINGBOARD_LLAMACPP_SEQUENCES", 16))
        self.prefill_chunk = prefill_chunk
        self.cells_per_row = int(os.environ.get("SPRINGBOARD_LLAMACPP_CONTEXT", 0)) or min(engine.context_length or 2048, 2048)
        self.n_ctx = self.cells_per_row * self.max_seqs
        self.n_batch = prefill_chunk + self.max_seqs
        mparams = C.llama_model_default_params()
        self._model = C.llama_model_load_from_file(str(self.gguf).encode(), mparams)
        if not self._model:
            raise SpringboardError(f"llama.cpp cannot load {self.gguf}")
        cparams = C.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = self.n_ctx, self.n_batch, self.n_batch
        cparams.n_seq_max = self.max_seqs
        cparams.kv_unified = False  # a cache stream per sequence: batch-invariant (see above)
        cparams.n_threads = cparams.n_threads_batch = self.threads
        cparams.no_perf = True
        self._ctx = C.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            C.llama_model_free(self._model)
            raise SpringboardError(f"llama.cpp cannot create a context of {self.n_ctx} cells for {self.gguf}")
        self._mem = C.llama_get_memory(self._ctx)
        self._batch = C.llama_batch_init(self.n_batch, 0, 1)
        self.n_vocab = C.llama_vocab_n_tokens(C.llama_model_get_vocab(self._model))
        self._queue: queue.Queue[Any] = queue.Queue()
        self._waiting: list[TextStream] = []
        self._rows: list[_Row] = []
        self._free = list(range(self.max_seqs))
        self.rows = 0  # rows decoded here (the transformers fallback does not count)
        self.steps = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="springboard-llamacpp", daemon=True)
        self._thread.start()
        log.info("llama.cpp backend: %s, %d threads, %d sequences over %d cells", self.gguf, self.threads,
                 self.max_seqs, self.n_ctx)

    @property
    def busy(self) -> bool:
        return bool(self._rows or self._waiting) or not self._queue.empty()

    def takes(self, requests: Sequence[GenerationRequest]) -> bool:
        """Its load policy, for requests its capabilities cover. At float32 (the reference's
        weights) it takes a lone row while it is free, and concurrent rows batch on the
        transformers scheduler with equal outputs. At any other precision it takes every row,
        however many and however busy it is: a request's output must not depend on which path
        the load sent it to."""
        precision = self.engine.precision
        if precision is not None and not precision.exact:
            return True
        if sum(len(r.prompts) * r.params.num_return_sequences for r in requests) != 1:
            return False
        return self.engine.scheduler is None or not self.busy

    def submit(self, stream: TextStream) -> None:
        if stream.prompt_tokens + stream.limit > self.cells_per_row:
            stream.end(DataError(f"the prompt ({stream.prompt_tokens} tokens) plus {stream.limit} new tokens exceeds "
                                 f"the {self.cells_per_row} tokens a llama.cpp sequence holds on this endpoint "
                                 "(SPRINGBOARD_LLAMACPP_CONTEXT)", field="max_new_tokens"))
            return
        self._queue.put(stream)

    def close(self) -> None:
        import llama_cpp as C

        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=60)
        if self._thread.is_alive():
            return  # a step is stuck: leave the memory to the process rather than free it under it
        C.llama_batch_free(self._batch)
        C.llama_free(self._ctx)
        C.llama_model_free(self._model)

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            block = not self._rows and not self._waiting
            try:
                while True:
                    item = self._queue.get(block=block)
                    block = False
                    if item is None:
                        self._fail_all(SpringboardError("the llama.cpp backend was closed"))
                        return
                    self._waiting.append(item)
            except queue.Empty:
                pass
            try:
                self._admit()
                if self._rows:
                    self._step()
            except BaseException as exc:  # noqa: BLE001 - surfaced to every row's consumer
                log.exception("llama.cpp step failed")
                self._fail_all(exc)

    def _admit(self) -> None:
        still = []
        for stream in self._waiting:
            if stream.cancelled or stream.decoder.done:  # the limit left no room
                stream.end()
            elif self._free:
                self._rows.append(_Row(stream, self._free.pop(0), _sampler(self.engine, stream.params)))
                self.rows += 1
            else:
                still.append(stream)
        self._waiting = still

    def _step(self) -> None:
        import llama_cpp as C
        import numpy as np

        from springboard.generate.logprobs import sampled_token

        batch, n = self._batch, 0
        wants: list[tuple[_Row, int]] = []  # rows sampled after this step, and their logits' index

        def add(token: int, row: _Row, logits: bool) -> None:
            nonlocal n
            batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, row.pos, 1
            batch.seq_id[n][0] = row.seq
            batch.logits[n] = logits
            if logits:
                wants.append((row, n))
            row.pos += 1
            n += 1

        for row in self._rows:
            if row.next_token is not None:
                add(row.next_token, row, True)
                row.next_token = None
        budget = self.prefill_chunk
        for row in self._rows:
            if row.pending and budget > 0:
                take, row.pending = row.pending[:budget], row.pending[budget:]
                budget -= len(take)
                for i, token in enumerate(take):
                    add(token, row, not row.pending and i == len(take) - 1)
        if n:
            batch.n_tokens = n
            status = C.llama_decode(self._ctx, batch)
            if status != 0:
                raise SpringboardError(f"llama_decode failed (status {status})")
            self.steps += 1
        vocab = self.engine.vocab
        for row, index in wants:
            if row.stream.cancelled:
                continue
            logits = np.ctypeslib.as_array(C.llama_get_logits_ith(self._ctx, index), shape=(self.n_vocab,))
            token_id = row.sampler(logits)
            token = sampled_token(vocab, logits, token_id, row.stream.params.logprobs)
            if not row.stream.advance(token):
                row.next_token = token_id
        for row in [r for r in self._rows if r.stream.ended or r.stream.cancelled]:
            self._release(row)
            row.stream.end()

    def _release(self, row: _Row) -> None:
        import llama_cpp as C

        C.llama_memory_seq_rm(self._mem, row.seq, -1, -1)
        self._rows.remove(row)
        self._free.append(row.seq)

    def _fail_all(self, exc: BaseException) -> None:
        for row in list(self._rows):
            self._release(row)
            row.stream.end(exc)
        for stream in self._waiting:
            stream.end(exc)
        self._waiting = []


def _sampler(engine: Engine, params: Any) -> Any:
    """The row's token chooser over a logits vector (see the module's docstring)."""
    import numpy as np

    if not params.do_sample:
        return lambda logits: int(np.argmax(logits))
    config = engine.model.generation_config
    temperature = params.temperature if params.temperature is not None else 1.0
    top_k = params.top_k if params.top_k is not None else (config.top_k or 0)
    top_p = params.top_p if params.top_p is not None else (config.top_p if config.top_p is not None else 1.0)
    rng = np.random.default_rng(params.seed)

    def sample(logits: Any) -> int:
        scores = logits.astype(np.float64) / max(temperature, 1e-6)
        order = np.argsort(-scores, kind="stable")
        if top_k and top_k < len(order):
            order = order[:top_k]
        kept = scores[order]
        probs = np.exp(kept - kept.max())
        probs /= probs.sum()
        if top_p < 1.0:
            # keep the smallest head whose mass reaches top_p (at least one token), as HF's TopPLogitsWarper
            cut = int(np.searchsorted(np.cumsum(probs), top_p, side="left")) + 1
            order, probs = order[:cut], probs[:cut] / probs[:cut].sum()
        return int(order[rng.choice(len(order), p=probs)])

    return sample
