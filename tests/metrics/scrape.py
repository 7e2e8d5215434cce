"""Reading a Prometheus endpoint the way Prometheus does: over HTTP, in the text exposition format.

prometheus_client's parser checks that the format is valid; the samples are read by name as
exposed (that parser renames a counter `x` to `x_total`, which is not what Prometheus stores
and queries)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        list(text_string_to_metric_families(text))  # raises on anything Prometheus could not read
        self.samples = []
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
            self.samples.append(Sample(match["name"], labels, float(match["value"])))

    def names(self) -> set[str]:
        return {sample.name for sample in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def has(self, name: str, **labels: str) -> bool:
        return any(s.name == name and labels.items() <= s.labels.items() for s in self.samples)


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    answer.raise_for_status()
    assert answer.headers["content-type"].startswith("text/plain"), answer.headers["content-type"]
    return Scrape(answer.text)
