"""Image classification with a torchvision network built with random weights (no download).

On a GPU instance (``KIND_GPU``) it runs in fp16 on the instance's own device,
``cuda:<model_instance_device_id>``; on a CPU instance, in fp32 on the CPU. Config parameters:
``architecture`` (a torchvision classification model name, default resnet50). Input IMAGE: FP16
[3, H, W]; output LOGITS: FP16 [1000].
"""

import json

import numpy as np
import torch
import torchvision
import triton_python_backend_utils as pb_utils


def _device(args):
    """The instance's device and the precision to run in there."""
    if args["model_instance_kind"] == "GPU":
        return torch.device("cuda", int(args["model_instance_device_id"])), torch.float16
    return torch.device("cpu"), torch.float32


class TritonPythonModel:
    """A classification network; one forward pass per request."""

    def initialize(self, args):
        """Build the network with random (seeded) weights on the instance's device."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        architecture = parameters.get("architecture", {}).get("string_value", "resnet50")
        self.device, self.dtype = _device(args)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(0)
        network = torchvision.models.get_model(architecture, weights=None)
        self.network = network.eval().to(self.device, self.dtype)

    def execute(self, requests):
        """Logits for each request's batch of images."""
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            with torch.inference_mode():
                batch = torch.from_numpy(np.array(images)).to(self.device, self.dtype)
                logits = self.network(batch).to(torch.float16).cpu().numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("LOGITS", logits)]))
        return responses

    def finalize(self):
        """Give the GPU memory back before the process ends."""
        del self.network
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
