"""3-D segmentation with a U-Net built with random weights (no download).

On a GPU instance (``KIND_GPU``) it runs in fp16 on the instance's own device,
``cuda:<model_instance_device_id>``; on a CPU instance, in fp32 on the CPU. Config parameters:
``base_channels`` (channels of the first level, doubled at each of the 4 levels) and ``classes``.
Input VOLUME: FP16 [1, D, H, W] (each a multiple of 8); output MASK: UINT8 [D, H, W], the arg-max class.
"""

import json

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from torch import nn

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


def _device(args):
    """The instance's device and the precision to run in there."""
    if args["model_instance_kind"] == "GPU":
        return torch.device("cuda", int(args["model_instance_device_id"])), torch.float16
    return torch.device("cpu"), torch.float32


class TritonPythonModel:
    """A 3-D segmentation network; one forward pass per request."""

    def initialize(self, args):
        """Build the network with random (seeded) weights on the instance's device."""
        parameters = json.loads(args["model_config"]).get("parameters", {})
        base_channels = int(parameters.get("base_channels", {}).get("string_value", "32"))
        classes = int(parameters.get("classes", {}).get("string_value", "3"))
        self.device, self.dtype = _device(args)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(0)
        network = UNet3D(in_channels=1, classes=classes, base_channels=base_channels)
        self.network = network.eval().to(self.device, self.dtype)

    def execute(self, requests):
        """A class mask for each request's batch of volumes."""
        responses = []
        for request in requests:
            volumes = pb_utils.get_input_tensor_by_name(request, "VOLUME").as_numpy()
            with torch.inference_mode():
                batch = torch.from_numpy(np.array(volumes)).to(self.device, self.dtype)
                mask = self.network(batch).argmax(dim=1).to(torch.uint8).cpu().numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("MASK", mask)]))
        return responses

    def finalize(self):
        """Give the GPU memory back before the process ends."""
        del self.network
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
