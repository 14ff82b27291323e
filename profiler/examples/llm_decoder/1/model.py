"""llm_decoder: a streaming decoder LLM from a transformers LlamaConfig, random weights (see config.pbtxt).

The config is a transformers ``LlamaConfig``; the weights are a ``LlamaForCausalLM``'s, under its names,
random (seeded, no download); the decoding loop is this file's: one engine thread prefills each new
sequence alone, then decodes every sequence in flight together, one token per step (greedy), and sends
each token as a response of its own. Each sequence holds one KV *slot* (keys and values of every
layer for ``max_sequence_tokens`` positions) from its prefill until just before its final response,
so the model's memory is weights + slots, and slots are what sequences in flight cost.

Memory, the way vLLM takes it: ``gpu_memory_utilization`` in the version folder's ``model.json`` is a
fraction of the whole GPU. With it, ``initialize`` builds the weights, runs a warm-up, then reserves
as many slots as the rest of the share holds, and fails the load (vLLM's start-up check) when the GPU
has less free memory than that; sequences beyond the reserved slots wait for one. Without it, slots
are allocated as sequences arrive, up to ``max_num_seqs``, and kept for reuse.

Execution is decoupled: ``execute`` queues each request for the engine thread and returns at once.
"""

import collections
import json
import os
import threading
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
import triton_python_backend_utils as pb_utils
from torch import nn

MB = 10**6
VLLM_KNOB = "gpu_memory_utilization"
# Left free inside a share for the activations of prefills and decode steps after the warm-up.
ACTIVATION_HEADROOM_MB = 64
# The CUDA context and the stub's own use, where NVML cannot say what this process holds.
CONTEXT_MB_ESTIMATE = 600
WARMUP_TOKENS = 16


def _parameter(parameters, key, default=None):
    value = parameters.get(key, {}).get("string_value", default)
    if value is None:
        raise ValueError(f"config parameter {key} is missing")
    return value


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _own_gpu_bytes(device):
    """GPU memory this process holds: NVML's per-process figure, else torch's reservation + context."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
            for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if process.pid == os.getpid() and process.usedGpuMemory:
                    return int(process.usedGpuMemory), "NVML"
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML here: estimate
        pass
    return torch.cuda.memory_reserved(device) + CONTEXT_MB_ESTIMATE * MB, "torch + context estimate"


def _rope_theta(config):
    """The rotary base of a LlamaConfig (an attribute, or in ``rope_parameters`` in newer transformers)."""
    theta = getattr(config, "rope_theta", None)
    if theta is None:
        theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta")
    return float(theta or 10000.0)


class Sequence:
    """One request in flight: its prompt, how many tokens it wants, its slot and position."""

    def __init__(self, tokens, max_tokens, sender):
        self.tokens = tokens
        self.max_tokens = max_tokens
        self.sender = sender
        self.slot = None
        self.length = 0  # positions written in the slot
        self.generated = 0
        self.next_token = None


class RMSNorm(nn.Module):
    """Llama's RMS norm, computed in fp32 as transformers does."""

    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, x):
        """X / rms(x) * weight."""
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x.to(dtype)


class Layer(nn.Module):
    """One Llama decoder layer's weights, under transformers' names."""

    def __init__(self, config):
        super().__init__()
        hidden, heads, kv_heads = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
        head_dim = hidden // heads
        self.input_layernorm = RMSNorm(hidden, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(hidden, config.rms_norm_eps)
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(hidden, heads * head_dim, bias=False)
        self.self_attn.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.self_attn.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.self_attn.o_proj = nn.Linear(heads * head_dim, hidden, bias=False)
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(hidden, config.intermediate_size, bias=False)
        self.mlp.up_proj = nn.Linear(hidden, config.intermediate_size, bias=False)
        self.mlp.down_proj = nn.Linear(config.intermediate_size, hidden, bias=False)

    def feed_forward(self, x):
        """The SwiGLU MLP."""
        return self.mlp.down_proj(F.silu(self.mlp.gate_proj(x)) * self.mlp.up_proj(x))


class Llama(nn.Module):
    """The weights of a ``LlamaForCausalLM`` of ``config``, named as transformers names them.

    Built here rather than through ``transformers.LlamaForCausalLM`` so that only the config comes from
    transformers: its modeling code imports more than a Triton stub's environment may hold.
    """

    def __init__(self, config):
        super().__init__()
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.model.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.model.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        for module in self.modules():  # transformers' initialization: normal(0, initializer_range)
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=config.initializer_range)


class Decoder:
    """Prefill and batched decode over a Llama's weights, with per-sequence KV slots."""

    def __init__(self, config, device, dtype):
        self.device = device
        self.dtype = dtype
        self.config = config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = config.hidden_size // self.heads
        previous = torch.get_default_dtype()
        torch.manual_seed(0)
        try:  # built in place, in its own dtype: no fp32 copy ever held on the GPU
            torch.set_default_dtype(dtype)
            with torch.device(device):
                self.model = Llama(config).eval()
        finally:
            torch.set_default_dtype(previous)
        positions = torch.arange(config.max_position_embeddings, device=device, dtype=torch.float32)
        exponents = torch.arange(0, self.head_dim, 2, device=device, dtype=torch.float32) / self.head_dim
        angles = torch.outer(positions, 1.0 / (_rope_theta(config) ** exponents))
        angles = torch.cat((angles, angles), dim=-1)
        self.cos = angles.cos().to(dtype)
        self.sin = angles.sin().to(dtype)

    def slot_shape(self):
        """Keys and values of every layer for every position of one sequence."""
        layers = self.config.num_hidden_layers
        return (layers, 2, self.kv_heads, self.config.max_position_embeddings, self.head_dim)

    def slot_bytes(self):
        """Bytes of one slot: what one more sequence in flight costs."""
        return int(np.prod(self.slot_shape())) * torch.tensor([], dtype=self.dtype).element_size()

    def new_slot(self):
        """A fresh (uninitialized) slot on the model's device."""
        return torch.empty(self.slot_shape(), device=self.device, dtype=self.dtype)

    def _rope(self, x, positions):
        cos = self.cos[positions]
        sin = self.sin[positions]
        return x * cos + _rotate_half(x) * sin

    def _attend(self, q, keys, values, causal):
        if self.kv_heads != self.heads:
            repeat = self.heads // self.kv_heads
            keys = keys.repeat_interleave(repeat, dim=-3)
            values = values.repeat_interleave(repeat, dim=-3)
        return F.scaled_dot_product_attention(q, keys, values, is_causal=causal)

    @torch.inference_mode()
    def prefill(self, sequence):
        """Run the prompt, fill its slot's first positions; the first generated token."""
        ids = torch.tensor([sequence.tokens], device=self.device)
        n = ids.shape[1]
        positions = torch.arange(n, device=self.device)
        body = self.model.model
        x = body.embed_tokens(ids)
        for index, layer in enumerate(body.layers):
            attention = layer.self_attn
            h = layer.input_layernorm(x)
            q = attention.q_proj(h).view(1, n, self.heads, self.head_dim).transpose(1, 2)
            k = attention.k_proj(h).view(1, n, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attention.v_proj(h).view(1, n, self.kv_heads, self.head_dim).transpose(1, 2)
            q = self._rope(q, positions)
            k = self._rope(k, positions)
            sequence.slot[index, 0, :, :n] = k[0]
            sequence.slot[index, 1, :, :n] = v[0]
            out = self._attend(q, k, v, causal=True).transpose(1, 2).reshape(1, n, -1)
            x = x + attention.o_proj(out)
            x = x + layer.feed_forward(layer.post_attention_layernorm(x))
        sequence.length = n
        logits = self.model.lm_head(body.norm(x[:, -1]))
        return int(logits.argmax(dim=-1).item())

    @torch.inference_mode()
    def decode(self, sequences):
        """One step for every sequence: write each one's last token, the next token of each."""
        batch = len(sequences)
        ids = torch.tensor([s.next_token for s in sequences], device=self.device)
        positions = torch.tensor([s.length for s in sequences], device=self.device)
        body = self.model.model
        x = body.embed_tokens(ids)[:, None, :]
        for index, layer in enumerate(body.layers):
            attention = layer.self_attn
            h = layer.input_layernorm(x)
            q = attention.q_proj(h).view(batch, self.heads, self.head_dim)
            k = attention.k_proj(h).view(batch, self.kv_heads, self.head_dim)
            v = attention.v_proj(h).view(batch, self.kv_heads, self.head_dim)
            q = self._rope(q, positions[:, None])
            k = self._rope(k, positions[:, None])
            outs = []
            for i, s in enumerate(sequences):
                s.slot[index, 0, :, s.length] = k[i]
                s.slot[index, 1, :, s.length] = v[i]
                keys = s.slot[index, 0, :, : s.length + 1][None]
                values = s.slot[index, 1, :, : s.length + 1][None]
                outs.append(self._attend(q[i][None, :, None, :], keys, values, causal=False))
            out = torch.cat(outs).reshape(batch, 1, -1)
            x = x + attention.o_proj(out)
            x = x + layer.feed_forward(layer.post_attention_layernorm(x))
        for s in sequences:
            s.length += 1
        logits = self.model.lm_head(body.norm(x[:, 0]))
        return logits.argmax(dim=-1).tolist()


class SlotPool:
    """KV slots: reserved up front (a share) or allocated on demand up to a limit; reused, never freed.

    Sequences in flight are at most ``max_num_seqs`` either way; a share may reserve more slots than
    that (as vLLM reserves its whole share as KV blocks), so its memory is the share.
    """

    def __init__(self, decoder, limit):
        self.decoder = decoder
        self.limit = limit
        self.free = []
        self.count = 0

    def reserve(self, more):
        """Allocate ``more`` slots now and allocate none later: the pool is its slots from here on."""
        self.free += [self.decoder.new_slot() for _ in range(more)]
        self.count += more
        self.limit = self.count

    def take(self):
        """A free slot, a new one while under the limit, else ``None`` (the sequence waits)."""
        if self.free:
            return self.free.pop()
        if self.count < self.limit:
            self.count += 1
            return self.decoder.new_slot()
        return None

    def give(self, slot):
        """Return a sequence's slot for the next one."""
        self.free.append(slot)


class TritonPythonModel:
    """A decoder LLM served token by token; memory by share (model.json) or by sequences in flight."""

    def initialize(self, args):
        """Build the model, warm it up, take its memory share if it has one, start the engine thread."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        integer = {
            key: int(_parameter(parameters, key))
            for key in (
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "intermediate_size",
                "vocab_size",
                "max_sequence_tokens",
                "max_num_seqs",
                "default_max_tokens",
            )
        }
        self.max_tokens_default = integer["default_max_tokens"]
        self.max_sequence_tokens = integer["max_sequence_tokens"]
        config = transformers.LlamaConfig(
            vocab_size=integer["vocab_size"],
            hidden_size=integer["hidden_size"],
            intermediate_size=integer["intermediate_size"],
            num_hidden_layers=integer["num_hidden_layers"],
            num_attention_heads=integer["num_attention_heads"],
            num_key_value_heads=integer["num_key_value_heads"],
            max_position_embeddings=integer["max_sequence_tokens"],
        )
        gpu = args["model_instance_kind"] == "GPU"
        if gpu:
            device = torch.device(f"cuda:{args['model_instance_device_id']}")
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        self.decoder = Decoder(config, device, torch.float16 if gpu else torch.float32)
        self.vocab = integer["vocab_size"]
        share = self._share(args)
        self.max_num_seqs = integer["max_num_seqs"]
        self.pool = SlotPool(self.decoder, self.max_num_seqs)
        self._warm_up()
        if share is not None and device.type == "cuda":
            self._reserve(share)
        self.waiting = collections.deque()
        self.active = []
        self.condition = threading.Condition()
        self.stopping = False
        self.engine = threading.Thread(target=self._run, daemon=True)
        self.engine.start()

    def _share(self, args):
        path = Path(args["model_repository"]) / args["model_version"] / "model.json"
        if not path.is_file():
            return None
        value = json.loads(path.read_text()).get(VLLM_KNOB)
        if value is None:
            return None
        share = float(value)
        if not 0 < share <= 1:
            raise ValueError(f"{path}: {VLLM_KNOB} must be in (0, 1], got {value}")
        return share

    def _warm_up(self):
        sequence = Sequence([1] * WARMUP_TOKENS, 2, None)
        sequence.slot = self.pool.take()
        sequence.next_token = self.decoder.prefill(sequence)
        self.decoder.decode([sequence])
        self.pool.give(sequence.slot)

    def _reserve(self, share):
        """VLLM's start-up rule: take ``share`` of the whole GPU now, as KV slots after the weights."""
        device = self.decoder.device
        free, total = torch.cuda.mem_get_info(device)
        budget = share * total
        own, how = _own_gpu_bytes(device)  # the weights, the context and the warm-up's slot
        if free < budget - own:
            raise ValueError(
                f"free memory on the device ({free / MB:.0f} MB) is less than {VLLM_KNOB} {share} asks for "
                f"({budget / MB:.0f} MB of {total / MB:.0f} MB, {own / MB:.0f} MB of it held already)"
            )
        slot = self.decoder.slot_bytes()
        held = len(self.pool.free)
        more = int((budget - own - ACTIVATION_HEADROOM_MB * MB) // slot)
        if held + more < 1:
            raise ValueError(
                f"{VLLM_KNOB} {share} ({budget / MB:.0f} MB) leaves no room for one sequence's KV cache "
                f"({slot / MB:.0f} MB) after the weights ({own / MB:.0f} MB, {how})"
            )
        self.pool.reserve(max(0, more))  # beside the warm-up's slot
        pb_utils.Logger.log_info(
            f"{VLLM_KNOB} {share}: {self.pool.count} KV slots of {slot / MB:.0f} MB "
            f"after {own / MB:.0f} MB ({how})"
        )

    def _max_tokens(self, request):
        tensor = pb_utils.get_input_tensor_by_name(request, "sampling_parameters")
        if tensor is None:
            return self.max_tokens_default
        text = tensor.as_numpy().reshape(-1)[0]
        text = text.decode() if isinstance(text, bytes) else str(text)
        return int(json.loads(text or "{}").get("max_tokens", self.max_tokens_default))

    def execute(self, requests):
        """Queue each request for the engine thread; the responses come from there."""
        for request in requests:
            sender = request.get_response_sender()
            try:
                prompt = pb_utils.get_input_tensor_by_name(request, "text_input").as_numpy().reshape(-1)[0]
                prompt = prompt.decode() if isinstance(prompt, bytes) else str(prompt)
                tokens = [zlib.crc32(word.encode()) % self.vocab for word in prompt.split()] or [0]
                max_tokens = self._max_tokens(request)
                if max_tokens < 1:
                    raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
                if len(tokens) + max_tokens > self.max_sequence_tokens:
                    raise ValueError(
                        f"{len(tokens)} prompt tokens + max_tokens {max_tokens} exceed max_sequence_tokens "
                        f"{self.max_sequence_tokens}"
                    )
            except Exception as exc:
                self._fail(sender, exc)
                continue
            with self.condition:
                self.waiting.append(Sequence(tokens, max_tokens, sender))
                self.condition.notify()
        return None

    @staticmethod
    def _fail(sender, exc):
        try:
            error = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
            sender.send(error, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        except Exception:
            pass  # the stream is gone (the client cancelled)

    def _send(self, sequence, token):
        sequence.generated += 1
        last = sequence.generated >= sequence.max_tokens
        if last:  # the slot goes back before the final response: at most c held at concurrency c
            self.pool.give(sequence.slot)
            sequence.slot = None
        text = np.array([f" tok{token}".encode()], dtype=np.object_)
        response = pb_utils.InferenceResponse([pb_utils.Tensor("text_output", text)])
        sequence.sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if last else 0)
        sequence.next_token = token
        return last

    def _admit(self):
        """Prefill waiting sequences while slots are free; each sends its first token."""
        while True:
            with self.condition:
                if not self.waiting or len(self.active) >= self.max_num_seqs:
                    return
                slot = self.pool.take()
                if slot is None:
                    return
                sequence = self.waiting.popleft()
            sequence.slot = slot
            try:
                if not self._send(sequence, self.decoder.prefill(sequence)):
                    self.active.append(sequence)
            except Exception as exc:
                if sequence.slot is not None:
                    self.pool.give(sequence.slot)
                self._fail(sequence.sender, exc)

    def _run(self):
        while True:
            with self.condition:
                while not self.stopping and not self.waiting and not self.active:
                    self.condition.wait()
                if self.stopping:
                    return
            self._admit()
            if not self.active:
                continue
            try:
                tokens = self.decoder.decode(self.active)
            except Exception as exc:
                for sequence in self.active:
                    self.pool.give(sequence.slot)
                    self._fail(sequence.sender, exc)
                self.active = []
                continue
            self.active = [
                s for s, token in zip(self.active, tokens, strict=True) if not self._send(s, token)
            ]

    def finalize(self):
        """Stop the engine thread; sequences still in flight get an error."""
        with self.condition:
            self.stopping = True
            self.condition.notify()
        self.engine.join(timeout=10)
        for sequence in list(self.waiting) + self.active:
            self._fail(sequence.sender, RuntimeError("the model is unloading"))
