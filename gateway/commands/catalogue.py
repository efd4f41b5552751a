"""`carbon-gateway catalogue pull-scaleway`: a new dated snapshot of Scaleway's own per-token carbon factors.

Reads every page of Scaleway's public Product Catalog (`GET /product-catalog/v2alpha1/public-catalog/products`,
no auth) and writes `<out>/scaleway_products-YYYY-MM-DD.yaml` (today, UTC). It never overwrites a snapshot: a
file of that name already there is an error. The parsing is pure and lives in meters/carbon/supplier_api.py; the
engine uses a snapshot once `config/carbon/catalogue.yaml` names it (`supplier.scaleway.snapshot`) and its
`version` is bumped (meters/METHODOLOGY.md, "Changing factors").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from meters.carbon.errors import CatalogueError
from meters.carbon.supplier import load_snapshot
from meters.carbon.supplier_api import (
    CATALOG_PATH,
    PRODUCT_TYPE,
    page_count_done,
    products_from_pages,
    render_snapshot,
    snapshot_document,
)
from meters.paths import data_dir

DEFAULT_BASE_URL = "https://api.scaleway.com"
BASE_URL_ENV = "SCW_API_URL"
PAGE_SIZE = 100
MAX_PAGES = 500  # 50,000 products: far above the catalogue's ~5,300 (2026); a bound, not a limit we expect
TIMEOUT_S = 30.0
PROVENANCE = "written by `carbon-gateway catalogue pull-scaleway` from the API's answer, unedited"


class PullError(Exception):
    """The catalogue could not be read, or the snapshot could not be written; the message says which."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `catalogue pull-scaleway` to the CLI's subparsers (see gateway/commands/__init__.py)."""
    catalogue = subparsers.add_parser("catalogue", help="refresh the carbon catalogue's supplier data")
    commands = catalogue.add_subparsers(dest="catalogue_command", required=True)
    pull = commands.add_parser(
        "pull-scaleway",
        help="write a new dated snapshot of Scaleway's per-token carbon factors (Product Catalog API)",
    )
    pull.add_argument(
        "--out",
        default=str(data_dir() / "carbon"),
        help="directory for the snapshot (default: the packaged config/carbon)",
    )
    pull.add_argument(
        "--base-url",
        default=None,
        help=f"API base URL (default: ${BASE_URL_ENV}, else {DEFAULT_BASE_URL})",
    )
    pull.set_defaults(run=run_pull_scaleway)


def run_pull_scaleway(args: argparse.Namespace) -> int:
    base_url = args.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        path, products = pull_scaleway(Path(args.out), base_url)
    except PullError as exc:
        print(f"catalogue pull-scaleway: {exc}", file=sys.stderr)
        return 1
    published = sum(1 for p in products if p["gco2e_per_token"] is not None)
    print(
        f"wrote {path}: {len(products)} Generative APIs token products, {published} with a published factor"
    )
    print(f"to use it: set supplier.scaleway.snapshot: {path.name} in catalogue.yaml and bump its version")
    return 0


def pull_scaleway(
    out_dir: Path,
    base_url: str,
    *,
    today: date | None = None,
    page_size: int = PAGE_SIZE,
    timeout_s: float = TIMEOUT_S,
) -> tuple[Path, list[dict[str, Any]]]:
    """Fetch every page, write the snapshot (validated by the engine's own loader), return (path, products)."""
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise PullError(f"the base URL must be http(s)://..., got {base_url!r}")
    day = today or datetime.now(UTC).date()
    target = out_dir / f"scaleway_products-{day.isoformat()}.yaml"
    if target.exists():
        raise PullError(f"{target} already exists: a snapshot is never overwritten")
    fetched = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    products = products_from_pages(fetch_pages(base_url, page_size, timeout_s))
    if not products:
        raise PullError("the catalogue lists no Generative APIs per-token products: nothing written")
    url = f"{base_url.rstrip('/')}{CATALOG_PATH}?product_types={PRODUCT_TYPE}"
    document = snapshot_document(
        products, source=url, fetched=fetched, read=day.isoformat(), provenance=PROVENANCE
    )
    _write_new(target, render_snapshot(document))
    return target, products


def fetch_pages(base_url: str, page_size: int, timeout_s: float) -> list[dict[str, Any]]:
    """Every page of the Generative APIs listing (page from 1, until `total_count` or a short page)."""
    pages: list[dict[str, Any]] = []
    fetched = 0
    for page in range(1, MAX_PAGES + 1):
        query = urllib.parse.urlencode({"page": page, "page_size": page_size, "product_types": PRODUCT_TYPE})
        body = _get_json(f"{base_url.rstrip('/')}{CATALOG_PATH}?{query}", timeout_s)
        products = body.get("products")
        if not isinstance(products, list):
            raise PullError(f"page {page}: the answer has no 'products' list")
        pages.append(body)
        fetched += len(products)
        if page_count_done(fetched, page_size, body.get("total_count"), len(products)):
            return pages
    raise PullError(f"more than {MAX_PAGES} pages of {page_size}: stopped (is the API paging?)")


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "carbon-gateway"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise PullError(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PullError(f"cannot read {url}: {exc}") from None
    except ValueError:
        raise PullError(f"{url} did not answer JSON") from None
    if not isinstance(body, dict):
        raise PullError(f"{url} did not answer a JSON object")
    return body


def _write_new(target: Path, text: str) -> None:
    """Write `text` to `target`, which must not exist, only after the engine's loader accepts it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        staging.write_text(text, encoding="utf-8")
        load_snapshot(staging, "scaleway")
        os.link(staging, target)  # fails if `target` appeared meanwhile: never overwrites
    except FileExistsError:
        raise PullError(f"{target} already exists: a snapshot is never overwritten") from None
    except CatalogueError as exc:
        raise PullError(f"the snapshot does not validate, nothing written: {exc}") from None
    finally:
        staging.unlink(missing_ok=True)
