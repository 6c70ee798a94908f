"""The paper's two data sets (§5): MNIST and the Frey Face images, as float32 in [0, 1].

Files are read from the directory named by the environment variable ``AEVB_DATA_DIR``
(default ``~/.cache/aevb/data``): the four MNIST IDX files under ``mnist/`` and
``frey_rawface.mat``. Every file is checked against its SHA256 before use. A missing file is
downloaded from its public source into that directory; a file whose checksum is wrong is moved
aside (never re-used) and downloaded again. Decoded uint8 arrays are cached as ``.npy`` files under
``AEVB_CACHE_DIR`` (default ``~/.cache/aevb/arrays``), keyed by the source file's checksum.

Scaling: pixels are divided by 255, so x lies in [0, 1] with both ends reached (MNIST is used
as Bernoulli means, not binarized, as in the paper). Frey Face may instead be divided by 256, as the authors'
loader does (dpkingma/anglepy ``data/freyface.py``): ``TrainConfig.frey_scale``.

Binarized MNIST (``TrainConfig.binarize``, the benchmark of the later literature): each pixel x ∈ {0, 1} drawn
from Bernoulli(grey level). ``"static"``: one fixed draw (``fixed_binarization``: uniforms from
``numpy.random.default_rng((BINARIZE_SEED, stream))``, stream 0 for the official training file's rows, 1 for the
test file's, independent of a run's seed) of training and test images, cached as packed bits under
``AEVB_CACHE_DIR`` beside a ``.sha256`` file recording the cache file's checksum (a cache that does not match it
is drawn again, never used). ``"dynamic"``: training minibatches are drawn afresh at every use
(``aevb.learners.aevb.Trainer.next_batch``), so ``load_split(config, "train")`` gives grey levels; every other
split, and the train subset evaluated (``evaluation_images``), is the same fixed draw as ``"static"``'s: as in
the later literature, evaluation is on one fixed binarization.

Splits:
- MNIST ``train`` = first 50,000 of the official training set, ``valid`` = its last 10,000,
  ``test`` = the official 10,000 test images (the split of deeplearning.net's ``mnist.pkl.gz``).
- Frey Face: the paper gives none. Ours: the 1965 frames, in file order, cut into blocks of 20
  consecutive frames; every 10th block (blocks 9, 19, ..., 89) is ``test`` (180 frames), the rest
  ``train`` (1785 frames). Blocks, rather than single frames, keep near-identical neighbouring
  video frames from straddling the split. Two others, for chapter 8's study of that choice
  (``TrainConfig.frey_split``): ``"frames"``, 180 single frames drawn at random without replacement
  (``numpy.random.default_rng(FREY_FRAMES_SEED)``, seed 0, fixed) as ``test``, the other 1785 ``train``, so
  the neighbours of most test frames are trained on; and ``"none"``, as the authors' loader: ``train`` is all
  1965 frames and ``test`` our block test frames (then also in the training set).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import torch

from aevb.files import atomic_save_npy, atomic_write_text
from aevb.validation import FREY_SCALES, FREY_SPLIT_NAMES, ParameterError


@dataclass(frozen=True)
class Source:
    relpath: str  # path under AEVB_DATA_DIR
    sha256: str  # checksum of the file as published
    urls: tuple[str, ...]  # public mirrors, tried in order


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def _mnist(name: str, sha: str) -> Source:
    return Source(f"mnist/{name}", sha, tuple(m + name for m in _MNIST_MIRRORS))


SOURCES = {
    "mnist_train_images": _mnist(
        "train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "mnist_train_labels": _mnist(
        "train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "mnist_test_images": _mnist(
        "t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "mnist_test_labels": _mnist(
        "t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    "frey": Source(
        "frey_rawface.mat", "265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64",
        ("https://cs.nyu.edu/~roweis/data/frey_rawface.mat",)),
}

MNIST_SPLITS = ("train", "valid", "test")
FREY_SPLITS = ("all", "train", "test")
FREY_BLOCK, FREY_TEST_EVERY = 20, 10  # blocks of 20 frames; every 10th block is test
FREY_FRAMES_SEED = 0  # seeds the random single-frame test split (frey_split="frames")
BINARIZE_SEED = 0  # seeds the fixed binarization of MNIST (binarize="static", and evaluation under "dynamic")
BINARIZE_STREAMS = {"mnist_train_images": 0, "mnist_test_images": 1}  # its stream per file: rows drawn in order
_BINARIZE_ROWS = 10_000  # rows drawn at a time (the draw does not depend on it: one stream, row-major)


class DataError(RuntimeError):
    """A data file is missing, unreadable or corrupt and could not be fetched."""


def data_dir() -> Path:
    return Path(os.environ.get("AEVB_DATA_DIR", Path.home() / ".cache" / "aevb" / "data")).expanduser()


def cache_dir() -> Path:
    return Path(os.environ.get("AEVB_CACHE_DIR", Path.home() / ".cache" / "aevb" / "arrays")).expanduser()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(src: Source, dest: Path, timeout: float = 30.0) -> list[str]:
    """Try each mirror; on success ``dest`` holds a verified file. Returns the errors met."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [f"cannot create {dest.parent} to download into ({e})"]
    errors = []
    tmp = dest.with_name(dest.name + ".part")
    for url in src.urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f)
            got = sha256_of(tmp)
            if got != src.sha256:
                errors.append(f"{url}: checksum {got} != expected {src.sha256}")
                continue
            os.replace(tmp, dest)
            return errors
        except OSError as e:  # URLError, timeouts and file errors are all OSErrors
            errors.append(f"{url}: {e}")
        finally:
            tmp.unlink(missing_ok=True)
    return errors


def fetch(key: str) -> Path:
    """Path of the verified file ``SOURCES[key]``, downloading it if needed.

    Raises DataError naming the file, where it was looked for, and ``AEVB_DATA_DIR``.
    """
    src = SOURCES[key]
    path = data_dir() / src.relpath
    where = f"{path} (directory from AEVB_DATA_DIR={os.environ.get('AEVB_DATA_DIR', '<unset>')})"
    note = ""
    if path.exists():
        try:
            got = sha256_of(path)
        except OSError as e:
            raise DataError(f"cannot read {src.relpath} at {where}: {e}") from e
        if got == src.sha256:
            return path
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(path, aside)
            note = f" The file there had SHA256 {got}, expected {src.sha256}; it was moved to {aside}."
        except OSError as e:
            raise DataError(
                f"{src.relpath} at {where} has SHA256 {got}, expected {src.sha256}, and could not be "
                f"moved aside ({e}). Replace it with the original file (see the data README)."
            ) from e
    errors = _download(src, path)
    if path.exists() and sha256_of(path) == src.sha256:
        return path
    raise DataError(
        f"data file {src.relpath} not found or not valid at {where}.{note} Downloading it failed: "
        + "; ".join(errors)
        + ". Set AEVB_DATA_DIR to a directory holding the file (mnist/*.gz, frey_rawface.mat)."
    )


def _cached(key: str, decode) -> np.ndarray:
    """uint8 array decoded from ``SOURCES[key]``, cached on disk by the file's checksum."""
    path = fetch(key)
    cached = cache_dir() / f"{key}-{SOURCES[key].sha256[:16]}.npy"
    if cached.exists():
        try:
            return np.load(cached, allow_pickle=False)
        except (OSError, ValueError):
            cached.unlink(missing_ok=True)  # a broken cache is rebuilt from the verified file
    arr = decode(path)
    try:
        atomic_save_npy(cached, arr)
    except OSError:
        pass  # an unwritable cache only costs speed
    return arr


def fixed_binarization(x: np.ndarray, key: str) -> np.ndarray:
    """The fixed binarization of the first ``len(x)`` images of the file ``SOURCES[key]`` (a key of
    ``BINARIZE_STREAMS``): x: (N, D) grey levels in [0, 1] (float32, as ``load_mnist`` scales them) -> (N, D) uint8,
    ``u < x`` with u ~ U[0, 1) from ``default_rng((BINARIZE_SEED, BINARIZE_STREAMS[key]))``, row-major. The draw of
    a row depends only on its position, so the first rows of a longer x get the same draw; 0/1 input comes back
    unchanged (u < 1 always, u < 0 never)."""
    rng = np.random.default_rng((BINARIZE_SEED, BINARIZE_STREAMS[key]))
    out = np.empty(x.shape, np.uint8)  # (N, D)
    for i in range(0, len(x), _BINARIZE_ROWS):
        rows = x[i: i + _BINARIZE_ROWS]  # (n, D)
        out[i: i + len(rows)] = rng.random(rows.shape, dtype=np.float32) < rows
    return out


def _binarized_cached(key: str) -> np.ndarray:
    """(rows, 784) uint8 0/1: ``fixed_binarization`` of all the images of ``SOURCES[key]``, cached as packed bits
    with the cache file's SHA256 beside it; a cache file that is missing, unreadable or not of that checksum is
    drawn again from the verified images."""
    cached = cache_dir() / f"{key}-binarized-seed{BINARIZE_SEED}-{SOURCES[key].sha256[:16]}.npy"
    recorded = cached.with_name(cached.name + ".sha256")
    try:
        if cached.exists() and recorded.exists() and recorded.read_text().strip() == sha256_of(cached):
            packed = np.load(cached, allow_pickle=False)  # (rows, 98)
            return np.unpackbits(packed, axis=1, count=784)
    except (OSError, ValueError):
        pass  # a broken cache is drawn again
    grey = _cached(key, _read_idx).reshape(-1, 784).astype(np.float32) / 255.0  # (rows, 784)
    bits = fixed_binarization(grey, key)  # (rows, 784)
    try:
        recorded.unlink(missing_ok=True)  # no checksum on record while the array is replaced
        atomic_save_npy(cached, np.packbits(bits, axis=1))
        atomic_write_text(recorded, sha256_of(cached) + "\n")
    except OSError:
        pass  # an unwritable cache only costs speed
    return bits


def _read_idx(path: Path) -> np.ndarray:
    """IDX file (gzip) -> uint8 array with the shape its header gives."""
    raw = gzip.open(path, "rb").read()
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:  # 0x0000080N: unsigned bytes, N dimensions
        raise DataError(f"{path}: not an IDX uint8 file (magic {magic:#010x})")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read_frey(path: Path) -> np.ndarray:
    from scipy.io import loadmat  # MAT v5 reader; no pickle involved

    return np.ascontiguousarray(loadmat(path)["ff"].T)  # (1965, 560)


def load_mnist(split: str = "train", binarized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST split -> (x: (N, 784) float32 in [0, 1], y: (N,) int64); ``binarized``: x is the fixed 0/1 draw
    (``fixed_binarization``, cached) instead of the grey levels."""
    if split not in MNIST_SPLITS:
        raise ValueError(f"split={split!r}: allowed values are {MNIST_SPLITS}")
    part = "test" if split == "test" else "train"
    if binarized:
        x = _binarized_cached(f"mnist_{part}_images")  # (rows, 784) 0/1
    else:
        x = _cached(f"mnist_{part}_images", _read_idx).reshape(-1, 784)
    y = _cached(f"mnist_{part}_labels", _read_idx)
    if split != "test":
        rows = slice(0, 50_000) if split == "train" else slice(50_000, 60_000)
        x, y = x[rows], y[rows]
    return (x.astype(np.float32) if binarized else x.astype(np.float32) / 255.0), y.astype(np.int64)


def frey_test_mask(n: int = 1965, frey_split: str = "blocks") -> np.ndarray:
    """Boolean (n,): True for the frames of a Frey Face test split (see module doc): ``"blocks"`` (ours, also
    the test frames of ``"none"``) or ``"frames"`` (as many single frames, drawn with ``FREY_FRAMES_SEED``)."""
    blocks = (np.arange(n) // FREY_BLOCK) % FREY_TEST_EVERY == FREY_TEST_EVERY - 1  # (n,)
    if frey_split in ("blocks", "none"):
        return blocks
    if frey_split == "frames":
        test = np.zeros(n, dtype=bool)
        test[np.random.default_rng(FREY_FRAMES_SEED).choice(n, int(blocks.sum()), replace=False)] = True
        return test
    raise ParameterError(f"parameter 'frey_split' = {frey_split!r} is not allowed: it must be one of "
                         f"{FREY_SPLIT_NAMES}")


def load_frey_face(split: str = "all", frey_split: str = "blocks", scale: int = 255) -> np.ndarray:
    """Frey Face frames -> (N, 560) float32 in [0, 1]; 28x20 images, row-major; pixels divided by ``scale``.

    ``split="all"`` gives all 1965 frames, ``"train"`` 1785, ``"test"`` 180 (see module doc); with
    ``frey_split="none"``, ``"train"`` is all 1965 frames and ``"test"`` the 180 of the block split.
    """
    if split not in FREY_SPLITS:
        raise ValueError(f"split={split!r}: allowed values are {FREY_SPLITS}")
    if scale not in FREY_SCALES:
        raise ParameterError(f"parameter 'frey_scale' = {scale!r} is not allowed: it must be one of {FREY_SCALES}")
    x = _cached("frey", _read_frey).astype(np.float32) / np.float32(scale)
    test = frey_test_mask(len(x), frey_split)
    if split == "all" or (split == "train" and frey_split == "none"):
        return x
    return x[test] if split == "test" else x[~test]


def load(dataset: str, split: str) -> np.ndarray:
    """Images only, for either data set: ``load("mnist", "test")``, ``load("frey", "train")``."""
    if dataset == "mnist":
        return load_mnist(split)[0]
    if dataset == "frey":
        return load_frey_face(split)
    raise ValueError(f"dataset={dataset!r}: allowed values are ('mnist', 'frey')")


def load_split(config, split: str, device) -> torch.Tensor:
    """Training or test images for a run's settings (``dataset``, ``n_train``, for the Frey Face ``frey_split``
    and ``frey_scale``, for MNIST ``binarize`` of a ``TrainConfig``) as one contiguous float32 tensor on
    ``device``. MNIST with ``binarize="static"``: the fixed 0/1 draw; ``"dynamic"``: grey levels for ``"train"``
    (the trainer draws each minibatch afresh), the fixed draw for the other splits (evaluated on it)."""
    binarize = getattr(config, "binarize", None)
    if config.dataset == "frey":
        if binarize is not None:
            raise ParameterError(f"parameter 'binarize' = {binarize!r} is not allowed with dataset 'frey': it "
                                 f"applies to MNIST only (leave it at None)")
        x = load_frey_face(split, config.frey_split, config.frey_scale)
    elif config.dataset == "mnist":
        fixed = binarize == "static" or (binarize == "dynamic" and split != "train")
        x = load_mnist(split, binarized=fixed)[0]
    else:
        x = load(config.dataset, split)
    if split == "train" and config.n_train is not None:
        if not 0 < config.n_train <= len(x):
            raise ParameterError(f"parameter 'n_train' = {config.n_train} is not allowed: the {config.dataset} "
                                 f"training set has {len(x)} points, so it must be 1 to {len(x)} (or None for all)")
        x = x[: config.n_train]
    return torch.from_numpy(x).to(device).contiguous()


def evaluation_images(config, x: torch.Tensor) -> torch.Tensor:
    """The images a run of ``config`` is evaluated on, for x: (N, D), the first N images of its training split
    (``load_split(config, "train", ...)[:N]``, as the train subset evaluated is): under ``binarize="dynamic"``
    their fixed binarization (the rows ``binarize="static"`` trains on), on x's device; otherwise x itself."""
    if getattr(config, "binarize", None) != "dynamic":
        return x
    bits = fixed_binarization(x.detach().cpu().numpy(), "mnist_train_images")  # (N, D)
    return torch.from_numpy(bits).to(device=x.device, dtype=x.dtype).contiguous()
