"""Entry point of the lab (``streamlit run app/main.py``): page config, navigation and the sidebar's run
badge, nothing else."""

import sys
from pathlib import Path

# `streamlit run app/main.py` puts only app/ on sys.path; pages import `app.*` and `core.*` from the root.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app import common, presenter, run_status  # noqa: E402

# a local file: an emoji or a :material/ icon would be fetched from a font or emoji host (fails offline)
st.set_page_config(page_title="orderlab", page_icon=str(Path(__file__).with_name("favicon.png")), layout="wide")
common.setup_torch()

PAGES = [  # explicit url paths: /lesson, /train, ... are the links people share
    st.Page("page_train.py", title="Train", icon=":material/model_training:", default=True, url_path="train"),
    st.Page("page_compare.py", title="Compare orders", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("page_inspect.py", title="Inspect a checkpoint", icon=":material/search:", url_path="inspect"),
    st.Page("page_lesson.py", title="Lesson", icon=":material/school:", url_path="lesson"),
    st.Page("page_class.py", title="Follow the class", icon=":material/groups:", url_path="class"),
]
page = st.navigation(PAGES)
presenter.apply()
if page.title != PAGES[0].title:  # the Train page shows its run in full
    run_status.badge()
page.run()
