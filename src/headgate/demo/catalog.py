"""The shop's customers and products, generated from a seeded random generator.

Customers and products are small (thousands of rows), so they are built as Python
lists; the orders side (hundreds of thousands of rows) lives in :mod:`headgate.demo.orders`
and stays in numpy arrays. Everything here draws from the generator it is given, in a
fixed order, so one seed always yields the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headgate.demo.summary import DemoDefect

# First day of the order history; the window ends 2026-10-31 (see orders.py).
WINDOW_START = np.datetime64("2024-11-01T00:00:00", "s")
# Customers who signed up before the window are the ones who order on its first day.
SIGNUP_START = np.datetime64("2023-01-01T00:00:00", "s")
WINDOW_END = np.datetime64("2026-11-01T00:00:00", "s")

FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kasia", "Liam", "Maja", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wim", "Xenia", "Yusuf", "Zoe", "Lena", "Marco", "Nina", "Oskar",
    "Priya", "Rafael", "Sofia", "Tomas", "Emma", "Lucas", "Mila", "Leon", "Amara", "Kenji",
)  # fmt: skip
LAST_NAMES = (
    "Schmidt", "Martin", "de Vries", "Rossi", "García", "Nowak", "Smith", "Jensen", "Dubois",
    "Müller", "Kowalski", "Andersson", "O'Brien", "Bianchi", "Fernández", "Janssen", "Novák",
    "Weber", "Lefebvre", "Brown", "Nielsen", "Moreau", "Wagner", "Costa", "Yilmaz", "Sato",
    "Kaya", "Berg", "Horvat", "Popescu", "Petit", "Lindqvist", "Romano", "Hofmann", "Silva",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "web.de", "proton.me", "yahoo.fr", "icloud.com")

# Country, share of customers, currency the shop charges there.
COUNTRIES = (
    ("DE", 0.30, "EUR"), ("FR", 0.14, "EUR"), ("NL", 0.10, "EUR"), ("GB", 0.10, "GBP"),
    ("ES", 0.07, "EUR"), ("IT", 0.07, "EUR"), ("SE", 0.05, "SEK"), ("PL", 0.05, "PLN"),
    ("US", 0.05, "USD"), ("BE", 0.04, "EUR"), ("CH", 0.03, "CHF"),
)  # fmt: skip
# Local currency units per euro; intermediate.order_facts holds the same table.
UNITS_PER_EUR = {"EUR": 1.0, "GBP": 0.85, "SEK": 11.5, "PLN": 4.3, "USD": 1.08, "CHF": 0.95}
SEGMENTS = (("consumer", 0.85), ("business", 0.12), ("wholesale", 0.03))

# Category, share of the catalogue, typical price in EUR, typical weight in kg, nouns.
CATEGORIES = (
    ("kitchen", 0.18, 24.0, 0.8, ("Kettle", "Pan", "Knife Set", "Cutting Board", "Mug")),
    ("garden", 0.12, 35.0, 2.5, ("Hose", "Planter", "Shears", "Watering Can", "Lantern")),
    ("electronics", 0.15, 60.0, 0.4, ("Headphones", "Charger", "Speaker", "Lamp", "Cable")),
    ("toys", 0.12, 18.0, 0.5, ("Puzzle", "Robot", "Kite", "Blocks", "Board Game")),
    ("apparel", 0.18, 30.0, 0.3, ("T-Shirt", "Hoodie", "Socks", "Cap", "Scarf")),
    ("books", 0.10, 15.0, 0.6, ("Cookbook", "Novel", "Atlas", "Notebook", "Guide")),
    ("sports", 0.15, 40.0, 1.2, ("Yoga Mat", "Bottle", "Dumbbell", "Jump Rope", "Backpack")),
)  # fmt: skip
ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Eco", "Nordic", "Pro", "Urban", "Vintage", "Smart", "Soft",
)  # fmt: skip


@dataclass
class Customers:
    """Customer rows as written to customers.csv, plus what the order generator needs."""

    ids: np.ndarray  # int64, kept customers, in signup order
    signup_seconds: np.ndarray  # int64 seconds since 1970, sorted ascending
    currencies: list[str]  # per kept customer
    deleted_ids: np.ndarray  # ids that orders still reference but the export no longer has
    rows: list[
        tuple[int, str, str, str, str, str]
    ]  # id, name, email, country, signed_up_at, segment
    defects: list[DemoDefect]


@dataclass
class Products:
    """Product rows as written to products.csv, plus prices and popularity for order lines."""

    ids: np.ndarray  # int64
    price_eur: np.ndarray  # float64
    popularity: np.ndarray  # float64, sums to 1
    rows: list[
        tuple[int, str, str, str, str, str, str]
    ]  # id, sku, name, category, price, cost, weight
    defects: list[DemoDefect]


def scaled(count_at_default: int, scale: float, minimum: int) -> int:
    """A defect count for a demo of another size: proportional, but never fewer than ``minimum``."""
    return max(minimum, round(count_at_default * scale))


def make_customers(rng: np.random.Generator, n_customers: int, scale: float) -> Customers:
    """Customers in signup order; some later deleted (their orders become orphans), some dirty."""
    n_deleted = scaled(30, scale, 3)
    total = n_customers + n_deleted
    before = int(total * 0.3)
    early = rng.integers(_sec(SIGNUP_START), _sec(WINDOW_START), before)
    late = rng.integers(_sec(WINDOW_START), _sec(WINDOW_END), total - before)
    signup = np.sort(np.concatenate([early, late]))
    all_ids = np.arange(1, total + 1, dtype=np.int64)
    first = rng.integers(0, len(FIRST_NAMES), total)
    last = rng.integers(0, len(LAST_NAMES), total)
    domain = rng.integers(0, len(EMAIL_DOMAINS), total)
    country_idx = rng.choice(len(COUNTRIES), total, p=[c[1] for c in COUNTRIES])
    segment_idx = rng.choice(len(SEGMENTS), total, p=[s[1] for s in SEGMENTS])
    # Deleted customers had signed up before the order history starts, so orders from any
    # point in it can still reference them.
    deleted = np.zeros(total, dtype=bool)
    deleted[rng.choice(before, n_deleted, replace=False)] = True
    kept = np.flatnonzero(~deleted)

    names = [f"{FIRST_NAMES[first[i]]} {LAST_NAMES[last[i]]}" for i in kept]
    emails = [_email(FIRST_NAMES[first[i]], LAST_NAMES[last[i]], int(all_ids[i])) for i in kept]
    emails = [f"{e}@{EMAIL_DOMAINS[domain[i]]}" for e, i in zip(emails, kept, strict=True)]
    countries = [COUNTRIES[country_idx[i]][0] for i in kept]
    signed = np.datetime_as_string(signup[kept].astype("datetime64[s]"), unit="s")

    n_space, n_bad_email, n_country = (
        scaled(150, scale, 5),
        scaled(40, scale, 3),
        scaled(90, scale, 4),
    )
    order = rng.permutation(len(kept))
    for i in order[:n_space]:
        emails[i] = (" " if rng.random() < 0.7 else "  ") + emails[i]
    for i in order[n_space : n_space + n_bad_email]:
        emails[i] = emails[i].replace("@", "" if rng.random() < 0.5 else ".")
    for i in rng.choice(len(kept), n_country, replace=False):
        countries[i] = "N/A" if rng.random() < 0.6 else "-"

    rows = [
        (
            int(all_ids[k]),
            names[j],
            emails[j],
            countries[j],
            str(signed[j]).replace("T", " "),
            SEGMENTS[segment_idx[k]][0],
        )
        for j, k in enumerate(kept)
    ]
    defects = [
        DemoDefect("shop.customers", "email", "leading_space", n_space,
                   "Email addresses with one or two leading spaces (typed into a web form)."),
        DemoDefect("shop.customers", "email", "invalid_format", n_bad_email,
                   "Email addresses without an '@' (the '@' was dropped or replaced by a dot)."),
        DemoDefect("shop.customers", "country", "placeholder", n_country,
                   "Country recorded as 'N/A' or '-' instead of an ISO code or an empty value."),
    ]  # fmt: skip
    return Customers(
        ids=all_ids[kept],
        signup_seconds=signup[kept],
        currencies=[COUNTRIES[country_idx[i]][2] for i in kept],
        deleted_ids=all_ids[deleted],
        rows=rows,
        defects=defects,
    )


def make_products(rng: np.random.Generator, n_products: int) -> Products:
    """The catalogue; weight is exported as text with units ('1.25 kg', '850 g', '2.4')."""
    cat_idx = rng.choice(len(CATEGORIES), n_products, p=[c[1] for c in CATEGORIES])
    base_price = np.array([CATEGORIES[c][2] for c in cat_idx])
    price = np.floor(base_price * rng.lognormal(0.0, 0.55, n_products)) + 0.99
    cost = np.round(price * rng.uniform(0.35, 0.7, n_products), 2)
    weight_kg = np.array([CATEGORIES[c][3] for c in cat_idx]) * rng.lognormal(0.0, 0.6, n_products)
    adjective = rng.integers(0, len(ADJECTIVES), n_products)
    noun = rng.integers(0, 5, n_products)
    weight_style = rng.random(n_products)
    # A few products sell far more than the rest, as in any shop.
    popularity = 1.0 / (rng.permutation(n_products) + 8.0) ** 0.9
    popularity /= popularity.sum()

    rows = []
    for i in range(n_products):
        category, _, _, _, nouns = CATEGORIES[cat_idx[i]]
        product_id = i + 1
        kg = float(weight_kg[i])
        if kg < 1.0 and weight_style[i] < 0.8:
            weight = f"{max(5, round(kg * 1000, -1)):.0f} g"
        elif weight_style[i] < 0.9:
            weight = f"{kg:.2f} kg"
        else:
            weight = f"{kg:.1f}"
        rows.append(
            (
                product_id,
                f"{category[:3].upper()}-{product_id:05d}",
                f"{ADJECTIVES[adjective[i]]} {nouns[noun[i]]}",
                category,
                f"{price[i]:.2f}",
                f"{cost[i]:.2f}",
                weight,
            )
        )
    defects = [
        DemoDefect("shop.products", "weight", "number_as_text", n_products,
                   "Weight is text mixing units and bare numbers ('1.25 kg', '850 g', '2.4')."),
    ]  # fmt: skip
    return Products(
        ids=np.arange(1, n_products + 1, dtype=np.int64),
        price_eur=price,
        popularity=popularity,
        rows=rows,
        defects=defects,
    )


def _sec(moment: np.datetime64) -> int:
    """Seconds since 1970 of a numpy datetime, the unit all generated times are kept in."""
    return int(moment.astype("datetime64[s]").astype(np.int64))


def _email(first: str, last: str, customer_id: int) -> str:
    """The local part of a customer's email: ASCII, lower case, unique by the customer id."""
    plain = (first + "." + last).lower().translate(_EMAIL_LETTERS)
    return f"{plain}{customer_id}"


# Letters email providers would not accept in the local part, mapped to what people type.
_EMAIL_LETTERS = str.maketrans({"é": "e", "í": "i", "á": "a", "ü": "ue", " ": None, "'": None})
