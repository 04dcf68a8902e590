"""Catalog, import and thumbnail speed, each figure beside a baseline measured in the same run.

Run (from the repository root, in the project's environment):

    python bench/bench_catalog.py --quick    # about a minute: 2,000 rows, 1,000 imports
    python bench/bench_catalog.py            # full run: 10,000 and 100,000 rows, 20,000 imports,
                                             # 1,000 thumbnails (about 11 minutes here)
    python bench/bench_catalog.py --sizes 100000 --import-count 0 --thumbs 0   # catalog only

Everything is made under a temporary folder (`--tmp`, default /work/bench-tmp) that is deleted at
the end unless `--keep`. The full run needs about 3 x 20,000 x 0.35 MB = 21 GB free for the import
(source, `cp -r` copy, library copy); the script checks before it starts that part.

1. Catalog at each size N (`--sizes`). A library is created with `Library.open`, a few projects
   with `create_project`, then N realistic rows (A1111-style prompts drawn from a vocabulary of
   about 300 words with a Zipf-like frequency, seeds, samplers, models, 5 % favourites, infotext,
   content hash; 40 % of the rows in the project under test) are inserted in one transaction with
   SQLAlchemy Core `insert(ArtAsset.__table__)` through `library.engine` (so the FTS triggers
   fire). Each row's `filePath` gets a hard link to one small PNG, so the disk matches the
   catalog. Baseline: the same rows, with plain `sqlite3`, in a table of the same shape with the
   same indexes (copied from the catalog's own `sqlite_master`), no FTS, same pragmas (WAL,
   synchronous=NORMAL). Medians over repeats; dlx-art and baseline calls alternate so both see
   the same load.
   - newest page: `library.assets(pid, limit=200)` (rows turned into `AssetInfo`) vs. the same
     SELECT with `fetchall()`;
   - prompt search: `library.assets(pid, search=w, limit=200)` and `count_assets(pid, search=w)`
     (FTS5) for a word of typical frequency (the median document frequency of the vocabulary)
     and for a rare word (one of 20 subjects put in 0.4 % of the prompts, so each is in about
     0.02 %: the page query must walk the whole project), vs. the naive `prompt LIKE '%w%'`;
   - open: `Library.open(root)` + the newest page (process warm, catalog at head revision) vs.
     `sqlite3.connect` + the same query; the cold import of `dlx_art.library.service` in a fresh
     interpreter is reported beside it (informational);
   - reconcile: `library.reconcile()` (full pass; it must report a clean library) vs.
     `os.scandir` over every project's Images and Masks folders + one SELECT of all paths + the
     set comparison;
   - add: `add_image` of real 512x512 PNG bytes (durable: temporary file, fsync, rename, folder
     fsync, then the row) for `--adds` images, median per image, vs. one raw INSERT + commit and
     a plain file write with fsync.
2. Import (`--import-count`): that many distinct 512x512 A1111-style PNGs are generated
   directly (gradient + noise pixels deflated once; each file gets its own first scanline, its
   own zlib adler32 and its own `parameters` tEXt chunk), in dated sub-folders as A1111 saves
   them. A few are checked with Pillow `load()` and `metadata.probe_image`. Then, in the same
   run: `cp -r src dst && sync` (twice, before and after the import; the mean is the baseline)
   vs. `library.import_paths(pid, [src])` into a new library (its own `os.sync()` per batch
   included). The page cache is dropped before each timed phase when the process may write
   /proc/sys/vm/drop_caches (cold reads); otherwise the sources are read once before each phase
   (warm) - the output says which. Every imported row must carry the prompt and seed of its
   file's chunk, and the counts must match.
3. Thumbnails (`--thumbs`): `library.thumbnails.make_many(items)` (default workers = CPUs) over
   that many imported images, in images per second, vs. a single-threaded plain Pillow loop
   (open, `thumbnail((256, 256))`, save JPEG q85) over the same files. Files warm in both cases.

Targets (from issue 2, defined at 100,000 assets; checked at every size): newest page < 5 ms,
prompt search < 20 ms, open < 100 ms, reconcile < 5 s, import < 1.5x the copy, thumbnails
>= 300/s. The 2-core machine is shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import random
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image, ImageChops  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from dlx_art.library import metadata, storage  # noqa: E402
from dlx_art.library.models import ArtAsset, format_datetime  # noqa: E402
from dlx_art.library.service import Library  # noqa: E402

A = ArtAsset.__table__
PAGE = 200
W = H = 512

# --- results table -------------------------------------------------------------------------------

RESULTS: list[dict[str, str]] = []


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def record(metric: str, size: str, ours: str, base: str, ratio: float | None, target: str,
           ok: bool | None) -> None:
    row = {
        "metric": metric, "size": size, "ours": ours, "base": base,
        "ratio": "" if ratio is None else f"{ratio:.2f}x", "target": target,
        "result": "" if ok is None else ("PASS" if ok else "FAIL"),
    }
    RESULTS.append(row)
    print(f"  {metric:<44} {size:>8}  {ours:>12}  {base:>24}  {row['ratio']:>8}  "
          f"{target:<12} {row['result']}", flush=True)


def print_table() -> None:
    head = ("metric", "N", "dlx-art", "baseline", "ratio", "target", "result")
    cols = ["metric", "size", "ours", "base", "ratio", "target", "result"]
    widths = [max(len(h), *(len(r[c]) for r in RESULTS)) for h, c in zip(head, cols, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in RESULTS:
        print(" | ".join(r[c].ljust(w) for c, w in zip(cols, widths, strict=True)))


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


# --- timing --------------------------------------------------------------------------------------


def paired(ours: Callable[[], object], base: Callable[[], object], repeats: int,
           warmup: int = 2) -> tuple[float, float]:
    """Medians of alternating calls (so both see the same machine load)."""
    for _ in range(warmup):
        ours()
        base()
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        order = ((ours, a), (base, b)) if i % 2 == 0 else ((base, b), (ours, a))
        for fn, out in order:
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def drop_caches() -> bool:
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return True
    except OSError:
        return False


def read_all(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 20):
                    pass


# --- realistic rows -------------------------------------------------------------------------------

VOCAB = """
masterpiece best quality ultra detailed highres intricate sharp focus cinematic lighting volumetric
fog dramatic soft rim light golden hour sunset sunrise twilight midnight moonlight neon glow
portrait landscape cityscape seascape still life closeup full body wide shot aerial view macro
woman man girl boy child elder knight samurai wizard witch elf dwarf robot android cyborg dragon
phoenix wolf fox cat owl raven horse whale koi butterfly deer tiger lion bear rabbit
castle tower cathedral temple ruins village harbor lighthouse bridge market alley rooftop
forest jungle desert tundra glacier volcano canyon meadow swamp river waterfall lake ocean island
mountain valley cave garden orchard vineyard greenhouse library tavern laboratory spaceship
station colony nebula galaxy planet asteroid comet aurora storm rain snow blizzard thunder
watercolor gouache oil painting acrylic charcoal pencil sketch ink lineart etching woodcut
lithograph pastel fresco mosaic stained glass ukiyoe artnouveau artdeco baroque rococo gothic
impressionism expressionism surrealism cubism minimalism brutalism vaporwave synthwave cyberpunk
steampunk dieselpunk solarpunk biopunk fantasy scifi horror noir western pastoral mythology
crimson scarlet vermilion amber ochre saffron emerald jade teal turquoise cobalt azure indigo
violet magenta lavender ivory ebony obsidian silver golden bronze copper pearl opal ruby sapphire
velvet silk linen leather lace armor cloak robe kimono gown helmet crown mask lantern sword
staff shield banner scroll book candle mirror clock compass map telescope crystal orb potion
reflection refraction caustics bokeh depth field chromatic aberration film grain vignette
hdr octane unreal engine raytracing photorealistic hyperrealistic stylized painterly anime manga
comic illustration concept art matte painting character design environment design isometric
symmetrical asymmetric dynamic pose serene melancholic joyful ominous ethereal whimsical eerie
majestic tranquil chaotic vibrant muted pastel monochrome sepia duotone highcontrast lowkey
highkey backlit silhouette overcast foggy misty dusty smoky rainy snowy sunny windy
intricate ornate filigree embroidery tattoo freckles wrinkles scars braids curls ponytail
trending artstation deviantart behance pixiv award winning featured detailed background
""".split()  # noqa: SIM905 - a word list reads better as text
NEGATIVE = ["lowres", "bad anatomy", "bad hands", "text", "error", "missing fingers", "extra digit",
            "cropped", "worst quality", "low quality", "jpeg artifacts", "signature", "watermark",
            "blurry"]
# Rare subjects: each in about 0.02 % of the prompts (a search that must walk the whole project).
RARE = ("axolotl", "quetzal", "narwhal", "okapi", "pangolin", "tardigrade", "nautilus",
        "ocelot", "mandrill", "capybara", "platypus", "chameleon", "manatee", "wombat",
        "kingfisher", "flamingo", "hedgehog", "seahorse", "jellyfish", "salamander")
MODELS = [("sd_xl_base_1.0", "31e35c80fc"), ("dreamshaper_8", "879db523c3"),
          ("realisticVisionV60", "e5f3cbc5f7"), ("v1-5-pruned-emaonly", "6ce0161689")]
SAMPLERS = [("DPM++ 2M", "Karras"), ("Euler a", "Automatic"), ("DPM++ SDE", "Karras"),
            ("DDIM", "Uniform"), ("UniPC", "Automatic")]


def vocabulary() -> list[str]:
    seen: set[str] = set()
    words = [w for w in VOCAB if not (w in seen or seen.add(w))]
    return words


def make_prompt(rng: random.Random, words: list[str], weights: list[float]) -> str:
    picks = rng.choices(words, weights=weights, k=rng.randint(10, 24))
    phrases: list[str] = []
    i = 0
    while i < len(picks):
        n = rng.choice((1, 1, 2, 2, 3))
        phrases.append(" ".join(picks[i:i + n]))
        i += n
    if rng.random() < 0.004:
        phrases.insert(rng.randrange(len(phrases) + 1), rng.choice(RARE))
    return ", ".join(phrases)


def infotext(prompt: str, negative: str, steps: int, sampler: str, scheduler: str, cfg: float,
             seed: int, model: str, model_hash: str) -> str:
    """A1111 v1.10 `create_infotext` layout."""
    return (f"{prompt}\nNegative prompt: {negative}\n"
            f"Steps: {steps}, Sampler: {sampler}, Schedule type: {scheduler}, CFG scale: {cfg}, "
            f"Seed: {seed}, Size: {W}x{H}, Model hash: {model_hash}, Model: {model}, "
            f"Version: v1.10.1")


def generation_values(rng: random.Random, words: list[str], weights: list[float]) -> dict:
    prompt = make_prompt(rng, words, weights)
    negative = ", ".join(rng.sample(NEGATIVE, rng.randint(3, 8)))
    model, model_hash = rng.choice(MODELS)
    sampler, scheduler = rng.choice(SAMPLERS)
    steps = rng.choice((20, 25, 30, 40, 50))
    cfg = rng.choice((5.0, 6.0, 7.0, 7.5, 8.0, 9.0))
    seed = rng.randrange(2**32)
    return {
        "prompt": prompt, "negative": negative, "model": model, "seed": seed, "steps": steps,
        "cfgScale": cfg, "sampler": sampler, "scheduler": scheduler, "kind": "txt2img",
        "infotext": infotext(prompt, negative, steps, sampler, scheduler, cfg, seed, model,
                             model_hash),
        "_hash": model_hash,
    }


# --- images ---------------------------------------------------------------------------------------


def base_image(seed: int, sigma: float) -> Image.Image:
    """A 512x512 RGB gradient with mild noise (what a generated picture compresses like)."""
    random.seed(seed)
    grad = Image.linear_gradient("L").resize((W, H))
    rad = Image.radial_gradient("L").resize((W, H))
    rgb = Image.merge("RGB", (grad, grad.rotate(90), rad))
    noise = Image.merge("RGB", [Image.effect_noise((W, H), sigma) for _ in range(3)])
    return ImageChops.add(rgb, noise, scale=1.0, offset=-128)


def png_bytes(im: Image.Image) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def sub_filter(row: bytes) -> bytes:
    """PNG filter type 1 (Sub) for an RGB scanline: each byte minus the byte 3 to its left."""
    return bytes(row[:3]) + bytes((row[i] - row[i - 3]) & 0xFF for i in range(3, len(row)))


class PngFactory:
    """Distinct 512x512 RGB PNGs at the cost of deflating one scanline each.

    The zlib stream of file i: header + its own first scanline (compressed, then Z_FULL_FLUSH so
    nothing later refers back to it) + the shared raw-deflate body of scanlines 1..511 (deflated
    once, ends with the final block) + the adler32 of the file's own raw data. The body is
    stored as ready-made 64 KiB IDAT chunks, CRCs included.
    """

    def __init__(self, sigma: float = 2.0) -> None:
        raw = base_image(1234, sigma).tobytes()
        stride = W * 3
        self.row0 = bytearray(raw[:stride])
        self.body_raw = b"".join(b"\x01" + sub_filter(raw[y * stride:(y + 1) * stride])
                                 for y in range(1, H))
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflate.compress(self.body_raw) + deflate.flush()
        self.body_chunks = b"".join(chunk(b"IDAT", body[i:i + 65536])
                                    for i in range(0, len(body), 65536))
        self.head = metadata.PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0,
                                                                          0, 0))
        self.tail = chunk(b"IEND", b"")

    def make(self, index: int, parameters: str) -> bytes:
        row = bytearray(self.row0)
        row[:8] = struct.pack(">Q", index)
        row[8:40] = random.Random(index).randbytes(32)
        first_raw = b"\x00" + bytes(row)
        comp = zlib.compressobj(6, zlib.DEFLATED, 15)
        first = comp.compress(first_raw) + comp.flush(zlib.Z_FULL_FLUSH)
        adler = zlib.adler32(self.body_raw, zlib.adler32(first_raw))
        text = chunk(b"tEXt", b"parameters\x00" + parameters.encode("latin-1"))
        return b"".join((self.head, text, chunk(b"IDAT", first), self.body_chunks,
                         chunk(b"IDAT", struct.pack(">I", adler)), self.tail))


# --- 1. catalog -----------------------------------------------------------------------------------


class Catalog:
    """A filled library at size N and its raw sqlite3 twin."""

    def __init__(self, tmp: Path, n: int, rng: random.Random) -> None:
        self.n = n
        self.dir = tmp / f"catalog-{n}"
        self.root = self.dir / "library"
        self.raw_path = self.dir / "raw.sqlite3"
        self.raw_files = self.dir / "raw-files"
        self.raw_files.mkdir(parents=True)
        self.library = Library.open(self.root)
        self.projects = [self.library.create_project(name) for name in
                         ("Portfolio", "Client Work", "Experiments", "Sketchbook", "Archive 2024")]
        self.main = self.projects[0]
        self.words = vocabulary()
        self.weights = [1.0 / (r + 3) ** 0.9 for r in range(len(self.words))]
        rng.shuffle(self.weights)  # frequent words anywhere in the list
        self.rows = self._rows(rng)

    def _rows(self, rng: random.Random) -> list[dict]:
        start = datetime.now(UTC) - timedelta(days=365)
        step_ms = 365 * 86400 * 1000 / max(1, self.n)
        project_weights = [40, 25, 15, 12, 8]
        rows = []
        for i in range(self.n):
            project = rng.choices(self.projects, weights=project_weights)[0]
            values = generation_values(rng, self.words, self.weights)
            values.pop("_hash")
            created = start + timedelta(milliseconds=int(i * step_ms + rng.random() * step_ms))
            created = created.replace(microsecond=created.microsecond // 1000 * 1000)
            asset_id = str(uuid.uuid4())
            name = f"{created.strftime('%Y%m%d-%H%M%S')}-{asset_id[:8]}.png"
            rows.append({
                **values, "id": asset_id, "projectId": project.id,
                "filePath": f"{storage.PROJECTS_DIR}/{project.folder}/{storage.ASSETS_DIR}/"
                            f"{storage.IMAGES}/{name}",
                "fileType": "png", "parentId": None, "isFavorite": rng.random() < 0.05,
                "createdAt": created, "width": W, "height": H, "denoisingStrength": None,
                "maskPath": None, "backend": "a1111", "backendReason": None,
                "fileSize": rng.randint(300_000, 500_000),
                "contentHash": f"{rng.getrandbits(256):064x}",
                "trashedAt": None, "approximate": False, "missingAt": None,
            })
        return rows

    def fill(self) -> tuple[float, float]:
        t0 = time.perf_counter()
        with self.library.engine.begin() as con:
            con.execute(insert(A), self.rows)
        ours = time.perf_counter() - t0
        # The raw twin: same tables and indexes (no FTS, no triggers), same pragmas.
        con = sqlite3.connect(self.library.db_path)
        schema = [sql for (sql,) in con.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('Project', 'ArtAsset') "
            "AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC")]
        projects = con.execute('SELECT * FROM "Project"').fetchall()
        con.close()
        raw = sqlite3.connect(self.raw_path)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        for sql in schema:
            raw.execute(sql)
        raw.executemany(f'INSERT INTO "Project" VALUES ({",".join("?" * len(projects[0]))})',
                        projects)
        raw.commit()
        columns = [c.name for c in A.columns]
        tuples = [tuple(format_datetime(r[c]) if c == "createdAt" else r[c] for c in columns)
                  for r in self.rows]
        sql = (f'INSERT INTO "ArtAsset" ({",".join(chr(34) + c + chr(34) for c in columns)}) '
               f'VALUES ({",".join("?" * len(columns))})')
        t0 = time.perf_counter()
        with raw:
            raw.executemany(sql, tuples)
        base = time.perf_counter() - t0
        raw.close()
        # Files: hard links of one small PNG (ext4 allows 65,000 links per inode).
        small = png_bytes(base_image(7, 20).resize((64, 64)))
        source = None
        for i, row in enumerate(self.rows):
            if i % 50_000 == 0:
                source = self.dir / f"seed-{i}.png"
                source.write_bytes(small)
            os.link(source, self.root / row["filePath"])
        return ours, base

    def raw(self) -> sqlite3.Connection:
        return sqlite3.connect(self.raw_path, check_same_thread=False)

    def frequencies(self) -> Counter:
        """In how many of the main project's prompts each vocabulary word appears."""
        counts: Counter = Counter()
        for row in self.rows:
            if row["projectId"] == self.main.id:
                counts.update(set(row["prompt"].replace(",", " ").split()))
        return counts

    def search_words(self) -> tuple[str, str]:
        counts = self.frequencies()
        # Only words no other vocabulary word starts with (the search matches prefixes).
        usable = [w for w in self.words
                  if counts[w] and not any(o != w and o.startswith(w) for o in self.words)]
        usable.sort(key=lambda w: counts[w])
        rare = max((w for w in RARE if counts[w]), key=lambda w: counts[w], default=usable[0])
        return usable[len(usable) // 2], rare

    def close(self) -> None:
        self.library.close()


NEWEST_SQL = ('SELECT * FROM "ArtAsset" WHERE "projectId" = ? AND "trashedAt" IS NULL '
              'ORDER BY "createdAt" DESC, "id" DESC LIMIT 200')
LIKE_SQL = ('SELECT * FROM "ArtAsset" WHERE "projectId" = ? AND "trashedAt" IS NULL '
            'AND "prompt" LIKE ? ORDER BY "createdAt" DESC, "id" DESC LIMIT 200')
LIKE_COUNT_SQL = ('SELECT count(*) FROM "ArtAsset" WHERE "projectId" = ? AND "trashedAt" IS NULL '
                  'AND "prompt" LIKE ?')


def bench_catalog(tmp: Path, n: int, adds: int, keep: bool) -> None:
    section(f"catalog at {n:,} assets")
    rng = random.Random(n)
    cat = Catalog(tmp, n, rng)
    size = f"{n:,}"
    ours, base = cat.fill()
    record("fill N rows (Core insert, 1 txn; info)", size, ms(ours), f"{ms(base)} sqlite3",
           ours / base, "", None)
    lib, pid = cat.library, cat.main.id
    raw = cat.raw()
    main_rows = sum(1 for r in cat.rows if r["projectId"] == pid)
    print(f"  project under test: {main_rows:,} of {n:,} rows")

    # newest page
    page = lib.assets(pid, limit=PAGE)
    expected = sorted((r for r in cat.rows if r["projectId"] == pid),
                      key=lambda r: (r["createdAt"], r["id"]), reverse=True)[:PAGE]
    assert [a.id for a in page] == [r["id"] for r in expected], "newest page is wrong"
    assert [r[0] for r in raw.execute(NEWEST_SQL, (pid,))] == [a.id for a in page]
    repeats = 40
    ours, base = paired(lambda: lib.assets(pid, limit=PAGE),
                        lambda: raw.execute(NEWEST_SQL, (pid,)).fetchall(), repeats)
    record("newest page of 200", size, ms(ours), f"{ms(base)} sqlite3", ours / base, "< 5 ms",
           ours < 0.005)

    # prompt search
    typical, rare = cat.search_words()
    for label, word in (("typical", typical), ("rare", rare)):
        hits = lib.count_assets(pid, search=word)
        like_hits = raw.execute(LIKE_COUNT_SQL, (pid, f"%{word}%")).fetchone()[0]
        got = lib.assets(pid, search=word, limit=PAGE)
        assert len(got) == min(PAGE, hits) and all(word in a.prompt for a in got)
        print(f"  search word ({label}): {word!r}: {hits:,} FTS hits, {like_hits:,} LIKE hits in "
              f"the project ({100 * hits / main_rows:.2f} %)")
        ours, base = paired(lambda w=word: lib.assets(pid, search=w, limit=PAGE),
                            lambda w=word: raw.execute(LIKE_SQL, (pid, f"%{w}%")).fetchall(),
                            repeats)
        record(f"search page of 200, {label} word", size, ms(ours), f"{ms(base)} LIKE",
               ours / base, "< 20 ms", ours < 0.020)
        ours, base = paired(lambda w=word: lib.count_assets(pid, search=w),
                            lambda w=word: raw.execute(LIKE_COUNT_SQL, (pid, f"%{w}%")).fetchone(),
                            repeats)
        record(f"search count, {label} word", size, ms(ours), f"{ms(base)} LIKE",
               ours / base, "< 20 ms", ours < 0.020)

    # open (warm process): Library.open until the first query returns
    cat.close()
    raw.close()

    def open_ours() -> None:
        library = Library.open(cat.root)
        library.assets(pid, limit=PAGE)
        library.close()

    def open_raw() -> None:
        con = sqlite3.connect(cat.raw_path)
        con.execute(NEWEST_SQL, (pid,)).fetchall()
        con.close()

    ours, base = paired(open_ours, open_raw, 20)
    record("open + first page (warm process)", size, ms(ours), f"{ms(base)} sqlite3",
           ours / base, "< 100 ms", ours < 0.100)
    cat.library = lib = Library.open(cat.root)
    raw = cat.raw()

    # reconcile
    def reconcile_raw() -> None:
        on_disk: set[str] = set()
        base_dir = cat.root / storage.PROJECTS_DIR
        with os.scandir(base_dir) as projects:
            for project in projects:
                if not project.is_dir():
                    continue
                for kind in (storage.IMAGES, storage.MASKS):
                    folder = Path(project.path) / storage.ASSETS_DIR / kind
                    prefix = f"{storage.PROJECTS_DIR}/{project.name}/{storage.ASSETS_DIR}/{kind}/"
                    try:
                        with os.scandir(folder) as files:
                            on_disk.update(prefix + e.name for e in files if e.is_file())
                    except FileNotFoundError:
                        pass
        referenced: set[str] = set()
        for path, mask in raw.execute('SELECT "filePath", "maskPath" FROM "ArtAsset"'):
            referenced.add(path)
            if mask:
                referenced.add(mask)
        missing = referenced - on_disk
        orphans = on_disk - referenced
        assert not missing and not orphans, (len(missing), len(orphans))

    report = lib.reconcile()
    assert report.clean and report.checked_rows == n and not report.adopted, report.summary()
    ours, base = paired(lambda: lib.reconcile(), reconcile_raw, 3 if n > 20_000 else 5, warmup=0)
    record("full reconcile pass", size, ms(ours), f"{ms(base)} scandir+SELECT", ours / base,
           "< 5 s", ours < 5.0)

    # add_image, durable
    images = [png_bytes(base_image(100 + k, 25)) for k in range(4)]
    raw_con = cat.raw()
    columns = [c.name for c in A.columns]
    insert_sql = (f'INSERT INTO "ArtAsset" ({",".join(chr(34) + c + chr(34) for c in columns)}) '
                  f'VALUES ({",".join("?" * len(columns))})')
    seq = iter(range(10**9))

    def add_ours() -> None:
        i = next(seq)
        values = generation_values(rng, cat.words, cat.weights)
        values.pop("_hash")
        values["isFavorite"] = False
        lib.add_image(pid, images[i % 4], values=values)

    def add_raw() -> None:
        i = next(seq)
        values = generation_values(rng, cat.words, cat.weights)
        values.pop("_hash")
        row = {c: None for c in columns}
        row.update(values, id=str(uuid.uuid4()), projectId=pid, filePath=f"raw/{i}.png",
                   fileType="png", isFavorite=0, approximate=0,
                   createdAt=format_datetime(datetime.now(UTC)))
        with open(cat.raw_files / f"{i}.png", "wb") as handle:
            handle.write(images[i % 4])
            handle.flush()
            os.fsync(handle.fileno())
        raw_con.execute(insert_sql, tuple(row[c] for c in columns))
        raw_con.commit()

    ours, base = paired(add_ours, add_raw, adds, warmup=2)
    record(f"add_image 512x512 PNG, durable (x{adds})", size, ms(ours),
           f"{ms(base)} write+fsync+INSERT", ours / base, "", None)
    raw_con.close()
    raw.close()
    cat.close()
    if not keep:
        shutil.rmtree(cat.dir)


def cold_import() -> None:
    section("cold start (fresh interpreter; informational)")
    code_import = ("import time; t = time.perf_counter(); import dlx_art.library.service; "
                   "print(time.perf_counter() - t)")
    code_sqlite = ("import time; t = time.perf_counter(); import sqlite3; "
                   "print(time.perf_counter() - t)")
    ours: list[float] = []
    base: list[float] = []
    for _ in range(5):
        for code, out in ((code_import, ours), (code_sqlite, base)):
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True, cwd=REPO)
            out.append(float(result.stdout.strip()))
    o, b = statistics.median(ours), statistics.median(base)
    record("cold import dlx_art.library.service", "", ms(o), f"{ms(b)} import sqlite3", o / b,
           "(info)", None)


# --- 2. import ------------------------------------------------------------------------------------


def generate(src: Path, count: int) -> dict[str, tuple[str, int]]:
    """`count` A1111-style PNGs in dated folders; returns file stem -> (prompt, seed)."""
    rng = random.Random(20_000)
    words = vocabulary()
    weights = [1.0 / (r + 3) ** 0.9 for r in range(len(words))]
    factory = PngFactory()
    expected: dict[str, tuple[str, int]] = {}
    day = datetime(2024, 5, 1)
    for i in range(count):
        values = generation_values(rng, words, weights)
        folder = src / "txt2img-images" / (day + timedelta(days=i // 1000)).strftime("%Y-%m-%d")
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        stem = f"{i:05d}-{values['seed']}"
        (folder / f"{stem}.png").write_bytes(factory.make(i, values["infotext"]))
        expected[stem] = (values["prompt"], values["seed"])
    # Check a few with Pillow (full decode) and the library's own probe.
    checked = sorted(src.rglob("*.png"))
    for path in [checked[0], checked[len(checked) // 2], checked[-1]]:
        with Image.open(path) as im:
            im.load()
            assert im.size == (W, H) and im.mode == "RGB"
            params = im.info["parameters"]
        probe = metadata.probe_image(path.read_bytes(), path.name)
        assert probe.parameters == params and (probe.width, probe.height) == (W, H)
        assert metadata.parse_infotext(params).seed == expected[path.stem][1]
    return expected


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_import(tmp: Path, count: int, thumbs: int) -> None:
    section(f"import of {count:,} A1111 PNGs")
    src = tmp / "import-src"
    t0 = time.perf_counter()
    expected = generate(src, count)
    total = du(src)
    print(f"  generated {count:,} files, {total / 1e9:.2f} GB ({total / count / 1e3:.0f} KB each) "
          f"in {time.perf_counter() - t0:.1f} s; 3 sampled files decode with Pillow and pass "
          "probe_image", flush=True)
    free = shutil.disk_usage(tmp).free
    if free < 2.2 * total:
        print(f"  SKIPPED: {free / 1e9:.1f} GB free, need {2.2 * total / 1e9:.1f} GB")
        return
    os.sync()
    cold = drop_caches()
    mode = "cold (page cache dropped before each phase)" if cold else \
        "warm (drop_caches not permitted; sources read once before each phase)"
    print(f"  reads: {mode}")

    def prepare() -> None:
        os.sync()
        if not drop_caches():
            read_all(src)

    def copy() -> float:
        dst = tmp / "import-cp"
        prepare()
        t0 = time.perf_counter()
        subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
        subprocess.run(["sync"], check=True)
        elapsed = time.perf_counter() - t0
        shutil.rmtree(dst)
        os.sync()
        return elapsed

    cp1 = copy()
    root = tmp / "import-library"
    library = Library.open(root)
    project = library.create_project("Imported")
    prepare()
    t0 = time.perf_counter()
    report = library.import_paths(project.id, [src])
    ours = time.perf_counter() - t0
    cp2 = copy()
    base = (cp1 + cp2) / 2
    print(f"  cp -r + sync: {cp1:.2f} s before, {cp2:.2f} s after the import")
    assert not report.rejected, report.rejected[:3]
    assert not report.duplicates, report.duplicates[:3]
    assert len(report.imported) == count, len(report.imported)
    assert library.count_assets(project.id) == count
    stored = library.assets(project.id, limit=count + 10)
    assert len(stored) == count
    bad = [a for a in stored if expected.get(Path(a.filePath).stem) != (a.prompt, a.seed)]
    assert not bad, f"{len(bad)} assets without their chunk's prompt/seed, e.g. {bad[0]}"
    print(f"  metadata: all {count:,} rows carry the prompt and seed of their file's chunk")
    record(f"import_paths {count:,} PNGs ({'cold' if cold else 'warm'})", f"{count:,}",
           f"{ours:.2f} s", f"{base:.2f} s cp -r+sync", ours / base, "< 1.5x", ours / base < 1.5)
    record("  import throughput", "", f"{count / ours:.0f} files/s",
           f"{count / base:.0f} files/s cp", None, "", None)
    shutil.rmtree(src)  # free the disk; the thumbnails use the library's copies
    if thumbs:
        bench_thumbnails(tmp, library, stored[:thumbs])
    library.close()


# --- 3. thumbnails --------------------------------------------------------------------------------


def bench_thumbnails(tmp: Path, library: Library, assets: list) -> None:
    n = len(assets)
    section(f"thumbnails of {n:,} imported 512x512 PNGs")
    items = [(a.id, library.path_of(a)) for a in assets]
    out = tmp / "thumbs-plain"
    out.mkdir()
    for _, path in items:  # warm, both sides
        path.read_bytes()

    def plain() -> None:
        for asset_id, path in items:
            with Image.open(path) as im:
                im.thumbnail((256, 256))
                im.convert("RGB").save(out / f"{asset_id}.jpg", "JPEG", quality=85)

    def ours() -> None:
        made = library.thumbnails.make_many(items)
        assert made == n, made

    ours_t, base_t = paired(ours, plain, 3, warmup=0)
    cache = library.thumbnails
    sample = cache.get(items[0][0])
    assert sample is not None
    with Image.open(sample) as im:
        assert max(im.size) == 256
    workers = len(os.sched_getaffinity(0))
    record(f"make_many, {workers} CPUs (images/s)", f"{n:,}", f"{n / ours_t:.0f}/s",
           f"{n / base_t:.0f}/s Pillow 1 thread", (n / ours_t) / (n / base_t), ">= 300/s",
           n / ours_t >= 300)


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="catalog sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--import-count", type=int, default=20_000)
    parser.add_argument("--thumbs", type=int, default=1000)
    parser.add_argument("--adds", type=int, default=200, help="add_image calls per size")
    parser.add_argument("--quick", action="store_true",
                        help="sizes 2000, import 1000, thumbs 300, adds 100")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--tmp", default="/work/bench-tmp", help="parent of the temporary folder")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.import_count, args.thumbs, args.adds = "2000", 1000, 300, 100
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    parent = Path(args.tmp)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-catalog-", dir=parent))
    started = time.perf_counter()
    print(f"bench_catalog: sizes {sizes}, import {args.import_count:,}, thumbs {args.thumbs:,}, "
          f"adds {args.adds}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}, "
          f"SQLite {sqlite3.sqlite_version}, Pillow {Image.__version__}; tmp {tmp}")
    print(f"started {datetime.now().isoformat(timespec='seconds')}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        for n in sizes:
            bench_catalog(tmp, n, args.adds, args.keep)
            gc.collect()
        cold_import()
        if args.import_count:
            bench_import(tmp, args.import_count, args.thumbs)
    finally:
        if args.keep:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(OSError):
                parent.rmdir()  # only if no one else uses it
    print(f"\n== summary ({time.perf_counter() - started:.0f} s; load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print_table()
    failed = [r for r in RESULTS if r["result"] == "FAIL"]
    print(f"\n{len(failed)} target(s) missed" if failed else "\nall targets met")


if __name__ == "__main__":
    main()
