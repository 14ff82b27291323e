"""llm_sleeper: a streaming model of known prefill and per-token times and known memory (see config.pbtxt).

Decoupled: ``execute`` hands each request to a thread of its own and returns at once; the thread
sends one ``text_output`` response per token, the last with the FINAL flag.
"""

import json
import mmap
import threading
import time

import numpy as np
import triton_python_backend_utils as pb_utils

MB = 10**6


def _resident(megabytes: float) -> mmap.mmap:
    """An anonymous mapping of ``megabytes``, all of it resident from the start.

    MAP_POPULATE has the kernel allocate every page in one call (~10 ms for 16 MB here, about half of
    touching each page from Python); where it is missing, every page is written instead.
    """
    size = max(1, int(megabytes * MB))
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if populate:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    block = mmap.mmap(-1, size)
    pages = np.frombuffer(block, dtype=np.uint8)
    pages.fill(1)
    del pages  # the mapping can only be closed once no array exports it
    return block


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.perf_counter()))


class TritonPythonModel:
    """Tokens at known times, memory per sequence in flight, to check the streaming profiler."""

    def initialize(self, args):
        """Read the times and sizes from the configuration; take the "weights"."""
        config = json.loads(args["model_config"])
        parameters = {k: float(v["string_value"]) for k, v in config.get("parameters", {}).items()}
        self.prefill_s = parameters["prefill_ms"] / 1000
        self.prefill_per_token_s = parameters["prefill_ms_per_token"] / 1000
        self.token_s = parameters["token_time_ms"] / 1000
        self.kv_mb = parameters["kv_mb_per_sequence"]
        self.default_max_tokens = int(parameters["default_max_tokens"])
        self.weights = _resident(parameters["weights_mb"])
        self.threads = []
        self.lock = threading.Lock()

    def execute(self, requests):
        """Start one thread per request; the responses come from those threads."""
        for request in requests:
            thread = threading.Thread(target=self._generate, args=(request,), daemon=True)
            with self.lock:
                self.threads = [t for t in self.threads if t.is_alive()] + [thread]
            thread.start()
        return None

    def _max_tokens(self, request) -> int:
        tensor = pb_utils.get_input_tensor_by_name(request, "max_tokens")
        if tensor is not None:  # TensorRT-LLM's convention
            return int(tensor.as_numpy().reshape(-1)[0])
        tensor = pb_utils.get_input_tensor_by_name(request, "sampling_parameters")
        if tensor is not None:  # the vLLM backend's
            text = tensor.as_numpy().reshape(-1)[0]
            text = text.decode() if isinstance(text, bytes) else str(text)
            return int(json.loads(text or "{}").get("max_tokens", self.default_max_tokens))
        return self.default_max_tokens

    def _generate(self, request) -> None:
        sender = request.get_response_sender()
        start = time.perf_counter()
        kv = None
        try:
            kv = _resident(self.kv_mb)
            prompt = pb_utils.get_input_tensor_by_name(request, "text_input").as_numpy().reshape(-1)[0]
            prompt = prompt.decode() if isinstance(prompt, bytes) else str(prompt)
            n_out = self._max_tokens(request)
            if n_out < 1:
                raise ValueError(f"max_tokens must be at least 1, got {n_out}")
            deadline = start + self.prefill_s + self.prefill_per_token_s * len(prompt.split())
            for i in range(n_out):
                _sleep_until(deadline)
                last = i == n_out - 1
                if last:  # free the sequence before its final response: at most c held at concurrency c
                    kv.close()
                    kv = None
                text = np.array([f" tok{i}".encode()], dtype=np.object_)
                response = pb_utils.InferenceResponse([pb_utils.Tensor("text_output", text)])
                sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if last else 0)
                deadline += self.token_s
        except Exception as exc:  # the client sees the error; the thread must not die silently
            if kv is not None:
                kv.close()
            error = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
            try:
                sender.send(error, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            except Exception:
                pass  # the stream is gone (the client cancelled)

    def finalize(self):
        """Let the sequences in flight end, then release the weights."""
        with self.lock:
            threads = list(self.threads)
        for thread in threads:
            thread.join(timeout=10)
        self.weights.close()
