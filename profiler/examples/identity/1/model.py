"""identity: returns INPUT0 as OUTPUT0 (CPU, numpy). Handles the dynamic batcher's request lists."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Copies each request's input to its output."""

    def execute(self, requests):
        """One response per request, in order."""
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", data.copy())]))
        return responses
