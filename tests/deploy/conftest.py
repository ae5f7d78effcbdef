"""The rendered aks overlay, once per session."""

from __future__ import annotations

import pytest

from tests.deploy.helpers import OVERLAY, Manifest, render


@pytest.fixture(scope="session")
def rendered() -> list[Manifest]:
    """Every object of the aks overlay, as ``kubectl apply -k deploy/overlays/aks`` sends them."""
    return render(OVERLAY)
