"""The analyses of the analysis plan, one module per family.

Importing this package never imports matplotlib.
"""

from __future__ import annotations

__all__: list[str] = []
