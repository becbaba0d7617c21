"""The Streamlit lab (``streamlit run app/main.py``): a thin shell over ``core``.

``main.py`` routes to the pages of ``content/`` (widgets and calls only); ``state.py`` holds the session's
state, ``player.py`` the replay player, ``uploads.py`` checkpoint uploads, ``decoding.py`` and
``inspection.py`` what Compare and Inspect compute, ``figures/`` the pure figure builders. Modules import
each other as ``app.<module>``; the repository root is on ``sys.path`` (``main.py`` puts it there for
``streamlit run``, pytest's ``pythonpath`` for the tests).
"""
