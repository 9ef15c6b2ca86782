"""What every page shares: the settings, the API client, the readiness banner, and errors shown as sentences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from mlflow.exceptions import MlflowException

from churnops.errors import ChurnopsError
from churnops.settings import Settings
from churnops.ui.client import ApiClient, ApiError, ServedContract

T = TypeVar("T")


@st.cache_resource
def settings() -> Settings:
    return Settings()


@st.cache_resource
def client() -> ApiClient:
    return ApiClient(settings().ui.api_url)


def readiness_banner() -> dict[str, Any] | None:
    """A banner when the API is unreachable or not ready (with /ready's reasons); the readiness body otherwise."""
    try:
        state = client().readiness()
    except ApiError as error:
        st.error(f"**The prediction API is unreachable.** {error}", icon=":material/cloud_off:")
        return None
    if not state["ready"]:
        reasons = "\n".join(f"- {reason}" for reason in state["reasons"])
        st.warning(f"**The prediction API at {client().base_url} is not ready:**\n{reasons}", icon=":material/warning:")
    return state


@st.cache_data(ttl=30, show_spinner=False)
def served_contract(model_version: str | None) -> ServedContract:
    """The contract requests are validated with, per served version (a new version may bring other columns)."""
    return client().contract()


def ready_contract() -> tuple[dict[str, Any], ServedContract]:
    """/ready's state and the served contract, for the pages that need both; the page stops (after its banner or error) without them."""
    state = readiness_banner()
    if state is None:
        st.stop()
    contract = attempt(lambda: served_contract(state["model_version"]), "read the served contract")
    if contract is None:
        st.stop()
    return state, contract


def attempt(action: Callable[[], T], what: str, passing: tuple[type[Exception], ...] = ()) -> T | None:
    """Run `action`; an API or churnops error is shown as a sentence on the page (never a traceback) and gives None.

    Errors in `passing` are raised for the caller to present its own way."""
    try:
        return action()
    except passing:
        raise
    except ApiError as error:
        st.error(f"Could not {what}: {error}", icon=":material/error:")
    except (ChurnopsError, MlflowException) as error:
        st.error(f"Could not {what}: {error}", icon=":material/error:")
    return None
