"""3-D segmentation with a U-Net built with random weights (no download).

On a GPU instance (``KIND_GPU``) it runs in fp16 on the instance's own device
(``cuda:<model_instance_device_id>``), and each batch size is captured as a CUDA graph at its first
request: later requests copy their volumes into the graph's input through a pinned buffer, replay it
and copy the mask out, so the GPU, not the stub's Python, sets the pace. On a CPU instance it runs
eagerly in fp32.

Config parameters:

* ``base_channels``: channels of the first level, doubled at each of the 4 levels (default 32).
* ``classes``: output classes (default 3).
* ``views``: test-time augmentation, how many mirrored views of each volume are segmented and their
  class scores averaged (mirrored back) before the arg-max (default 1, at most 8: every combination of
  flips along D, H and W). It multiplies the GPU work per request without more data through the server.
* ``cuda_graphs``: ``false`` runs eagerly on the GPU too (default true).

Input VOLUME: FP16 [1, D, H, W] (each a multiple of 8); output MASK: UINT8 [D, H, W], the arg-max class.
"""

import json

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from torch import nn

# Iterations on a side stream before capture: cuDNN picks its algorithms and workspaces there.
CAPTURE_WARMUP_ITERATIONS = 3
SPATIAL_DIMS = (2, 3, 4)  # D, H, W of a [B, C, D, H, W] tensor
MAX_VIEWS = 2 ** len(SPATIAL_DIMS)


def _parameter(parameters, key, default):
    return parameters.get(key, {}).get("string_value", default)


LEVELS = 4


def _block(inputs, outputs):
    """Two 3x3x3 convolutions, each with batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv3d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm3d(outputs),
        nn.ReLU(inplace=True),
        nn.Conv3d(outputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm3d(outputs),
        nn.ReLU(inplace=True),
    )


class UNet3D(nn.Module):
    """The 3-D U-Net of Cicek et al. (2016), with ``LEVELS`` levels."""

    def __init__(self, in_channels, classes, base_channels):
        super().__init__()
        channels = [base_channels * 2**level for level in range(LEVELS)]
        self.down = nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.down.append(_block(previous, width))
            previous = width
        self.pool = nn.MaxPool3d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose3d(previous, width, 2, stride=2))
            self.merge.append(_block(2 * width, width))
            previous = width
        self.head = nn.Conv3d(previous, classes, 1)

    def forward(self, x):
        """Class scores per voxel."""
        skips = []
        for level, block in enumerate(self.down):
            x = block(x)
            if level < LEVELS - 1:
                skips.append(x)
                x = self.pool(x)
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def _flips(k):
    """The dims view ``k`` mirrors: bit i of k flips spatial dim i."""
    return [dim for bit, dim in enumerate(SPATIAL_DIMS) if k >> bit & 1]


class Segmenter(nn.Module):
    """The U-Net on ``views`` mirrored views of each volume; the arg-max of their mean class scores."""

    def __init__(self, network, views):
        super().__init__()
        self.network = network
        self.views = views

    def forward(self, volumes):
        """A UINT8 mask [B, D, H, W]."""
        if self.views == 1:
            return self.network(volumes).argmax(dim=1).to(torch.uint8)
        batch = volumes.shape[0]
        inputs = [torch.flip(volumes, _flips(k)) if k else volumes for k in range(self.views)]
        scores = self.network(torch.cat(inputs)).split(batch)
        total = sum(torch.flip(s, _flips(k)) if k else s for k, s in enumerate(scores))
        return total.argmax(dim=1).to(torch.uint8)


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
            return self.module(batch).cpu().numpy()


class TritonPythonModel:
    """A 3-D segmentation network; one forward pass (or graph replay) per request."""

    def initialize(self, args):
        """Build the network with random (seeded) weights on the instance's device."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        base_channels = int(_parameter(parameters, "base_channels", "32"))
        classes = int(_parameter(parameters, "classes", "3"))
        views = int(_parameter(parameters, "views", "1"))
        if not 1 <= views <= MAX_VIEWS:
            raise ValueError(f"views must be within 1-{MAX_VIEWS}, got {views}")
        graphs = _parameter(parameters, "cuda_graphs", "true").lower() == "true"
        gpu = args["model_instance_kind"] == "GPU"
        torch.manual_seed(0)
        network = UNet3D(in_channels=1, classes=classes, base_channels=base_channels).eval()
        if gpu:
            device, dtype = torch.device("cuda", int(args["model_instance_device_id"])), torch.float16
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = True
            network = network.to(device, dtype)
        else:
            device, dtype = torch.device("cpu"), torch.float32
        self.module = Segmenter(network, views).eval()
        runner = GraphRunner if gpu and graphs else EagerRunner
        self.run = runner(self.module, device, dtype)

    def execute(self, requests):
        """A class mask for each request's batch of volumes."""
        responses = []
        for request in requests:
            volumes = pb_utils.get_input_tensor_by_name(request, "VOLUME").as_numpy()
            mask = self.run(volumes)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("MASK", mask)]))
        return responses

    def finalize(self):
        """Give the GPU memory back before the process ends."""
        del self.run, self.module
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
