"""The battery builds many tiny models: one torch thread is faster than many for them."""

import torch

torch.set_num_threads(1)
