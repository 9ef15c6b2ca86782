"""The front end's main script (`churnops ui` runs it with Streamlit): the pages and the navigation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# Not "pages/": Streamlit would also list that folder's files as pages of their own when a page is opened by its URL.
PAGES = Path(__file__).parent / "views"
ICON = Path(__file__).parent / "icon.png"  # a file, not a Material icon name: those favicons load from Google's servers

st.set_page_config(page_title="churnops", page_icon=str(ICON), layout="wide")
navigation = st.navigation(
    [
        st.Page(PAGES / "predict.py", title="Predict one customer", icon=":material/person_search:", default=True),
        st.Page(PAGES / "score_file.py", title="Score a file", icon=":material/upload_file:"),
        st.Page(PAGES / "model.py", title="Model", icon=":material/model_training:"),
        st.Page(PAGES / "monitoring.py", title="Monitoring", icon=":material/monitoring:"),
        st.Page(PAGES / "comments.py", title="Customer comments", icon=":material/forum:"),
    ]
)
navigation.run()
