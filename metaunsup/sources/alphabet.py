""" "Alphabet": the 62 characters 0-9, A-Z, a-z rendered from many TrueType/OpenType fonts,
like the rendered-font data the paper meta-trained on.

Fonts: matplotlib's bundled mpl-data/fonts/ttf plus the Debian packages in `FONT_PACKAGES`
(fetched without root by `python -m metaunsup.sources.setup` into
`<data_dir>/raw/fonts/<package>/`). A font is used only if its cmap covers all 62 characters,
its glyph names for them are the expected ones (so not a symbol font such as dingbats or
cmsy10) and its 62 rendered glyphs all have ink and are (almost) all distinct; duplicates of
the same (family, style) are dropped. The split is by font superfamily (see `superfamily`): seeded
whole superfamilies are held out as the test split until it has >= `test_fraction` of the
fonts, so no test font, nor a style or sibling design of it, is seen in train.

Each example: the glyph drawn at 48 px with a random stroke width (0-2 px), rotated by a
random angle (+-15 degrees), cropped to its ink, scaled so its longer side is 20 px times a
random factor (0.7-1.1), placed at the centre of a 28x28 canvas with a random shift (+-2 px)
and Gaussian pixel noise with a random sigma (0-10 grey levels). Randomness comes from
`np.random.default_rng([seed, crc32(font_id), char_index, sample])`, so every image is a pure
function of (seed, font file, character, sample number)."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import pathlib
import re
import zlib

import numpy as np

from metaunsup.sources._common import missing, raw_dir

CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FONT_PACKAGES = (  # Debian 12 packages with .ttf/.otf files
  "fonts-cantarell",
  "fonts-crosextra-caladea",
  "fonts-crosextra-carlito",
  "fonts-dejavu-extra",
  "fonts-freefont-ttf",
  "fonts-inconsolata",
  "fonts-liberation2",
  "fonts-linuxlibertine",
  "fonts-noto-mono",
  "fonts-open-sans",
  "fonts-urw-base35",
)
FONT_SUFFIXES = (".ttf", ".otf")
_RENDER_SIZE = 48
_CANVAS = 96


@dataclasses.dataclass(frozen=True)
class AlphabetSpec:
  """How the alphabet data set is rendered and split (part of its TFDS config name).

  Attributes:
    seed: seeds the font split and every image.
    samples_per_char: images per (font, character) pair.
    test_fraction: least fraction of the fonts held out as test (whole superfamilies).
    image_size: side length of the images, pixels.
    font_packages: the Debian font packages used besides matplotlib's fonts.
  """

  seed: int = 0
  samples_per_char: int = 2  # per (font, character) pair
  test_fraction: float = 0.2  # of font families
  image_size: int = 28
  font_packages: tuple[str, ...] = FONT_PACKAGES


def fonts_dir() -> pathlib.Path:
  """`<data_dir>/raw/fonts`, where `make data` unpacks the font packages."""
  return raw_dir() / "fonts"


def mpl_font_dir() -> pathlib.Path:
  """matplotlib's bundled TrueType fonts (mpl-data/fonts/ttf)."""
  import matplotlib

  return pathlib.Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"


def candidate_fonts(font_packages=FONT_PACKAGES) -> dict[str, pathlib.Path]:
  """{font id: path}; ids are 'matplotlib/<file>' and '<package>/<path in package>'.

  Args:
    font_packages: the Debian packages to read from `fonts_dir()`.

  Returns:
    Every .ttf / .otf file found, usable or not.

  Raises:
    DataNotFoundError: a package's fonts are missing (run `make data`).
  """
  out = {
    f"matplotlib/{p.name}": p
    for p in sorted(mpl_font_dir().iterdir())
    if p.suffix.lower() in FONT_SUFFIXES
  }
  absent = []
  for pkg in font_packages:
    d = fonts_dir() / pkg
    files = (
      sorted(p for p in d.rglob("*") if p.suffix.lower() in FONT_SUFFIXES) if d.is_dir() else []
    )
    if not files:
      absent.append(pkg)
    for p in files:
      out[f"{pkg}/{p.relative_to(d).as_posix()}"] = p
  if absent:
    raise missing("alphabet", f"fonts of {', '.join(absent)} in {fonts_dir()}")
  return out


def _draw(font, char: str, stroke: int = 0):
  from PIL import Image, ImageDraw

  img = Image.new("L", (_CANVAS, _CANVAS), 0)
  ImageDraw.Draw(img).text(
    (_CANVAS // 2, _CANVAS // 2),
    char,
    font=font,
    fill=255,
    anchor="mm",
    stroke_width=stroke,
    stroke_fill=255,
  )
  return img


_DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _glyph_name_ok(char: str, name: str) -> bool:
  """Rejects symbol fonts that put other glyphs at ASCII code points (dingbats, cmsy10)."""
  if re.fullmatch(r"(glyph|cid|gid)\d+", name) or name in (
    f"uni{ord(char):04X}",
    f"u{ord(char):04X}",
  ):
    return True
  base = _DIGIT_NAMES[int(char)] if char.isdigit() else char
  return (
    name == base
    or name.startswith((base + ".", base + "_"))
    or (char.isdigit() and name.startswith(base))
  )


def _usable(path: pathlib.Path, font) -> bool:
  from fontTools.ttLib import TTFont

  try:
    cmap = TTFont(str(path), lazy=True, fontNumber=0).getBestCmap() or {}
  except Exception:  # noqa: BLE001 - unreadable font files are simply not used
    return False
  if not all(ord(c) in cmap for c in CHARS) or not all(
    _glyph_name_ok(c, cmap[ord(c)]) for c in CHARS
  ):
    return False
  glyphs = [np.asarray(_draw(font, c)) for c in CHARS]
  if any(g.max() < 128 for g in glyphs):
    return False
  return len({g.tobytes() for g in glyphs}) >= len(CHARS) - 2


def resolve_fonts(font_packages=FONT_PACKAGES) -> list[tuple[str, str]]:
  """Usable fonts as sorted [(font id, family)], one per (family, style). The result is
  cached in `<data_dir>/raw/fonts/usable-<key>.json`, keyed by the candidate files' ids and
  sizes (checking every font takes a few seconds).

  Args:
    font_packages: the Debian packages to read.

  Returns:
    list of (font id, family name).

  Raises:
    DataNotFoundError: as `candidate_fonts`.
  """
  cands = candidate_fonts(font_packages)
  key = hashlib.sha1(
    repr((RENDER_VERSION, sorted((f, p.stat().st_size) for f, p in cands.items()))).encode()
  ).hexdigest()[:12]
  cache = fonts_dir() / f"usable-{key}.json"
  try:
    return [tuple(x) for x in json.loads(cache.read_text())]
  except (OSError, ValueError):
    pass
  out = _check_fonts(cands)
  try:
    fonts_dir().mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
  except OSError:
    pass
  return out


def _check_fonts(cands: dict[str, pathlib.Path]) -> list[tuple[str, str]]:
  from PIL import ImageFont

  seen, out = set(), []
  for fid, path in sorted(cands.items()):
    try:
      font = ImageFont.truetype(str(path), _RENDER_SIZE)
    except OSError:
      continue
    family, style = font.getname()
    # A font that names no family has no superfamily to split by (`split_fonts`): unused.
    if family is None or (family, style) in seen or not _usable(path, font):
      continue
    seen.add((family, style))
    out.append((fid, family))
  return out


def superfamily(family: str) -> str:
  """Fonts of one design lineage share a superfamily: the first word of the family name
  ('DejaVu Sans Mono' -> 'DejaVu', 'Linux Biolinum O' -> 'Linux', 'Nimbus Roman' -> 'Nimbus'),
  and matplotlib's Computer Modern files (cmr10, cmb10, ...) are all 'Computer Modern'.

  Args:
    family: a font family name.

  Returns:
    The superfamily's name.
  """
  if re.fullmatch(r"cm[a-z]+\d*", family):
    return "Computer Modern"
  return family.split()[0]


def split_fonts(
  fonts: list[tuple[str, str]], seed: int, test_fraction: float
) -> dict[str, list[str]]:
  """{'train': [font ids], 'test': [font ids]}: superfamilies, in an order permuted by
  `seed`, go to test until it holds at least `test_fraction` of the fonts.

  Args:
    fonts: (font id, family) pairs, from `resolve_fonts`.
    seed: seeds the order of superfamilies.
    test_fraction: least fraction of the fonts in test.

  Returns:
    dict with the train and test font ids, disjoint superfamilies.
  """
  groups = sorted({superfamily(fam) for _, fam in fonts})
  size = collections.Counter(superfamily(fam) for _, fam in fonts)
  test_groups, n_test = set(), 0
  for i in np.random.default_rng([seed, 1]).permutation(len(groups)):
    if n_test >= test_fraction * len(fonts):
      break
    test_groups.add(groups[i])
    n_test += size[groups[i]]
  return {
    "train": [f for f, fam in fonts if superfamily(fam) not in test_groups],
    "test": [f for f, fam in fonts if superfamily(fam) in test_groups],
  }


RENDER_VERSION = 1  # bump when render_one or split_fonts change: a new config name results


def spec_hash(spec: AlphabetSpec, fonts: list[tuple[str, str]], split: dict) -> str:
  """The identity of a rendering of the alphabet data set.

  Args:
    spec: the rendering settings.
    fonts: (family, file) pairs of the fonts used.
    split: {"train": [...], "test": [...]} font families per split.

  Returns:
    10 hex digits hashing spec, fonts, the test split and `RENDER_VERSION`.
  """
  blob = repr((RENDER_VERSION, dataclasses.astuple(spec), fonts, sorted(split["test"]))).encode()
  return hashlib.sha1(blob).hexdigest()[:10]


def render_one(
  font, font_id: str, char_index: int, sample: int, seed: int, size: int = 28
) -> np.ndarray:
  """One glyph image, a pure function of (seed, font id, character, sample).

  Stroke 0-2 px, rotation +-15 degrees, the longer side 20 px (at 28x28) times 0.7-1.1,
  shift +-2 px, Gaussian noise of sigma 0-10 grey levels, all drawn from
  `np.random.default_rng([seed, crc32(font_id), char_index, sample])`.

  Args:
    font: a PIL font at `_RENDER_SIZE` px.
    font_id: the font's id (seeds the draw).
    char_index: index into `CHARS` (the label).
    sample: sample number of this (font, character).
    seed: `AlphabetSpec.seed`.
    size: output side length, pixels.

  Returns:
    uint8 [size, size].
  """
  from PIL import Image

  rng = np.random.default_rng([seed, zlib.crc32(font_id.encode()), char_index, sample])
  stroke = int(rng.integers(0, 3))
  angle = float(rng.uniform(-15, 15))
  scale = float(rng.uniform(0.7, 1.1))
  dx, dy = (int(v) for v in rng.integers(-2, 3, size=2))
  sigma = float(rng.uniform(0, 10))
  img = _draw(font, CHARS[char_index], stroke).rotate(angle, resample=Image.Resampling.BILINEAR)
  img = img.crop(img.getbbox())
  w, h = img.size
  box = 20 * size / 28 * scale
  f = box / max(w, h)
  nw, nh = max(1, int(round(w * f))), max(1, int(round(h * f)))
  img = img.resize((nw, nh), Image.Resampling.LANCZOS)
  out = np.zeros((size, size), np.float64)
  x0 = int(np.clip((size - nw) // 2 + dx, 0, size - nw))
  y0 = int(np.clip((size - nh) // 2 + dy, 0, size - nh))
  out[y0 : y0 + nh, x0 : x0 + nw] = np.asarray(img, np.float64)
  out += rng.normal(0, sigma, out.shape)
  return np.clip(np.round(out), 0, 255).astype(np.uint8)


def render_split(spec: AlphabetSpec, font_ids: list[str]):
  """Yields (font_id, char_index, sample, uint8 image) in font, character, sample order.

  Args:
    spec: the rendering.
    font_ids: the split's fonts.

  Raises:
    DataNotFoundError: as `candidate_fonts`.
  """
  from PIL import ImageFont

  paths = candidate_fonts(spec.font_packages)
  for fid in font_ids:
    font = ImageFont.truetype(str(paths[fid]), _RENDER_SIZE)
    for ci in range(len(CHARS)):
      for k in range(spec.samples_per_char):
        yield fid, ci, k, render_one(font, fid, ci, k, spec.seed, spec.image_size)


def render_arrays(spec: AlphabetSpec, font_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
  """A whole split in memory.

  Args:
    spec: the rendering.
    font_ids: the split's fonts.

  Returns:
    (images uint8 [N, S, S], labels int64 [N]); N = fonts * 62 * samples_per_char,
    S = spec.image_size.
  """
  items = list(render_split(spec, font_ids))
  empty = np.zeros((0, spec.image_size, spec.image_size), np.uint8)
  return (
    np.stack([it[3] for it in items]) if items else empty,
    np.asarray([it[1] for it in items], np.int64),
  )
