"""Image classification with a torchvision network built with random weights (no download).

On a GPU instance (``KIND_GPU``) it runs in fp16, channels-last, on the instance's own device
(``cuda:<model_instance_device_id>``), and each batch size is captured as a CUDA graph at its first
request: later requests copy their images into the graph's input through a pinned buffer, replay it
(one launch for the whole network) and copy the logits out, so the stub's Python does little per
request and the GPU, not the CPU, sets the pace. On a CPU instance it runs eagerly in fp32.

Config parameters:

* ``architecture``: a torchvision classification model name (default resnet50).
* ``views``: test-time augmentation, how many views of each image are classified and their logits
  averaged (default 1): the 8 symmetries of a square image (quarter turns, each mirrored), then shifted
  copies. It multiplies the GPU work per request without sending more data through the server: the
  knob that sets how much of a GPU one request takes.
* ``cuda_graphs``: ``false`` runs eagerly on the GPU too (default true).

Input IMAGE: FP16 [3, H, W]; output LOGITS: FP16 [1000].
"""

import json

import numpy as np
import torch
import torchvision
import triton_python_backend_utils as pb_utils
from torch import nn

# Iterations on a side stream before capture: cuDNN picks its algorithms and workspaces there.
CAPTURE_WARMUP_ITERATIONS = 3
# Pixels between shifted copies, beyond the 8 symmetries of the square.
SHIFT_PIXELS = 7


def _parameter(parameters, key, default):
    return parameters.get(key, {}).get("string_value", default)


def _view(images, k):
    """View ``k`` of a batch [B, C, H, W]: a quarter turn and a mirror, then a shift for k >= 8."""
    square = images.shape[-1] == images.shape[-2]
    turns = k % 4 if square else 2 * (k % 2)  # a non-square image keeps its shape with half turns only
    view = torch.rot90(images, turns, dims=(2, 3))
    if (k // 4) % 2:
        view = torch.flip(view, dims=(3,))
    shift = SHIFT_PIXELS * (k // 8)
    return torch.roll(view, shifts=(shift, shift), dims=(2, 3)) if shift else view


class Classifier(nn.Module):
    """The network applied to ``views`` views of each image; the mean of their logits."""

    def __init__(self, network, views):
        super().__init__()
        self.network = network
        self.views = views

    def forward(self, images):
        """Logits [B, 1000], averaged over the views."""
        if self.views == 1:
            return self.network(images)
        batch = images.shape[0]
        logits = self.network(torch.cat([_view(images, k) for k in range(self.views)]))
        return logits.view(self.views, batch, -1).mean(dim=0)


class GraphRunner:
    """Runs a module on the GPU through one CUDA graph per input shape, captured at first use.

    The graphs share one memory pool: requests run one at a time, each copying its input in before the
    replay and its output out after it, so no two graphs are ever live together.
    """

    def __init__(self, module, device, dtype):
        self.module = module
        self.device = device
        self.dtype = dtype
        self.graphs = {}
        self.pool = None
        self.eager = None

    def _capture(self, shape):
        static_in = torch.zeros(shape, device=self.device, dtype=self.dtype)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(CAPTURE_WARMUP_ITERATIONS):
                self.module(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph, pool=self.pool):
            static_out = self.module(static_in)
        self.pool = self.pool or graph.pool()
        staging = torch.empty(shape, dtype=self.dtype, pin_memory=True)
        out_host = torch.empty(static_out.shape, dtype=static_out.dtype, pin_memory=True)
        entry = (graph, staging, static_in, static_out, out_host)
        self.graphs[shape] = entry
        return entry

    def __call__(self, array):
        """The module's output for ``array`` (numpy, on the host), as a new numpy array."""
        shape = tuple(array.shape)
        if self.eager is not None:
            return self.eager(array)
        try:
            entry = self.graphs.get(shape) or self._capture(shape)
        except RuntimeError as exc:  # an op this torch cannot capture: run eagerly from now on
            pb_utils.Logger.log_warn(f"CUDA graph capture failed, running eagerly: {exc}")
            torch.cuda.synchronize(self.device)
            self.eager = EagerRunner(self.module, self.device, self.dtype)
            return self.eager(array)
        graph, staging, static_in, static_out, out_host = entry
        staging.numpy()[...] = array
        static_in.copy_(staging, non_blocking=True)
        graph.replay()
        out_host.copy_(static_out, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return out_host.numpy().copy()


class EagerRunner:
    """Runs a module on its device without graphs (the CPU, or a GPU with cuda_graphs false)."""

    def __init__(self, module, device, dtype):
        self.module = module
        self.device = device
        self.dtype = dtype

    def __call__(self, array):
        """The module's output for ``array`` (numpy), as a numpy array."""
        with torch.inference_mode():
            batch = torch.from_numpy(np.array(array)).to(self.device, self.dtype)
            if self.device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
            return self.module(batch).cpu().numpy()


class TritonPythonModel:
    """A classification network; one forward pass (or graph replay) per request."""

    def initialize(self, args):
        """Build the network with random (seeded) weights on the instance's device."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        architecture = _parameter(parameters, "architecture", "resnet50")
        views = int(_parameter(parameters, "views", "1"))
        graphs = _parameter(parameters, "cuda_graphs", "true").lower() == "true"
        gpu = args["model_instance_kind"] == "GPU"
        torch.manual_seed(0)
        network = torchvision.models.get_model(architecture, weights=None).eval()
        if gpu:
            device, dtype = torch.device("cuda", int(args["model_instance_device_id"])), torch.float16
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = True
            network = network.to(device, dtype, memory_format=torch.channels_last)
        else:
            device, dtype = torch.device("cpu"), torch.float32
        self.module = Classifier(network, views).eval()
        runner = GraphRunner if gpu and graphs else EagerRunner
        self.run = runner(self.module, device, dtype)

    def execute(self, requests):
        """Logits for each request's batch of images."""
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            logits = self.run(images).astype(np.float16)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("LOGITS", logits)]))
        return responses

    def finalize(self):
        """Give the GPU memory back before the process ends."""
        del self.run, self.module
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
