"""Progress bars for long collections (tqdm.auto: widgets in Jupyter, text in a terminal)."""

from __future__ import annotations


class Progress:
    """Registries done, repositories done (total grows as catalogs arrive), rows collected, errors."""

    def __init__(self, enabled: bool, registries: int):
        self.rows = 0
        self.errors = 0
        self._registries = self._repositories = None
        if enabled:
            from tqdm.auto import tqdm

            self._registries = tqdm(total=registries, desc="registries", unit="registry", position=0)
            self._repositories = tqdm(total=0, desc="repositories", unit="repo", position=1)

    def _postfix(self) -> None:
        if self._repositories is not None:
            self._repositories.set_postfix(rows=self.rows, errors=self.errors, refresh=False)

    def add_repositories(self, count: int) -> None:
        if self._repositories is not None:
            self._repositories.total += count
            self._repositories.refresh()

    def repository_done(self, rows: int) -> None:
        self.rows += rows
        if self._repositories is not None:
            self._postfix()
            self._repositories.update(1)

    def error(self) -> None:
        self.errors += 1
        self._postfix()

    def registry_done(self) -> None:
        if self._registries is not None:
            self._registries.update(1)

    def close(self) -> None:
        for bar in (self._repositories, self._registries):
            if bar is not None:
                bar.close()
