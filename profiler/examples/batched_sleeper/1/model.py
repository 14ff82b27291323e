"""batched_sleeper: ``service_time_ms`` per execute call, whatever its requests, and ``memory_mb`` held."""

import json
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """A model whose throughput and memory theory gives for every config variant (see config.pbtxt)."""

    def initialize(self, args):
        """Read the parameters; hold the instance's memory (written, so that it is resident)."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        self.service_time_s = float(parameters["service_time_ms"]["string_value"]) / 1000
        memory_bytes = int(float(parameters["memory_mb"]["string_value"]) * 1e6)
        self.buffer = np.full(memory_bytes, 1, dtype=np.uint8)

    def execute(self, requests):
        """One service time for the whole call: the dynamic batcher's requests share it."""
        deadline = time.perf_counter() + self.service_time_s
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", data.copy())]))
        time.sleep(max(0.0, deadline - time.perf_counter()))
        return responses

    def finalize(self):
        """Let the memory go."""
        self.buffer = None
