"""sleepy: takes exactly ``service_time_ms`` (config parameter) per request, then returns its input."""

import json
import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """A model with a known service time, to check what the profiler measures against theory."""

    def initialize(self, args):
        """Read the service time from the model's configuration."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        self.service_time_s = float(parameters["service_time_ms"]["string_value"]) / 1000

    def execute(self, requests):
        """Each request takes the service time, one after another."""
        responses = []
        for request in requests:
            deadline = time.perf_counter() + self.service_time_s
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            response = pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", data.copy())])
            time.sleep(max(0.0, deadline - time.perf_counter()))
            responses.append(response)
        return responses
