"""Entry point of the lab (``streamlit run app/main.py``): page config and navigation, nothing else."""

import sys
from pathlib import Path

# `streamlit run app/main.py` puts only app/ on sys.path; pages import `app.*` and `core.*` from the root.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app import common  # noqa: E402

st.set_page_config(page_title="orderlab", page_icon=":material/swap_vert:", layout="wide")
common.setup_torch()

PAGES = [
    st.Page("page_train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("page_compare.py", title="Compare orders", icon=":material/compare_arrows:"),
    st.Page("page_inspect.py", title="Inspect a checkpoint", icon=":material/search:"),
    st.Page("page_lesson.py", title="Lesson", icon=":material/school:"),
]
st.navigation(PAGES).run()
