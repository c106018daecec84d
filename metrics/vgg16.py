"""Where torchvision's ImageNet VGG16 weights (`vgg16-397923af.pth`, LPIPS's
trunk) come from: a path the user gives, else the cache, else one download.

The policy of the FID Inception graph (metrics/inception.py): https only, a
timeout and a size cap, written beside the cache and renamed into place only
once its sha256 matches the pin, checked again on every use. The file is read
with dnnlib.torch_checkpoint, which runs nothing from it.

The pin: torchvision names the file by the first 8 hex digits of its sha256 and
checks only those (torch.hub's `check_hash`). The full sha256 and size below are
not published by PyTorch; we pin them because many independent public projects
that download this file pin the same full sha256, which begins with torchvision's
"397923af" (a different file would match those 32 bits by chance once in four
billion), and PyTorch's server sends the same size (553,433,881 bytes) in the
download logs of many projects.
"""

import hashlib
import pathlib

from dnnlib.cache import cache_root, fetch, user_file

VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_NAME = "vgg16-397923af.pth"
VGG16_SHA256 = "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"
VGG16_BYTES = 553_433_881
# A download may be no longer than the pinned file.
MAX_DOWNLOAD_BYTES = VGG16_BYTES
# Seconds a download may wait on the network at any one step (connect, read).
DOWNLOAD_TIMEOUT = 60.0
UNVERIFIED_HINT = "pass `vgg16_unverified=True` if these are other VGG16 weights"


def check_vgg16(path, name=None, hint=None) -> None:
    """Raises a one-line ValueError unless `path` is the pinned file (size, then
    sha256, read in 1 MiB blocks).

    Args:
        path: the file.
        name: how the message names it (default `path`).
        hint: what to do on a mismatch (default: download it again, or opt out).
    """
    name = name or path
    hint = hint or f"download {VGG16_URL} again, or {UNVERIFIED_HINT}"
    expected = f"torchvision's {VGG16_NAME}"
    digest = hashlib.sha256()
    try:
        size = pathlib.Path(path).stat().st_size
        if size != VGG16_BYTES:
            raise ValueError(
                f"{name}: {size} bytes, not the {VGG16_BYTES} of {expected}; {hint}."
            )
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as e:
        raise ValueError(f"{name}: cannot read it ({e.strerror or e}).") from None
    actual = digest.hexdigest()
    if actual != VGG16_SHA256:
        raise ValueError(
            f"{name}: sha256 is {actual}, expected {VGG16_SHA256} ({expected}); {hint}."
        )


def vgg16_file(
    path=None,
    download=True,
    *,
    unverified=False,
    cache_dir=None,
    url=VGG16_URL,
    timeout=None,
    ssl_context=None,
    alternative=None,
) -> pathlib.Path:
    """Finds torchvision's VGG16 weights: `path`, else the cached copy, else a
    download (once), each checked against the pin.

    Args:
        path: a `.pth` given by the user (`vgg16`); used where it is.
        download: whether to download when nothing is cached.
        unverified: skip the check of `path` (other VGG16 weights with
            torchvision's names); the cache and downloads are always checked.
        cache_dir: cache root (default `dnnlib.cache.cache_root()`).
        url: where to download from; https only.
        timeout: seconds per network step (default `DOWNLOAD_TIMEOUT`).
        ssl_context: for tests (default: the system's, verifying certificates).
        alternative: what the caller can do without the file, ending the
            message where it cannot be had (e.g. "`distance=pyramid` needs no
            download").

    Returns:
        The file's path.

    Raises:
        ValueError: one line naming the file and what to do; offline, it names
            the file, its URL, `vgg16=PATH` and the `alternative`.
    """
    if path is not None:
        path = user_file(path, "vgg16", VGG16_URL)
        if not unverified:
            check_vgg16(path)
        return path
    if unverified:
        raise ValueError(
            "`vgg16_unverified=True` needs `vgg16=PATH`: the downloaded and cached "
            "weights are always checked."
        )
    cache = pathlib.Path(cache_dir) if cache_dir else cache_root()
    cached = cache / VGG16_NAME
    if cached.is_file():
        check_vgg16(cached, hint="delete it to download it again")
        return cached
    todo = f"download {url} and pass `vgg16=PATH`, or put it at {cached}"
    if alternative:
        todo += f"; {alternative}"
    if not download:
        raise ValueError(f"{VGG16_NAME} is not in the cache: {todo}.")

    def check(tmp):
        check_vgg16(tmp, name=url, hint="download refused")

    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    limit = MAX_DOWNLOAD_BYTES
    return fetch(url, cached, limit, check, timeout, ssl_context, VGG16_NAME, todo)
