"""texgs: textures stored as anisotropic 2D Gaussians, with LOD-chunked assets.

Importing ``texgs`` (and ``texgs.format``, ``texgs.decode``, ``texgs.runtime``) needs only
NumPy and the standard library; the baker (``texgs.bake``) needs PyTorch.
"""

__version__ = "0.1.0"
