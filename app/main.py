"""Entry point of the lab (``streamlit run app/main.py``): page config, the one state setup every page
shares (torch threads, presenter mode from a link), navigation and the sidebar's run badge, nothing else.

Each page is a file of ``app/content/`` that draws widgets and calls ``app`` and ``core`` modules (the
folder is not named ``pages/``: Streamlit would take that for its older multipage layout and run it
instead of this navigation). The url paths below are the links people share.
"""

import sys
from pathlib import Path

# `streamlit run app/main.py` puts only app/ on sys.path; the lab imports `app.*` and `core.*` from the root.
# The only sys.path change of the project: tests and the editable install need none.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app import common, presenter, run_status  # noqa: E402

PAGES = [
    st.Page("content/train.py", title="Train", icon=":material/model_training:", default=True, url_path="train"),
    st.Page("content/compare.py", title="Compare orders", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("content/inspect.py", title="Inspect a checkpoint", icon=":material/search:", url_path="inspect"),
    st.Page("content/lesson.py", title="Lesson", icon=":material/school:", url_path="lesson"),
    st.Page("content/classroom.py", title="Follow the class", icon=":material/groups:", url_path="class"),
]


def main() -> None:
    # a local file: an emoji or a :material/ icon would be fetched from a font or emoji host (fails offline)
    st.set_page_config(page_title="orderlab", page_icon=str(Path(__file__).with_name("favicon.png")), layout="wide")
    common.setup_torch()
    page = st.navigation(PAGES)
    presenter.apply()
    if page.title != PAGES[0].title:  # the Train page shows its run in full
        run_status.badge()
    page.run()


main()
