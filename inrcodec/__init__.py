"""inrcodec: an image, audio and video codec whose payload is a Local-Global implicit neural representation."""

from .codec import crop, decode, decode_array, encode, info
from .errors import InrError

__all__ = ["encode", "decode", "decode_array", "crop", "info", "InrError"]
__version__ = "0.1.0"
