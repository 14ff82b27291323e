"""The GPU LLM example (profiler/examples/llm_decoder): its share knob, and its decoding against transformers.

The knob test runs everywhere. The decoding test needs torch and transformers (the GPU host has them;
CI does not, so there it is skipped): a tiny config's prefill and batched decode steps, through the
example's own KV slots, must pick the same tokens as transformers' full forward pass of the same model.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from packer.deploy.shares import Share, engine, write_share
from packer.deploy.source import read_source

EXAMPLES = Path(__file__).resolve().parents[2] / "profiler" / "examples"


def test_llm_decoder_takes_the_vllm_knob_and_keeps_its_other_keys(tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "llm_decoder", repo / "llm_decoder")
    model = read_source(repo, ["llm_decoder"]).models["llm_decoder"]
    assert engine(model) == "vllm"
    written = tmp_path / "written"
    shutil.copytree(repo / "llm_decoder", written)
    share = Share("llm_decoder", memory_mb=3500.0, kv_mb=1070.0, fraction=0.0233, free_fraction=0.01,
                  kv_tokens=1)  # fmt: skip
    note = write_share(model, written, share)
    data = json.loads((written / "1" / "model.json").read_text())
    assert data["gpu_memory_utilization"] == 0.0233
    assert set(data) == {"model", "comment", "gpu_memory_utilization"}
    assert "gpu_memory_utilization 0.0233" in note


def _example_module(monkeypatch):
    stub = types.ModuleType("triton_python_backend_utils")
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", stub)
    spec = importlib.util.spec_from_file_location("llm_decoder_model", EXAMPLES / "llm_decoder/1/model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_llm_decoder_decodes_as_transformers_does(monkeypatch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    m = _example_module(monkeypatch)
    config = transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    decoder = m.Decoder(config, torch.device("cpu"), torch.float32)
    prompts = [[5, 17, 42, 7, 99], [3, 4]]
    sequences = []
    for prompt in prompts:
        sequence = m.Sequence(prompt, 4, None)
        sequence.slot = decoder.new_slot()
        sequence.next_token = decoder.prefill(sequence)
        sequences.append(sequence)
    reference = transformers.LlamaForCausalLM(config).eval()
    reference.load_state_dict(decoder.model.state_dict())  # the same weights under the same names
    histories = [p + [s.next_token] for p, s in zip(prompts, sequences, strict=True)]
    for _ in range(3):  # both sequences decoded together, at different positions
        tokens = decoder.decode(sequences)
        for history, sequence, token in zip(histories, sequences, tokens, strict=True):
            with torch.inference_mode():
                expected = reference(torch.tensor([history])).logits[0, -1].argmax().item()
            assert token == expected
            history.append(token)
            sequence.next_token = token
    # layers x (K, V) x KV heads x positions x head dim x fp32 bytes
    assert decoder.slot_bytes() == 2 * 2 * 2 * 64 * 16 * 4


def test_llm_decoder_slots_grow_on_demand_until_a_share_reserves_them(monkeypatch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    m = _example_module(monkeypatch)
    config = transformers.LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8,
    )  # fmt: skip
    pool = m.SlotPool(m.Decoder(config, torch.device("cpu"), torch.float32), limit=2)
    first, second = pool.take(), pool.take()
    assert pool.take() is None and pool.count == 2  # at the limit: the next sequence waits
    pool.give(first)
    assert pool.take() is first  # reused, never freed
    pool.give(first)
    pool.give(second)
    pool.reserve(3)  # a share: these and the two held, and no more
    assert (pool.count, pool.limit, len(pool.free)) == (5, 5, 5)
    taken = [pool.take() for _ in range(5)]
    assert all(t is not None for t in taken) and pool.take() is None
