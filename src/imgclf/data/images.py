"""One image in, one canonical image out: the only place pixels are decoded.

Ingest, ``imgclf predict`` and the serving model all call :func:`load_image`, so an image
seen at prediction time is converted exactly like the training images were. The
canonical image is a ``uint8`` array, ``H x W`` for one channel or ``H x W x 3`` for three,
stored by ingest in the image store (:mod:`imgclf.data.store`), from which every later stage
reads it: nothing after ingest decodes an image file.

Safety rules (issue 3): formats are recognised by content from an allow-list, so
formats Pillow hands to external programs (EPS/PS go to Ghostscript) are never opened;
decompression bombs are rejected from the header before any pixel is decoded; every
image is fully decoded, so truncated files fail here instead of becoming black images.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imgclf.errors import DataError

# The one list of image formats: those a file's content may have (recognised by content,
# never by name), each with the file suffixes it goes by.
ALLOWED_FORMATS: dict[str, tuple[str, ...]] = {
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "BMP": (".bmp", ".dib"),
    "WEBP": (".webp",),
    "GIF": (".gif",),
    "TIFF": (".tif", ".tiff"),
}
ALLOWED_SUFFIXES = frozenset(suffix for names in ALLOWED_FORMATS.values() for suffix in names)
# Image formats that are refused: a file named like one is a bad image, not an ignored file.
REFUSED_SUFFIXES = frozenset(
    {
        *(".eps", ".epsf", ".ps", ".svg", ".ico", ".ppm", ".pgm", ".pbm", ".pnm"),
        *(".heic", ".heif", ".avif", ".jp2", ".psd", ".tga", ".pcx"),
    }
)
IMAGE_SUFFIXES = ALLOWED_SUFFIXES | REFUSED_SUFFIXES
Resize = Literal["stretch", "pad", "crop"]

# data.max_file_bytes's default: far above any real photo, far below what hurts to hold in memory.
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
_FILE_KINDS = {
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
    stat.S_ISDIR: "a folder",
}

# 16-bit and wider integer modes: scaled to 8 bits by their full range, never clipped.
_WIDE_INTEGER_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


class BadImageError(DataError):
    """A file that cannot become a training image; the message is the reason."""


class NotAnImageError(BadImageError):
    """The content is not one of the allowed image formats (or the file is empty)."""


def load_image(
    path: str | os.PathLike[str],
    channels: int,
    image_size: int,
    resize: Resize,
    max_pixels: int,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> np.ndarray:
    """Decode any allowed image file into the canonical ``uint8`` array.

    ``channels`` is 1 (grayscale) or 3 (RGB); the result is ``image_size`` pixels square,
    made so by ``resize`` (stretch, pad = letterbox, crop = centre crop). Raises
    :class:`BadImageError` naming the reason for anything that is not a sound image,
    including a file that is not a regular file or is larger than ``max_bytes``.
    """
    return decode_image(read_regular_file(path, max_bytes), channels, image_size, resize,
                        max_pixels)  # fmt: skip


def unreadable_file_reason(status: os.stat_result, max_bytes: int) -> str | None:
    """Why a file with ``status`` must not be read (not a regular file, too large), or None."""
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _FILE_KINDS.items() if test(status.st_mode)), None)
        return f"not a regular file ({kind or 'special file'}); not read"
    if status.st_size > max_bytes:
        return (
            f"file is {status.st_size:,} bytes, more than data.max_file_bytes = {max_bytes:,}; "
            "not read"
        )
    return None


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; raises :class:`BadImageError`.

    Opened without blocking and checked on the open descriptor, so a FIFO or device that
    replaced the file after it was listed is refused, never waited on, and a file that grows
    while it is read is cut off at ``max_bytes + 1`` bytes and refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise BadImageError(f"cannot read file: {exc.strerror or exc}") from None
    reason = unreadable_file_reason(os.fstat(fd), max_bytes)
    if reason:
        os.close(fd)
        raise BadImageError(f"cannot read file: {reason}")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise BadImageError(f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise BadImageError(f"file grew past data.max_file_bytes = {max_bytes:,}; not read")
    return data


def decode_image(
    data: bytes, channels: int, image_size: int, resize: Resize, max_pixels: int
) -> np.ndarray:
    """:func:`load_image` for the bytes of an image file (an upload, a base64 payload)."""
    if not data:
        raise NotAnImageError("empty file (0 bytes)")
    image = _open_allowed(io.BytesIO(data), max_pixels)
    if image.format == "JPEG":
        # Decode JPEGs at the smallest DCT scale still >= the target: a full decode
        # (truncation is still caught) at a fraction of the cost for large photos.
        image.draft(None, (image_size, image_size))
    _decode_fully(image)
    return canonical_array(image, channels, image_size, resize)


def header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from an allowed image file's header, nothing decoded (Pillow's open is
    lazy); raises :class:`BadImageError` as :func:`decode_image` would."""
    if not data:
        raise NotAnImageError("empty file (0 bytes)")
    with _open_allowed(io.BytesIO(data), max_pixels=2**63) as image:
        return image.size


def canonical_array(
    image: Image.Image, channels: int, image_size: int, resize: Resize
) -> np.ndarray:
    """Convert a decoded Pillow image (any mode, any size) to the canonical array."""
    image = ImageOps.exif_transpose(image) if image.format == "JPEG" else image
    image = _to_channels(_to_8bit(image), channels)
    target = (image_size, image_size)
    if image.size != target:
        image = _resize(image, target, resize)
    return np.asarray(image, dtype=np.uint8)


def canonical_from_array(
    pixels: np.ndarray, channels: int, image_size: int, resize: Resize
) -> np.ndarray:
    """The canonical array for in-memory ``uint8`` pixels (the digits, IDX files)."""
    if channels == 1 and pixels.shape == (image_size, image_size) and pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)  # already canonical: skip the round trip through Pillow
    return canonical_array(
        Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)), channels, image_size, resize
    )


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of a canonical array (the serving model's input example, tests)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def pixel_sha256(pixels: np.ndarray) -> str:
    """SHA-256 of a canonical array's shape and pixels: the same picture, the same hash."""
    digest = hashlib.sha256("x".join(map(str, pixels.shape)).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def image_mode(pixels: np.ndarray) -> str:
    """Pillow's name for a canonical array's mode: ``L`` or ``RGB``."""
    return "L" if pixels.ndim == 2 else "RGB"


def _open_allowed(handle: io.BytesIO, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings():
        # We check the pixel count against our own limit just below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(handle, formats=list(ALLOWED_FORMATS))
        except Image.DecompressionBombError as exc:
            raise BadImageError(f"decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise NotAnImageError(
                f"not an allowed image: content is none of {', '.join(ALLOWED_FORMATS)}"
            ) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise BadImageError(f"truncated or corrupt image header: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise BadImageError(
            f"decompression bomb: header says {width}x{height} = {width * height:,} pixels, "
            f"more than data.max_image_pixels = {max_pixels:,}"
        )
    if width == 0 or height == 0:
        raise BadImageError(f"image has no pixels ({width}x{height})")
    return image


def _decode_fully(image: Image.Image) -> None:
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise BadImageError(f"decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise BadImageError(f"truncated or corrupt image data: {exc}") from None


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in _WIDE_INTEGER_MODES:
        wide = np.asarray(image, dtype=np.int64)
        if image.mode == "I" and wide.max(initial=0) <= 255:
            scaled = wide  # 8-bit data stored in a 32-bit container
        else:
            scaled = np.rint(np.clip(wide, 0, 65535) * (255.0 / 65535.0))
        return Image.fromarray(scaled.astype(np.uint8))
    if image.mode == "F":
        floats = np.nan_to_num(np.asarray(image, dtype=np.float64))
        scale = 255.0 if floats.max(initial=0.0) <= 1.0 else 1.0
        return Image.fromarray(np.rint(np.clip(floats * scale, 0, 255)).astype(np.uint8))
    return image


def _to_channels(image: Image.Image, channels: int) -> Image.Image:
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # Transparent pixels have no colour of their own: flatten onto white, the usual
        # background of cut-out product photos and icons.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    target = "L" if channels == 1 else "RGB"
    return image if image.mode == target else image.convert(target)


def _resize(image: Image.Image, target: tuple[int, int], policy: Resize) -> Image.Image:
    method = (
        Image.Resampling.BILINEAR
        if image.width * image.height > 4 * target[0] * target[1]
        else Image.Resampling.BICUBIC
    )
    if policy == "pad":
        return ImageOps.pad(image, target, method=method, color=0)
    if policy == "crop":
        return ImageOps.fit(image, target, method=method)
    return image.resize(target, method, reducing_gap=2.0)
