"""Plausible German-speaking B2B leads for the demo program and the benchmarks, reproducibly."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path
from typing import IO

FIRST_NAMES = """Anna Jürgen Sabine Thomas Katrin Michael Stefanie Andreas Julia Markus Claudia Tobias Sandra
    Florian Nicole Matthias Lea Lukas Sophie Maximilian Hannah Jonas Birgit Ralf Özlem Mehmet
    Franziska Dominik Verena Sebastian Ute Björn Svenja Kai Ines Moritz Lena Fabian Carina Dirk""".split()
LAST_NAMES = """Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer
    Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Huber
    Gruber Steiner Moser Keller Brunner Baumann Frei Gerber Yılmaz Kaya Jovanović Nowak""".split()
COMPANIES = (
    ("Bergmann Logistik", "GmbH"),
    ("Alpenblick Software", "AG"),
    ("Rheinwerk Maschinenbau", "GmbH"),
    ("Hanse Digital", "GmbH"),
    ("Donau Consulting", "GmbH"),
    ("Zürcher Präzision", "AG"),
    ("Isarwerk Medien", "GmbH"),
    ("Nordlicht Energie", "AG"),
    ("Elbe Handelshaus", "KG"),
    ("Schwarzwald Feinmechanik", "GmbH"),
    ("Wiener Versicherungsdienst", "AG"),
    ("Bodensee Bau", "GmbH"),
    ("Spree Analytics", "GmbH"),
    ("Mainfranken Druck", "GmbH & Co. KG"),
    ("Tiroler Tourismus Service", "GmbH"),
    ("Berner Medtech", "AG"),
    ("Ruhrstahl Komponenten", "GmbH"),
    ("Sachsen Pharma", "GmbH"),
)
TITLES = (
    "Head of Marketing",
    "Marketingleiterin",
    "Geschäftsführer",
    "Projektmanagerin",
    "IT-Leiter",
    "VP Operations",
    "Teamleiter Vertrieb",
    "Werkstudentin",
    "Director Digital",
    "Sachbearbeiter Einkauf",
    "Chief Technology Officer",
    "Leiterin Projektbüro",
    "Product Owner",
    "Assistenz der Geschäftsführung",
)
INDUSTRIES = ("Maschinenbau", "Logistik", "Software", "Beratung", "Handel", "Energie", "Medien", "Gesundheit")
REGIONS = (
    ("DE", "Europe/Berlin", "de-DE", 0.62),
    ("AT", "Europe/Vienna", "de-AT", 0.2),
    ("CH", "Europe/Zurich", "de-CH", 0.15),
    ("NL", "Europe/Amsterdam", "nl-NL", 0.03),
)
FREE_MAIL = ("gmx.de", "web.de", "t-online.de", "gmail.com", "gmx.at", "bluewin.ch")
COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "industry",
    "company_size",
    "country",
    "timezone",
    "locale",
    "lifecycle_stage",
    "source",
)
_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i", "ć": "c", "Ö": "Oe", "Ü": "Ue"})


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower().translate(_ASCII) if ch.isalnum() or ch in ".-")


def generate_leads(count: int, seed: int = 7) -> Iterator[dict[str, str]]:
    """``count`` leads with unique addresses; the same seed gives the same people."""
    rng = random.Random(seed)
    regions = [r[:3] for r in REGIONS]
    weights = [r[3] for r in REGIONS]
    for index in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name, legal = rng.choice(COMPANIES)
        country, zone, locale = rng.choices(regions, weights)[0]
        tld = {"DE": "de", "AT": "at", "CH": "ch", "NL": "nl"}[country]
        domain = rng.choice(FREE_MAIL) if rng.random() < 0.12 else f"{_slug(name.replace(' ', '-'))}.{tld}"
        yield {
            "email": f"{_slug(first)}.{_slug(last)}.{index}@{domain}",
            "first_name": first,
            "last_name": last,
            "company": f"{name} {legal}",
            "job_title": rng.choice(TITLES),
            "industry": rng.choice(INDUSTRIES),
            "company_size": str(rng.choice((8, 25, 60, 120, 250, 480, 900, 2400, 12000))),
            "country": country,
            "timezone": zone,
            "locale": locale,
            "lifecycle_stage": "lead",
            "source": rng.choice(("website", "messe", "webinar", "partner", "linkedin")),
        }


def write_leads_csv(target: Path | IO[str], count: int, seed: int = 7) -> None:
    if isinstance(target, Path):
        with target.open("w", encoding="utf-8", newline="") as handle:
            write_leads_csv(handle, count, seed)
        return
    writer = csv.DictWriter(target, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(generate_leads(count, seed))
