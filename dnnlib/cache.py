"""The project's cache directory (converted datasets, Inception graph, statistics,
VGG16 weights), and downloads into it: https only, a timeout, a size cap, and a
check of the whole file before it is renamed into place."""

import os
import pathlib
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException


def cache_root():
    """`$MSG_STYLEGAN_CACHE`, else `~/.cache/msg_stylegan_tf2`."""
    root = os.environ.get("MSG_STYLEGAN_CACHE")
    if root:
        return pathlib.Path(root)
    return pathlib.Path.home() / ".cache" / "msg_stylegan_tf2"


def one_line(error, limit=300):
    """`str(error)` on one line, at most `limit` characters."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TooLarge(ValueError):
    """More bytes than a cap allows."""


class Capped:
    """A read-only stream that fails once more than `limit` bytes came through."""

    def __init__(self, stream, limit, what):
        self.stream, self.limit, self.what, self.count = stream, limit, what, 0

    def read(self, size=-1):
        data = self.stream.read(self.limit + 1 - self.count if size < 0 else size)
        self.count += len(data)
        if self.count > self.limit:
            raise TooLarge(f"{self.what} is more than {self.limit} bytes.")
        return data


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            fp.close()
            raise ValueError(f"{req.full_url} redirects to {newurl}: https only.")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url, dest, limit, timeout, ssl_context):
    """Streams `url` into the file `dest`: at most `limit` bytes, redirects to
    https only, `timeout` seconds per network step.

    Raises:
        TooLarge: the body (or its Content-Length) is over `limit`.
        ValueError: a redirect to another scheme.
        urllib.error.URLError, http.client.HTTPException, OSError: the network.
    """
    https = urllib.request.HTTPSHandler(context=ssl_context)
    opener = urllib.request.build_opener(https, _HttpsOnlyRedirects)
    with opener.open(url, timeout=timeout) as response, open(dest, "wb") as f:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise TooLarge(f"{url} is {length} bytes, more than {limit}.")
        body = Capped(response, limit, url)
        while block := body.read(1 << 20):
            f.write(block)


def download_checked(url, cached, limit, check, timeout, ssl_context):
    """Downloads `url` to a temporary file beside `cached`, runs `check(path)`
    on it and only then renames it to `cached`; nothing is left on failure.

    Raises:
        What `download` and `check` raise.
    """
    cached = pathlib.Path(cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{cached.name}.", suffix=".part", dir=cached.parent
    )
    os.close(fd)
    try:
        download(url, tmp, limit, timeout, ssl_context)
        check(tmp)
        os.replace(tmp, cached)
    finally:
        pathlib.Path(tmp).unlink(missing_ok=True)
    return cached


def user_file(path, option, url):
    """`path` (a file the user gives for `option`, e.g. "inception") as a Path.

    Raises:
        ValueError: one line, when it is not a file.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise ValueError(
            f"`{option}`: {path} does not exist (download {url} and give its path)."
        )
    return path


def fetch(url, cached, limit, check, timeout, ssl_context, what, todo):
    """`download_checked` over https only, each failure as a one-line ValueError.

    Args:
        url, cached, limit, check, timeout: as `download_checked`.
        ssl_context: None for the system's, verifying certificates.
        what: the file as a sentence starts with it ("The FID Inception graph").
        todo: what the user can do instead, lower case, no full stop.

    Raises:
        ValueError: "<what> is not available (<reason>): <todo>." offline;
            the scheme, the cap, the redirect or `check`'s message with `todo`
            otherwise.
    """
    if urllib.parse.urlsplit(url).scheme.lower() != "https":
        raise ValueError(f"{url}: only https downloads are allowed; {todo}.")
    context = ssl_context or ssl.create_default_context()
    try:
        return download_checked(url, cached, limit, check, timeout, context)
    except TooLarge as e:
        raise ValueError(f"{e} Not {what[0].lower()}{what[1:]}; {todo}.") from None
    except ValueError as e:
        raise ValueError(f"{e} {todo[0].upper()}{todo[1:]}.") from None
    except (urllib.error.URLError, HTTPException, OSError) as e:
        plain = isinstance(e, urllib.error.URLError) and not hasattr(e, "code")
        reason = e.reason if plain else e
        raise ValueError(
            f"{what} is not available ({one_line(reason)}): {todo}."
        ) from None
